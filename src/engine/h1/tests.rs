//! The HTTP/1.x connection driven by hand: bytes and instants in, what it asks for and what it records out,
//! with a scripted host in place of the worker's backlog. No socket, no runtime, no clock.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::http::response::HeadMemo;
use crate::plan::RequestParts;

const TIMEOUT: Duration = Duration::from_secs(2);
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";

/// A request of `method`; its bytes name the method and its first-request variant says so.
fn prepared(method: &str) -> Prepared {
    Prepared {
        bytes: format!("{method} / HTTP/1.1\r\n\r\n").into_bytes(),
        first: Some(format!("{method} / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").into_bytes()),
        parts: RequestParts {
            method: method.into(),
            authority: "t".into(),
            path: "/".into(),
            headers: Vec::new(),
            body: Arc::from(&b""[..]),
        },
        head: method == "HEAD",
        idempotent: crate::http::request::idempotent(method),
    }
}

/// The worker's side, scripted: requests owed, an allowance of fresh ones taking the targets in turn, a
/// learned cap, and every outcome kept in order.
struct Script {
    requests: Vec<Prepared>,
    memo: HeadMemo,
    owed: VecDeque<Pending>,
    allowance: u64,
    taken: u64,
    cap: Option<u64>,
    outcomes: Vec<Outcome>,
}

impl Script {
    fn new(methods: &[&str], allowance: u64) -> Script {
        Script {
            requests: methods.iter().map(|m| prepared(m)).collect(),
            memo: HeadMemo::default(),
            owed: VecDeque::new(),
            allowance,
            taken: 0,
            cap: None,
            outcomes: Vec::new(),
        }
    }

    /// The outcomes so far, in words, without the bytes and in-flight counts (see `trace`).
    fn said(&mut self) -> Vec<String> {
        self.outcomes.drain(..).filter_map(trace).collect()
    }
}

fn trace(outcome: Outcome) -> Option<String> {
    Some(match outcome {
        Outcome::Answered { attempt, status, .. } => {
            format!("answered {} {status}{}", attempt.target, if attempt.retried { " retried" } else { "" })
        }
        Outcome::Failed { kind, target, .. } => format!("failed {target} {}", kind.name()),
        Outcome::Unanswered { request, progress, kind, .. } => {
            format!("unanswered {} {}{}", request.target, kind.name(), if progress { " progress" } else { "" })
        }
        Outcome::Received(_) | Outcome::InFlight(_) => return None,
        Outcome::KeepAliveDeclined => "declined".into(),
        Outcome::KeepAliveLimits { first_max, timeout_s } => format!("limits {first_max:?} {timeout_s:?}"),
        Outcome::EarlyClose { answered } => format!("early close after {answered}"),
        Outcome::Unsolicited => "unsolicited".into(),
        Outcome::Ended { answered, .. } => format!("ended after {answered}"),
        Outcome::KeepAliveMaxUsed { in_full } => format!("max used in full: {in_full}"),
        Outcome::ClosedUnanswered => "closed unanswered".into(),
    })
}

impl Host for Script {
    fn requests(&self) -> &[Prepared] {
        &self.requests
    }

    fn parse(&mut self, parser: &mut ResponseParser, bytes: &[u8]) -> Result<Feed, ParseError> {
        parser.feed(bytes, &mut self.memo)
    }

    fn learned_cap(&mut self, _: Instant) -> Option<u64> {
        self.cap
    }

    fn share_out(&mut self, want: u64, _: Instant) -> u64 {
        let owed = want.min(self.owed.len() as u64);
        let fresh = (want - owed).min(self.allowance);
        self.allowance -= fresh;
        for _ in 0..fresh {
            let target = (self.taken % self.requests.len() as u64) as u32;
            self.taken += 1;
            self.owed.push_back(Pending { start: None, retried: false, target });
        }
        owed + fresh
    }

    fn next(&mut self, _: Instant) -> Option<Pending> {
        self.owed.pop_front()
    }

    fn put_back(&mut self, request: Pending) {
        self.owed.push_front(request);
    }

    fn owed_first(&self) -> Option<Pending> {
        self.owed.front().copied()
    }

    fn record(&mut self, outcome: Outcome) {
        self.outcomes.push(outcome);
    }
}

fn rules(depth: u64) -> Rules {
    Rules { depth, timeout: TIMEOUT, requests_per_connection: None, await_server_close: false, open_loop: false }
}

