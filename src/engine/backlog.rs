//! What a worker owes, whatever protocol its connections speak: the requests claimed and not yet sent (a
//! first request waiting for its connection, and retries), the limit per connection the server has shown
//! often enough to keep to (a hypothesis, re-tested now and then), and the one rule for a request its
//! connection left unanswered. `conn.rs` (HTTP/1.x) and `h2.rs` (HTTP/2) both settle their connections' ends
//! through [`Backlog::unanswered`], so a request the server never processed is retried by the same rule in
//! every mode.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::h1::{self, Outcome};
use super::{LiveCounters, ThreadCtx};
use crate::http::response::{Feed, ParseError, ResponseParser};
use crate::plan::Prepared;
use crate::record::{ErrorKind, Exchange};

/// One attempt of a request on a connection, from its start to its answer: what the recorder times, the same
/// for an HTTP/1.x request in flight and an HTTP/2 stream.
#[derive(Debug)]
pub(super) struct Attempt {
    /// Where total latency counts from: the scheduled time (`--rate`), the first attempt's start for a retry,
    /// else `began`.
    pub(super) start: Instant,
    /// This attempt's own start: its connection's connect when it opened it, else its write.
    pub(super) began: Instant,
    pub(super) sent: Instant,
    pub(super) first_byte: Option<Instant>,
    pub(super) opened_connection: bool,
    pub(super) retried: bool,
    /// Which of the plan's requests it is.
    pub(super) target: u32,
}

impl Attempt {
    /// A request, as `Backlog::next` gave it, sent `now` on a connection whose connect began at
    /// `connect_start`; the first on its connection pays for the connect.
    pub(super) fn sent(request: Pending, first_on_connection: bool, connect_start: Instant, now: Instant) -> Attempt {
        let began = if first_on_connection { connect_start } else { now };
        Attempt {
            start: request.start.unwrap_or(began),
            began,
            sent: now,
            first_byte: None,
            opened_connection: first_on_connection,
            retried: request.retried,
            target: request.target,
        }
    }

    /// Records the attempt as answered at `done` with `status`, if `done` fell inside the window (a request
    /// that ends after it was in flight at the end). A response that came later than `--timeout` after the
    /// request was written is a timeout, never a success, whether the timer or the last byte was seen first.
    pub(super) fn completed(&self, ctx: &ThreadCtx, done: Instant, status: u16) {
        if !ctx.in_window(done) {
            return;
        }
        if self.too_late(ctx, done) {
            ctx.failed(done, ErrorKind::Timeout, self.target);
        } else {
            let exchange = Exchange {
                start: self.start,
                began: self.began,
                sent: self.sent,
                first_byte: self.first_byte.unwrap_or(done),
                done,
                opened_connection: self.opened_connection,
            };
            ctx.recorder.borrow_mut().completed_for(&exchange, status, self.target as usize);
            ctx.live.completed(done.saturating_duration_since(self.start), status);
        }
    }

    /// The request to settle when its connection left it unanswered: where it started, whether retried, which.
    pub(super) fn request(&self) -> Pending {
        Pending { start: Some(self.start), retried: self.retried, target: self.target }
    }

    /// Has it waited longer than `--timeout` for its answer at `now`?
    pub(super) fn too_late(&self, ctx: &ThreadCtx, now: Instant) -> bool {
        self.overdue(now, ctx.shared.plan.timeout)
    }

    /// Has it waited longer than `timeout` for its answer at `now`?
    pub(super) fn overdue(&self, now: Instant, timeout: Duration) -> bool {
        now.saturating_duration_since(self.sent) > timeout
    }
}

/// Early closes after the same number of responses, on this many connections in a row, make that number a
/// limit the worker keeps to: one close is a busy moment, a streak is the server's rule.
const LEARN_AFTER: u32 = 3;
/// A learned limit is a hypothesis: a connection now and then is let run past it. The first such test comes
/// after this many connections capped at the limit (a busy moment taken for a rule is found soon), each
/// confirmation doubles the wait up to `RETEST_MOST` (a true limit costs few retries), and a test is due at
/// least every `RETEST_PERIOD` (a server whose limit changed mid-run is found within it, whatever its pace).
const RETEST_FIRST: u32 = 8;
const RETEST_MOST: u32 = 128;
const RETEST_PERIOD: Duration = Duration::from_secs(1);

