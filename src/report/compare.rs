/*!
`connbench compare A B` and `run --baseline` (docs/design.md §1): pure math returning annotated rows
(hyperfine's relative_speed.rs), and the writers apart.

Runs are paired by mode; when each result holds exactly one run they are paired whatever their modes,
so a keep-alive result can be held against a serial one. Every figure gets its ratio B/A and a trend:
better, worse or same, judged by the figure's direction (requests/s up is better, latency down is
better) against a threshold, `--max-regression` or 5%. The gate (exit 1) looks at two figures only:
requests/s falling and p99 total latency rising by more than `--max-regression`.
*/

use std::io::{self, Write};

use serde::Serialize;

use crate::mode::Mode;
use crate::record::result::{Hist, ModeResult, RunResult};
use crate::report::describe;
use crate::report::figures::{self, micros};
use crate::report::gate::{error_rate, non_2xx_rate};

/// Changes smaller than this are "same" when no `--max-regression` is given.
pub const DEFAULT_THRESHOLD_PCT: f64 = 5.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
    /// A count that says what happened, not how well (requests, connections opened).
    Neither,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    Better,
    Worse,
    Same,
    /// The figure has no better direction.
    Changed,
    /// One side has no samples for it (no reused connection in serial mode, say).
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Count,
    PerSecond,
    Micros,
    Fraction,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub metric: String,
    pub unit: Unit,
    /// None when the histogram has no samples.
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// B/A; None when A is 0 or a side is missing.
    pub ratio: Option<f64>,
    pub better: Better,
    pub trend: Trend,
    /// One of the figures the gate looks at (requests/s, p99 total).
    pub gated: bool,
    /// A gated figure worse than `--max-regression` allows.
    pub regression: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    pub mode_a: &'static str,
    pub mode_b: &'static str,
    pub rows: Vec<Row>,
}

