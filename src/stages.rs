//! `--stages 10s:100,30s:2000,10s:0` (k6's ramping arrival rate) and the open-loop schedule it shares with
//! `--rate`: the rate of requests started per second as a function of time, piecewise linear, and the number
//! of requests due by any moment, its integral. A constant `--rate` is one endless segment. Pure arithmetic, a
//! leaf like `shard.rs`: the plan parses and splits stages with it, the engine's pacer asks it when each
//! request is due, the result records the stages and each second's target.
//!
//! Each stage moves the rate linearly from where the previous one ended (0 at the start, or `--rate`) to its
//! own target over its duration, so requests due by t are N(t) = ∫₀ᵗ r. Request k (from 0) is due at the
//! first moment N passes k: with a constant rate R, at k/R, as `--rate` always scheduled; with a rate that
//! stays 0 for a while, not before it rises.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One stage: the rate reached at its end, after `duration_s` of linear change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub duration_s: f64,
    /// Requests per second at the end of the stage.
    pub rate: f64,
}

/// The most stages one plan takes: more is a schedule for a script, not a flag.
pub const MAX_STAGES: usize = 1000;

/// Parses `DURATION:RATE,…` (`10s:100,30s:2k,10s:0`): durations as `-d` takes them and above 0, rates as
/// `--rate` takes them or 0 (a ramp down to nothing). The whole lasts at most `cli::MAX_DURATION`.
pub fn parse(text: &str) -> Result<Vec<Stage>, String> {
    let mut stages = Vec::new();
    for (index, part) in text.split(',').enumerate() {
        let place = || format!("'{text}': stage {} '{}'", index + 1, part.trim());
        let (duration, rate) =
            part.split_once(':').ok_or_else(|| format!("{}: not DURATION:RATE (as in 30s:2000)", place()))?;
        let duration = crate::cli::parse_duration(duration).map_err(|e| format!("{}: {e}", place()))?;
        if duration.is_zero() {
            return Err(format!("{}: a stage lasts longer than 0s", place()));
        }
        let rate = match rate.trim() {
            "0" => 0.0,
            given => crate::cli::parse_rate(given).map_err(|e| format!("{}: {e}", place()))?,
        };
        stages.push(Stage { duration_s: duration.as_secs_f64(), rate });
    }
    if stages.len() > MAX_STAGES {
        return Err(format!("'{}…': {} stages, more than the {MAX_STAGES} a plan takes", clip(text), stages.len()));
    }
    if total(&stages) > crate::cli::MAX_DURATION {
        return Err(format!("'{}': the stages last more than 365 days together", clip(text)));
    }
    Ok(stages)
}

fn clip(text: &str) -> &str {
    text.char_indices().nth(40).map_or(text, |(at, _)| &text[..at])
}

/// How long the stages last together: the run's window.
pub fn total(stages: &[Stage]) -> Duration {
    Duration::from_secs_f64(stages.iter().map(|s| s.duration_s).sum::<f64>().min(1e12))
}

/// `10s:100,30s:2000`: the stages as `--stages` takes them.
pub fn spelled(stages: &[Stage]) -> String {
    let parts: Vec<String> = stages.iter().map(|s| format!("{}:{}", seconds(s.duration_s), trim(s.rate))).collect();
    parts.join(",")
}

/// `0 → 100/s over 10s, 100 → 2000/s over 30s`: the stages as people read them, from `start`.
pub fn describe(start: f64, stages: &[Stage]) -> String {
    let mut from = start;
    let parts: Vec<String> = stages
        .iter()
        .map(|stage| {
            let said = format!("{} → {}/s over {}", trim(from), trim(stage.rate), seconds(stage.duration_s));
            from = stage.rate;
            said
        })
        .collect();
    parts.join(", ")
}

fn trim(rate: f64) -> String {
    let text = format!("{rate:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn seconds(secs: f64) -> String {
    humantime::format_duration(Duration::from_millis((secs * 1e3).round() as u64)).to_string()
}

/// One piece of the schedule: from `start` for `length` seconds, the rate moves linearly from `from` to
/// `to`; `count` requests were due before it began.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    start: f64,
    length: f64,
    from: f64,
    to: f64,
    count: f64,
}