/// A request taken from the mode's allowance and not yet written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pending {
    /// Where its latency counts from, if not from its own start: its scheduled time (`--rate`), or for a
    /// retry the first attempt's start, so its latency includes the failed attempt.
    pub(super) start: Option<Instant>,
    pub(super) retried: bool,
    /// Which of the plan's requests it is (its target), chosen when it was taken: a retry sends it again.
    pub(super) target: u32,
}

/// Requests a worker owes: claimed requests waiting for their connection or their turn (a first request, a
/// request that may not be pipelined behind others), and retries.
pub(super) struct Backlog {
    pub(super) pending: VecDeque<Pending>,
    pub(super) learned: Learned,
    ctx: Rc<ThreadCtx>,
    /// This worker's number among the mode's, and how many requests it numbered itself: with `-d` the run
    /// numbers none, and each worker takes the targets in its own sequence.
    worker: u64,
    numbered: u64,
}

impl Drop for Backlog {
    /// The worker is over (its allowance ended, or the window with it): what it still owes was never written,
    /// so it is not in flight (with `--rate`, it was missed), and the limit it held goes in the result.
    fn drop(&mut self) {
        self.ctx.unsent(self.pending.len() as u64);
        self.ctx.recorder.borrow_mut().learned_limit_held(self.learned.limit);
    }
}

impl Backlog {
    /// A worker's backlog. `numbered`: in a closed loop, the worker's number in the mode, whose first request
    /// the engine has claimed already (so that every one of `-c` workers opens a connection), owed from the
    /// start (with `-n`, the run's request of that number); None in an open loop.
    pub(super) fn new(ctx: Rc<ThreadCtx>, numbered: Option<u64>) -> Backlog {
        let worker = numbered.unwrap_or(0);
        let mut backlog = Backlog { pending: VecDeque::new(), learned: Learned::default(), ctx, worker, numbered: 0 };
        if numbered.is_some() {
            backlog.ctx.issued(1);
            let by_run = matches!(backlog.ctx.shared.plan.stop, crate::plan::Stop::Requests(_));
            backlog.owe(None, by_run.then_some(worker));
        }
        backlog
    }

    /// A new request owed, taken from the allowance: `number` is the run's for it (`-n`), if it has one.
    pub(super) fn owe(&mut self, start: Option<Instant>, number: Option<u64>) {
        let shared = &self.ctx.shared;
        let target = match number {
            Some(number) => shared.target(0, number),
            None => {
                self.numbered += 1;
                shared.target(self.worker + 1, self.numbered - 1)
            }
        };
        self.pending.push_back(Pending { start, retried: false, target });
    }

    /// An HTTP/1.x connection ended after `answered` responses: what it did to the learned limit is recorded.
    pub(super) fn connection_ended(&mut self, answered: u64, now: Instant) {
        match self.learned.ended(answered, now) {
            Verdict::Capped => self.ctx.recorder.borrow_mut().learned_limit_capped(),
            Verdict::Refuted => self.ctx.recorder.borrow_mut().learned_limit_refuted(),
            Verdict::Unchanged => {}
        }
    }

    /// How many of `want` requests a connection sends now: what this backlog owes first (retries, and requests
    /// claimed before), then fresh ones from the mode's allowance (the `-n` budget or the window, claimed now and
    /// owed until sent; with `--rate`, the scheduled requests waiting, taken as they are sent).
    /// Nothing is written once the window is over: a request that would go out then is not in flight.
    pub(super) fn share_out(&mut self, want: u64, now: Instant) -> u64 {
        if !self.ctx.in_window(now) {
            return 0;
        }
        let owed = want.min(self.pending.len() as u64);
        let fresh = match (&self.ctx.tickets, want - owed) {
            (_, 0) => 0,
            (Some(tickets), more) => more.min(tickets.waiting() as u64),
            (None, more) => {
                let (claimed, first) = self.ctx.shared.claim(more, now);
                self.ctx.issued(claimed);
                for index in 0..claimed {
                    self.owe(None, first.map(|first| first + index));
                }
                claimed
            }
        };
        owed + fresh
    }

