/*!
`--check` (DESIGN.md §1): the grammar `METRIC OP VALUE` and its evaluation against one mode's result.

Pure: parsing happens while the plan is resolved (a malformed expression costs no load and exits 2),
evaluation after the run returns one row per check and mode; printing is `write_rows`.

METRIC is `rps`, `errors`, `error_rate`, or `STAT.PHASE` with STAT in `p50 p90 p99 p99.9 p99.99 max
mean` and PHASE in `connect ttfb transfer total`. OP is `< <= > >=`. VALUE is a number; latencies
need a unit (`us`, `ms`, `s`), `error_rate` takes `%` (a bare number is a fraction), `rps` and
`errors` are bare numbers.
*/

use std::fmt;
use std::io::{self, Write};

use crate::record::result::{Hist, ModeResult};
use crate::report::text::micros;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    Rps,
    Errors,
    /// Failed requests over all requests, as a fraction.
    ErrorRate,
    Latency(Stat, Phase),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    P50,
    P90,
    P99,
    P999,
    P9999,
    Max,
    Mean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    Ttfb,
    Transfer,
    Total,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

/// One parsed `--check`; `value` is in the metric's own unit (µs for latencies, a fraction for error_rate).
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub metric: Metric,
    pub op: Op,
    pub value: f64,
}

const STATS: [(&str, Stat); 7] = [
    ("p50", Stat::P50),
    ("p90", Stat::P90),
    ("p99", Stat::P99),
    ("p99.9", Stat::P999),
    ("p99.99", Stat::P9999),
    ("max", Stat::Max),
    ("mean", Stat::Mean),
];
const PHASES: [(&str, Phase); 4] =
    [("connect", Phase::Connect), ("ttfb", Phase::Ttfb), ("transfer", Phase::Transfer), ("total", Phase::Total)];

impl Check {
    /// Parses `METRIC OP VALUE`; the error names the expression and what is wrong with it.
    pub fn parse(text: &str) -> Result<Check, String> {
        let fail = |why: String| format!("--check '{text}': {why}");
        let Some(at) = text.find(['<', '>']) else {
            return Err(fail("no comparison (use < <= > >=, as in 'p99.total<20ms')".into()));
        };
        let (metric, rest) = text.split_at(at);
        let (op, value) = match rest.as_bytes() {
            [b'<', b'=', ..] => (Op::Le, &rest[2..]),
            [b'>', b'=', ..] => (Op::Ge, &rest[2..]),
            [b'<', ..] => (Op::Lt, &rest[1..]),
            _ => (Op::Gt, &rest[1..]),
        };
        let metric = parse_metric(metric.trim()).map_err(fail)?;
        let value = parse_value(metric, value.trim()).map_err(fail)?;
        Ok(Check { metric, op, value })
    }

    /// The measured figure, in the metric's own unit; None when the phase has no samples.
    pub fn measure(&self, run: &ModeResult) -> Option<f64> {
        match self.metric {
            Metric::Rps => Some(run.rps),
            Metric::Errors => Some(run.errors.total() as f64),
            Metric::ErrorRate => Some(error_rate(run)),
            Metric::Latency(stat, phase) => {
                let hist = phase_hist(run, phase);
                (hist.count > 0).then(|| stat_of(hist, stat))
            }
        }
    }

    pub fn holds(&self, measured: f64) -> bool {
        match self.op {
            Op::Lt => measured < self.value,
            Op::Le => measured <= self.value,
            Op::Gt => measured > self.value,
            Op::Ge => measured >= self.value,
        }
    }

    /// A figure in this check's metric, as people read it.
    pub fn show(&self, value: f64) -> String {
        match self.metric {
            Metric::Rps => format!("{value:.1}"),
            Metric::Errors => format!("{value:.0}"),
            Metric::ErrorRate => format!("{}%", trim_float(value * 100.0)),
            Metric::Latency(..) => micros(value.round() as u64),
        }
    }
}