impl Pair {
    pub fn label(&self) -> String {
        if self.mode_a == self.mode_b {
            self.mode_a.to_string()
        } else {
            format!("{} -> {}", self.mode_a, self.mode_b)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    /// What differs between the plans of A and B (`-c: 50 vs 8 (keepalive)`): the ratios compare different
    /// things, and the gate refuses them unless told otherwise.
    pub plan_changes: Vec<String>,
    pub max_regression_pct: Option<f64>,
    pub pairs: Vec<Pair>,
    /// Modes found in only one of the two results.
    pub only_in_a: Vec<&'static str>,
    pub only_in_b: Vec<&'static str>,
}

impl Comparison {
    /// What failed the gate, one line each ("keepalive: requests/s fell 45.2% (more than 10%)").
    pub fn regressions(&self) -> Vec<String> {
        let mut found = Vec::new();
        for pair in &self.pairs {
            for row in pair.rows.iter().filter(|r| r.regression) {
                let change = row.ratio.map_or("from 0".into(), |r| format!("{:.1}%", (r - 1.0).abs() * 100.0));
                let verb = if row.better == Better::Higher { "fell" } else { "rose" };
                let limit = self.max_regression_pct.unwrap_or_default();
                found.push(format!("{}: {} {verb} {change} (more than {limit}%)", pair.label(), row.metric));
            }
        }
        found
    }
}

/// Why `--max-regression` does not gate A against B: their plans differ, and the gate would hold different
/// things against each other.
pub fn gate_refused(a_name: &str, b_name: &str, plan_changes: &[String]) -> String {
    format!(
        "--max-regression: {a_name} and {b_name} were made with different plans ({}): a gate across plans compares \
         different things; add --allow-plan-change to gate anyway",
        plan_changes.join("; ")
    )
}

/// Why A and B cannot be compared, if they cannot: `compare` pairs runs by mode, or the two runs of
/// single-mode results whatever their modes, and a comparison of nothing must not pass for a good one.
pub fn nothing_in_common(a_name: &str, a: &[Mode], b_name: &str, b: &[Mode]) -> Option<String> {
    let pairs = (a.len() == 1 && b.len() == 1) || a.iter().any(|mode| b.contains(mode));
    let names = |modes: &[Mode]| modes.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ");
    (!pairs).then(|| {
        format!("{a_name} ({}) and {b_name} ({}) have no mode in common: nothing to compare", names(a), names(b))
    })
}

/// Pairs the runs of A and B and annotates every figure; `a_name`/`b_name` label them (file names).
pub fn compare(
    a_name: &str,
    a: &RunResult,
    b_name: &str,
    b: &RunResult,
    max_regression_pct: Option<f64>,
) -> Comparison {
    let pairing = describe::pairing(a, b);
    Comparison {
        a: a_name.into(),
        b: b_name.into(),
        plan_changes: describe::plan_changes(a, b),
        max_regression_pct,
        pairs: pairing.pairs.iter().map(|(ra, rb)| pair(ra, rb, max_regression_pct)).collect(),
        only_in_a: pairing.only_in_a,
        only_in_b: pairing.only_in_b,
    }
}

type Pick = fn(&ModeResult) -> Option<f64>;

/// The figures compared: name, unit, direction, gated, how to read it from a mode's result.
const FIGURES: [(&str, Unit, Better, bool, Pick); 27] = [
    ("requests/s", Unit::PerSecond, Better::Higher, true, |r| Some(r.rps)),
    ("requests", Unit::Count, Better::Neither, false, |r| Some(r.requests as f64)),
    ("errors", Unit::Count, Better::Lower, false, |r| Some(r.errors.total() as f64)),
    ("error rate", Unit::Fraction, Better::Lower, false, |r| Some(error_rate(r))),
    ("non-2xx", Unit::Count, Better::Lower, false, |r| Some(r.status.non_2xx() as f64)),
    ("non-2xx rate", Unit::Fraction, Better::Lower, false, |r| Some(non_2xx_rate(r))),
    ("connections opened", Unit::Count, Better::Neither, false, |r| Some(r.connections_opened as f64)),
    ("retries", Unit::Count, Better::Lower, false, |r| Some(r.retries as f64)),
    ("connect p50", Unit::Micros, Better::Lower, false, |r| us(&r.latency.connect, |h| h.p50_us)),
    ("connect p99", Unit::Micros, Better::Lower, false, |r| us(&r.latency.connect, |h| h.p99_us)),
    ("tls p50", Unit::Micros, Better::Lower, false, |r| r.latency.tls.as_ref().and_then(|h| us(h, |h| h.p50_us))),
    ("tls p99", Unit::Micros, Better::Lower, false, |r| r.latency.tls.as_ref().and_then(|h| us(h, |h| h.p99_us))),
    ("tls handshakes full", Unit::Count, Better::Neither, false, |r| r.tls.as_ref().map(|t| t.handshakes_full as f64)),
    ("tls resumed", Unit::Count, Better::Neither, false, |r| r.tls.as_ref().map(|t| t.handshakes_resumed as f64)),
    ("ttfb p50", Unit::Micros, Better::Lower, false, |r| us(&r.latency.ttfb, |h| h.p50_us)),
    ("ttfb p99", Unit::Micros, Better::Lower, false, |r| us(&r.latency.ttfb, |h| h.p99_us)),
    ("transfer p50", Unit::Micros, Better::Lower, false, |r| us(&r.latency.transfer, |h| h.p50_us)),
    ("transfer p99", Unit::Micros, Better::Lower, false, |r| us(&r.latency.transfer, |h| h.p99_us)),
    ("total p50", Unit::Micros, Better::Lower, false, |r| us(&r.latency.total, |h| h.p50_us)),
    ("total p75", Unit::Micros, Better::Lower, false, |r| us(&r.latency.total, |h| h.p75_us)),
    ("total p90", Unit::Micros, Better::Lower, false, |r| us(&r.latency.total, |h| h.p90_us)),
    ("total p95", Unit::Micros, Better::Lower, false, |r| us(&r.latency.total, |h| h.p95_us)),
    ("total p99", Unit::Micros, Better::Lower, true, |r| us(&r.latency.total, |h| h.p99_us)),
    ("total p99.9", Unit::Micros, Better::Lower, false, |r| us(&r.latency.total, |h| h.p999_us)),
    ("total max", Unit::Micros, Better::Lower, false, |r| us(&r.latency.total, |h| h.max_us)),
    ("total p50, new conn", Unit::Micros, Better::Lower, false, |r| us(&r.latency.total_first, |h| h.p50_us)),
    ("total p50, reused", Unit::Micros, Better::Lower, false, |r| us(&r.latency.total_reused, |h| h.p50_us)),
];

/// A statistic of a histogram, or None when it has no samples.
fn us(h: &Hist, pick: fn(&Hist) -> u64) -> Option<f64> {
    (h.count > 0).then(|| pick(h) as f64)
}

fn pair(a: &ModeResult, b: &ModeResult, max_regression_pct: Option<f64>) -> Pair {
    let threshold = max_regression_pct.unwrap_or(DEFAULT_THRESHOLD_PCT) / 100.0;
    // The tls figures only where a side spoke TLS: an http comparison has no such row.
    let tls = a.tls.is_some() || b.tls.is_some();
    let row = |metric: String, unit, better, gated, (va, vb): (Option<f64>, Option<f64>)| {
        let (trend, ratio) = match (va, vb) {
            (Some(va), Some(vb)) => (trend(va, vb, better, threshold), (va != 0.0).then(|| vb / va)),
            _ => (Trend::Missing, None),
        };
        let regression = gated && max_regression_pct.is_some() && trend == Trend::Worse;
        Row { metric, unit, a: va, b: vb, ratio, better, trend, gated, regression }
    };
    let mut rows: Vec<Row> = FIGURES
        .iter()
        .filter(|(metric, ..)| tls || !metric.starts_with("tls "))
        .map(|&(metric, unit, better, gated, pick)| row(metric.into(), unit, better, gated, (pick(a), pick(b))))
        .collect();
    // The status codes, where either side saw another than 200: fewer of a success is neither better nor worse.
    for code in figures::status_codes_shown([a, b]) {
        let better = if (200..300).contains(&code) { Better::Neither } else { Better::Lower };
        let count = |r: &ModeResult| Some(r.status_codes.get(&code).copied().unwrap_or(0) as f64);
        rows.push(row(format!("status {code}"), Unit::Count, better, false, (count(a), count(b))));
    }
    Pair { mode_a: a.mode.name(), mode_b: b.mode.name(), rows }
}

/// Worse when the figure moved against its direction by more than `threshold` (a fraction of A);
/// from 0, any rise counts.
pub fn trend(a: f64, b: f64, better: Better, threshold: f64) -> Trend {
    let change = if a == 0.0 {
        match b {
            0.0 => 0.0,
            _ => f64::INFINITY,
        }
    } else {
        b / a - 1.0
    };
    let up = change > threshold;
    let down = change < -threshold;
    match better {
        _ if !up && !down => Trend::Same,
        Better::Neither => Trend::Changed,
        Better::Higher if up => Trend::Better,
        Better::Lower if down => Trend::Better,
        _ => Trend::Worse,
    }
}

fn show(unit: Unit, v: Option<f64>) -> String {
    let Some(v) = v else { return "-".into() };
    match unit {
        Unit::Count => format!("{v:.0}"),
        Unit::PerSecond => format!("{v:.1}"),
        Unit::Micros => micros(v.round() as u64),
        Unit::Fraction => format!("{:.3}%", v * 100.0),
    }
}

fn ratio(row: &Row) -> String {
    match row.ratio {
        Some(r) => format!("{r:.3}"),
        None if row.trend == Trend::Missing || row.b == Some(0.0) => "-".into(),
        None => "new".into(),
    }
}

fn mark(row: &Row) -> &'static str {
    match row.trend {
        _ if row.regression => "REGRESSION",
        Trend::Better => "better",
        Trend::Worse => "worse",
        Trend::Same | Trend::Changed | Trend::Missing => "",
    }
}

fn threshold_note(c: &Comparison) -> String {
    match c.max_regression_pct {
        Some(pct) => format!("gate: requests/s may fall, and total p99 rise, by at most {pct}%"),
        None => format!("changes under {DEFAULT_THRESHOLD_PCT}% are shown as the same; no gate"),
    }
}

/// What A and B's plans differ in, said before any ratio.
fn plan_changes_heading(c: &Comparison) -> Option<String> {
    (!c.plan_changes.is_empty()).then(|| "the plans differ, so the ratios compare different things:".to_string())
}

pub fn write_text(c: &Comparison, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "A: {}\nB: {}", c.a, c.b)?;
    if let Some(heading) = plan_changes_heading(c) {
        writeln!(out, "{heading}")?;
        for change in &c.plan_changes {
            writeln!(out, "  {change}")?;
        }
    }
    for pair in &c.pairs {
        writeln!(out)?;
        writeln!(out, "{:<22}{:>12}{:>12}{:>10}", pair.label(), "A", "B", "B/A")?;
        for row in &pair.rows {
            let (a, b) = (show(row.unit, row.a), show(row.unit, row.b));
            let line = format!("{:<22}{a:>12}{b:>12}{:>10}  {}", row.metric, ratio(row), mark(row));
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    write_unmatched(c, out)?;
    writeln!(out, "\n{}", threshold_note(c))
}

pub fn write_markdown(c: &Comparison, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "**connbench compare**: A `{}`, B `{}`", c.a, c.b)?;
    if let Some(heading) = plan_changes_heading(c) {
        writeln!(out, "\n{heading}\n")?;
        for change in &c.plan_changes {
            writeln!(out, "- {change}")?;
        }
    }
    for pair in &c.pairs {
        writeln!(out)?;
        writeln!(out, "| {} | A | B | B/A | |", pair.label())?;
        writeln!(out, "| --- | ---: | ---: | ---: | --- |")?;
        for row in &pair.rows {
            let mark = match mark(row) {
                "REGRESSION" => "**REGRESSION**",
                other => other,
            };
            let (a, b) = (show(row.unit, row.a), show(row.unit, row.b));
            writeln!(out, "| {} | {a} | {b} | {} | {mark} |", row.metric, ratio(row))?;
        }
    }
    write_unmatched(c, out)?;
    writeln!(out, "\n{}", threshold_note(c))
}

pub fn write_json(c: &Comparison, out: &mut dyn Write) -> io::Result<()> {
    #[derive(Serialize)]
    struct Verdict<'a> {
        #[serde(flatten)]
        comparison: &'a Comparison,
        regressions: Vec<String>,
    }
    serde_json::to_writer_pretty(&mut *out, &Verdict { comparison: c, regressions: c.regressions() })?;
    writeln!(out)
}

