//! The open-loop schedule of `--rate` (vegeta's pacer, wrk2's intended start times): when each request is
//! due, independent of when the previous one finished. Pure: elapsed time in, ticket counts out.
//!
//! The rate is split over the engine's threads, each pacing its own share, interleaved: with rate R over
//! T threads, thread i's ticket k is due at (k·T + i) / R, so together the threads start one request
//! every 1/R.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    /// Seconds between two tickets of this thread.
    interval: f64,
    /// Seconds before this thread's first ticket.
    offset: f64,
}

impl Pacer {
    /// Thread `index` of `threads`, sharing `rate` requests per second (positive).
    pub fn new(rate: f64, threads: usize, index: usize) -> Pacer {
        Pacer { interval: threads as f64 / rate, offset: index as f64 / rate }
    }

    /// When ticket `k` (from 0) is due, from the mode's start.
    pub fn due(&self, k: u64) -> Duration {
        Duration::from_secs_f64(self.offset + k as f64 * self.interval)
    }

    /// How many tickets are due strictly before `elapsed`: tickets 0..n may start by then.
    pub fn due_before(&self, elapsed: Duration) -> u64 {
        let since_first = elapsed.as_secs_f64() - self.offset;
        if since_first <= 0.0 {
            return 0;
        }
        // Ticket k is due before `elapsed` when k·interval < since_first.
        let n = (since_first / self.interval).ceil() as u64;
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

    #[test]
    fn one_thread_starts_a_request_every_one_over_rate() {
        let p = Pacer::new(200.0, 1, 0);
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
        let pacers: Vec<_> = (0..threads).map(|i| Pacer::new(300.0, threads, i)).collect();
        let mut all: Vec<Duration> = pacers.iter().flat_map(|p| (0..100).map(|k| p.due(k))).collect();
        all.sort();
        for (k, due) in all.iter().enumerate() {
            let want = Duration::from_secs_f64(k as f64 / 300.0);
            assert!(due.abs_diff(want) < Duration::from_nanos(10), "ticket {k}: {due:?} vs {want:?}");
        }
        let total: u64 = pacers.iter().map(|p| p.due_before(Duration::from_secs(2))).sum();
        assert_eq!(total, 600);
    }

    #[test]
    fn fractional_rates_work() {
        let p = Pacer::new(0.5, 1, 0);
        assert_eq!(p.due(1), Duration::from_secs(2));
        assert_eq!(p.due_before(Duration::from_secs(3)), 2);
    }
}
