//! The engine thread's loop: one io_uring_enter a turn, then the completions, the due timers of the thread's
//! heap and the open loop's pacer step the workers.

use std::cmp::Reverse;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use io_uring::types::{SubmitArgs, Timespec};

use super::worker::{Phase, Worker};
use super::{Io, Op, LONGEST_WAIT};
use crate::engine::schedule;
use crate::engine::ThreadCtx;

/// The open loop's pacer on this thread (`schedule::Tickets::wake` decides what it releases).
pub(super) struct Pacer {
    pub(super) issued: u64,
    pub(super) next: Instant,
    /// The allowance is spent: idle workers stop, and tickets left waiting expire.
    pub(super) finished: bool,
    /// The window is over: the thread ends after submitting what was due before it.
    pub(super) over: bool,
}

pub(super) struct Thread {
    pub(super) ctx: Rc<ThreadCtx>,
    pub(super) workers: Vec<Worker>,
    pub(super) most: usize,
    pub(super) pacer: Option<Pacer>,
}

impl Thread {
    pub(super) fn spawn(&mut self, io: &mut Io, numbered: Option<u64>, now: Instant) {
        let slot = self.workers.len() as u32;
        let mut worker = Worker::new(self.ctx.clone(), slot, numbered);
        worker.start(io, now);
        self.workers.push(worker);
    }

    /// The loop: one io_uring_enter a turn submits what the last turn queued and waits for completions, up
    /// to the next timer; then completions, timers and the pacer step the workers. Returns when the load ended.
    pub(super) fn run(&mut self, io: &mut Io) -> Instant {
        let shared = self.ctx.shared.clone();
        let deadline = shared.deadline.filter(|_| self.pacer.is_none());
        let mut completions = Vec::new();
        loop {
            let now = Instant::now();
            let done = self.workers.iter().all(|w| matches!(w.phase, Phase::Done));
            let over = self.pacer.as_ref().is_some_and(|p| p.over);
            let paced_out = self.pacer.as_ref().is_none_or(|p| p.finished);
            if shared.stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d) || (done && paced_out) {
                return now;
            }
            let mut until = now + LONGEST_WAIT;
            if let Some(Reverse((at, _))) = io.timers.peek() {
                until = until.min(*at);
            }
            if let Some(pacer) = &self.pacer {
                until = until.min(pacer.next);
            }
            if let Some(d) = deadline {
                until = until.min(d);
            }
            let wait = if over { Duration::ZERO } else { until.saturating_duration_since(now) };
            let timespec = Timespec::from(wait);
            // One completion is enough to wake: waiting for several would date a response later than it came
            // (a batch of 8 measured 3 % less CPU per request in keep-alive, within the noise of this VM).
            let args = SubmitArgs::new().timespec(&timespec);
            match io.ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY)) => {}
                Err(e) => panic!("io_uring_enter: {e}"),
            }
            if over {
                return Instant::now();
            }
            completions.extend(io.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
            let now = Instant::now();
            for (user_data, result, flags) in completions.drain(..) {
                let slot = (user_data >> 8) as usize;
                self.workers[slot].complete(io, Op::of(user_data), result, flags, now);
            }
            while let Some(&Reverse((at, slot))) = io.timers.peek() {
                if at > now {
                    break;
                }
                io.timers.pop();
                let worker = &mut self.workers[slot as usize];
                if worker.due == Some(at) {
                    worker.due = None;
                    worker.timer(io, now);
                }
            }
            if self.pacer.as_ref().is_some_and(|p| p.next <= now) {
                self.pace(io, now);
            }
            // A re-armed timer leaves its old entry behind until that one is due: a connection a millisecond
            // leaves its connect timeout's for seconds. Those are dropped when they outnumber the workers.
            if io.timers.len() > 4 * self.workers.len() + 1024 {
                io.timers.retain(|&Reverse((at, slot))| self.workers[slot as usize].due == Some(at));
            }
        }
    }

    /// A wake-up of the open loop's pacer: the tickets due go to idle workers first, then to new workers up to
    /// the thread's share of `-c`, and what is left to those with pipeline room (as `schedule::pace`).
    fn pace(&mut self, io: &mut Io, now: Instant) {
        let ctx = self.ctx.clone();
        let tickets = ctx.tickets.as_ref().expect("an open-loop thread has a ticket queue");
        let Some(pacer) = self.pacer.as_mut() else { return };
        if pacer.finished {
            tickets.expire(now, ctx.shared.plan.timeout);
            pacer.next = now + schedule::PACER_TICK;
            return;
        }
        let wake = tickets.wake(&ctx, &mut pacer.issued, now);
        match wake.next {
            schedule::Next::At(next) => pacer.next = next,
            schedule::Next::WindowOver => pacer.over = true,
            schedule::Next::Finished => {
                tickets.finish();
                (pacer.finished, pacer.next) = (true, now + schedule::PACER_TICK);
            }
        }
        let mut granted = wake.granted as usize;
        while granted > 0 {
            let Some(slot) = io.idle.pop() else { break };
            if self.workers[slot as usize].wake(io, now) {
                granted -= 1;
            }
        }
        while granted > 0 && self.workers.len() < self.most {
            self.spawn(io, None, now);
            granted -= 1;
        }
        if granted > 0 {
            for slot in std::mem::take(&mut io.room) {
                self.workers[slot as usize].room(io, now);
            }
        }
        if tickets.finished() {
            // No ticket will come: every worker still waiting for one stops.
            for slot in std::mem::take(&mut io.idle) {
                self.workers[slot as usize].wake(io, now);
            }
        }
    }
}