/// A connection just opened at `t0` under `rules`.
fn opened(rules: Rules, host: &mut Script, t0: Instant) -> Connection {
    let mut conn = Connection::new(rules, t0);
    conn.open(t0, t0, host);
    conn
}

/// Polls once, expecting a write, and returns its bytes as text.
fn written(conn: &mut Connection, host: &mut Script, now: Instant) -> String {
    let Next::Write(batch) = conn.poll(now, host) else { panic!("a write was expected") };
    let mut joined = Vec::new();
    String::from_utf8(conn.transmit(batch, &host.requests, &mut joined).to_vec()).unwrap()
}

#[test]
fn keep_alive_sends_one_request_per_response_and_the_first_asks_to_keep_the_connection() {
    let t0 = Instant::now();
    let mut host = Script::new(&["GET"], 3);
    let mut conn = opened(rules(1), &mut host, t0);
    assert_eq!(written(&mut conn, &mut host, t0), "GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(conn.poll(t0, &mut host), Next::Read { room: false });
    assert_eq!(conn.feed(OK, t0, &mut host), OK.len());
    assert_eq!(written(&mut conn, &mut host, t0), "GET / HTTP/1.1\r\n\r\n");
    assert_eq!(conn.poll(t0, &mut host), Next::Read { room: false }, "one at a time");
    conn.feed(OK, t0, &mut host);
    written(&mut conn, &mut host, t0);
    conn.feed(OK, t0, &mut host);
    // the allowance is spent: the client closes
    assert_eq!(conn.poll(t0, &mut host), Next::Close(Close::Now(Closer::Client)));
    assert_eq!(conn.finish(Closer::Client, t0, &mut host), Finished { asked: false, progress: true });
    assert_eq!(host.said(), ["answered 0 200", "answered 0 200", "answered 0 200", "ended after 3"]);
}

#[test]
fn a_response_fed_byte_by_byte_is_framed_the_same() {
    let t0 = Instant::now();
    let mut host = Script::new(&["GET"], 1);
    let mut conn = opened(rules(1), &mut host, t0);
    written(&mut conn, &mut host, t0);
    // the driver keeps what was not consumed and hands it back with the next byte, as from a socket
    let mut kept = Vec::new();
    for (i, byte) in OK.iter().enumerate() {
        kept.push(*byte);
        let consumed = conn.feed(&kept, t0 + Duration::from_millis(i as u64), &mut host);
        kept.drain(..consumed);
    }
    assert!(kept.is_empty());
    let Some(Outcome::Answered { attempt, done, status }) =
        host.outcomes.iter().find(|o| matches!(o, Outcome::Answered { .. }))
    else {
        panic!("answered")
    };
    assert_eq!((*status, attempt.first_byte, *done), (200, Some(t0), t0 + Duration::from_millis(OK.len() as u64 - 1)));
    let received: usize = host.outcomes.iter().map(|o| if let Outcome::Received(n) = o { *n } else { 0 }).sum();
    assert!(received >= OK.len());
}

#[test]
fn pipelining_starts_once_the_connection_shows_it_persists_and_refills_when_answered() {
    let t0 = Instant::now();
    let mut host = Script::new(&["GET"], 10);
    let mut conn = opened(rules(4), &mut host, t0);
    assert_eq!(written(&mut conn, &mut host, t0).matches("GET").count(), 1, "the first goes alone");
    assert_eq!(conn.poll(t0, &mut host), Next::Read { room: false });
    conn.feed(OK, t0, &mut host);
    assert_eq!(written(&mut conn, &mut host, t0), "GET / HTTP/1.1\r\n\r\n".repeat(4), "then a batch of depth");
    assert!(host.outcomes.iter().any(|o| matches!(o, Outcome::InFlight(4))));
    // three of four answered in one read: closed loop, the next batch waits for the fourth
    conn.feed(&OK.repeat(3), t0, &mut host);
    assert_eq!(conn.poll(t0, &mut host), Next::Read { room: false });
    conn.feed(OK, t0, &mut host);
    assert_eq!(written(&mut conn, &mut host, t0).matches("GET").count(), 4);
    conn.feed(&OK.repeat(4), t0, &mut host);
    written(&mut conn, &mut host, t0);
    assert_eq!(host.said().len(), 9);
}

#[test]
fn a_request_that_is_not_idempotent_goes_alone_and_nothing_goes_behind_it() {
    let t0 = Instant::now();
    // the targets in turn: GET, POST, GET, GET, POST, ...
    let mut host = Script::new(&["GET", "POST", "GET"], 7);
    let mut conn = opened(rules(8), &mut host, t0);
    assert_eq!(written(&mut conn, &mut host, t0).matches("GET").count(), 1);
    conn.feed(OK, t0, &mut host);
    // the POST is next: it goes alone, with nothing in flight
    assert_eq!(written(&mut conn, &mut host, t0), "POST / HTTP/1.1\r\n\r\n");
    conn.feed(OK, t0, &mut host);
    // two GETs, then the POST met behind them stays owed, first
    assert_eq!(written(&mut conn, &mut host, t0), "GET / HTTP/1.1\r\n\r\n".repeat(2));
    assert_eq!(host.owed_first().map(|p| p.target), Some(1));
    conn.feed(OK, t0, &mut host);
    assert_eq!(conn.poll(t0, &mut host), Next::Read { room: false }, "nothing joins a batch not yet answered");
    conn.feed(OK, t0, &mut host);
    assert_eq!(written(&mut conn, &mut host, t0), "POST / HTTP/1.1\r\n\r\n");
    conn.feed(OK, t0, &mut host);
    assert_eq!(written(&mut conn, &mut host, t0), "GET / HTTP/1.1\r\n\r\n".repeat(2), "the last two of seven");
}

#[test]
fn how_a_connection_ends_settles_what_was_in_flight() {
    let t0 = Instant::now();
    let later = t0 + Duration::from_millis(10);
    // each case: what happens to a connection with three pipelined requests in flight after one answer (the
    // oldest's response in part when `partial`), what they came to, and how the connection closes
    #[allow(clippy::type_complexity)]
    let cases: [(&str, &[u8], fn(&mut Connection, &mut Script, Instant), &[&str], Close); 7] = [
        // the server's FIN before any byte of the next response: the three were never read, and the
        // connection made progress, so they go again
        (
            "eof",
            b"",
            |c, h, now| c.eof(now, h),
            &[
                "early close after 1",
                "unanswered 0 closed_early progress",
                "unanswered 0 closed_early progress",
                "unanswered 0 closed_early progress",
            ],
            Close::Now(Closer::Server),
        ),
        // the FIN in the middle of the oldest's body: cut short
        (
            "eof mid-body",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok",
            |c, h, now| c.eof(now, h),
            &[
                "failed 0 truncated",
                "early close after 1",
                "unanswered 0 closed_early progress",
                "unanswered 0 closed_early progress",
            ],
            Close::Now(Closer::Server),
        ),
        // a body that runs until the close is whole at the FIN
        (
            "eof ends a body",
            b"HTTP/1.1 200 OK\r\n\r\nuntil the close",
            |c, h, now| c.eof(now, h),
            &[
                "answered 0 200",
                "early close after 2",
                "unanswered 0 closed_early progress",
                "unanswered 0 closed_early progress",
            ],
            Close::Now(Closer::Server),
        ),
        // a reset before any byte: unanswered, as a reset
        (
            "reset",
            b"",
            |c, h, now| c.read_failed(ErrorKind::Reset, now, h),
            &[
                "early close after 1",
                "unanswered 0 reset progress",
                "unanswered 0 reset progress",
                "unanswered 0 reset progress",
            ],
            Close::Now(Closer::Reset),
        ),
        // a reset under a response: that one failed
        (
            "reset mid-response",
            b"HTTP/1.1 200",
            |c, h, now| c.read_failed(ErrorKind::Reset, now, h),
            &["failed 0 reset", "early close after 1", "unanswered 0 reset progress", "unanswered 0 reset progress"],
            Close::Now(Closer::Reset),
        ),
        // a head that cannot be framed: a parse error, and the others were never answered
        (
            "malformed",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            |_, _, _| {},
            &["failed 0 parse", "unanswered 0 closed_early progress", "unanswered 0 closed_early progress"],
            Close::Graceful,
        ),
        // a response that says the connection closes: what is behind it will not be answered here
        (
            "announced",
            OK_CLOSE,
            |_, _, _| {},
            &[
                "answered 0 200",
                "early close after 2",
                "unanswered 0 closed_early progress",
                "unanswered 0 closed_early progress",
            ],
            Close::UnlessClosed,
        ),
    ];
    for (name, bytes, event, said, close) in cases {
        let mut host = Script::new(&["GET"], 4);
        let mut conn = opened(rules(3), &mut host, t0);
        written(&mut conn, &mut host, t0);
        conn.feed(OK, t0, &mut host);
        written(&mut conn, &mut host, t0);
        host.said();
        conn.feed(bytes, later, &mut host);
        event(&mut conn, &mut host, later);
        assert_eq!(host.said(), said, "{name}");
        assert_eq!(conn.poll(later, &mut host), Next::Close(close), "{name}");
    }
}

#[test]
fn a_connection_that_answers_nothing_is_counted_and_its_request_gets_one_more_try() {
    let t0 = Instant::now();
    let mut host = Script::new(&["GET"], 1);
    let mut conn = opened(rules(1), &mut host, t0);
    written(&mut conn, &mut host, t0);
    conn.eof(t0, &mut host);
    assert_eq!(conn.poll(t0, &mut host), Next::Close(Close::Now(Closer::Server)));
    assert_eq!(conn.finish(Closer::Server, t0, &mut host), Finished { asked: false, progress: false });
    let said = host.said();
    assert_eq!(said, ["early close after 0", "unanswered 0 closed_early", "ended after 0", "closed unanswered"]);
    // the client's own close of such a connection is not the server's doing
    let mut conn = opened(rules(1), &mut host, t0);
    host.allowance = 1;
    written(&mut conn, &mut host, t0);
    conn.timer(t0 + TIMEOUT, &mut host);
    assert_eq!(conn.finish(Closer::Client, t0, &mut host), Finished { asked: false, progress: false });
    assert_eq!(host.said(), ["failed 0 timeout", "ended after 0"]);
}

#[test]
fn the_timer_fires_for_the_oldest_request_and_every_other_as_late_times_out_too() {
    let t0 = Instant::now();
    let mut host = Script::new(&["GET"], 4);
    let mut conn = opened(rules(4), &mut host, t0);
    written(&mut conn, &mut host, t0);
    conn.feed(OK, t0, &mut host);
    // two written at t0, two a second later
    let t1 = t0 + Duration::from_secs(1);
    let Next::Write(batch) = conn.poll(t0, &mut host) else { panic!() };
    assert_eq!(batch.count, 3);
    host.said();
    // a timer that fires early is re-armed to the oldest's due time, nothing more
    assert_eq!(conn.timer(t1, &mut host), Some(t0 + TIMEOUT));
    assert_eq!(conn.deadline(t1), t0 + TIMEOUT);
    assert!(host.said().is_empty());
    assert_eq!(conn.timer(t0 + TIMEOUT + Duration::from_millis(1), &mut host), None);
    assert_eq!(host.said(), ["failed 0 timeout", "failed 0 timeout", "failed 0 timeout"]);
    assert_eq!(conn.poll(t1, &mut host), Next::Close(Close::Graceful));
}

#[test]
fn bytes_no_request_asked_for_end_the_connection() {
    let t0 = Instant::now();
    let mut host = Script::new(&["GET"], 1);
    let mut conn = opened(rules(1), &mut host, t0);
    written(&mut conn, &mut host, t0);
    // one request, two responses in one read
    let two = [OK, OK].concat();
    assert_eq!(conn.feed(&two, t0, &mut host), OK.len());
    assert_eq!(host.said(), ["answered 0 200", "unsolicited"]);
    assert_eq!(conn.poll(t0, &mut host), Next::Close(Close::Graceful));
}

#[test]
fn one_shot_modes_close_first_or_wait_for_the_servers_fin() {
    let t0 = Instant::now();
    // each case: --close-by server, the response, and how the connection ends
    for (await_server, response, close) in [
        (false, OK, Close::Now(Closer::Client)),
        (false, OK_CLOSE, Close::UnlessClosed),
        (true, OK_CLOSE, Close::AwaitServer(t0 + TIMEOUT)),
    ] {
        let one_shot = Rules { requests_per_connection: Some(1), await_server_close: await_server, ..rules(1) };
        let mut host = Script::new(&["GET"], 5);
        let mut conn = opened(one_shot, &mut host, t0);
        assert_eq!(written(&mut conn, &mut host, t0), "GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n");
        conn.feed(response, t0, &mut host);
        assert_eq!(conn.poll(t0, &mut host), Next::Close(close));
        let asked = response == OK_CLOSE;
        assert_eq!(conn.finish(Closer::Client, t0, &mut host), Finished { asked, progress: true });
        // a one-shot connection that the server closes is not a keep-alive it declined
        assert_eq!(host.said(), ["answered 0 200", "ended after 1"]);
    }
}

#[test]
fn what_the_server_announces_about_keep_alive_is_kept_and_recorded() {
    let t0 = Instant::now();
    // max=1: one more request after the first, then the client retires the connection
    let mut host = Script::new(&["GET"], 10);
    let mut conn = opened(rules(8), &mut host, t0);
    written(&mut conn, &mut host, t0);
    conn.feed(b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=1\r\nContent-Length: 0\r\n\r\n", t0, &mut host);
    assert_eq!(written(&mut conn, &mut host, t0).matches("GET").count(), 1, "max=1 allows one more, not 8");
    conn.feed(b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=0\r\nContent-Length: 0\r\n\r\n", t0, &mut host);
    assert_eq!(conn.poll(t0, &mut host), Next::Close(Close::UnlessClosed));
    conn.finish(Closer::Client, t0, &mut host);
    let said = host.said();
    assert_eq!(
        said,
        [
            "answered 0 200",
            "limits Some(1) Some(5)",
            "answered 0 200",
            "limits None Some(5)",
            "ended after 2",
            "max used in full: true"
        ]
    );
    // an HTTP/1.0 server that does not keep the connection: declined, in a mode that meant to keep it
    let mut conn = opened(rules(1), &mut host, t0);
    written(&mut conn, &mut host, t0);
    conn.feed(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", t0, &mut host);
    assert_eq!(conn.poll(t0, &mut host), Next::Close(Close::UnlessClosed));
    assert_eq!(conn.finish(Closer::Server, t0, &mut host), Finished { asked: true, progress: true });
    assert_eq!(host.said(), ["answered 0 200", "declined", "ended after 1"]);
}

#[test]
fn a_learned_limit_caps_the_connection() {
    let t0 = Instant::now();
    let mut host = Script::new(&["GET"], 10);
    host.cap = Some(2);
    let mut conn = opened(rules(8), &mut host, t0);
    written(&mut conn, &mut host, t0);
    conn.feed(OK, t0, &mut host);
    assert_eq!(written(&mut conn, &mut host, t0).matches("GET").count(), 1, "two in all");
    conn.feed(OK, t0, &mut host);
    assert_eq!(conn.poll(t0, &mut host), Next::Close(Close::UnlessClosed));
}

#[test]
fn a_head_response_has_no_body_whatever_it_says() {
    let t0 = Instant::now();
    let mut host = Script::new(&["HEAD"], 1);
    let mut conn = opened(rules(1), &mut host, t0);
    written(&mut conn, &mut host, t0);
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    assert_eq!(conn.feed(head, t0, &mut host), head.len());
    assert_eq!(host.said(), ["answered 0 200"]);
}

#[test]
fn open_loop_waits_idle_for_scheduled_work_until_the_servers_idle_timeout() {
    let t0 = Instant::now();
    let open = Rules { open_loop: true, ..rules(4) };
    let mut host = Script::new(&["GET"], 1);
    let mut conn = opened(open, &mut host, t0);
    written(&mut conn, &mut host, t0);
    // open loop: a scheduled request may join the pipeline while one is in flight, once persistence is known
    assert_eq!(conn.poll(t0, &mut host), Next::Read { room: false }, "not before the first response");
    conn.feed(b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=10\r\nContent-Length: 0\r\n\r\n", t0, &mut host);
    // nothing scheduled: idle, until nine tenths of the announced timeout
    assert_eq!(conn.poll(t0, &mut host), Next::Idle { until: Some(t0 + Duration::from_secs(9)) });
    // a scheduled request arrives: it goes, and another would fit beside it
    host.owed.push_back(Pending { start: Some(t0), retried: false, target: 0 });
    written(&mut conn, &mut host, t0);
    assert_eq!(conn.poll(t0, &mut host), Next::Read { room: true });
    // idle past the announced timeout: the connection is not reused
    conn.feed(OK, t0, &mut host);
    assert_eq!(conn.poll(t0 + Duration::from_secs(9), &mut host), Next::Close(Close::UnlessClosed));
}

#[test]
fn a_write_that_fails_leaves_its_requests_unanswered() {
    let t0 = Instant::now();
    let mut host = Script::new(&["GET", "POST"], 2);
    let mut conn = opened(rules(1), &mut host, t0);
    written(&mut conn, &mut host, t0);
    conn.feed(OK, t0, &mut host);
    written(&mut conn, &mut host, t0);
    conn.write_failed(ErrorKind::Reset, t0, &mut host);
    assert_eq!(host.said(), ["answered 0 200", "early close after 1", "unanswered 1 reset progress"]);
    assert_eq!(conn.poll(t0, &mut host), Next::Close(Close::Now(Closer::Reset)));
}
