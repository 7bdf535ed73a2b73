//! One HTTP/1.x connection as a sans-IO state machine (quinn-proto's `Connection`, rustls'
//! `ClientConnection`): no socket, no clock, no runtime. A driver (`conn.rs` on tokio, `uring.rs` on io_uring)
//! feeds it what happened (bytes read, the end of the stream, a failed read or write, a timer that fired) with
//! the instant it happened, and asks it what to do next ([`Connection::poll`]): write a batch of requests, read,
//! wait idle for scheduled work, or close, and how. Both engines run this one logic, so their counts cannot
//! differ (docs/design.md §2 for the rules, kept in `http::reuse` and `backlog.rs`).
//!
//! What a connection needs from the world beyond its own bytes goes through [`Host`]: requests to send (its
//! worker's backlog and the mode's allowance: retries first, the window, the budget or the schedule) and what
//! its requests came to (completed, failed, unanswered, and the connection's facts for the recorder). The
//! engine's host is the worker's `Backlog`; the tests' host is a script.
//!
//! Every request written ends in one whole response or one counted outcome: failed, or unanswered (the server
//! never read it: retried or not by `Backlog::unanswered`'s rule), or, when the window ends with it in flight,
//! nothing (the engine counts it in flight at the end).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::backlog::{Attempt, Pending};
use crate::http::response::{EofOutcome, Feed, ParseError, ResponseMeta, ResponseParser};
use crate::http::reuse::{Retired, Reuse};
use crate::plan::Prepared;
use crate::record::{Closer, ErrorKind};

/// What a connection asks of its worker and thread.
pub(super) trait Host {
    /// The plan's requests, by target.
    fn requests(&self) -> &[Prepared];
    /// Frames `bytes` as the response `parser` is reading (with the thread's memo of the last head).
    fn parse(&mut self, parser: &mut ResponseParser, bytes: &[u8]) -> Result<Feed, ParseError>;
    /// The learned limit for the connection opening now (`backlog::Learned::cap`).
    fn learned_cap(&mut self, now: Instant) -> Option<u64>;
    /// How many of `want` requests may go now (`Backlog::share_out`).
    fn share_out(&mut self, want: u64, now: Instant) -> u64;
    /// The next request of a share (`Backlog::next`).
    fn next(&mut self, now: Instant) -> Option<Pending>;
    /// A request of a share that may not go yet: owed first.
    fn put_back(&mut self, request: Pending);
    /// The request owed first, if any.
    fn owed_first(&self) -> Option<Pending>;
    /// What happened, for the recorder and the backlog.
    fn record(&mut self, outcome: Outcome);
}

/// What a connection's requests came to, and the facts of the connection the result keeps.
#[derive(Debug)]
pub(super) enum Outcome {
    /// A whole response answered `attempt` at `done`.
    Answered { attempt: Attempt, done: Instant, status: u16 },
    /// The request of `target` failed.
    Failed { at: Instant, kind: ErrorKind, target: u32 },
    /// The connection ended before any byte of the response to `request` (`Backlog::unanswered`).
    Unanswered { request: Pending, progress: bool, kind: ErrorKind, at: Instant },
    /// Bytes read from the server.
    Received(usize),
    /// Requests in flight on the connection just after a write.
    InFlight(usize),
    /// The first response said the connection ends, where the mode meant to keep it.
    KeepAliveDeclined,
    /// A response announced `Keep-Alive` limits (`first_max`: the first response's `max`).
    KeepAliveLimits { first_max: Option<u32>, timeout_s: Option<u32> },
    /// The server closed with requests unanswered after `answered` responses (`backlog::Learned`).
    EarlyClose { answered: u64 },
    /// Bytes no request asked for ended the connection.
    Unsolicited,
    /// The connection ended at `at` after `answered` responses (`Backlog::connection_ended`).
    Ended { answered: u64, at: Instant },
    /// The connection had announced a `Keep-Alive: max`, and carried it `in_full` or not.
    KeepAliveMaxUsed { in_full: bool },
    /// The server ended a connection that answered nothing (closed or reset without a word).
    ClosedUnanswered,
}

