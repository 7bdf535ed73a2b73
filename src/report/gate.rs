/*!
`--check` (docs/design.md §1) evaluated against one mode's result. The grammar lives in `crate::check`,
so that parsing happens while the plan is resolved (a malformed expression costs no load and exits 2);
evaluation after the run returns one row per check and mode; printing is `write_rows`.
*/

use std::fmt;
use std::io::{self, Write};

use crate::check::{Check, Metric, Phase};
use crate::printable::printable;
use crate::record::result::{Hist, ModeResult, NO_SAMPLES};
use crate::report::figures::micros;

impl Check {
    /// The measured figure, in the metric's own unit; None when the phase has no samples.
    pub fn measure(&self, run: &ModeResult) -> Option<f64> {
        match self.metric {
            Metric::Rps => Some(run.rps),
            Metric::Errors => Some(run.errors.total() as f64),
            Metric::ErrorRate => Some(error_rate(run)),
            Metric::Non2xx => Some(run.status.non_2xx() as f64),
            Metric::Non2xxRate => Some(non_2xx_rate(run)),
            // Closed loop schedules nothing, so nothing can be missed: a gate on it has no samples.
            Metric::Missed => run.pacing.map(|p| p.missed as f64),
            Metric::Latency(stat, phase) => {
                let hist = phase_hist(run, phase);
                (hist.count > 0).then(|| hist.stat(stat))
            }
        }
    }

    /// A figure in this check's metric, as people read it.
    pub fn show(&self, value: f64) -> String {
        match self.metric {
            Metric::Rps => format!("{value:.1}"),
            Metric::Errors => format!("{value:.0}"),
            Metric::Non2xx | Metric::Missed => format!("{value:.0}"),
            Metric::ErrorRate | Metric::Non2xxRate => format!("{}%", trim_float(value * 100.0)),
            Metric::Latency(..) => micros(value.round() as u64),
        }
    }
}

/// Failed requests over all requests issued (completed plus failed); 0 when none were issued.
pub fn error_rate(run: &ModeResult) -> f64 {
    let errors = run.errors.total();
    fraction(errors, run.requests + errors)
}

/// `part` over `whole`; 0 when the whole is nothing.
pub fn fraction(part: u64, whole: u64) -> f64 {
    match whole {
        0 => 0.0,
        whole => part as f64 / whole as f64,
    }
}

/// Responses whose status was not 2xx over all responses; 0 when there was none. Failed requests have no
/// status: `error_rate` counts them.
pub fn non_2xx_rate(run: &ModeResult) -> f64 {
    fraction(run.status.non_2xx(), run.status.total())
}

fn phase_hist(run: &ModeResult, phase: Phase) -> &Hist {
    match phase {
        Phase::Connect => &run.latency.connect,
        Phase::Ttfb => &run.latency.ttfb,
        Phase::Transfer => &run.latency.transfer,
        Phase::Total => &run.latency.total,
        Phase::Tls => run.latency.tls.as_ref().unwrap_or(&NO_SAMPLES),
        // `connbench page` measures it; plan.rs refuses it for `run`.
        Phase::PageLoad => &NO_SAMPLES,
    }
}

fn trim_float(v: f64) -> String {
    let text = format!("{v:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The canonical form: `p99.total < 20ms`, `rps >= 5000`.
impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let asked = match self.metric {
            Metric::Rps | Metric::Errors | Metric::Non2xx | Metric::Missed => trim_float(self.value),
            // 20.00ms reads as 20ms, 1.50ms as 1.5ms
            Metric::Latency(..) => {
                let text = self.show(self.value);
                let (number, unit) = text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
                format!("{}{unit}", trim_float(number.parse().unwrap_or(0.0)))
            }
            Metric::ErrorRate | Metric::Non2xxRate => self.show(self.value),
        };
        match &self.target {
            Some(target) => write!(f, "{}[{target}] {} {asked}", self.metric, self.op),
            None => write!(f, "{} {} {asked}", self.metric, self.op),
        }
    }
}

/// One check against one mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub mode: &'static str,
    pub check: String,
    /// The figure as people read it, or why there is none.
    pub measured: String,
    pub passed: bool,
}

/// Every check against every mode of the result (docs/design.md §1: with several modes a check applies to each).
pub fn evaluate(checks: &[Check], runs: &[ModeResult]) -> Vec<Row> {
    let mut rows = Vec::new();
    for run in runs {
        for check in checks {
            let measured = match &check.target {
                None => check.measure(run).ok_or_else(|| "no samples".to_string()),
                Some(selector) => match crate::report::targets::select(run, selector) {
                    Some(tally) => {
                        check.measure(&crate::report::targets::as_mode(run, &tally)).ok_or("no samples".into())
                    }
                    None => Err(format!("no target {}", printable(selector))),
                },
            };
            rows.push(Row {
                mode: run.mode.name(),
                check: check.to_string(),
                measured: measured.as_ref().map_or_else(Clone::clone, |&v| check.show(v)),
                passed: measured.is_ok_and(|v| check.holds(v)),
            });
        }
    }
    rows
}

