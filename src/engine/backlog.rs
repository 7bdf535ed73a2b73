//! What a worker owes, whatever protocol its connections speak: the requests claimed and not yet sent (a
//! first request waiting for its connection, and retries), the limit per connection the server has shown
//! often enough to keep to, and the one rule for a request its connection left unanswered. `conn.rs`
//! (HTTP/1.x) and `h2.rs` (HTTP/2) both settle their connections' ends through [`Backlog::unanswered`], so
//! a request the server never processed is retried by the same rule in every mode.

use std::collections::VecDeque;
use std::time::Instant;

use super::ThreadCtx;
use crate::record::{ErrorKind, Exchange};

/// One attempt of a request on a connection, from its start to its answer: what the recorder times, the same
/// for an HTTP/1.x request in flight and an HTTP/2 stream.
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
}

impl Attempt {
    /// A request, as `Backlog::next` gave it, sent `now` on a connection whose connect began at
    /// `connect_start`; the first on its connection pays for the connect.
    pub(super) fn sent(
        request: (Option<Instant>, bool),
        first_on_connection: bool,
        connect_start: Instant,
        now: Instant,
    ) -> Attempt {
        let began = if first_on_connection { connect_start } else { now };
        Attempt {
            start: request.0.unwrap_or(began),
            began,
            sent: now,
            first_byte: None,
            opened_connection: first_on_connection,
            retried: request.1,
        }
    }

    /// Records the attempt as answered at `done` with `status`, if `done` fell inside the window (a request
    /// that ends after it was in flight at the end).
    pub(super) fn completed(&self, ctx: &ThreadCtx, done: Instant, status: u16) {
        if ctx.in_window(done) {
            let exchange = Exchange {
                start: self.start,
                began: self.began,
                sent: self.sent,
                first_byte: self.first_byte.unwrap_or(done),
                done,
                opened_connection: self.opened_connection,
            };
            ctx.recorder.borrow_mut().completed(&exchange, status);
        }
    }

    /// The request to settle when its connection left it unanswered: where it started, and whether retried.
    pub(super) fn request(&self) -> (Instant, bool) {
        (self.start, self.retried)
    }
}

/// Early closes after the same number of responses, on this many connections in a row, make that number a
/// limit the worker keeps to: one close is a busy moment, a streak is the server's rule.
const LEARN_AFTER: u32 = 3;

/// A request taken from the mode's allowance and not yet written.
pub(super) struct Pending {
    /// Where its latency counts from, if not from its own start: its scheduled time (`--rate`), or for a
    /// retry the first attempt's start, so its latency includes the failed attempt.
    pub(super) start: Option<Instant>,
    pub(super) retried: bool,
}

/// Requests a worker owes: a claimed first request waiting for its connection, and retries.
#[derive(Default)]
pub(super) struct Backlog {
    pub(super) pending: VecDeque<Pending>,
    pub(super) learned: Streak,
}

impl Backlog {
    /// How many of `want` requests a connection sends now: `owed` from this backlog first (retries, and a
    /// first request claimed before connecting), then `fresh` ones from the mode's allowance (the `-n`
    /// budget or the window; with `--rate`, the scheduled requests waiting).
    pub(super) fn share_out(&self, ctx: &ThreadCtx, want: u64, now: Instant) -> (usize, u64) {
        let owed = (want as usize).min(self.pending.len());
        let fresh = match (&ctx.tickets, want - owed as u64) {
            (_, 0) => 0,
            (Some(tickets), more) => more.min(tickets.waiting() as u64),
            (None, more) => {
                let claimed = ctx.shared.claim(more, now);
                ctx.issued(claimed);
                claimed
            }
        };
        (owed, fresh)
    }

    /// The next request of a share: an owed one while `owed` says so, else a fresh one. Returns where its
    /// latency counts from (None: from its own start) and whether it is a retry.
    pub(super) fn next(&mut self, ctx: &ThreadCtx, owed: bool, now: Instant) -> (Option<Instant>, bool) {
        if owed {
            self.pending.pop_front().map_or((None, false), |p| (p.start, p.retried))
        } else {
            (ctx.tickets.as_ref().and_then(|t| t.take(ctx, now)), false)
        }
    }

    /// A request its connection left unanswered: the server never processed it (a close before any byte of
    /// its response, an HTTP/2 stream refused by GOAWAY or REFUSED_STREAM), so it is not a server error.
    /// An idempotent one goes again first on the worker's next connection (`retries`). A connection that
    /// answered something (`progress`) made progress, and what it left goes again however often that
    /// happens; one that answered nothing gives each request one more try. Otherwise it fails as `kind`.
    pub(super) fn unanswered(
        &mut self,
        ctx: &ThreadCtx,
        request: (Instant, bool),
        progress: bool,
        kind: ErrorKind,
        now: Instant,
    ) {
        self.settle(ctx, request, progress, ctx.shared.plan.idempotent, kind, now);
    }

    /// A request the server said it did not process: an HTTP/2 stream above a GOAWAY's last-stream-id, reset
    /// with REFUSED_STREAM, or never sent because the connection was going away. RFC 9113 §8.7 lets such a
    /// request be retried whatever its method, so it goes again by the rule of [`Backlog::unanswered`] even
    /// when it is not idempotent (a POST), which an HTTP/1.x close leaves in doubt.
    pub(super) fn refused(
        &mut self,
        ctx: &ThreadCtx,
        request: (Instant, bool),
        progress: bool,
        kind: ErrorKind,
        now: Instant,
    ) {
        self.settle(ctx, request, progress, true, kind, now);
    }

    /// Sends `request` again first on the next connection when it `may` go again and the connection made
    /// `progress` (or it has not been retried yet); otherwise it fails as `kind`.
    fn settle(
        &mut self,
        ctx: &ThreadCtx,
        request: (Instant, bool),
        progress: bool,
        may: bool,
        kind: ErrorKind,
        now: Instant,
    ) {
        let (start, retried) = request;
        if may && !ctx.shared.stopping() && (progress || !retried) {
            self.pending.push_back(Pending { start: Some(start), retried: true });
            ctx.recorder.borrow_mut().retried();
        } else {
            ctx.failed(now, kind);
        }
    }
}

/// The responses answered on the last connections the server closed early, with how many in a row agreed.
#[derive(Default)]
pub(super) struct Streak {
    answered: u64,
    times: u32,
}

impl Streak {
    /// A connection ended early after `answered` responses.
    pub(super) fn early_close(&mut self, answered: u64) {
        if answered == 0 {
            return;
        }
        if answered == self.answered {
            self.times = self.times.saturating_add(1);
        } else {
            *self = Streak { answered, times: 1 };
        }
    }

    /// The per-connection limit the server has shown often enough to keep to.
    pub(super) fn limit(&self) -> Option<u64> {
        (self.times >= LEARN_AFTER).then_some(self.answered)
    }
}
