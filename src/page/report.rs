//! The page result for people and scripts: the strategies side by side (text, markdown), one row each (csv), and
//! the `--check` rows. Every figure is defined once, here, for every writer (as `report::figures` does for
//! `run`); pure functions into a writer.

use std::io::{self, Write};

use super::result::{PageResult, StrategyResult};
use crate::check::{Check, Metric, Phase};
use crate::report::figures::Value;
use crate::report::gate::{fraction, Row};

/// One figure of a strategy: what people call it, what a CSV column calls it, how to read it.
pub struct Figure {
    pub label: String,
    pub column: &'static str,
    value: Box<dyn Fn(&StrategyResult) -> Value>,
}

impl Figure {
    fn new(label: impl Into<String>, column: &'static str, value: impl Fn(&StrategyResult) -> Value + 'static) -> Self {
        Figure { label: label.into(), column, value: Box::new(value) }
    }

    pub fn of(&self, strategy: &StrategyResult) -> Value {
        (self.value)(strategy)
    }
}

/// Per load, one decimal.
fn per_load(total: u64, s: &StrategyResult) -> Value {
    Value::Rate(total as f64 / f64::from(s.loads.max(1)))
}

/// The figures of the report, in the order people read them; the projection only with `--assume-rtt`.
pub fn figures(result: &PageResult) -> Vec<Figure> {
    let mut figures = vec![
        Figure::new("page load p50", "page_load_p50_us", |s| Value::Micros(s.page_load.p50_us)),
        Figure::new("page load p90", "page_load_p90_us", |s| Value::Micros(s.page_load.p90_us)),
        Figure::new("page load max", "page_load_max_us", |s| Value::Micros(s.page_load.max_us)),
        Figure::new("loads", "loads", |s| Value::Count(u64::from(s.loads))),
        Figure::new("connections per load", "connections_per_load", |s| per_load(s.connections_opened, s)),
        Figure::new("requests per load", "requests_per_load", |s| per_load(s.requests, s)),
        Figure::new("bytes per load", "bytes_per_load", |s| Value::Count(s.bytes_received / u64::from(s.loads.max(1)))),
        Figure::new("errors", "errors", |s| Value::Alarm(s.errors.total())),
        Figure::new("retries", "retries", |s| Value::Count(s.retries)),
        Figure::new("round trips, critical path", "round_trips", |s| Value::Count(s.critical_path.round_trips.into())),
        Figure::new("  handshakes", "handshake_round_trips", |s| Value::Count(s.critical_path.handshakes.into())),
        Figure::new("  request waves", "request_round_trips", |s| Value::Count(s.critical_path.requests.into())),
        Figure::new("  range over loads", "round_trips_range", |s| match s.loads {
            0 => Value::Absent,
            _ => Value::Text(format!("{}-{}", s.round_trips_min, s.round_trips_max)),
        }),
    ];
    if result.strategies.iter().any(|s| s.tls.is_some()) {
        figures.push(Figure::new("TLS resumed/full", "tls_resumed_full", |s| match s.tls {
            Some(tls) => Value::Text(format!("{}/{}", tls.handshakes_resumed, tls.handshakes_full)),
            None => Value::Absent,
        }));
    }
    if let Some(rtt) = result.assume_rtt_ms {
        let label = format!("projected, RTT {}ms *", trim(rtt));
        figures.push(Figure::new(label, "projected_us", |s| s.projected_us.map_or(Value::Absent, Value::Micros)));
    }
    figures
}

