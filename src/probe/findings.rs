//! What the observations say about the server, one pure function per finding, and the JSON type they make
//! (`schema_version` 1: keys are added, never renamed). A finding whose experiment ran out of its share of
//! `--max-time` before it came to a verdict is null: not measured, which is not a failure.

use std::time::Duration;

use serde::Serialize;

use super::observe::{End, Observations, Sequence, PIPELINED};
use super::quic;
use crate::http::response::ResponseMeta;

/// Below this, the time of one answer is mostly the round trip, and a batch's time says nothing about how
/// the server worked through it.
const TOO_FAST_TO_TELL: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Findings {
    pub schema_version: u32,
    pub target: String,
    pub http11_persistent: Option<bool>,
    pub http10_keep_alive: Option<bool>,
    pub announced: Announced,
    /// Requests answered on one connection before the server closed it; null if it did not within the cap.
    pub max_requests_per_connection: Option<u64>,
    pub max_requests_at_least: Option<u64>,
    /// Seconds an idle persistent connection lived before the server closed it; null if it outlived the wait.
    pub idle_timeout_s: Option<f64>,
    pub idle_timeout_at_least_s: Option<f64>,
    pub pipelining: Option<Pipelining>,
    pub close: Close,
    /// TCP connect time over connect plus one small exchange, on a new connection (median of samples).
    pub handshake_share: Option<f64>,
    pub connect_us: Option<u64>,
    pub new_connection_exchange_us: Option<u64>,
    /// https: the TLS handshake's time, and its share of the same whole; absent for http.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_handshake_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_share: Option<f64>,
    pub nagle: Nagle,
    /// https: whether the server offers HTTP/3 and answers it; absent for http.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http3: Option<Http3>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Http3 {
    /// The `Alt-Svc` field of the first response, as sent (RFC 7838); null without one.
    pub alt_svc: Option<String>,
    /// `Alt-Svc` names `h3` (RFC 9114 §3.1.1).
    pub advertised: bool,
    /// A QUIC handshake offering ALPN h3 on the URL's port over UDP succeeded, and a GET was answered on it.
    pub answers: bool,
    /// Why not, when it did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The QUIC handshake (transport and TLS in one), the handshake plus one GET, and the handshake's share.
    pub handshake_us: Option<u64>,
    pub first_request_us: Option<u64>,
    pub handshake_share: Option<f64>,
    /// A resumed connection's GET in 0-RTT: "accepted", "rejected", or "not offered" (the server's session
    /// allows no early data); null when HTTP/3 did not answer.
    pub zero_rtt: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Announced {
    pub keep_alive_timeout_s: Option<u32>,
    pub keep_alive_max: Option<u32>,
    /// Did `max` fall from the first response to the second (Apache), or stay (a constant)? Null if unseen.
    pub max_counts_down: Option<bool>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pipelining {
    pub sent: usize,
    pub answered: usize,
    pub in_order: bool,
    /// Answered one after another (the batch took about as long as its requests one by one) or together;
    /// null when one answer is too fast to tell.
    pub serialized: Option<bool>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Close {
    pub fin_after_close: Option<bool>,
    pub rst_on_unread: Option<bool>,
    /// How the connection ended in each case: "fin", "reset", "open" (not closed within 2 s), "failed".
    pub after_close: Option<&'static str>,
    pub with_unread: Option<&'static str>,
    /// With unread data, did the response to the closing request still arrive whole?
    pub unread_response_whole: Option<bool>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Nagle {
    pub split_request_delay_ms: SplitDelay,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SplitDelay {
    /// Nagle on (TCP_NODELAY off).
    pub nodelay_off: Option<f64>,
    pub nodelay_on: Option<f64>,
}

pub fn findings(target: &str, seen: &Observations) -> Findings {
    let (max_requests, max_at_least) = requests_per_connection(&seen.http11);
    let (idle, idle_at_least) = idle_timeout(seen);
    let (connect, tls, exchange) = new_connection_medians(&seen.new_connections);
    let share = |part: Option<Duration>| part.zip(exchange).map(|(p, e)| round(p.as_secs_f64() / e.as_secs_f64(), 3));
    Findings {
        schema_version: 1,
        target: target.to_string(),
        http11_persistent: persistent(&seen.http11),
        http10_keep_alive: persistent(&seen.http10),
        announced: announced(&seen.http11).or_else(|| announced(&seen.http10)).unwrap_or(Announced {
            keep_alive_timeout_s: None,
            keep_alive_max: None,
            max_counts_down: None,
        }),
        max_requests_per_connection: max_requests,
        max_requests_at_least: max_at_least,
        idle_timeout_s: idle,
        idle_timeout_at_least_s: idle_at_least,
        pipelining: pipelining(seen),
        close: close(seen),
        handshake_share: share(connect),
        connect_us: connect.map(|d| d.as_micros() as u64),
        new_connection_exchange_us: exchange.map(|d| d.as_micros() as u64),
        tls_handshake_us: tls.map(|d| d.as_micros() as u64),
        tls_share: share(tls),
        nagle: Nagle {
            split_request_delay_ms: SplitDelay {
                nodelay_off: median(&seen.split_nagle_on).map(ms),
                nodelay_on: median(&seen.split_nodelay).map(ms),
            },
        },
        http3: seen.http3.as_ref().map(|h3| http3(seen.alt_svc.as_deref(), h3)),
    }
}

/// What the HTTP/3 experiment and the `Alt-Svc` field say.
fn http3(alt_svc: Option<&str>, seen: &quic::Seen) -> Http3 {
    // `h3=":443"; ma=86400, h3-29=":443"`: an entry whose protocol id is h3 (drafts have ids of their own).
    let advertised =
        alt_svc.is_some_and(|value| value.split(',').any(|entry| entry.trim_start().split('=').next() == Some("h3")));
    let (handshake, whole) = seen.first.as_ref().ok().copied().unzip();
    Http3 {
        alt_svc: alt_svc.map(String::from),
        advertised,
        answers: seen.first.is_ok(),
        failure: seen.first.as_ref().err().cloned(),
        handshake_us: handshake.map(|d| d.as_micros() as u64),
        first_request_us: whole.map(|d| d.as_micros() as u64),
        handshake_share: handshake.zip(whole).map(|(h, w)| round(h.as_secs_f64() / w.as_secs_f64(), 3)),
        zero_rtt: seen.first.is_ok().then_some(match seen.zero_rtt {
            Some(true) => "accepted",
            Some(false) => "rejected",
            None => "not offered",
        }),
    }
}

/// The first response that carried `Keep-Alive`, and whether the next one's `max` counted down.
fn announced(sequence: &Sequence) -> Option<Announced> {
    let carries = |m: &ResponseMeta| m.keep_alive_max.is_some() || m.keep_alive_timeout_secs.is_some();
    let at = sequence.responses.iter().position(carries)?;
    let first = sequence.responses[at];
    let next_max = sequence.responses.get(at + 1).and_then(|m| m.keep_alive_max);
    Some(Announced {
        keep_alive_timeout_s: first.keep_alive_timeout_secs,
        keep_alive_max: first.keep_alive_max,
        max_counts_down: first.keep_alive_max.zip(next_max).map(|(a, b)| b < a),
    })
}

/// Did a second request get its answer on the same connection? None when the time ran out before the
/// server said (no first answer, or no second one in time).
fn persistent(sequence: &Sequence) -> Option<bool> {
    match (sequence.responses.len(), sequence.end) {
        (2.., _) => Some(true),
        (0, _) | (1, Some(End::Open)) => None,
        (1, _) => Some(false),
    }
}

fn requests_per_connection(sequence: &Sequence) -> (Option<u64>, Option<u64>) {
    let answered = sequence.responses.len() as u64;
    match sequence.end {
        Some(End::Fin | End::Reset) if answered > 0 => (Some(answered), None),
        _ => (None, Some(answered)),
    }
}

fn idle_timeout(seen: &Observations) -> (Option<f64>, Option<f64>) {
    match (seen.idle.end, seen.idle.lived) {
        (End::Fin | End::Reset, Some(lived)) => (Some(round(lived.as_secs_f64(), 2)), None),
        (End::Open, _) => (None, Some(round(seen.idle.waited.as_secs_f64(), 1))),
        _ => (None, None),
    }
}

fn pipelining(seen: &Observations) -> Option<Pipelining> {
    let p = &seen.pipelined;
    let serialized = (p.answered == PIPELINED && p.single >= TOO_FAST_TO_TELL)
        .then(|| p.batch.as_secs_f64() > p.single.as_secs_f64() * PIPELINED as f64 / 2.0);
    p.measured.then_some(Pipelining { sent: PIPELINED, answered: p.answered, in_order: p.framed_in_order, serialized })
}

fn close(seen: &Observations) -> Close {
    let c = &seen.closes;
    Close {
        fin_after_close: c.after_close.map(|end| end == End::Fin),
        rst_on_unread: c.with_unread.map(|end| end == End::Reset),
        after_close: c.after_close.map(end_name),
        with_unread: c.with_unread.map(end_name),
        unread_response_whole: c.unread_response_whole,
    }
}

fn end_name(end: End) -> &'static str {
    match end {
        End::Fin => "fin",
        End::Reset => "reset",
        End::Open => "open",
        End::Unexpected | End::Failed => "failed",
    }
}

/// Medians of the TCP connect, the TLS handshake (https only) and the whole, each taken apart.
fn new_connection_medians(
    samples: &[(Duration, Option<Duration>, Duration)],
) -> (Option<Duration>, Option<Duration>, Option<Duration>) {
    let connects: Vec<_> = samples.iter().map(|s| s.0).collect();
    let handshakes: Vec<_> = samples.iter().filter_map(|s| s.1).collect();
    let totals: Vec<_> = samples.iter().map(|s| s.2).collect();
    (median(&connects), median(&handshakes), median(&totals))
}

fn median(samples: &[Duration]) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied()
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1e3, 2)
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::super::observe::{Closes, Idle, Pipelined};
    use super::*;

    fn meta(persistent: bool, max: Option<u32>, timeout: Option<u32>) -> ResponseMeta {
        ResponseMeta::with_keep_alive(persistent, max, timeout)
    }

    /// Apache with MaxKeepAliveRequests 5, KeepAliveTimeout 2, as the probe sees it.
    fn apache() -> Observations {
        let countdown = (1..=5).rev().map(|m| meta(true, Some(m), Some(2))).chain([meta(false, None, None)]);
        let ms = Duration::from_millis;
        Observations {
            http11: Sequence { responses: countdown.collect(), end: Some(End::Fin) },
            http10: Sequence { responses: vec![meta(true, Some(5), Some(2)); 3], end: None },
            idle: Idle { lived: Some(ms(2003)), waited: ms(2003), end: End::Fin },
            pipelined: Pipelined {
                measured: true,
                answered: 4,
                framed_in_order: true,
                batch: ms(1),
                single: Duration::from_micros(300),
            },
            closes: Closes {
                after_close: Some(End::Fin),
                with_unread: Some(End::Fin),
                unread_response_whole: Some(true),
            },
            new_connections: vec![(ms(1), None, ms(4)), (ms(1), None, ms(5)), (ms(2), None, ms(4))],
            split_nagle_on: vec![ms(40), ms(41), ms(39)],
            split_nodelay: vec![ms(1)],
            alt_svc: None,
            http3: None,
        }
    }

    #[test]
    fn findings_read_what_the_server_did() {
        let f = findings("http://x/", &apache());
        assert_eq!((f.http11_persistent, f.http10_keep_alive), (Some(true), Some(true)));
        assert_eq!(
            f.announced,
            Announced { keep_alive_timeout_s: Some(2), keep_alive_max: Some(5), max_counts_down: Some(true) }
        );
        assert_eq!((f.max_requests_per_connection, f.max_requests_at_least), (Some(6), None));
        assert_eq!((f.idle_timeout_s, f.idle_timeout_at_least_s), (Some(2.0), None));
        // 0.3 ms for one answer is too fast to tell serialized from concurrent
        assert_eq!(f.pipelining, Some(Pipelining { sent: 4, answered: 4, in_order: true, serialized: None }));
        assert_eq!((f.close.fin_after_close, f.close.rst_on_unread), (Some(true), Some(false)));
        assert_eq!((f.handshake_share, f.tls_share), (Some(0.25), None));
        assert_eq!(f.nagle.split_request_delay_ms, SplitDelay { nodelay_off: Some(40.0), nodelay_on: Some(1.0) });
        assert_eq!(f.http3, None, "http: no HTTP/3 to ask about");
    }

    #[test]
    fn http3_findings_read_alt_svc_the_handshake_share_and_0rtt() {
        let ms = Duration::from_millis;
        let mut seen = apache();
        seen.alt_svc = Some("h3-29=\":443\", h3=\":443\"; ma=2592000".into());
        seen.http3 = Some(quic::Seen { first: Ok((ms(1), ms(4))), zero_rtt: Some(true) });
        let h3 = findings("https://x/", &seen).http3.unwrap();
        assert!(h3.advertised && h3.answers && h3.failure.is_none());
        assert_eq!((h3.handshake_us, h3.first_request_us, h3.handshake_share), (Some(1000), Some(4000), Some(0.25)));
        assert_eq!(h3.zero_rtt, Some("accepted"));
        // a draft version alone is not h3; a server that does not answer has no 0-RTT to speak of
        seen.alt_svc = Some("h3-29=\":443\"".into());
        seen.http3 = Some(quic::Seen { first: Err("no answer within 5s".into()), zero_rtt: None });
        let h3 = findings("https://x/", &seen).http3.unwrap();
        assert!(!h3.advertised && !h3.answers);
        assert_eq!((h3.failure.as_deref(), h3.zero_rtt, h3.handshake_share), (Some("no answer within 5s"), None, None));
        seen.http3 = Some(quic::Seen { first: Ok((ms(1), ms(2))), zero_rtt: None });
        assert_eq!(findings("https://x/", &seen).http3.unwrap().zero_rtt, Some("not offered"));
    }

    #[test]
    fn findings_come_out_the_other_way_too() {
        let mut seen = apache();
        // a server that answers once and closes silently, never idles out within the wait, answers one of
        // four pipelined requests, resets with unread data
        seen.http11 = Sequence { responses: vec![meta(true, None, None)], end: Some(End::Fin) };
        seen.http10 = Sequence { responses: vec![meta(false, None, None)], end: Some(End::Fin) };
        seen.idle = Idle { lived: None, waited: Duration::from_secs(29), end: End::Open };
        seen.pipelined.answered = 1;
        seen.closes.with_unread = Some(End::Reset);
        let f = findings("http://x/", &seen);
        assert_eq!((f.http11_persistent, f.http10_keep_alive), (Some(false), Some(false)));
        assert_eq!((f.max_requests_per_connection, f.idle_timeout_at_least_s), (Some(1), Some(29.0)));
        let p = f.pipelining.expect("measured");
        assert_eq!((p.answered, p.serialized), (1, None));
        assert_eq!(f.close.rst_on_unread, Some(true));
        // over https the TLS handshake is a share of its own
        seen.new_connections =
            vec![(Duration::from_millis(1), Some(Duration::from_millis(2)), Duration::from_millis(5))];
        let f = findings("https://x/", &seen);
        assert_eq!((f.handshake_share, f.tls_share, f.tls_handshake_us), (Some(0.2), Some(0.4), Some(2000)));
        // a cap reached with the connection open is a lower bound; a constant max does not count down
        seen.http11 = Sequence { responses: vec![meta(true, Some(100), None); 50], end: None };
        let f = findings("http://x/", &seen);
        assert_eq!((f.max_requests_per_connection, f.max_requests_at_least), (None, Some(50)));
        assert_eq!(f.announced.max_counts_down, Some(false));
        // 100 ms an answer: a batch of four in 400 ms was served one by one, in 110 ms together
        seen.pipelined = Pipelined {
            measured: true,
            answered: 4,
            framed_in_order: true,
            batch: Duration::from_millis(400),
            single: Duration::from_millis(100),
        };
        let serialized = |seen: &Observations| findings("http://x/", seen).pipelining.and_then(|p| p.serialized);
        assert_eq!(serialized(&seen), Some(true));
        seen.pipelined.batch = Duration::from_millis(110);
        assert_eq!(serialized(&seen), Some(false));
    }

    #[test]
    fn what_ran_out_of_time_is_not_measured_never_failed() {
        let mut seen = apache();
        // one answer, and the second not in its share of the time; no answer at all
        seen.http11 = Sequence { responses: vec![meta(true, None, None)], end: Some(End::Open) };
        seen.http10 = Sequence { responses: vec![], end: Some(End::Open) };
        seen.pipelined.measured = false;
        seen.closes = Closes { after_close: None, with_unread: None, unread_response_whole: None };
        let f = findings("http://x/", &seen);
        assert_eq!((f.http11_persistent, f.http10_keep_alive, f.pipelining.clone()), (None, None, None));
        assert_eq!((f.max_requests_per_connection, f.max_requests_at_least), (None, Some(1)));
        assert_eq!(
            f.close,
            Close {
                fin_after_close: None,
                rst_on_unread: None,
                after_close: None,
                with_unread: None,
                unread_response_whole: None
            }
        );
        let json = serde_json::to_value(&f).unwrap();
        assert!(json["http10_keep_alive"].is_null() && json["pipelining"].is_null(), "{json}");
    }
}