/// What the mode asks of every connection, from the plan.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    /// Requests in flight once the connection is known to be persistent.
    pub(super) depth: u64,
    /// `--timeout`: the longest a request waits for its whole response.
    pub(super) timeout: Duration,
    /// Serial and parallel: one request a connection.
    pub(super) requests_per_connection: Option<u64>,
    /// `--close-by server`: wait for the server's FIN after the last response.
    pub(super) await_server_close: bool,
    /// `--rate`: requests come from a schedule, and a connection waits idle for them.
    pub(super) open_loop: bool,
}

impl Rules {
    pub(super) fn of(plan: &crate::plan::ModePlan) -> Rules {
        Rules {
            depth: u64::from(plan.depth),
            timeout: plan.timeout,
            requests_per_connection: plan.requests_per_connection,
            await_server_close: plan.await_server_close,
            open_loop: plan.schedule.is_some(),
        }
    }
}

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Write this batch ([`Connection::transmit`]), then tell how it went ([`Connection::write_failed`] if not).
    Write(Batch),
    /// Read, bounded by [`Connection::deadline`]; `room`: open loop, a scheduled request could go now if one
    /// were waiting (wake for it too).
    Read { room: bool },
    /// Open loop, nothing in flight: wait for a scheduled request (owe it, then poll again), watching the
    /// connection, until `until` (the server's idle timeout, if it announced one); then the client closes.
    Idle { until: Option<Instant> },
    /// The connection is over: close it so, then [`Connection::finish`].
    Close(Close),
}

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Close {
    /// Closed, `Closer` first.
    Now(Closer),
    /// The client closes now, unless the server's FIN is already in (then the close was the server's).
    UnlessClosed,
    /// Wait for the server's FIN (or RST) until the instant given; the client closes if it has not come.
    AwaitServer(Instant),
    /// An abnormal end (a timeout, bytes that cannot be matched to a request): shut down writing, read away
    /// what the server still sends for a moment, so that the close finds nothing unread and sends FIN rather
    /// than RST (RFC 9112 §9.6). The client closed.
    Graceful,
}

/// Requests `from..from + count` of those in flight, written together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Batch {
    from: usize,
    count: usize,
    /// The connection's first request: its own bytes (`Prepared::first`).
    first: bool,
}

/// How a connection's life went, for the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Finished {
    /// The last response asked for the close: a close of the client's is the server's wish.
    pub(super) asked: bool,
    /// It answered something, or was never sent anything: the worker need not back off.
    pub(super) progress: bool,
}

/// A request written and not yet answered.
struct InFlight {
    attempt: Attempt,
    parser: ResponseParser,
    /// Its method is idempotent: others may be pipelined behind it.
    idempotent: bool,
}

/// Why a connection is ending while requests may still be in flight.
#[derive(Clone, Copy)]
enum Ending {
    /// End of stream from the server.
    Eof,
    /// A response said the server closes after it.
    Announced,
    /// A read or write failed (reset, mostly).
    Failed(ErrorKind),
    /// The oldest request waited longer than `--timeout`.
    TimedOut,
    /// The oldest request's response cannot be framed.
    Malformed,
}

/// What becomes of the oldest request in flight when its connection ends.
enum Fate {
    /// Its body ran until the close: the close completed it.
    Answered(ResponseMeta),
    /// Its response was cut short, timed out or is malformed.
    Failed(ErrorKind),
    /// Not one byte of its response arrived.
    Unanswered,
}

/// One worker's HTTP/1.x connection, reused for each connection the worker opens ([`Connection::open`]).
pub(super) struct Connection {
    rules: Rules,
    flight: VecDeque<InFlight>,
    reuse: Reuse,
    /// Requests written on this connection (`reuse` counts the responses).
    sent: u64,
    /// When this connection's connect began: the first request's latency counts from it.
    connect_start: Instant,
    /// A batch was just written: read before writing again.
    wrote: bool,
    /// The connection is ending, so.
    ending: Option<Close>,
}

impl Connection {
    pub(super) fn new(rules: Rules, now: Instant) -> Connection {
        Connection {
            rules,
            flight: VecDeque::with_capacity(rules.depth as usize),
            reuse: Reuse::new(None),
            sent: 0,
            connect_start: now,
            wrote: false,
            ending: None,
        }
    }