/// Failed requests over all requests issued (completed plus failed); 0 when none were issued.
pub fn error_rate(run: &ModeResult) -> f64 {
    let errors = run.errors.total() as f64;
    let issued = run.requests as f64 + errors;
    if issued == 0.0 {
        0.0
    } else {
        errors / issued
    }
}

fn phase_hist(run: &ModeResult, phase: Phase) -> &Hist {
    match phase {
        Phase::Connect => &run.latency.connect,
        Phase::Ttfb => &run.latency.ttfb,
        Phase::Transfer => &run.latency.transfer,
        Phase::Total => &run.latency.total,
    }
}

fn stat_of(h: &Hist, stat: Stat) -> f64 {
    match stat {
        Stat::P50 => h.p50_us as f64,
        Stat::P90 => h.p90_us as f64,
        Stat::P99 => h.p99_us as f64,
        Stat::P999 => h.p999_us as f64,
        Stat::P9999 => h.p9999_us as f64,
        Stat::Max => h.max_us as f64,
        Stat::Mean => h.mean_us,
    }
}

fn parse_metric(text: &str) -> Result<Metric, String> {
    match text {
        "rps" => return Ok(Metric::Rps),
        "errors" => return Ok(Metric::Errors),
        "error_rate" => return Ok(Metric::ErrorRate),
        _ => {}
    }
    let unknown = || {
        format!(
            "unknown metric '{text}' (rps, errors, error_rate, or STAT.PHASE with STAT in p50 p90 p99 p99.9 \
             p99.99 max mean and PHASE in connect ttfb transfer total)"
        )
    };
    // The phase follows the last dot: `p99.9.total` is p99.9 of total.
    let (stat, phase) = text.rsplit_once('.').ok_or_else(unknown)?;
    let stat = STATS.iter().find(|(name, _)| *name == stat).ok_or_else(unknown)?.1;
    let phase = PHASES.iter().find(|(name, _)| *name == phase).ok_or_else(unknown)?.1;
    Ok(Metric::Latency(stat, phase))
}

fn parse_value(metric: Metric, text: &str) -> Result<f64, String> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = match number.parse() {
        Ok(n) if f64::is_finite(n) => n,
        _ => return Err(format!("'{text}' is not a number")),
    };
    let unit = unit.trim();
    match (metric, unit) {
        (Metric::Latency(..), "us" | "µs") => Ok(number),
        (Metric::Latency(..), "ms") => Ok(number * 1e3),
        (Metric::Latency(..), "s") => Ok(number * 1e6),
        (Metric::Latency(..), _) => Err(format!("'{text}': a latency needs a unit: us, ms or s")),
        (Metric::ErrorRate, "%") => Ok(number / 100.0),
        (Metric::ErrorRate, "") => Ok(number),
        (Metric::ErrorRate, _) => Err(format!("'{text}': error_rate takes % (or a bare fraction)")),
        (Metric::Rps | Metric::Errors, "") => Ok(number),
        (Metric::Rps | Metric::Errors, _) => Err(format!("'{text}': rps and errors take a bare number")),
    }
}

fn trim_float(v: f64) -> String {
    let text = format!("{v:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Rps => f.write_str("rps"),
            Metric::Errors => f.write_str("errors"),
            Metric::ErrorRate => f.write_str("error_rate"),
            Metric::Latency(stat, phase) => {
                let stat = STATS.iter().find(|(_, s)| s == stat).map_or("?", |(name, _)| name);
                let phase = PHASES.iter().find(|(_, p)| p == phase).map_or("?", |(name, _)| name);
                write!(f, "{stat}.{phase}")
            }
        }
    }
}