/// The rows for people: mode, what was asked, what was measured, the verdict.
pub fn write_rows(rows: &[Row], out: &mut dyn Write) -> io::Result<()> {
    for row in rows {
        let verdict = if row.passed { "ok" } else { "FAILED" };
        writeln!(out, "check {:<10} {:<24} measured {:<12} {verdict}", row.mode, row.check, row.measured)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::result::fixture;

    fn run(rps: f64, requests: u64, errors: u64, p99_total_us: u64) -> ModeResult {
        let mut run = fixture::mode_result(crate::mode::Mode::Keepalive);
        (run.rps, run.requests, run.errors.reset) = (rps, requests, errors);
        run.latency.total = Hist { count: requests, p99_us: p99_total_us, ..Hist::default() };
        run
    }

    #[test]
    fn non_2xx_counts_every_class_but_2xx_and_other_is_never_a_success() {
        let mut run = run(100.0, 0, 0, 1000);
        for status in [200, 204, 101, 301, 404, 503, 503, 999, 42] {
            run.status.count(status);
        }
        run.requests = 9;
        assert_eq!((run.status.s2xx, run.status.s1xx, run.status.other), (2, 1, 2));
        let checks = ["non_2xx<=0", "non_2xx_rate<80%", "error_rate<1%"].map(|c| Check::parse(c).unwrap());
        let rows = evaluate(&checks, &[run]);
        let summary: Vec<_> = rows.iter().map(|r| (r.check.as_str(), r.measured.as_str(), r.passed)).collect();
        assert_eq!(
            summary,
            vec![
                ("non_2xx <= 0", "7", false),
                ("non_2xx_rate < 80%", "77.7778%", true),
                // an all-failing server answers every request: no error, but no success either
                ("error_rate < 1%", "0%", true),
            ]
        );
    }

    #[test]
    fn checks_apply_to_each_mode_and_report_what_was_measured() {
        let checks: Vec<_> = ["rps>=1000", "p99.total<20ms", "error_rate<1%", "p50.connect<1ms"]
            .map(|c| Check::parse(c).unwrap())
            .into();
        let fast = run(5000.0, 990, 10, 1500);
        let slow = ModeResult { mode: crate::mode::Mode::Serial, ..run(400.0, 1000, 0, 25_000) };
        let rows = evaluate(&checks, &[fast, slow]);
        let summary: Vec<_> = rows.iter().map(|r| (r.mode, r.measured.as_str(), r.passed)).collect();
        assert_eq!(
            summary,
            vec![
                ("keepalive", "5000.0", true),
                ("keepalive", "1.50ms", true),
                // 10 failed of 1000 issued: exactly 1%, not below it
                ("keepalive", "1%", false),
                ("keepalive", "no samples", false),
                ("serial", "400.0", false),
                ("serial", "25.00ms", false),
                ("serial", "0%", true),
                ("serial", "no samples", false),
            ]
        );
        assert_eq!(rows[0].check, "rps >= 1000");
        assert_eq!(rows[1].check, "p99.total < 20ms");
        assert_eq!(rows[2].check, "error_rate < 1%");
    }

    #[test]
    fn a_check_on_one_target_measures_its_own_figures() {
        use crate::record::result::{TargetFigures, TargetTally};
        let mut histogram = crate::record::new_target_histogram();
        (0..99).for_each(|_| histogram.record(1000).unwrap());
        histogram.record(50_000).unwrap();
        let mut slow =
            TargetTally { requests: 100, latency: crate::record::summarize(&histogram), ..Default::default() };
        slow.status_codes.insert("200".into(), 98);
        slow.status_codes.insert("503".into(), 2);
        slow.errors.timeout = 1;
        let mut run = run(1000.0, 1000, 0, 500);
        run.duration_s = 10.0;
        run.targets = vec![
            TargetFigures { index: 0, method: "GET".into(), url: "/fast".into(), tally: TargetTally::default() },
            TargetFigures { index: 1, method: "POST".into(), url: "/slow".into(), tally: slow },
        ];
        let checks: Vec<_> = [
            "p99.total[/slow]<20ms",
            "p95.total[/slow]<2ms",
            "errors[POST /slow]<=0",
            "non_2xx[/slow]<=2",
            "rps[/slow]>=10",
            "p99.total[/none]<1s",
        ]
        .map(|c| Check::parse(c).unwrap())
        .into();
        let rows = evaluate(&checks, &[run]);
        let summary: Vec<_> = rows.iter().map(|r| (r.check.as_str(), r.measured.as_str(), r.passed)).collect();
        assert_eq!(
            summary,
            vec![
                // 99 of its 100 took 1 ms
                ("p99.total[/slow] < 20ms", "1.00ms", true),
                // 2 significant digits: 1 ms reads as its bucket's top, 1003 µs
                ("p95.total[/slow] < 2ms", "1.00ms", true),
                ("errors[POST /slow] <= 0", "1", false),
                ("non_2xx[/slow] <= 2", "2", true),
                ("rps[/slow] >= 10", "10.0", true),
                ("p99.total[/none] < 1s", "no target /none", false),
            ]
        );
    }

    #[test]
    fn p95_is_read_from_the_whole_histogram() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for us in 1..=100 {
            h.record(us).unwrap();
        }
        let mut m = run(100.0, 100, 0, 99);
        m.latency.total = crate::record::summarize(&h);
        let rows = evaluate(&[Check::parse("p95.total<=95us").unwrap(), Check::parse("p95.total<95us").unwrap()], &[m]);
        let verdicts: Vec<_> = rows.iter().map(|r| (r.measured.as_str(), r.passed)).collect();
        assert_eq!(verdicts, [("95µs", true), ("95µs", false)]);
    }
}