    /// A connection is open, its connect begun at `connect_start`: it may carry the mode's limit, or the
    /// learned one (`backlog::Learned`), whichever is lower.
    pub(super) fn open(&mut self, connect_start: Instant, now: Instant, host: &mut impl Host) {
        debug_assert!(self.flight.is_empty(), "the last connection settled what it had in flight");
        let learned = host.learned_cap(now);
        let limit = [self.rules.requests_per_connection, learned].into_iter().flatten().min();
        self.reuse = Reuse::new(limit);
        (self.sent, self.connect_start, self.wrote, self.ending) = (0, connect_start, false, None);
    }

    /// What to do next, at `now`.
    pub(super) fn poll(&mut self, now: Instant, host: &mut impl Host) -> Next {
        if let Some(close) = self.ending {
            return Next::Close(close);
        }
        // Closed loop: the next pipelined batch goes once the last is answered, as wrk does. Refilling after
        // every read kept the pipe fuller but cost a write per read instead of one per `depth` requests: 4.8
        // against 3.6 µs of client CPU per request on loopback (1.3x wrk's).
        if !std::mem::take(&mut self.wrote) && (self.rules.open_loop || self.flight.is_empty()) {
            let want = self.room(now, host);
            if want > 0 {
                if let Some(batch) = self.batch(want, now, host) {
                    self.wrote = true;
                    return Next::Write(batch);
                }
            }
            if self.flight.is_empty() {
                let close = match self.reuse.retired(self.sent, 0, now) {
                    Some(Retired::NotPersistent) => self.after_last_response(now),
                    // One-shot modes close at once (the server keeps the connection open); a persistent
                    // connection retired by a learned limit or the idle rule may race the server's own close,
                    // and whose FIN came first decides where TIME_WAIT lands.
                    Some(Retired::Limit) if self.rules.requests_per_connection.is_some() => Close::Now(Closer::Client),
                    Some(Retired::Limit | Retired::Idle) => Close::UnlessClosed,
                    // Closed loop: nothing more to send, so the connection is done.
                    None if !self.rules.open_loop => Close::Now(Closer::Client),
                    None => return Next::Idle { until: self.reuse.idle_deadline() },
                };
                return Next::Close(close);
            }
        }
        Next::Read { room: self.rules.open_loop && self.room(now, host) > 0 }
    }

    /// The bytes of `batch`: a request's own, or several joined in `joined`.
    pub(super) fn transmit<'b>(&self, batch: Batch, requests: &'b [Prepared], joined: &'b mut Vec<u8>) -> &'b [u8] {
        let prepared = |f: &InFlight| &requests[f.attempt.target as usize];
        match batch.count {
            1 if batch.first => prepared(&self.flight[batch.from]).first(),
            1 => &prepared(&self.flight[batch.from]).bytes,
            _ => {
                joined.clear();
                for f in self.flight.range(batch.from..batch.from + batch.count) {
                    joined.extend_from_slice(&prepared(f).bytes);
                }
                joined
            }
        }
    }

    /// When the oldest request in flight times out (or, with none, a timeout from `now`): the driver's timer
    /// need only be this or earlier, and is re-armed from [`Connection::timer`] when it fires.
    pub(super) fn deadline(&self, now: Instant) -> Instant {
        self.flight.front().map_or(now + self.rules.timeout, |oldest| oldest.attempt.sent + self.rules.timeout)
    }

    /// The driver's timer fired at `now`: the oldest request timed out (the connection closes, gracefully), or
    /// the timer is re-armed to the instant returned. A timer reset per response would cost more than the rest
    /// of the bookkeeping, so it is re-armed only when it fires.
    pub(super) fn timer(&mut self, now: Instant, host: &mut impl Host) -> Option<Instant> {
        let due = self.deadline(now);
        if now < due {
            return Some(due);
        }
        self.settle(Ending::TimedOut, now, host);
        self.ending = Some(Close::Graceful);
        None
    }