/// The canonical form: `p99.total < 20ms`, `rps >= 5000`.
impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let asked = match self.metric {
            Metric::Rps | Metric::Errors => trim_float(self.value),
            // 20.00ms reads as 20ms, 1.50ms as 1.5ms
            Metric::Latency(..) => {
                let text = self.show(self.value);
                let (number, unit) = text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
                format!("{}{unit}", trim_float(number.parse().unwrap_or(0.0)))
            }
            Metric::ErrorRate => self.show(self.value),
        };
        write!(f, "{} {} {asked}", self.metric, self.op)
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

/// Every check against every mode of the result (DESIGN.md §1: with several modes a check applies to each).
pub fn evaluate(checks: &[Check], runs: &[ModeResult]) -> Vec<Row> {
    let mut rows = Vec::new();
    for run in runs {
        for check in checks {
            let measured = check.measure(run);
            rows.push(Row {
                mode: run.mode.name(),
                check: check.to_string(),
                measured: measured.map_or_else(|| "no samples".into(), |v| check.show(v)),
                passed: measured.is_some_and(|v| check.holds(v)),
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
        let mut run = fixture::mode_result(crate::plan::Mode::Keepalive);
        (run.rps, run.requests, run.errors.reset) = (rps, requests, errors);
        run.latency.total = Hist { count: requests, p99_us: p99_total_us, ..Hist::default() };
        run
    }

    #[test]
    fn the_grammar_reads_metric_op_value_with_units() {
        let lat = |s, p| Metric::Latency(s, p);
        // each case: expression, metric, op, value in the metric's unit
        for (text, metric, op, value) in [
            ("p99.total<20ms", lat(Stat::P99, Phase::Total), Op::Lt, 20_000.0),
            ("p50.connect <= 300us", lat(Stat::P50, Phase::Connect), Op::Le, 300.0),
            ("max.ttfb>1.5s", lat(Stat::Max, Phase::Ttfb), Op::Gt, 1_500_000.0),
            ("p99.9.transfer<1ms", lat(Stat::P999, Phase::Transfer), Op::Lt, 1000.0),
            ("p99.99.total<2ms", lat(Stat::P9999, Phase::Total), Op::Lt, 2000.0),
            ("mean.total<1µs", lat(Stat::Mean, Phase::Total), Op::Lt, 1.0),
            ("error_rate<0.1%", Metric::ErrorRate, Op::Lt, 0.001),
            ("error_rate<0.02", Metric::ErrorRate, Op::Lt, 0.02),
            ("rps>=5000", Metric::Rps, Op::Ge, 5000.0),
            (" errors <= 0 ", Metric::Errors, Op::Le, 0.0),
        ] {
            let check = Check::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((check.metric, check.op), (metric, op), "{text}");
            assert!((check.value - value).abs() < 1e-9, "{text}: {}", check.value);
        }
    }

    #[test]
    fn malformed_expressions_say_what_is_wrong() {
        // each case: expression, what the message must say
        for (text, needle) in [
            ("p99.total", "no comparison"),
            ("p99.total=20ms", "no comparison"),
            ("p98.total<1ms", "unknown metric 'p98.total'"),
            ("p99.body<1ms", "unknown metric"),
            ("latency<1ms", "unknown metric"),
            ("p99.total<20", "needs a unit"),
            ("p99.total<20kg", "needs a unit"),
            ("rps>5k", "bare number"),
            ("error_rate<1ms", "takes %"),
            ("rps>", "not a number"),
            ("rps>=-1", "not a number"),
            ("rps<<1", "not a number"),
        ] {
            let err = Check::parse(text).unwrap_err();
            assert!(err.contains(&format!("'{text}'")), "{text}: {err}");
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn checks_apply_to_each_mode_and_report_what_was_measured() {
        let checks: Vec<_> = ["rps>=1000", "p99.total<20ms", "error_rate<1%", "p50.connect<1ms"]
            .map(|c| Check::parse(c).unwrap())
            .into();
        let fast = run(5000.0, 990, 10, 1500);
        let slow = ModeResult { mode: crate::plan::Mode::Serial, ..run(400.0, 1000, 0, 25_000) };
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
}
