//! Open loop (`--rate`): each engine thread's pacer puts scheduled requests in a queue at their due times;
//! an idle connection takes each one, a connection waiting on a pipelined response may take it too, and a
//! new connection starts when none is free, up to the thread's share of `-c` (concurrency grows as needed,
//! as in wrk2 and k6's arrival-rate executors). Latency counts from the scheduled time, so a stalled server
//! shows in it rather than slowing the schedule down (no coordinated omission).
//!
//! The scheduled time a request's latency counts from is the later of its due time and the pacer's wake-up:
//! tokio's timer wakes up to a millisecond late, and that slack is the client's, not the server's (a 40 µs
//! response would otherwise read as 0.5 ms). How late each request started against its exact due time,
//! slack included, is recorded apart (`pacing`), so a client that cannot keep up still says so.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::sleep_until;

use super::pace::Pacer;
use super::{conn, ThreadCtx};

/// A scheduled request not yet started.
#[derive(Clone, Copy)]
struct Ticket {
    due: Instant,
    released: Instant,
}

/// One thread's queue of scheduled requests not yet started.
pub(super) struct Tickets {
    due: RefCell<VecDeque<Ticket>>,
    /// Idle workers wait here, one woken per ticket.
    idle_ready: Notify,
    idle: Cell<usize>,
    /// Workers with pipeline room wait here while reading, all woken when no idle worker is left.
    room_ready: Notify,
    /// The pacer has scheduled its last request.
    finished: Cell<bool>,
}

impl Tickets {
    pub(super) fn new() -> Tickets {
        Tickets {
            due: RefCell::new(VecDeque::new()),
            idle_ready: Notify::new(),
            idle: Cell::new(0),
            room_ready: Notify::new(),
            finished: Cell::new(false),
        }
    }

    /// Scheduled requests waiting for a connection.
    pub(super) fn waiting(&self) -> usize {
        self.due.borrow().len()
    }

    /// Takes the oldest waiting request, recording how late it starts; returns where its latency counts from.
    pub(super) fn take(&self, ctx: &ThreadCtx, now: Instant) -> Option<Instant> {
        let ticket = self.due.borrow_mut().pop_front()?;
        ctx.recorder.borrow_mut().paced(now.saturating_duration_since(ticket.due));
        Some(ticket.released)
    }

    /// Waits, idle, for the next scheduled request; None once the schedule is over.
    pub(super) async fn next(&self, ctx: &ThreadCtx) -> Option<Instant> {
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
/// as the load needs them, then waits for every worker to finish.
pub(super) async fn pace(ctx: Rc<ThreadCtx>, pacer: Pacer, started: Instant, max_workers: usize) {
    let tickets = ctx.tickets.as_ref().expect("an open-loop thread has a ticket queue");
    let mut workers = JoinSet::new();
    let mut issued = 0u64;
    loop {
        let now = Instant::now();
        let due = pacer.due_before(now.saturating_duration_since(started) + std::time::Duration::from_nanos(1));
        let want = due - issued;
        let granted = ctx.shared.claim(want, now);
        let ticket = |k| {
            let due = started + pacer.due(k);
            Ticket { due, released: due.max(now) }
        };
        tickets.due.borrow_mut().extend((issued..issued + granted).map(ticket));
        issued += granted;
        let idle = tickets.idle.get();
        for _ in 0..(granted as usize).min(idle) {
            tickets.idle_ready.notify_one();
        }
        let unserved = (granted as usize).saturating_sub(idle);
        for _ in 0..unserved.min(max_workers - workers.len()) {
            workers.spawn_local(conn::worker(ctx.clone()));
        }
        if unserved > 0 {
            tickets.room_ready.notify_waiters();
        }
        if granted < want || ctx.shared.exhausted(Instant::now()) {
            break;
        }
        let next = started + pacer.due(issued);
        sleep_until(ctx.shared.deadline.map_or(next, |d| next.min(d)).into()).await;
    }
    tickets.finished.set(true);
    tickets.idle_ready.notify_waiters();
    while workers.join_next().await.is_some() {}
}