fn write_unmatched(c: &Comparison, out: &mut dyn Write) -> io::Result<()> {
    for (side, modes) in [("A", &c.only_in_a), ("B", &c.only_in_b)] {
        if !modes.is_empty() {
            writeln!(out, "\nonly in {side} (not compared): {}", modes.join(", "))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::result::fixture;

    #[test]
    fn trends_follow_each_figures_direction() {
        // each case: A, B, better direction, threshold, expected trend
        for (a, b, better, threshold, expected) in [
            (1000.0, 890.0, Better::Higher, 0.10, Trend::Worse),
            (1000.0, 910.0, Better::Higher, 0.10, Trend::Same),
            (1000.0, 900.0, Better::Higher, 0.10, Trend::Same), // exactly the limit is allowed
            (1000.0, 1200.0, Better::Higher, 0.10, Trend::Better),
            (100.0, 111.0, Better::Lower, 0.10, Trend::Worse),
            (100.0, 80.0, Better::Lower, 0.10, Trend::Better),
            (0.0, 3.0, Better::Lower, 0.10, Trend::Worse), // errors from none
            (0.0, 0.0, Better::Lower, 0.10, Trend::Same),
            (50.0, 5000.0, Better::Neither, 0.10, Trend::Changed),
            (50.0, 50.0, Better::Neither, 0.10, Trend::Same),
        ] {
            assert_eq!(trend(a, b, better, threshold), expected, "{a} -> {b} ({better:?}, {threshold})");
        }
    }

    fn result(runs: &[(crate::mode::Mode, f64, u64)]) -> RunResult {
        let runs = runs
            .iter()
            .map(|&(mode, rps, p99)| {
                let mut run = ModeResult { rps, ..fixture::mode_result(mode) };
                (run.latency.total.count, run.latency.total.p99_us) = (100, p99);
                run
            })
            .collect();
        fixture::run_result(runs)
    }

    #[test]
    fn the_gate_fails_on_falling_rps_or_rising_p99_only() {
        use crate::mode::Mode::*;
        let keepalive = result(&[(Keepalive, 80_000.0, 1500)]);
        let serial = result(&[(Serial, 5_000.0, 300)]);
        // a different mode on each side: paired because each result holds one run
        let c = compare("ka.json", &keepalive, "serial.json", &serial, Some(10.0));
        assert_eq!(c.pairs.len(), 1);
        assert_eq!(c.pairs[0].label(), "keepalive -> serial");
        let rps = &c.pairs[0].rows[0];
        assert_eq!((rps.metric.as_str(), rps.trend, rps.regression), ("requests/s", Trend::Worse, true));
        assert!((rps.ratio.unwrap() - 0.0625).abs() < 1e-9);
        assert_eq!(c.regressions(), vec!["keepalive -> serial: requests/s fell 93.8% (more than 10%)"]);
        // p99 falling is better, never a regression
        let p99 = c.pairs[0].rows.iter().find(|r| r.metric == "total p99").unwrap();
        assert_eq!((p99.trend, p99.regression), (Trend::Better, false));
        // the other way round only p99 total regresses... and rps rises
        let back = compare("serial.json", &serial, "ka.json", &keepalive, Some(10.0));
        assert_eq!(back.regressions(), vec!["serial -> keepalive: total p99 rose 400.0% (more than 10%)"]);
        // no PCT: trends are shown, nothing is a regression
        assert!(compare("a", &keepalive, "b", &serial, None).regressions().is_empty());
        // a result against itself
        assert!(compare("a", &keepalive, "a", &keepalive, Some(0.0)).regressions().is_empty());
    }

    #[test]
    fn plan_changes_come_before_any_ratio_and_codes_other_than_200_have_rows() {
        use crate::mode::Mode::*;
        let a = result(&[(Keepalive, 1000.0, 10)]);
        let mut b = a.clone();
        b.method = Some("POST".into());
        b.runs[0].status_codes = [(200, 90), (503, 10)].into_iter().collect();
        let c = compare("a.json", &a, "b.json", &b, None);
        assert_eq!(c.plan_changes, ["method: GET vs POST"]);
        let metrics: Vec<_> = c.pairs[0].rows.iter().map(|r| r.metric.as_str()).collect();
        assert!(metrics.ends_with(&["status 200", "status 503"]), "{metrics:?}");
        let code = c.pairs[0].rows.iter().find(|r| r.metric == "status 503").unwrap();
        assert_eq!((code.a, code.b, code.trend), (Some(0.0), Some(10.0), Trend::Worse));
        let mut text = Vec::new();
        write_markdown(&c, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let said = text.find("- method: GET vs POST").expect("the change");
        assert!(said < text.find("| keepalive |").unwrap(), "before any ratio: {text}");
        assert!(text.contains("| total p95 |"), "{text}");
    }

    #[test]
    fn tls_figures_show_only_where_a_side_spoke_tls() {
        use crate::mode::Mode::*;
        let http = result(&[(Serial, 100.0, 10)]);
        let metrics = |c: &Comparison| c.pairs[0].rows.iter().map(|r| r.metric.clone()).collect::<Vec<_>>();
        assert!(!metrics(&compare("a", &http, "b", &http, None)).iter().any(|m| m.starts_with("tls")));
        let mut https = http.clone();
        https.runs[0].tls = Some(crate::record::result::TlsSummary { handshakes_resumed: 99, ..Default::default() });
        let c = compare("http", &http, "https", &https, None);
        let resumed = c.pairs[0].rows.iter().find(|r| r.metric == "tls resumed").expect("a tls row");
        assert_eq!((resumed.a, resumed.b, resumed.trend), (None, Some(99.0), Trend::Missing));
    }

    #[test]
    fn results_with_no_mode_in_common_cannot_be_compared() {
        use crate::mode::Mode::*;
        // each case: modes of A, modes of B, comparable
        for (a, b, comparable) in [
            (&[Serial][..], &[Keepalive][..], true), // one run each: paired whatever their modes
            (&[Serial, Keepalive], &[Keepalive], true),
            (&[Serial, Parallel], &[Keepalive], false),
            (&[Serial], &[Keepalive, Pipeline], false),
        ] {
            let why = nothing_in_common("base.json", a, "this run", b);
            assert_eq!(why.is_none(), comparable, "{a:?} {b:?}: {why:?}");
        }
        let why = nothing_in_common("base.json", &[Serial, Parallel], "this run", &[Keepalive]).unwrap();
        assert_eq!(
            why,
            "base.json (serial, parallel) and this run (keepalive) have no mode in common: nothing to compare"
        );
    }

    #[test]
    fn several_modes_pair_by_mode_and_name_the_unmatched() {
        use crate::mode::Mode::*;
        let a = result(&[(Serial, 100.0, 10), (Keepalive, 1000.0, 10)]);
        let b = result(&[(Keepalive, 800.0, 10), (Pipeline, 5000.0, 10)]);
        let c = compare("a", &a, "b", &b, Some(10.0));
        assert_eq!(c.pairs.iter().map(Pair::label).collect::<Vec<_>>(), vec!["keepalive"]);
        assert_eq!((c.only_in_a.clone(), c.only_in_b.clone()), (vec!["serial"], vec!["pipeline"]));
        assert_eq!(c.regressions(), vec!["keepalive: requests/s fell 20.0% (more than 10%)"]);
        let mut text = Vec::new();
        write_text(&c, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("only in A (not compared): serial"), "{text}");
        let rps_line = text.lines().find(|l| l.starts_with("requests/s")).unwrap();
        assert!(rps_line.contains("0.800") && rps_line.ends_with("REGRESSION"), "{rps_line}");
    }
}
