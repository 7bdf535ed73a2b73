//! The probe's checklist for people: a mark, the finding with its figure, and the rule it tests.
//! ✓ the server does what the rule asks, ✗ it does not, · a figure with no right answer, ? not measured (its
//! experiment ran out of its share of --max-time first).

use std::io::{self, Write};
use std::time::Duration;

use super::findings::Findings;
use crate::report::micros;

const LABEL: usize = 30;

pub fn write(f: &Findings, took: Duration, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "connbench probe {}  ({:.2} s)", f.target, took.as_secs_f64())?;
    writeln!(out)?;
    let yes_no = |ok: Option<bool>, what: &str| match ok {
        Some(true) => format!("yes: {what}"),
        Some(false) => format!("no: {what}"),
        None => NOT_MEASURED.into(),
    };
    line(
        out,
        Mark::of(f.http11_persistent),
        "HTTP/1.1 persistent",
        &yes_no(f.http11_persistent, "a second request answered on the same connection"),
        "HTTP/1.1 connections persist unless a response says Connection: close (RFC 9112 §9.3).",
    )?;
    line(
        out,
        Mark::of(f.http10_keep_alive),
        "HTTP/1.0 Keep-Alive",
        &yes_no(f.http10_keep_alive, "Connection: Keep-Alive asked, and the connection was kept"),
        "HTTP/1.0 persists only when both sides say Connection: Keep-Alive (HTTP: The Definitive Guide, ch. 4).",
    )?;
    line(
        out,
        Mark::Figure,
        "Keep-Alive announced",
        &announced(f),
        "Keep-Alive: max=M is how many more requests the server will take; timeout is a hint (ch. 4).",
    )?;
    let per_connection = match (f.max_requests_per_connection, f.max_requests_at_least) {
        (Some(n), _) => format!("{n}, then the server closed"),
        (None, Some(n)) => format!("at least {n} (still open when the probe stopped)"),
        (None, None) => NOT_MEASURED.into(),
    };
    line(
        out,
        Mark::Figure,
        "requests per connection",
        &per_connection,
        "A server may close a persistent connection after any number of requests; clients reopen (ch. 4).",
    )?;
    let idle = match (f.idle_timeout_s, f.idle_timeout_at_least_s) {
        (Some(s), _) => format!("{s:.2} s, then the server closed"),
        (None, Some(s)) => format!("longer than {s:.1} s"),
        (None, None) => NOT_MEASURED.into(),
    };
    line(
        out,
        Mark::Figure,
        "idle timeout",
        &idle,
        "A server may close an idle connection at any time; a client must not reuse one it may have closed \
         (RFC 9112 §9.5).",
    )?;
    let pipelining = f.pipelining.as_ref().map(|p| {
        let serialized = match p.serialized {
            Some(true) => "one by one",
            Some(false) => "together",
            None => "too fast to tell how",
        };
        let order = if p.in_order { " in order" } else { ", out of order" };
        (p.answered == p.sent && p.in_order, format!("{} of {} answered{order}, {serialized}", p.answered, p.sent))
    });
    line(
        out,
        Mark::of(pipelining.as_ref().map(|p| p.0)),
        "pipelining",
        pipelining.as_ref().map_or(NOT_MEASURED, |p| &p.1),
        "Responses to pipelined requests come back in the order of the requests (RFC 9112 §9.3.2).",
    )?;
    let c = &f.close;
    line(
        out,
        Mark::of(c.fin_after_close),
        "close after Connection: close",
        &c.after_close.map_or(NOT_MEASURED.into(), str::to_uppercase),
        "A graceful close: the server sends FIN after its last response (ch. 4, graceful connection close).",
    )?;
    let unread = match (c.with_unread, c.unread_response_whole) {
        (Some(end), Some(whole)) => {
            format!("{}, the response {}", end.to_uppercase(), if whole { "arrived whole" } else { "was lost" })
        }
        _ => NOT_MEASURED.into(),
    };
    line(
        out,
        Mark::of(c.rst_on_unread.map(|rst| !rst)),
        "close with unread request",
        &unread,
        "Closing with unread data makes TCP send RST, which can destroy a response in flight; servers read \
         first (RFC 9112 §9.6).",
    )?;
    let share = match (f.handshake_share, f.connect_us, f.new_connection_exchange_us) {
        (Some(share), Some(connect), Some(total)) => {
            let tls = match (f.tls_share, f.tls_handshake_us) {
                (Some(tls_share), Some(tls)) => format!(", TLS {:.0}% ({})", tls_share * 100.0, micros(tls)),
                _ => String::new(),
            };
            format!("{:.0}% (connect {} of {}){tls}", share * 100.0, micros(connect), micros(total))
        }
        _ => NOT_MEASURED.into(),
    };
    line(
        out,
        Mark::Figure,
        "handshake share",
        &share,
        "Connection setup can dominate a small transaction on a new connection (ch. 4, TCP delays).",
    )?;
    let d = &f.nagle.split_request_delay_ms;
    let nagle = match (d.nodelay_off, d.nodelay_on) {
        (Some(off), Some(on)) => {
            format!("split request answered in {off:.2} ms with Nagle, {on:.2} ms with TCP_NODELAY")
        }
        _ => NOT_MEASURED.into(),
    };
    line(
        out,
        Mark::Figure,
        "Nagle",
        &nagle,
        "Nagle holds a small segment until the last is acknowledged; with delayed ACKs that is a wait (ch. 4).",
    )?;
    match &f.http3 {
        Some(h3) => http3(h3, out),
        None => Ok(()),
    }
}