impl Segment {
    /// Requests due `tau` seconds into the segment (0 ≤ tau ≤ length), counted from the run's start.
    fn due_by(&self, tau: f64) -> f64 {
        let slope = if self.length.is_finite() { (self.to - self.from) / self.length } else { 0.0 };
        self.count + self.from * tau + slope * tau * tau / 2.0
    }

    fn end_count(&self) -> f64 {
        if self.length.is_finite() {
            self.count + (self.from + self.to) / 2.0 * self.length
        } else if self.from > 0.0 {
            f64::INFINITY
        } else {
            self.count
        }
    }

    /// Seconds into the segment at which `n` requests (count ≤ n < end_count) are due.
    fn time_of(&self, n: f64) -> f64 {
        let delta = n - self.count;
        if delta <= 0.0 {
            return 0.0;
        }
        if !self.length.is_finite() || self.from == self.to {
            return delta / self.from;
        }
        // from·τ + (to − from)/(2·length)·τ² = delta, in the form that stays exact when `from` is 0 and
        // does not cancel when the rate falls.
        let root = (self.from * self.from + 2.0 * (self.to - self.from) * delta / self.length).max(0.0).sqrt();
        (2.0 * delta / (self.from + root)).min(self.length)
    }
}

/// The open-loop rate over time; after its last stage the rate is 0 (the run is over by then).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    segments: Arc<[Segment]>,
    /// The stages, when it has any (`--stages`), and where they started from.
    stages: Option<(f64, Arc<[Stage]>)>,
}

impl Schedule {
    /// `--rate R`: R requests per second for as long as the run lasts.
    pub fn constant(rate: f64) -> Schedule {
        let segment = Segment { start: 0.0, length: f64::INFINITY, from: rate, to: rate, count: 0.0 };
        Schedule { segments: Arc::new([segment]), stages: None }
    }

    /// `--stages`, from `start` requests per second (0, or `--rate`).
    pub fn ramps(start: f64, stages: &[Stage]) -> Schedule {
        let mut segments = Vec::with_capacity(stages.len() + 1);
        let (mut at, mut from, mut count) = (0.0, start, 0.0);
        for stage in stages {
            let segment = Segment { start: at, length: stage.duration_s, from, to: stage.rate, count };
            count = segment.end_count();
            (at, from) = (at + stage.duration_s, stage.rate);
            segments.push(segment);
        }
        segments.push(Segment { start: at, length: f64::INFINITY, from: 0.0, to: 0.0, count });
        Schedule { segments: segments.into(), stages: Some((start, stages.into())) }
    }

    /// The stages and the rate they start from; None for a constant rate.
    pub fn stages(&self) -> Option<(f64, &[Stage])> {
        self.stages.as_ref().map(|(start, stages)| (*start, &stages[..]))
    }

    /// The segment `t` seconds from the start falls in.
    fn at(&self, t: f64) -> &Segment {
        let index = self.segments.partition_point(|s| s.start <= t).saturating_sub(1);
        &self.segments[index]
    }

    /// Requests due by `t` seconds from the start: N(t), a fraction between two due times.
    pub fn due_by(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let segment = self.at(t);
        segment.due_by((t - segment.start).min(segment.length))
    }

    /// When request `k` (from 0) is due, in seconds from the start: the first moment more than `k` are due.
    /// None when the schedule never gets there (its stages end first).
    pub fn time_of(&self, k: f64) -> Option<f64> {
        let index = self.segments.partition_point(|s| s.end_count() <= k);
        let segment = self.segments.get(index)?;
        Some(segment.start + segment.time_of(k))
    }

    /// The rate `t` seconds from the start.
    pub fn rate_at(&self, t: f64) -> f64 {
        let segment = self.at(t.max(0.0));
        if !segment.length.is_finite() {
            return segment.from;
        }
        segment.from + (segment.to - segment.from) * ((t - segment.start) / segment.length).clamp(0.0, 1.0)
    }

    /// The highest rate it ever asks for.
    pub fn peak(&self) -> f64 {
        self.segments.iter().map(|s| s.from.max(s.to)).fold(0.0, f64::max)
    }

