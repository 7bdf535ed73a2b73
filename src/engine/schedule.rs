//! Open loop (`--rate`, `--stages`): each engine thread's pacer puts scheduled requests in a queue at their
//! due times; an idle connection takes each one, a connection waiting on a pipelined response may take it
//! too, and a new connection starts when none is free, up to the thread's share of `-c` (concurrency grows
//! as needed, as in wrk2 and k6's arrival-rate executors). Latency counts from the scheduled time, so a stalled server
//! shows in it rather than slowing the schedule down (no coordinated omission).
//!
//! The scheduled time a request's latency counts from is the later of its due time and the pacer's wake-up:
//! tokio's timer wakes up to a millisecond late, and that slack is the client's, not the server's (a 40 µs
//! response would otherwise read as 0.5 ms). How late each request started against its exact due time,
//! slack included, is recorded apart (`pacing`), so a client that cannot keep up still says so.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::sleep_until;

use super::backlog::Pending;
use super::pace::Pacer;
use super::{conn, ThreadCtx};
use crate::plan::Stop;

/// The shortest pause between two wake-ups of the pacer: tokio's timer granularity.
pub(super) const PACER_TICK: Duration = Duration::from_millis(1);

/// Tickets `first..end`, released together by one wake-up of the pacer at `released`.
#[derive(Clone, Copy)]
struct Batch {
    first: u64,
    end: u64,
    released: Instant,
}

/// One thread's queue of scheduled requests not yet started.
pub(super) struct Tickets {
    pacer: Pacer,
    started: Instant,
    batches: RefCell<VecDeque<Batch>>,
    waiting: Cell<u64>,
    missed: Cell<u64>,
    /// Idle workers wait here, one woken per ticket.
    idle_ready: Notify,
    idle: Cell<usize>,
    /// Workers with pipeline room wait here while reading, all woken when no idle worker is left.
    room_ready: Notify,
    /// The pacer has scheduled its last request.
    finished: Cell<bool>,
}

impl Tickets {
    pub(super) fn new(pacer: Pacer, started: Instant) -> Tickets {
        Tickets {
            pacer,
            started,
            batches: RefCell::new(VecDeque::new()),
            waiting: Cell::new(0),
            missed: Cell::new(0),
            idle_ready: Notify::new(),
            idle: Cell::new(0),
            room_ready: Notify::new(),
            finished: Cell::new(false),
        }
    }

    /// Scheduled requests waiting for a connection.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.get() as usize
    }

    /// Requests that were due and never sent: missed on the way, and still waiting now.
    pub(super) fn left_unsent(&self) -> u64 {
        self.missed.get() + self.waiting.get()
    }

    /// Queues tickets `first..end`, released now.
    fn release(&self, first: u64, end: u64, now: Instant) {
        if first < end {
            self.batches.borrow_mut().push_back(Batch { first, end, released: now });
            self.waiting.set(self.waiting.get() + (end - first));
        }
    }

    /// Drops, as missed, the tickets that have waited longer than `timeout` past their due time.
    pub(super) fn expire(&self, now: Instant, timeout: Duration) {
        let Some(cutoff) = now.checked_sub(timeout) else { return };
        let stale = self.pacer.due_before(cutoff.saturating_duration_since(self.started));
        let mut batches = self.batches.borrow_mut();
        while let Some(batch) = batches.front_mut() {
            if batch.first >= stale {
                break;
            }
            let dropped = stale.min(batch.end) - batch.first;
            batch.first += dropped;
            self.waiting.set(self.waiting.get() - dropped);
            self.missed.set(self.missed.get() + dropped);
            if batch.first == batch.end {
                batches.pop_front();
            }
        }
    }

    /// Takes the oldest waiting request, recording how late it starts: where its latency counts from, and its
    /// target, by the run's number for it. (Expiry is the pacer's, at its wake-ups: a worker that saw
    /// `waiting()` tickets finds them all here.) None once the window is over: a request not written before
    /// the end is missed.
    pub(super) fn take(&self, ctx: &ThreadCtx, now: Instant) -> Option<Pending> {
        if !ctx.in_window(now) {
            return None;
        }
        let mut batches = self.batches.borrow_mut();
        let batch = batches.front_mut()?;
        let (k, released) = (batch.first, batch.released);
        batch.first += 1;
        if batch.first == batch.end {
            batches.pop_front();
        }
        self.waiting.set(self.waiting.get() - 1);
        let due = self.started + self.pacer.due(k);
        ctx.recorder.borrow_mut().paced(now.saturating_duration_since(due));
        ctx.issued(1);
        let target = ctx.shared.target(0, self.pacer.request(k));
        Some(Pending { start: Some(due.max(released)), retried: false, target })
    }

    /// Waits, idle, for the next scheduled request; None once the schedule is over.
    pub(super) async fn next(&self, ctx: &ThreadCtx) -> Option<Pending> {
        loop {
            if let Some(due) = self.take(ctx, Instant::now()) {
                return Some(due);
            }
            if self.finished.get() {
                return None;
            }
            let _idle = IdleGuard::new(&self.idle);
            self.idle_ready.notified().await;
        }
    }

    /// Resolves when a ticket may be waiting for a connection with pipeline room.
    pub(super) async fn room_wanted(&self) {
        self.room_ready.notified().await;
    }
}

/// Counts a waiting worker for as long as it waits, however the wait ends (woken, or dropped by a select).
struct IdleGuard<'a>(&'a Cell<usize>);

impl<'a> IdleGuard<'a> {
    fn new(count: &'a Cell<usize>) -> Self {
        count.set(count.get() + 1);
        IdleGuard(count)
    }
}

