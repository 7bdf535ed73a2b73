//! The live view on stderr while a run measures, two lines redrawn five times a second and cleared when the
//! mode ends (the report is what stays): which mode of how many, how far through its window or its requests
//! and the time left, then what the last second did (requests/s, p50 and p99 of total latency) and the
//! errors and non-2xx responses so far, with the connections open.
//!
//! Hidden rather than skipped (hyperfine's pattern), so call sites never branch: off when stderr is not
//! a terminal, under `CI`, or with `--no-progress`. It only reads the engine's single-writer counters.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::live::quantile;
use crate::engine::LiveCounters;
use crate::plan::Stop;
use crate::report::micros;

const REDRAW: Duration = Duration::from_millis(200);
/// What "now" means for the rate and the percentiles: the last second, as a person reads a rate.
const RECENT: Duration = Duration::from_secs(1);

/// Whether a bar may be drawn at all.
pub fn wanted(asked: bool) -> bool {
    asked && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none_or(|v| v.is_empty() || v == "false")
}

/// Whether text bound for a stream may be coloured: only on a terminal, and never when `NO_COLOR` is set
/// to anything (https://no-color.org).
pub fn colour(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Follows one mode until dropped.
pub struct Tracker {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Which mode of the run, counted from 1.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    pub mode: usize,
    pub of: usize,
}

pub fn track(visible: bool, mode: &str, position: Position, stop: Stop, live: Vec<Arc<LiveCounters>>) -> Tracker {
    let length = match stop {
        Stop::After(d) => d.as_millis() as u64,
        Stop::Requests(n) => n,
    };
    let target = if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(length), target);
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {msg}").expect("static template");
    bar.set_style(style.progress_chars("=> "));
    bar.set_prefix(format!("mode {} of {} {mode:<9}", position.mode, position.of));
    let done = Arc::new(AtomicBool::new(false));
    let thread = visible.then(|| {
        let done = done.clone();
        std::thread::spawn(move || follow(bar, stop, live, &done))
    });
    Tracker { done, thread }
}

/// The engine's counters at one moment, summed over its threads.
struct Reading {
    at: Instant,
    requests: u64,
    errors: u64,
    non_2xx: u64,
    open: u64,
    latency: Vec<u64>,
}

impl Reading {
    fn take(live: &[Arc<LiveCounters>], at: Instant) -> Reading {
        let sum = |f: fn(&LiveCounters) -> u64| live.iter().map(|c| f(c)).sum::<u64>();
        let mut latency = Vec::new();
        for counters in live {
            counters.latency.add_to(&mut latency);
        }
        Reading {
            at,
            requests: sum(|c| c.requests.load(Ordering::Relaxed)),
            errors: sum(|c| c.errors.load(Ordering::Relaxed)),
            non_2xx: sum(|c| c.non_2xx.load(Ordering::Relaxed)),
            open: sum(|c| c.open_connections.load(Ordering::Relaxed)),
            latency,
        }
    }
}

fn follow(bar: ProgressBar, stop: Stop, live: Vec<Arc<LiveCounters>>, done: &AtomicBool) {
    let started = Instant::now();
    // The readings of the last second, oldest first: now against the oldest is the last second.
    let mut recent = VecDeque::from([Reading::take(&live, started)]);
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(REDRAW);
        let now = Reading::take(&live, Instant::now());
        while recent.len() > 1 && now.at.duration_since(recent[1].at) >= RECENT {
            recent.pop_front();
        }
        let then = &recent[0];
        let latency: Vec<u64> = now.latency.iter().zip(&then.latency).map(|(n, t)| n.saturating_sub(*t)).collect();
        let view = View {
            stop,
            elapsed: now.at.duration_since(started),
            settled: now.requests + now.errors,
            rate: now.requests.saturating_sub(then.requests) as f64 / now.at.duration_since(then.at).as_secs_f64(),
            p50_us: quantile(&latency, 0.5),
            p99_us: quantile(&latency, 0.99),
            errors: now.errors,
            non_2xx: now.non_2xx,
            open: now.open,
        };
        bar.set_position(match stop {
            Stop::After(_) => view.elapsed.as_millis() as u64,
            Stop::Requests(_) => view.settled,
        });
        bar.set_message(view.message());
        recent.push_back(now);
    }
    bar.finish_and_clear();
}

/// What the two lines say, apart from the bar.
struct View {
    stop: Stop,
    elapsed: Duration,
    /// Requests answered or failed so far.
    settled: u64,
    /// Requests completed per second over the last second.
    rate: f64,
    p50_us: Option<u64>,
    p99_us: Option<u64>,
    errors: u64,
    non_2xx: u64,
    open: u64,
}

impl View {
    /// After the bar, how far and how long is left; then the line of the last second and the counts so far.
    fn message(&self) -> String {
        let whole_seconds = |d: Duration| format!("{}s", d.as_secs_f64().round());
        let (done, left) = match self.stop {
            Stop::After(window) => (
                format!("{}/{}", whole_seconds(self.elapsed), whole_seconds(window)),
                Some(window.saturating_sub(self.elapsed)),
            ),
            Stop::Requests(n) => {
                // At the pace so far; nothing to say before the first answer.
                let pace = self.settled as f64 / self.elapsed.as_secs_f64();
                let left = (self.settled > 0)
                    .then(|| Duration::try_from_secs_f64(n.saturating_sub(self.settled) as f64 / pace).ok())
                    .flatten();
                (format!("{}/{n}", self.settled), left)
            }
        };
        let left = left.map_or("-".to_string(), whole_seconds);
        let latency = |us: Option<u64>| us.map_or("-".to_string(), micros);
        format!(
            "{done}, {left} left\n  last second: {:.0} req/s, p50 {}, p99 {}  |  so far: {} errors, {} non-2xx  |  \
             {} open",
            self.rate,
            latency(self.p50_us),
            latency(self.p99_us),
            self.errors,
            self.non_2xx,
            self.open
        )
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(stop: Stop, elapsed_ms: u64, settled: u64) -> View {
        View {
            stop,
            elapsed: Duration::from_millis(elapsed_ms),
            settled,
            rate: 125_780.4,
            p50_us: Some(352),
            p99_us: Some(1250),
            errors: 3,
            non_2xx: 17,
            open: 50,
        }
    }

    #[test]
    fn the_lines_say_how_far_what_is_left_and_what_the_last_second_did() {
        let timed = view(Stop::After(Duration::from_secs(10)), 4_200, 500_000);
        assert_eq!(
            timed.message(),
            "4s/10s, 6s left\n  last second: 125780 req/s, p50 352µs, p99 1.25ms  |  so far: 3 errors, 17 non-2xx  \
             |  50 open"
        );
        // -n: done of total, the time left at the pace so far
        let counted = view(Stop::Requests(100_000), 2_000, 25_000);
        assert!(counted.message().starts_with("25000/100000, 6s left\n"), "{}", counted.message());
        // nothing answered yet: no pace, no latency
        let idle = View { p50_us: None, p99_us: None, rate: 0.0, ..view(Stop::Requests(10), 200, 0) };
        assert!(idle.message().starts_with("0/10, - left\n  last second: 0 req/s, p50 -, p99 -"), "{}", idle.message());
    }
}