    /// Requests due in second `t` of the run (from t-1 to t, t from 1): the target the timeline shows.
    pub fn target_of_second(&self, t: u64) -> f64 {
        self.due_by(t as f64) - self.due_by(t as f64 - 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(duration_s: f64, rate: f64) -> Stage {
        Stage { duration_s, rate }
    }

    #[test]
    fn stages_parse_as_k6_writes_them_and_bad_ones_say_which() {
        let stages = parse("10s:100, 30s:2k,500ms:0").unwrap();
        assert_eq!(stages, vec![stage(10.0, 100.0), stage(30.0, 2000.0), stage(0.5, 0.0)]);
        assert_eq!(total(&stages), Duration::from_millis(40_500));
        // each case: the text, what the message must say
        for (text, needle) in [
            ("10s", "'10s': stage 1 '10s': not DURATION:RATE (as in 30s:2000)"),
            ("10s:100,0s:5", "stage 2 '0s:5': a stage lasts longer than 0s"),
            ("10s:100,5s:-3", "stage 2 '5s:-3': '-3' is not a rate"),
            ("soon:100", "stage 1 'soon:100': 'soon' is not a duration"),
            ("200d:1,200d:1", "more than 365 days together"),
            ("1s:1e10", "more than the largest rate"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        assert!(parse(&vec!["1s:1"; 1001].join(",")).unwrap_err().contains("1001 stages, more than the 1000"));
    }

    #[test]
    fn a_constant_rate_is_due_every_one_over_rate() {
        let s = Schedule::constant(200.0);
        assert_eq!(s.time_of(0.0), Some(0.0));
        assert_eq!(s.time_of(1.0), Some(0.005));
        assert_eq!(s.due_by(4.0), 800.0);
        assert_eq!((s.rate_at(1e6), s.peak(), s.target_of_second(3)), (200.0, 200.0, 200.0));
        assert_eq!(s.stages(), None);
    }

    #[test]
    fn ramps_integrate_the_rate_and_due_times_invert_it() {
        // 0 → 100/s over 10 s, 100 → 2000/s over 30 s, 2000 → 0/s over 10 s
        let s = Schedule::ramps(0.0, &[stage(10.0, 100.0), stage(30.0, 2000.0), stage(10.0, 0.0)]);
        // areas under the rate: 500, then 31,500 more, then 10,000 more
        for (t, due) in [(0.0, 0.0), (10.0, 500.0), (40.0, 32_000.0), (50.0, 42_000.0), (60.0, 42_000.0)] {
            assert!((s.due_by(t) - due).abs() < 1e-6, "N({t}) = {} not {due}", s.due_by(t));
        }
        // N(t) = 5 t² in the first stage: request 20 is due at 2 s
        assert!((s.time_of(20.0).unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(s.time_of(0.0), Some(0.0), "a ramp from 0 starts at once");
        assert_eq!(s.time_of(42_000.0), None, "the stages end first");
        // every due time inverts N, on the way up and on the way down
        for k in (0..42_000).step_by(97) {
            let t = s.time_of(k as f64).unwrap();
            assert!((s.due_by(t) - k as f64).abs() < 1e-6, "request {k}: N({t}) = {}", s.due_by(t));
        }
        assert_eq!((s.rate_at(5.0), s.rate_at(25.0), s.rate_at(45.0)), (50.0, 1050.0, 1000.0));
        assert_eq!(s.peak(), 2000.0);
        // the second from 10 to 11 s: 100 → 163.3/s, about 131.7 requests
        assert!((s.target_of_second(11) - 131.666_666).abs() < 1e-3, "{}", s.target_of_second(11));
        assert_eq!(
            describe(0.0, s.stages().unwrap().1),
            "0 → 100/s over 10s, 100 → 2000/s over 30s, 2000 → 0/s over 10s"
        );
    }

    #[test]
    fn a_stage_at_zero_schedules_nothing_until_the_rate_rises() {
        let s = Schedule::ramps(0.0, &[stage(5.0, 0.0), stage(1.0, 100.0)]);
        assert_eq!(s.due_by(5.0), 0.0);
        assert_eq!(s.time_of(0.0), Some(5.0), "the first request waits for the rate to rise");
        // from --rate: 50/s held, then down to 0
        let s = Schedule::ramps(50.0, &[stage(2.0, 50.0), stage(2.0, 0.0)]);
        assert_eq!((s.due_by(2.0), s.due_by(4.0)), (100.0, 150.0));
        assert_eq!(s.time_of(99.0), Some(1.98));
    }
}