fn trim(v: f64) -> String {
    format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What the projection row means, under the table.
fn projection_note(result: &PageResult) -> Option<String> {
    result.assume_rtt_ms.map(|rtt| {
        format!(
            "* a projection, not a measurement: the median load plus {}ms for each round trip on its critical path",
            trim(rtt)
        )
    })
}

/// The lines above the table: the page, what was found and skipped, the plan, the notes.
pub fn preamble(result: &PageResult) -> Vec<String> {
    let mut lines = Vec::new();
    let complete = if result.complete { "" } else { "  (interrupted: partial results)" };
    lines.push(format!("connbench {}  page {}{complete}", result.tool.version, result.page));
    let objects: u64 = result.found.iter().map(|f| f.count).sum();
    let origins = result.found.iter().map(|f| f.origin.as_str()).collect::<std::collections::BTreeSet<_>>().len();
    let mut found = format!("found {objects} objects on {origins} origin{}:", if origins == 1 { "" } else { "s" });
    for f in &result.found {
        found.push_str(&format!(" {} {} ({}),", f.count, f.kind.name(), f.origin));
    }
    lines.push(found.trim_end_matches([',', ':']).to_string());
    if result.duplicates > 0 {
        lines.push(format!("  {} references to a URL already listed, fetched once", result.duplicates));
    }
    for skipped in &result.skipped {
        lines.push(format!("  skipped {} {}: {}", skipped.kind.name(), skipped.reference, skipped.why));
    }
    lines.push(format!(
        "{} loads of each strategy, taking turns load by load; at most {} connections per origin; pipelines up to {} \
         deep",
        result.loads, result.per_host, result.depth
    ));
    lines.extend(result.notes.iter().map(|note| format!("  {}", note.line())));
    lines
}

pub fn write_text(result: &PageResult, out: &mut impl Write) -> io::Result<()> {
    const LABEL: usize = 28;
    const COLUMN: usize = 13;
    for line in preamble(result) {
        writeln!(out, "{line}")?;
    }
    writeln!(out)?;
    write!(out, "{:<LABEL$}", "")?;
    for s in &result.strategies {
        write!(out, "{:>COLUMN$}", s.strategy.name())?;
    }
    writeln!(out)?;
    for figure in figures(result) {
        write!(out, "{:<LABEL$}", figure.label)?;
        for s in &result.strategies {
            write!(out, "{:>COLUMN$}", figure.of(s).human())?;
        }
        writeln!(out)?;
    }
    if let Some(note) = projection_note(result) {
        writeln!(out)?;
        writeln!(out, "{note}")?;
    }
    Ok(())
}

pub fn write_markdown(result: &PageResult, out: &mut impl Write) -> io::Result<()> {
    for line in preamble(result) {
        writeln!(out, "{}  ", line.trim_start())?;
    }
    writeln!(out)?;
    write!(out, "| |")?;
    for s in &result.strategies {
        write!(out, " {} |", s.strategy.name())?;
    }
    writeln!(out)?;
    writeln!(out, "|---|{}", "---:|".repeat(result.strategies.len()))?;
    for figure in figures(result) {
        write!(out, "| {} |", figure.label.trim())?;
        for s in &result.strategies {
            match figure.of(s) {
                Value::Alarm(n) if n > 0 => write!(out, " **{n}** |")?,
                value => write!(out, " {} |", value.human())?,
            }
        }
        writeln!(out)?;
    }
    if let Some(note) = projection_note(result) {
        writeln!(out)?;
        writeln!(out, "\\{note}")?;
    }
    Ok(())
}

/// One row per strategy, raw values (whole microseconds).
pub fn write_csv(result: &PageResult, out: &mut impl Write) -> io::Result<()> {
    let figures = figures(result);
    let header: Vec<&str> = std::iter::once("strategy").chain(figures.iter().map(|f| f.column)).collect();
    writeln!(out, "{}", header.join(","))?;
    for s in &result.strategies {
        let cells: Vec<String> =
            std::iter::once(s.strategy.name().to_string()).chain(figures.iter().map(|f| f.of(s).raw())).collect();
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

/// The metrics `connbench page` gates on; the others are `run`'s. `text` is the check as typed.
pub fn refuse(text: &str, check: &Check) -> Option<String> {
    match check.metric {
        Metric::Latency(_, Phase::PageLoad)
        | Metric::Errors
        | Metric::ErrorRate
        | Metric::Non2xx
        | Metric::Non2xxRate => None,
        _ => Some(format!(
            "--check '{}': connbench page gates on STAT.page_load, errors, error_rate, non_2xx and non_2xx_rate",
            crate::printable::printable(text)
        )),
    }
}

/// Every check against every strategy, as `run`'s gates print them.
pub fn evaluate(checks: &[Check], strategies: &[StrategyResult]) -> Vec<Row> {
    let mut rows = Vec::new();
    for s in strategies {
        for check in checks {
            let measured = match check.metric {
                Metric::Latency(stat, _) => (s.page_load.count > 0).then(|| s.page_load.stat(stat)),
                Metric::Errors => Some(s.errors.total() as f64),
                Metric::ErrorRate => Some(fraction(s.errors.total(), s.requests + s.errors.total())),
                Metric::Non2xx => Some(s.status.non_2xx() as f64),
                Metric::Non2xxRate => Some(fraction(s.status.non_2xx(), s.status.total())),
                _ => None,
            };
            rows.push(Row {
                mode: s.strategy.name(),
                check: check.to_string(),
                measured: measured.map_or_else(|| "no samples".into(), |v| check.show(v)),
                passed: measured.is_some_and(|v| check.holds(v)),
            });
        }
    }
    rows
}