    /// The next request of a share: an owed one first, else a scheduled one (None once the window is over).
    pub(super) fn next(&mut self, now: Instant) -> Option<Pending> {
        match self.pending.pop_front() {
            Some(owed) => Some(owed),
            None => self.ctx.tickets.as_ref()?.take(&self.ctx, now),
        }
    }

    /// Is `request` one that may go again, and be pipelined (its target's method is idempotent)?
    pub(super) fn idempotent(&self, request: &Pending) -> bool {
        self.ctx.shared.plan.requests[request.target as usize].idempotent
    }

    /// A request its connection left unanswered: a close before any byte of its response, which is not a
    /// server error (HTTP/2's refused streams, which the server said it never processed, are [`Backlog::refused`]).
    /// An idempotent one goes again first on the worker's next connection (`retries`). A connection that
    /// answered something (`progress`) made progress, and what it left goes again however often that
    /// happens; one that answered nothing gives each request one more try. Otherwise it fails as `kind`. After
    /// the window it stays as it was at the end: in flight.
    pub(super) fn unanswered(&mut self, request: Pending, progress: bool, kind: ErrorKind, now: Instant) {
        let idempotent = self.idempotent(&request);
        self.settle(request, progress, idempotent, kind, now);
    }

    /// A request the server said it did not process: an HTTP/2 stream above a GOAWAY's last-stream-id, reset
    /// with REFUSED_STREAM, or never sent because the connection was going away. RFC 9113 §8.7 lets such a
    /// request be retried whatever its method, so it goes again by the rule of [`Backlog::unanswered`] even
    /// when it is not idempotent (a POST), which an HTTP/1.x close leaves in doubt.
    pub(super) fn refused(&mut self, request: Pending, progress: bool, kind: ErrorKind, now: Instant) {
        self.settle(request, progress, true, kind, now);
    }

    /// Sends `request` again first on the next connection when it `may` go again and the connection made
    /// `progress` (or it has not been retried yet); otherwise it fails as `kind`.
    fn settle(&mut self, request: Pending, progress: bool, may: bool, kind: ErrorKind, now: Instant) {
        if !self.ctx.in_window(now) {
            return;
        }
        if may && !self.ctx.shared.stopping() && (progress || !request.retried) {
            self.pending.push_back(Pending { retried: true, ..request });
            self.ctx.recorder.borrow_mut().retried();
        } else {
            self.ctx.failed(now, kind, request.target);
        }
    }
}

/// An HTTP/1.x connection's host is its worker's backlog: the requests it sends come from here and the
/// mode's allowance, and what they came to goes to the thread's recorder, and back here when one goes again.
impl h1::Host for Backlog {
    fn requests(&self) -> &[Prepared] {
        &self.ctx.shared.plan.requests
    }

    fn parse(&mut self, parser: &mut ResponseParser, bytes: &[u8]) -> Result<Feed, ParseError> {
        parser.feed(bytes, &mut self.ctx.memo.borrow_mut())
    }

    fn learned_cap(&mut self, now: Instant) -> Option<u64> {
        self.learned.cap(now)
    }

    fn share_out(&mut self, want: u64, now: Instant) -> u64 {
        Backlog::share_out(self, want, now)
    }

    fn next(&mut self, now: Instant) -> Option<Pending> {
        Backlog::next(self, now)
    }

    fn put_back(&mut self, request: Pending) {
        self.pending.push_front(request);
    }

    fn owed_first(&self) -> Option<Pending> {
        self.pending.front().copied()
    }

