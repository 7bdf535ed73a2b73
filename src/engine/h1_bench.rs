//! The HTTP/1.x state machine of `h1.rs` on its own, for `benches/h1_machine.rs` and
//! `examples/h1_machine.rs` (scripts/callgrind-h1.sh): one connection driven by hand, as a driver does it
//! (poll, write the batch, poll, feed the responses), with a host that does what `Backlog` does for the
//! machine and nothing more (an unbounded allowance, the thread's head memo), and no recorder: what it costs
//! is the machine's own work per request, the response parser included. Built only with the `bench`
//! feature, which the package's dev-dependency on itself turns on for benches and examples.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::backlog::Pending;
use super::h1::{Connection, Host, Next, Outcome, Rules};
use crate::http::request::{idempotent, render, RequestSpec};
use crate::http::response::{Feed, HeadMemo, ParseError, ResponseParser};
use crate::plan::{Prepared, RequestParts};

/// What nginx 1.22 sends for `return 200 "hello world\n"` (the server of scripts/bench-peers.sh).
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 14:00:00 GMT\r\n\
Content-Type: application/octet-stream\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n";

/// One connection past its first exchange, with `depth` requests a round.
pub struct Machine {
    conn: Connection,
    host: Replay,
    /// The driver's buffer for a batch of several requests.
    joined: Vec<u8>,
    /// A round's responses, all in one read.
    responses: Vec<u8>,
    now: Instant,
}

impl Machine {
    /// Keep-alive (`depth` 1) or pipeline: the connection is open, and its first request, which goes alone,
    /// is answered, so that every round is the same.
    pub fn new(depth: u64) -> Machine {
        let now = Instant::now();
        let rules = Rules {
            depth,
            timeout: Duration::from_secs(10),
            requests_per_connection: None,
            await_server_close: false,
            open_loop: false,
        };
        let mut machine = Machine {
            conn: Connection::new(rules, now),
            host: Replay::new(),
            joined: Vec::new(),
            responses: RESPONSE.to_vec(),
            now,
        };
        machine.conn.open(now, now, &mut machine.host);
        assert_eq!(machine.round().0, 1, "the first request goes alone");
        machine.responses = RESPONSE.repeat(depth as usize);
        machine
    }

    /// One round trip: the machine's batch written, then all its responses read at once. Returns the
    /// requests answered, and the bytes written.
    pub fn round(&mut self) -> (u64, usize) {
        let (conn, host, now) = (&mut self.conn, &mut self.host, self.now);
        let Next::Write(batch) = conn.poll(now, host) else { panic!("a batch to write") };
        let written = conn.transmit(batch, &host.requests, &mut self.joined).len();
        assert_eq!(conn.poll(now, host), Next::Read { room: false });
        let before = host.answered;
        assert_eq!(conn.feed(&self.responses, now, host), self.responses.len(), "whole responses");
        (host.answered - before, written)
    }
}

/// The worker's side, as little of it as the machine needs: requests taken from an allowance that never
/// ends, owed in a queue as `Backlog` owes them, and answers counted.
struct Replay {
    requests: Vec<Prepared>,
    memo: HeadMemo,
    owed: VecDeque<Pending>,
    answered: u64,
}

impl Replay {
    fn new() -> Replay {
        // What connbench sends to nginx at the URL of scripts/bench-peers.sh.
        let (host, headers) = ("127.0.0.1:18090", Vec::new());
        let spec = RequestSpec {
            method: "GET",
            target: "/",
            host,
            headers: &headers,
            body: b"",
            http10: false,
            connection: None,
        };
        let prepared = Prepared {
            bytes: render(&spec),
            first: Some(render(&RequestSpec { connection: Some("keep-alive"), ..spec })),
            parts: RequestParts {
                method: "GET".into(),
                authority: host.into(),
                path: "/".into(),
                headers,
                body: Vec::new().into(),
            },
            head: false,
            idempotent: idempotent("GET"),
        };
        Replay { requests: vec![prepared], memo: HeadMemo::default(), owed: VecDeque::new(), answered: 0 }
    }
}

impl Host for Replay {
    fn requests(&self) -> &[Prepared] {
        &self.requests
    }

    fn parse(&mut self, parser: &mut ResponseParser, bytes: &[u8]) -> Result<Feed, ParseError> {
        parser.feed(bytes, &mut self.memo)
    }

    fn learned_cap(&mut self, _: Instant) -> Option<u64> {
        None
    }

    fn share_out(&mut self, want: u64, _: Instant) -> u64 {
        for _ in self.owed.len() as u64..want {
            self.owed.push_back(Pending { start: None, retried: false, target: 0 });
        }
        want
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
        if let Outcome::Answered { attempt, .. } = outcome {
            std::hint::black_box(attempt);
            self.answered += 1;
        }
    }
}