impl Drop for IdleGuard<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// The thread's pacer: schedules its share of the rate until the mode's allowance ends, starting workers
/// as the load needs them. A `-d` window ends at its deadline, once the requests due before it have had
/// their chance to go out (what is then in flight is counted as such); a `-n` run waits for every worker.
pub(super) async fn pace(ctx: Rc<ThreadCtx>, max_workers: usize) {
    let tickets = ctx.tickets.as_ref().expect("an open-loop thread has a ticket queue");
    let shared = &ctx.shared;
    let mut workers = JoinSet::new();
    let mut issued = 0u64;
    loop {
        let wake = tickets.wake(&ctx, &mut issued, Instant::now());
        let idle = tickets.idle.get();
        for _ in 0..(wake.granted as usize).min(idle) {
            tickets.idle_ready.notify_one();
        }
        let unserved = (wake.granted as usize).saturating_sub(idle);
        for _ in 0..unserved.min(max_workers - workers.len()) {
            workers.spawn_local(conn::worker(ctx.clone(), None));
        }
        if unserved > 0 {
            tickets.room_ready.notify_waiters();
        }
        match wake.next {
            // The workers just woken write what was due before the end, then the window closes.
            Next::WindowOver => {
                tokio::task::yield_now().await;
                return;
            }
            Next::At(next) => sleep_until(next.into()).await,
            Next::Finished => break,
        }
    }
    tickets.finish();
    // The last tickets still expire while the workers finish: a request due long ago is missed, not sent.
    loop {
        tokio::select! {
            joined = workers.join_next() => if joined.is_none() { return },
            () = tokio::time::sleep(PACER_TICK) => tickets.expire(Instant::now(), shared.plan.timeout),
        }
    }
}

/// What one wake-up of the pacer released, and when it wakes next.
pub(super) struct Wake {
    pub(super) granted: u64,
    pub(super) next: Next,
}

/// The pacer's next step.
pub(super) enum Next {
    /// Wake again then.
    At(Instant),
    /// The window (or a stop) ends the mode now: what was just released is its last.
    WindowOver,
    /// The allowance is spent: no ticket comes any more (the workers still finish theirs).
    Finished,
}

impl Tickets {
    /// One wake-up of the pacer at `now` (both engines' pacers are this): releases the tickets due by now and
    /// strictly before the window's end, as far as the allowance grants them, and drops those that waited too
    /// long. `issued` counts the tickets released so far.
    pub(super) fn wake(&self, ctx: &ThreadCtx, issued: &mut u64, now: Instant) -> Wake {
        let shared = &ctx.shared;
        let window = match shared.plan.stop {
            Stop::After(window) => Some(window),
            Stop::Requests(_) => None,
        };
        let elapsed = now.saturating_duration_since(self.started);
        let window_over = window.is_some_and(|w| elapsed >= w);
        // Tickets due by now, and strictly before the window's end.
        let by_now = elapsed + Duration::from_nanos(1);
        let due = self.pacer.due_before(window.map_or(by_now, |w| by_now.min(w)));
        let want = due - *issued;
        // A ticket belongs to the window its due time falls in, whenever the pacer wakes to release it.
        let last_due = self.started + self.pacer.due(due.saturating_sub(1));
        let (granted, _) = shared.claim(want, last_due);
        self.release(*issued, *issued + granted, now);
        self.expire(now, shared.plan.timeout);
        *issued += granted;
        let next = if window_over || shared.stopping() {
            Next::WindowOver
        } else if granted < want {
            Next::Finished
        } else {
            // Behind the schedule (a rate above what a wake-up per tick can release one by one), the next
            // batch is released a tick later instead of spinning: the requests due meanwhile go out together.
            let next = (self.started + self.pacer.due(*issued)).max(Instant::now() + PACER_TICK);
            Next::At(shared.deadline.map_or(next, |d| next.min(d)))
        };
        Wake { granted, next }
    }

    /// The pacer has scheduled its last request: idle workers stop waiting.
    pub(super) fn finish(&self) {
        self.finished.set(true);
        self.idle_ready.notify_waiters();
    }

    /// Has the pacer scheduled its last request?
    pub(super) fn finished(&self) -> bool {
        self.finished.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_waiting_longer_than_the_timeout_are_missed_and_the_queue_holds_ranges() {
        let t0 = Instant::now();
        let tickets = Tickets::new(Pacer::new(crate::stages::Schedule::constant(1000.0), 1, 0), t0);
        // a wake-up per millisecond for 1.5 s, none taken: 1,500 tickets in 1,500 batches
        for k in 0..1500 {
            tickets.release(k, k + 1, t0 + Duration::from_millis(k));
        }
        tickets.release(1500, 1500, t0);
        assert_eq!((tickets.waiting(), tickets.batches.borrow().len()), (1500, 1500));
        // at 1.5 s with a 1 s timeout, the 500 due before 0.5 s have waited too long
        tickets.expire(t0 + Duration::from_millis(1500), Duration::from_secs(1));
        assert_eq!((tickets.waiting(), tickets.missed.get(), tickets.left_unsent()), (1000, 500, 1500));
        assert_eq!(tickets.batches.borrow().len(), 1000);
        // one wake-up that releases a million tickets is one entry
        tickets.release(1500, 1_001_500, t0 + Duration::from_millis(1500));
        assert_eq!((tickets.waiting(), tickets.batches.borrow().len()), (1_001_000, 1001));
        tickets.expire(t0 + Duration::from_secs(3600), Duration::from_secs(1));
        assert_eq!((tickets.waiting(), tickets.missed.get(), tickets.batches.borrow().len()), (0, 1_001_500, 0));
    }
}