    /// Bytes read at `now`; returns how many were consumed. The driver keeps the rest and hands them back
    /// with the next bytes (only part of a head or of a chunk's size line is ever left).
    pub(super) fn feed(&mut self, bytes: &[u8], now: Instant, host: &mut impl Host) -> usize {
        self.wrote = false;
        host.record(Outcome::Received(bytes.len()));
        let mut start = 0;
        while start < bytes.len() {
            let Some(head) = self.flight.front_mut() else {
                self.unsolicited(host);
                break;
            };
            head.attempt.first_byte.get_or_insert(now);
            match host.parse(&mut head.parser, &bytes[start..]) {
                Ok(Feed::Incomplete { consumed }) => {
                    start += consumed;
                    break;
                }
                Ok(Feed::Complete { consumed, meta }) => {
                    start += consumed;
                    self.complete(now, &meta, host);
                    if !meta.persistent {
                        // What is still in flight will not be answered on this connection.
                        self.settle(Ending::Announced, now, host);
                        break;
                    }
                }
                Err(_) => {
                    self.settle(Ending::Malformed, now, host);
                    self.ending = Some(Close::Graceful);
                    break;
                }
            }
        }
        start
    }

    /// Bytes nobody asked for (a second response to one request, or bytes on an idle connection): the stream
    /// can no longer be matched to requests, so the client closes, and counts why.
    pub(super) fn unsolicited(&mut self, host: &mut impl Host) {
        host.record(Outcome::Unsolicited);
        self.ending = Some(Close::Graceful);
    }

    /// The server's end of stream, read at `now`.
    pub(super) fn eof(&mut self, now: Instant, host: &mut impl Host) {
        self.end(Ending::Eof, now, host);
    }

    /// A read failed at `now`.
    pub(super) fn read_failed(&mut self, kind: ErrorKind, now: Instant, host: &mut impl Host) {
        self.end(Ending::Failed(kind), now, host);
    }

    /// The write of the last batch failed at `now`.
    pub(super) fn write_failed(&mut self, kind: ErrorKind, now: Instant, host: &mut impl Host) {
        self.end(Ending::Failed(kind), now, host);
    }

    /// The connection is closed, `closer` first, at `now`: its facts for the recorder, and for the worker
    /// whether the close was asked for and whether the connection made progress.
    pub(super) fn finish(&mut self, closer: Closer, now: Instant, host: &mut impl Host) -> Finished {
        debug_assert!(self.flight.is_empty(), "what was in flight is settled before the close");
        let answered = self.reuse.answered();
        host.record(Outcome::Ended { answered, at: now });
        if let Some((_, in_full)) = self.reuse.announced_max() {
            host.record(Outcome::KeepAliveMaxUsed { in_full });
        }
        // Nothing answered: the server's close or reset without a word is counted (and noted); whoever closed,
        // the worker waits before the next connection.
        let nothing = answered == 0 && self.sent > 0;
        if nothing && closer != Closer::Client {
            host.record(Outcome::ClosedUnanswered);
        }
        Finished { asked: self.reuse.persistent() == Some(false), progress: !nothing }
    }

    /// How many more requests the connection may have written now: what the server's answers allow
    /// (`Reuse::sendable`), and nothing behind a request that is not idempotent, nor such a request behind
    /// others (RFC 9112 §9.3.2: it goes alone).
    fn room(&self, now: Instant, host: &impl Host) -> u64 {
        let alone_in_flight = self.flight.front().is_some_and(|f| !f.idempotent);
        let waits_for_alone = !self.flight.is_empty()
            && host.owed_first().is_some_and(|p| !host.requests()[p.target as usize].idempotent);
        if alone_in_flight || waits_for_alone {
            return 0;
        }
        self.reuse.sendable(self.sent, self.flight.len() as u64, self.rules.depth, now)
    }

    /// Takes up to `want` requests to write together: retries first, then new ones from the allowance. A
    /// request that is not idempotent goes only with nothing in flight, and ends the batch; one met behind
    /// others stays owed, first, for when they are answered. None when there was nothing to send.
    fn batch(&mut self, want: u64, now: Instant, host: &mut impl Host) -> Option<Batch> {
        let share = host.share_out(want, now);
        // A connection's first request goes alone (persistence is not known yet), and asks for keep-alive.
        let first = self.sent == 0;
        let mut count = 0;
        for _ in 0..share {
            let Some(request) = host.next(now) else { break };
            let prepared = &host.requests()[request.target as usize];
            let (idempotent, head) = (prepared.idempotent, prepared.head);
            if !idempotent && !self.flight.is_empty() {
                host.put_back(request);
                break;
            }
            let attempt = Attempt::sent(request, self.sent == 0, self.connect_start, now);
            self.flight.push_back(InFlight { attempt, parser: ResponseParser::new(head), idempotent });
            self.sent += 1;
            count += 1;
            if !idempotent {
                break;
            }
        }
        if count == 0 {
            return None;
        }
        host.record(Outcome::InFlight(self.flight.len()));
        Some(Batch { from: self.flight.len() - count, count, first })
    }

