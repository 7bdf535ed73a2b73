//! The progress bar on stderr: elapsed against the plan, requests/s now, errors, open connections.
//!
//! Hidden rather than skipped (hyperfine's pattern), so call sites never branch: off when stderr is not
//! a terminal, under `CI`, or with `--no-progress`. It only reads the engine's single-writer counters.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::LiveCounters;
use crate::plan::Stop;

const REDRAW: Duration = Duration::from_millis(200);

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

pub fn track(visible: bool, mode: &str, stop: Stop, live: Vec<Arc<LiveCounters>>) -> Tracker {
    let (length, template) = match stop {
        Stop::After(d) => (d.as_millis() as u64, "{prefix:>9} [{bar:30}] {elapsed:>4} {msg}"),
        Stop::Requests(n) => (n, "{prefix:>9} [{bar:30}] {pos}/{len} {msg}"),
    };
    let target = if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(length), target);
    bar.set_style(ProgressStyle::with_template(template).expect("static template").progress_chars("=> "));
    bar.set_prefix(mode.to_string());
    let done = Arc::new(AtomicBool::new(false));
    let thread = visible.then(|| {
        let done = done.clone();
        std::thread::spawn(move || follow(bar, stop, live, &done))
    });
    Tracker { done, thread }
}

fn follow(bar: ProgressBar, stop: Stop, live: Vec<Arc<LiveCounters>>, done: &AtomicBool) {
    let started = Instant::now();
    let (mut last_requests, mut last_at) = (0u64, started);
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(REDRAW);
        let sum = |f: fn(&LiveCounters) -> u64| live.iter().map(|c| f(c)).sum::<u64>();
        let requests = sum(|c| c.requests.load(Ordering::Relaxed));
        let errors = sum(|c| c.errors.load(Ordering::Relaxed));
        let open = sum(|c| c.open_connections.load(Ordering::Relaxed));
        let now = Instant::now();
        let rate = (requests - last_requests) as f64 / now.duration_since(last_at).as_secs_f64();
        (last_requests, last_at) = (requests, now);
        bar.set_position(match stop {
            Stop::After(_) => started.elapsed().as_millis() as u64,
            Stop::Requests(_) => requests + errors,
        });
        bar.set_message(format!("{rate:>9.0} req/s  {errors} errors  {open} open"));
    }
    bar.finish_and_clear();
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
