/*!
What a result read from a file must hold before anything adds, compares or prints its figures. A result
file is anyone's JSON: serde checks the types, this checks what the types allow and no run can produce
(docs/design.md §5): a negative or endless duration, counts whose sum passes `u64::MAX`, a histogram that
does not decode or does not hold the samples its summary counts. Each refusal names the mode and the field.

Pure: no I/O.
*/

use super::result::{checked_sum, Hist, ModeResult, RunResult, TargetTally};
use super::{decode, decode_hdr};

/// The first impossible value of `result`, as `MODE FIELD: why`.
pub fn validate(result: &RunResult) -> Result<(), String> {
    for run in &result.runs {
        validate_mode(run).map_err(|why| format!("{} {why}", run.mode.name()))?;
    }
    Ok(())
}

fn validate_mode(run: &ModeResult) -> Result<(), String> {
    non_negative("duration_s", run.duration_s)?;
    non_negative("rps", run.rps)?;
    if let Some(rate) = run.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!("rate: {rate} is not a rate (above 0 requests/s)"));
        }
    }
    let past_max = |what: &str| Err(format!("{what}: the counts add up past {} (the most a count can be)", u64::MAX));
    if checked_sum(run.status.classes()).is_none() {
        return past_max("status");
    }
    if run.status_codes.values().try_fold(0u64, |sum, &n| sum.checked_add(n)).is_none() {
        return past_max("status_codes");
    }
    let Some(errors) = checked_sum(run.errors.kinds()) else { return past_max("errors") };
    if checked_sum([("requests", run.requests), ("errors", errors)]).is_none() {
        return past_max("requests and errors");
    }
    for (name, hist) in run.latency.phases() {
        if let Some(hist) = hist {
            validate_hist(hist).map_err(|why| format!("latency.{name}: {why}"))?;
        }
    }
    for tick in &run.timeline {
        if let Some(length) = tick.length_s.filter(|l| !(0.0..=1.0).contains(l)) {
            return Err(format!("timeline second {}: length_s: {length} is not part of a second (0 to 1)", tick.t));
        }
        if let Some(hdr) = &tick.hdr {
            decode_hdr(hdr).map_err(|why| format!("timeline second {}: {why}", tick.t))?;
        }
        if let Some(target) = tick.target_rate {
            non_negative(&format!("timeline second {} target_rate", tick.t), target)?;
        }
    }
    for stage in run.stages.iter().flat_map(|s| &s.stages) {
        non_negative("stages duration_s", stage.duration_s)?;
        non_negative("stages rate", stage.rate)?;
    }
    let listed = run.targets.iter().map(|t| (format!("targets[{}]", t.index), &t.tally));
    let other = run.targets_other.iter().map(|o| ("targets_other".to_string(), &o.tally));
    for (name, tally) in listed.chain(other) {
        validate_tally(tally).map_err(|why| format!("{name} {why}"))?;
    }
    if let Some(occupancy) = run.ports.as_ref().and_then(|p| p.occupancy_peak) {
        if !(0.0..=1.0).contains(&occupancy) {
            return Err(format!("ports.occupancy_peak: {occupancy} is not a share (0 to 1)"));
        }
    }
    Ok(())
}

/// A target's counts add up, and its histogram holds a sample per response.
fn validate_tally(tally: &TargetTally) -> Result<(), String> {
    let past_max = |what: &str| format!("{what}: the counts add up past {} (the most a count can be)", u64::MAX);
    let errors = checked_sum(tally.errors.kinds()).ok_or_else(|| past_max("errors"))?;
    checked_sum([("requests", tally.requests), ("errors", errors)]).ok_or_else(|| past_max("requests and errors"))?;
    let responses = tally
        .status_codes
        .values()
        .try_fold(0u64, |sum, &n| sum.checked_add(n))
        .ok_or_else(|| past_max("status_codes"))?;
    if responses != tally.requests {
        return Err(format!("status_codes: {responses} responses for {} requests", tally.requests));
    }
    validate_hist(&tally.latency).map_err(|why| format!("latency: {why}"))
}

fn non_negative(field: &str, value: f64) -> Result<(), String> {
    match value {
        v if v.is_finite() && v >= 0.0 => Ok(()),
        v => Err(format!("{field}: {v} is impossible (0 or more)")),
    }
}

/// The histogram decodes, and holds as many samples as its summary says.
fn validate_hist(hist: &Hist) -> Result<(), String> {
    let decoded = decode(hist)?;
    if decoded.len() != hist.count {
        return Err(format!("count is {} but its histogram (hdr) holds {} samples", hist.count, decoded.len()));
    }
    non_negative("mean_us", hist.mean_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::record::result::fixture;
    use crate::record::{Exchange, Recorder, RunShape};
    use std::time::{Duration, Instant};

    fn measured() -> RunResult {
        let t0 = Instant::now();
        let mut rec = Recorder::new(t0, false);
        rec.connected(t0, Duration::from_micros(50));
        let at = |us| t0 + Duration::from_micros(us);
        let exchange = Exchange {
            start: at(0),
            began: at(0),
            sent: at(0),
            first_byte: at(40),
            done: at(90),
            opened_connection: true,
        };
        let mut rec = rec.with_targets(1);
        rec.completed_for(&exchange, 200, 0);
        let targets = rec.targets(&[("GET".into(), "/".into())]);
        let shape = RunShape { mode: Mode::Keepalive, connections: 1, depth: 1, rate: None };
        let mut run = rec.finish(shape, Duration::from_secs(1));
        (run.targets, run.targets_other) = targets;
        fixture::run_result(vec![run])
    }

    #[test]
    fn impossible_values_are_named_by_mode_and_field() {
        assert_eq!(validate(&measured()), Ok(()));
        // each case: the change, what the message must say
        type Change = fn(&mut ModeResult);
        let cases: [(Change, &str); 13] = [
            (
                |r| (_, _) = (r.status_codes.insert(200, u64::MAX), r.status_codes.insert(503, 1)),
                "keepalive status_codes: the counts add up past",
            ),
            (|r| r.duration_s = -3.0, "keepalive duration_s: -3 is impossible"),
            (|r| r.rps = f64::NAN, "keepalive rps: NaN is impossible"),
            (|r| r.rate = Some(0.0), "keepalive rate: 0 is not a rate"),
            (|r| (r.errors.reset, r.errors.other) = (u64::MAX, 100), "keepalive errors: the counts add up past"),
            (|r| r.status.s5xx = u64::MAX, "keepalive status: the counts add up past"),
            (|r| r.latency.total.count = 5, "keepalive latency.total: count is 5 but its histogram (hdr) holds 1"),
            (|r| r.latency.ttfb.hdr = "not base64!".into(), "keepalive latency.ttfb: hdr is not base64"),
            (|r| r.timeline[0].hdr = Some("AAAA".into()), "keepalive timeline second 1: hdr is not an HdrHistogram"),
            (|r| r.timeline[0].length_s = Some(f64::NAN), "keepalive timeline second 1: length_s: NaN is not part"),
            (|r| r.timeline[0].target_rate = Some(-1.0), "keepalive timeline second 1 target_rate: -1 is impossible"),
            (|r| r.targets[0].tally.requests = 2, "keepalive targets[0] status_codes: 1 responses for 2 requests"),
            (|r| r.targets[0].tally.latency.count = 3, "keepalive targets[0] latency: count is 3 but its histogram"),
        ];
        for (change, needle) in cases {
            let mut result = measured();
            change(&mut result.runs[0]);
            let err = validate(&result).unwrap_err();
            assert!(err.starts_with(needle), "{needle}: {err}");
        }
    }
}