/// https: HTTP/3 offered, answered, what its one handshake costs, and 0-RTT.
fn http3(h3: &super::findings::Http3, out: &mut impl Write) -> io::Result<()> {
    let alt_svc = match &h3.alt_svc {
        Some(value) => format!("Alt-Svc: {value}"),
        None => "no Alt-Svc header".into(),
    };
    line(
        out,
        Mark::Figure,
        "HTTP/3 advertised",
        &alt_svc,
        "An https server offers HTTP/3 on UDP by naming h3 in Alt-Svc (RFC 9114 §3.1.1).",
    )?;
    let answers = match (&h3.failure, h3.handshake_share, h3.handshake_us, h3.first_request_us) {
        (Some(why), ..) => format!("no: {why}"),
        (None, Some(share), Some(handshake), Some(whole)) => format!(
            "yes; QUIC handshake {:.0}% of a first request ({} of {})",
            share * 100.0,
            micros(handshake),
            micros(whole)
        ),
        _ => "yes".into(),
    };
    line(
        out,
        Mark::of(Some(h3.answers)),
        "HTTP/3 answers",
        &answers,
        "QUIC does the transport and TLS handshakes in one round trip, not two (RFC 9001 §4).",
    )?;
    line(
        out,
        Mark::Figure,
        "HTTP/3 0-RTT",
        h3.zero_rtt.unwrap_or("not tried"),
        "A resumed connection may send its first request before the handshake ends (RFC 9001 §4.6); it can be \
         replayed, so only safe methods go early.",
    )
}

/// What a finding says when its experiment came to no verdict: it ran out of its share of the time (or found
/// nothing to measure on: no connection, a connection that did not persist).
const NOT_MEASURED: &str = "not measured";

#[derive(Clone, Copy)]
enum Mark {
    Yes,
    No,
    Figure,
    Unmeasured,
}

impl Mark {
    fn of(ok: Option<bool>) -> Mark {
        match ok {
            Some(true) => Mark::Yes,
            Some(false) => Mark::No,
            None => Mark::Unmeasured,
        }
    }
}

fn line(out: &mut impl Write, mark: Mark, label: &str, finding: &str, rule: &str) -> io::Result<()> {
    let mark = match mark {
        Mark::Yes => "✓",
        Mark::No => "✗",
        Mark::Figure => "·",
        Mark::Unmeasured => "?",
    };
    writeln!(out, "{mark} {label:<LABEL$} {finding}")?;
    writeln!(out, "  {:<LABEL$} {rule}", "")
}

fn announced(f: &Findings) -> String {
    let a = &f.announced;
    let mut parts = Vec::new();
    if let Some(t) = a.keep_alive_timeout_s {
        parts.push(format!("timeout={t}s"));
    }
    if let Some(m) = a.keep_alive_max {
        let counting = match a.max_counts_down {
            Some(true) => ", counting down",
            Some(false) => ", the same on every response",
            None => "",
        };
        parts.push(format!("max={m} ({} requests in all{counting})", u64::from(m) + 1));
    }
    if parts.is_empty() {
        "nothing (no Keep-Alive header)".into()
    } else {
        parts.join(", ")
    }
}