    fn complete(&mut self, done: Instant, meta: &ResponseMeta, host: &mut impl Host) {
        let request = self.flight.pop_front().expect("a response completes a request in flight");
        host.record(Outcome::Answered { attempt: request.attempt, done, status: meta.status });
        let first = self.reuse.persistent().is_none();
        if first && !meta.persistent && self.rules.requests_per_connection.is_none() {
            host.record(Outcome::KeepAliveDeclined);
        }
        if meta.keep_alive_max.is_some() || meta.keep_alive_timeout_secs.is_some() {
            let first_max = meta.keep_alive_max.filter(|_| first);
            host.record(Outcome::KeepAliveLimits { first_max, timeout_s: meta.keep_alive_timeout_secs });
        }
        self.reuse.on_response(meta, done);
    }

    /// The connection ends as `ending` says: what was in flight is settled, and who closed is known.
    fn end(&mut self, ending: Ending, now: Instant, host: &mut impl Host) {
        self.settle(ending, now, host);
        let closer = match ending {
            Ending::Failed(ErrorKind::Reset) => Closer::Reset,
            Ending::Failed(_) | Ending::TimedOut | Ending::Malformed => Closer::Client,
            Ending::Eof | Ending::Announced => Closer::Server,
        };
        self.ending = Some(Close::Now(closer));
    }

    /// After a response that said the connection closes. With `--close-by server`, wait for the server's FIN
    /// so the close is the server's (and TIME_WAIT lands on its side), bounded by the request timeout.
    /// Otherwise the exchange is over and so is the connection, at once (a server that keeps the socket open
    /// must not cost a timeout).
    fn after_last_response(&self, now: Instant) -> Close {
        if self.rules.await_server_close {
            Close::AwaitServer(now + self.rules.timeout)
        } else {
            Close::UnlessClosed
        }
    }

    /// The connection is ending: the oldest request fails if its response was cut short (or it timed out, or
    /// its response is malformed); every other request in flight was unanswered, and is retried if it may be.
    fn settle(&mut self, ending: Ending, now: Instant, host: &mut impl Host) {
        let fate = self.flight.front_mut().map(|head| match ending {
            Ending::Eof => match head.parser.eof() {
                EofOutcome::Complete(meta) => Fate::Answered(meta),
                EofOutcome::Truncated => Fate::Failed(ErrorKind::Truncated),
                EofOutcome::NothingReceived => Fate::Unanswered,
            },
            Ending::Failed(kind) if head.parser.started() => Fate::Failed(kind),
            Ending::TimedOut => Fate::Failed(ErrorKind::Timeout),
            Ending::Malformed => Fate::Failed(ErrorKind::Parse),
            Ending::Failed(_) | Ending::Announced => Fate::Unanswered,
        });
        match fate {
            Some(Fate::Answered(meta)) => self.complete(now, &meta, host),
            Some(Fate::Failed(kind)) => {
                if let Some(head) = self.flight.pop_front() {
                    host.record(Outcome::Failed { at: now, kind, target: head.attempt.target });
                }
            }
            Some(Fate::Unanswered) | None => {}
        }
        if self.flight.is_empty() {
            return;
        }
        let answered = self.reuse.answered();
        if matches!(ending, Ending::Eof | Ending::Announced | Ending::Failed(_)) {
            host.record(Outcome::EarlyClose { answered });
        }
        let kind = match ending {
            Ending::Failed(kind) => kind,
            _ => ErrorKind::ClosedEarly,
        };
        for request in self.flight.drain(..) {
            let attempt = request.attempt;
            // The client gave up on the oldest: any other that has waited as long timed out too.
            if matches!(ending, Ending::TimedOut) && attempt.overdue(now, self.rules.timeout) {
                host.record(Outcome::Failed { at: now, kind: ErrorKind::Timeout, target: attempt.target });
                continue;
            }
            host.record(Outcome::Unanswered { request: attempt.request(), progress: answered > 0, kind, at: now });
        }
    }
}

#[cfg(test)]
mod tests;
