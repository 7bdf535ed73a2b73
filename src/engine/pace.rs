//! The open-loop schedule of `--rate` and `--stages` (vegeta's pacer, wrk2's intended start times, k6's
//! ramping arrival rate): when each request is due, independent of when the previous one finished. Pure:
//! elapsed time in, ticket counts out; the rate over time is `stages::Schedule`'s.
//!
//! The schedule is split over the engine's threads, each pacing its own share, interleaved: the run's
//! request g is thread (g mod T)'s ticket ⌊g / T⌋, so thread i's ticket k is the run's request k·T + i, and
//! together the threads start requests exactly when the schedule says (with rate R, one every 1/R).

use std::time::Duration;

use crate::stages::Schedule;

/// How far ahead a ticket the schedule never reaches is put: after any window (`cli::MAX_DURATION`), so that
/// the pacer simply sleeps until the run ends.
const NEVER: Duration = Duration::from_secs(2 * 365 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct Pacer {
    schedule: Schedule,
    threads: u64,
    index: u64,
}

impl Pacer {
    /// Thread `index` of `threads`, sharing `schedule`.
    pub fn new(schedule: Schedule, threads: usize, index: usize) -> Pacer {
        Pacer { schedule, threads: threads as u64, index: index as u64 }
    }

    /// The run's number for this thread's ticket `k`: which request of the whole schedule it is.
    pub fn request(&self, k: u64) -> u64 {
        k * self.threads + self.index
    }

    /// When ticket `k` (from 0) is due, from the mode's start.
    pub fn due(&self, k: u64) -> Duration {
        match self.schedule.time_of(self.request(k) as f64) {
            Some(secs) if secs < NEVER.as_secs_f64() => Duration::from_secs_f64(secs),
            _ => NEVER,
        }
    }

    /// How many tickets are due strictly before `elapsed`: tickets 0..n may start by then.
    pub fn due_before(&self, elapsed: Duration) -> u64 {
        // Request g is due before t when g < N(t): this thread's are k·T + i < N(t).
        let ahead = self.schedule.due_by(elapsed.as_secs_f64()) - self.index as f64;
        if ahead <= 0.0 {
            return 0;
        }
        let n = (ahead / self.threads as f64).ceil() as u64;
        // Floating point can land one off at an exact boundary; the definition decides.
        if n > 0 && self.due(n - 1) >= elapsed {
            n - 1
        } else if self.due(n) < elapsed {
            n + 1
        } else {
            n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::Stage;

    fn constant(rate: f64, threads: usize, index: usize) -> Pacer {
        Pacer::new(Schedule::constant(rate), threads, index)
    }

    #[test]
    fn one_thread_starts_a_request_every_one_over_rate() {
        let p = constant(200.0, 1, 0);
        assert_eq!(p.due(0), Duration::ZERO);
        assert_eq!(p.due(1), Duration::from_millis(5));
        assert_eq!(p.due_before(Duration::ZERO), 0);
        assert_eq!(p.due_before(Duration::from_micros(1)), 1);
        assert_eq!(p.due_before(Duration::from_millis(5)), 1, "ticket 1 is due at 5 ms, not before");
        assert_eq!(p.due_before(Duration::from_secs(4)), 800, "--rate 200 -d 4s schedules 800");
    }

    #[test]
    fn threads_interleave_into_one_even_schedule() {
        let threads = 3;
        let pacers: Vec<_> = (0..threads).map(|i| constant(300.0, threads, i)).collect();
        let mut all: Vec<Duration> = pacers.iter().flat_map(|p| (0..100).map(|k| p.due(k))).collect();
        all.sort();
        for (k, due) in all.iter().enumerate() {
            let want = Duration::from_secs_f64(k as f64 / 300.0);
            assert!(due.abs_diff(want) < Duration::from_nanos(10), "ticket {k}: {due:?} vs {want:?}");
        }
        let total: u64 = pacers.iter().map(|p| p.due_before(Duration::from_secs(2))).sum();
        assert_eq!(total, 600);
        assert_eq!(pacers[2].request(4), 14);
    }

    #[test]
    fn fractional_rates_work() {
        let p = constant(0.5, 1, 0);
        assert_eq!(p.due(1), Duration::from_secs(2));
        assert_eq!(p.due_before(Duration::from_secs(3)), 2);
    }

    #[test]
    fn stages_are_paced_second_by_second_at_their_integral_over_threads() {
        // 0 → 1000/s over 10 s, then 1000 → 200/s over 5 s, on 2 threads
        let stages = [Stage { duration_s: 10.0, rate: 1000.0 }, Stage { duration_s: 5.0, rate: 200.0 }];
        let schedule = Schedule::ramps(0.0, &stages);
        let pacers: Vec<_> = (0..2).map(|i| Pacer::new(schedule.clone(), 2, i)).collect();
        let due = |t: u64| pacers.iter().map(|p| p.due_before(Duration::from_secs(t))).sum::<u64>();
        for t in 1..=15 {
            // requests due in second t, both threads together, against the rate's integral over it
            let in_second = due(t) - due(t - 1);
            let target = schedule.target_of_second(t);
            assert!((in_second as f64 - target).abs() <= 1.0, "second {t}: {in_second} due, target {target}");
        }
        assert_eq!(due(15), 8000, "5,000 up the ramp and 3,000 down");
        assert_eq!(due(60), 8000, "and nothing after the last stage");
        // a ticket the schedule never reaches is due after any window
        assert_eq!(pacers[0].due(4000), NEVER);
        // the run's requests, thread by thread in turn, are due in order
        let in_order: Vec<Duration> = (0..8000u64).map(|g| pacers[(g % 2) as usize].due(g / 2)).collect();
        assert!(in_order.windows(2).all(|w| w[0] <= w[1]));
    }
}