    /// Inlined where the machine records: the variant is known there, so the match folds to its one arm and
    /// the outcome is never built (out of line, building and matching it cost 26 instructions a call, three
    /// calls a request; `scripts/callgrind-h1.sh`).
    #[inline(always)]
    fn record(&mut self, outcome: Outcome) {
        let ctx = &*self.ctx;
        match outcome {
            Outcome::Answered { attempt, done, status } => {
                attempt.completed(ctx, done, status);
                LiveCounters::bump(&ctx.live.requests, 1);
            }
            Outcome::Failed { at, kind, target } => ctx.failed(at, kind, target),
            Outcome::Unanswered { request, progress, kind, at } => self.unanswered(request, progress, kind, at),
            Outcome::Received(bytes) => ctx.recorder.borrow_mut().received(bytes),
            Outcome::InFlight(now) => ctx.recorder.borrow_mut().in_flight(now),
            Outcome::KeepAliveDeclined => ctx.recorder.borrow_mut().keep_alive_declined(),
            Outcome::KeepAliveLimits { first_max, timeout_s } => {
                ctx.recorder.borrow_mut().keep_alive_limits(first_max, timeout_s)
            }
            Outcome::EarlyClose { answered } => self.learned.early_close(answered),
            Outcome::Unsolicited => ctx.recorder.borrow_mut().closed_unsolicited(),
            Outcome::Ended { answered, at } => self.connection_ended(answered, at),
            Outcome::KeepAliveMaxUsed { in_full } => ctx.recorder.borrow_mut().keep_alive_max_used(in_full),
            Outcome::ClosedUnanswered => ctx.recorder.borrow_mut().closed_unanswered(),
        }
    }
}

/// A per-connection limit learned from the server's early closes, held as a hypothesis: kept to while it
/// holds, re-tested by a connection let run past it now and then, dropped when one does.
#[derive(Default)]
pub(super) struct Learned {
    /// The responses answered on the last connections the server closed early, and how many in a row agreed.
    streak: (u64, u32),
    limit: Option<u64>,
    /// Connections capped at the limit since it was learned or last confirmed, and how many make a test due.
    capped: u32,
    retest_after: u32,
    /// When the limit was learned or last confirmed.
    since: Option<Instant>,
    /// What the connection now open was given.
    current: Applied,
    /// It closed early, with requests unanswered, after this many responses.
    early: Option<u64>,
}

/// What a connection was given by the learned limit.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum Applied {
    #[default]
    Free,
    Capped,
    /// A limit held, and this connection is let run past it.
    Test,
}

/// What a connection's end did to the learned limit, for the recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Unchanged,
    /// The connection carried as many requests as the limit allowed.
    Capped,
    /// A connection ran past the limit: it was not the server's rule, and is dropped.
    Refuted,
}

impl Learned {
    /// The limit for the connection opening now: None without one, or when this connection tests it.
    pub(super) fn cap(&mut self, now: Instant) -> Option<u64> {
        self.current = Applied::Free;
        let limit = self.limit?;
        let due = self.capped >= self.retest_after
            || self.since.is_none_or(|since| now.saturating_duration_since(since) >= RETEST_PERIOD);
        self.current = if due { Applied::Test } else { Applied::Capped };
        (!due).then_some(limit)
    }

    /// The connection now open was closed early by the server after `answered` responses, with requests
    /// unanswered.
    pub(super) fn early_close(&mut self, answered: u64) {
        self.early = Some(answered);
    }

    /// The connection now open has ended after `answered` responses.
    fn ended(&mut self, answered: u64, now: Instant) -> Verdict {
        let applied = std::mem::take(&mut self.current);
        let early = self.early.take().filter(|&n| n > 0);
        let mut verdict = Verdict::Unchanged;
        if let Some(limit) = self.limit {
            match applied {
                Applied::Test if answered > limit => {
                    (self.limit, self.streak) = (None, (0, 0));
                    verdict = Verdict::Refuted;
                }
                Applied::Test if early == Some(limit) => {
                    self.capped = 0;
                    self.retest_after = (self.retest_after * 2).min(RETEST_MOST);
                    self.since = Some(now);
                }
                Applied::Capped if answered >= limit => {
                    self.capped += 1;
                    verdict = Verdict::Capped;
                }
                // A test that ended short of the limit says nothing: the next connection tests again.
                Applied::Test | Applied::Capped | Applied::Free => {}
            }
        }
        if let Some(n) = early {
            self.streak = if self.streak.0 == n { (n, self.streak.1.saturating_add(1)) } else { (n, 1) };
            if self.streak.1 >= LEARN_AFTER && self.limit != Some(n) {
                self.limit = Some(n);
                (self.capped, self.retest_after, self.since) = (0, RETEST_FIRST, Some(now));
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One connection: the cap it is given, then its end after `answered` responses, early or not.
    fn connection(learned: &mut Learned, answered: u64, early: bool, now: Instant) -> (Option<u64>, Verdict) {
        let cap = learned.cap(now);
        let answered = cap.map_or(answered, |cap| answered.min(cap));
        if early && cap.is_none_or(|cap| answered < cap) {
            learned.early_close(answered);
        }
        (cap, learned.ended(answered, now))
    }

    #[test]
    fn three_early_closes_in_a_row_at_one_count_make_a_limit_and_one_does_not() {
        let t0 = Instant::now();
        let mut learned = Learned::default();
        for answered in [5, 5, 9, 5, 5] {
            assert_eq!(connection(&mut learned, answered, true, t0), (None, Verdict::Unchanged));
        }
        // the third 5 in a row: the limit
        connection(&mut learned, 5, true, t0);
        assert_eq!(learned.limit, Some(5));
        assert_eq!(connection(&mut learned, 100, false, t0), (Some(5), Verdict::Capped));
    }

    #[test]
    fn a_limit_the_server_keeps_is_confirmed_by_ever_rarer_tests() {
        let t0 = Instant::now();
        let mut learned = Learned::default();
        for _ in 0..3 {
            connection(&mut learned, 7, true, t0);
        }
        // the server really closes after 7: each test closes early at 7 again, and the wait doubles
        let mut tests = Vec::new();
        for index in 0..400 {
            let (cap, _) = connection(&mut learned, 7, true, t0);
            if cap.is_none() {
                tests.push(index);
            }
        }
        assert_eq!(&tests[..5], [8, 25, 58, 123, 252], "after 8, 16, 32, 64 and then 128 capped connections");
        assert_eq!(learned.limit, Some(7));
        // and once a second whatever the count
        let later = t0 + RETEST_PERIOD;
        assert_eq!(learned.cap(later), None);
        learned.early_close(7);
        assert_eq!(learned.ended(7, later), Verdict::Unchanged);
        assert_eq!(learned.cap(later), Some(7));
    }

    #[test]
    fn a_connection_that_runs_past_the_limit_refutes_it() {
        let t0 = Instant::now();
        let mut learned = Learned::default();
        // a busy moment: three connections in a row closed after one response
        for _ in 0..3 {
            connection(&mut learned, 1, true, t0);
        }
        let capped: Vec<_> = (0..8).map(|_| connection(&mut learned, 50, false, t0)).collect();
        assert!(capped.iter().all(|&c| c == (Some(1), Verdict::Capped)), "{capped:?}");
        // the ninth is the test: it carries 50, so 1 was not the server's rule
        assert_eq!(connection(&mut learned, 50, false, t0), (None, Verdict::Refuted));
        assert_eq!((learned.limit, learned.cap(t0)), (None, None));
        // a test that ends short of the limit (the window ended, a busy close) decides nothing: test again
        let mut learned = Learned::default();
        for _ in 0..3 {
            connection(&mut learned, 7, true, t0);
        }
        let later = t0 + RETEST_PERIOD;
        assert_eq!(connection(&mut learned, 3, false, later), (None, Verdict::Unchanged));
        assert_eq!(learned.limit, Some(7));
        assert_eq!(connection(&mut learned, 1000, true, later), (None, Verdict::Refuted));
    }
}
