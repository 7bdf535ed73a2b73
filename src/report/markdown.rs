//! `--format markdown`: one table, a row per mode, that a pull-request comment or a GitHub job
//! summary can carry as it is.

use std::io::{self, Write};

use crate::record::result::RunResult;
use crate::report::figures::{self, latency, Figure, Phase, Stat, Value};

/// The table's columns; https adds the TLS handshake beside connect, and the handshakes that resumed.
fn columns(https: bool) -> Vec<Figure> {
    let mut columns = vec![
        figures::mode(),
        figures::connections(),
        figures::requests(),
        figures::rps(),
        figures::errors(),
        figures::non_2xx(),
        figures::connections_opened(),
        latency(Phase::Connect, Stat::P50),
    ];
    if https {
        let [_, resumed] = figures::tls_handshakes();
        columns.extend([latency(Phase::Tls, Stat::P50), resumed]);
    }
    columns.extend([
        latency(Phase::Ttfb, Stat::P50),
        latency(Phase::Total, Stat::P50),
        latency(Phase::Total, Stat::P99),
        latency(Phase::Total, Stat::Max),
    ]);
    columns
}

pub fn write(result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    let status = if result.complete { "" } else { " (interrupted: partial results)" };
    let spoken = figures::spoken(&result.runs).map_or(String::new(), |http| format!(" {http}"));
    writeln!(out, "**connbench {}** `{}`{spoken}{status}", result.tool.version, result.target)?;
    writeln!(out)?;
    let columns = columns(result.runs.iter().any(|r| r.tls.is_some()));
    let header: Vec<&str> =
        columns.iter().map(|c| if c.column == "mode" { "mode" } else { c.label.as_str() }).collect();
    writeln!(out, "| {} |", header.join(" | "))?;
    writeln!(out, "| --- |{}", " ---: |".repeat(columns.len() - 1))?;
    for run in &result.runs {
        let cells: Vec<String> = columns.iter().map(|c| cell(c.of(run))).collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    if !result.notes.is_empty() {
        writeln!(out)?;
        for note in &result.notes {
            writeln!(out, "- {}", note.line())?;
        }
    }
    Ok(())
}

/// Bold when there are any: a table of fast, error-free 503s must not read as a success.
fn cell(value: Value) -> String {
    match value {
        Value::Alarm(n) if n > 0 => format!("**{n}**"),
        other => other.human(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::record::result::{fixture, Hist};

    #[test]
    fn a_table_with_a_row_per_mode() {
        let mut pipeline = fixture::mode_result(Mode::Pipeline);
        (pipeline.requests, pipeline.rps) = (20000, 71279.66);
        pipeline.status.s5xx = 3;
        pipeline.latency.total = Hist { count: 20000, p50_us: 4490, p99_us: 7760, max_us: 9490, ..Hist::default() };
        let result = fixture::run_result(vec![fixture::mode_result(Mode::Serial), pipeline]);
        let mut out = Vec::new();
        write(&result, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let table: Vec<_> = text.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(table.len(), 4, "{text}");
        let columns = table[0].matches('|').count();
        assert!(table.iter().all(|l| l.matches('|').count() == columns), "{text}");
        assert_eq!(table[3], "| pipeline | 1 | 20000 | 71279.7 | 0 | **3** | 0 | - | - | 4.49ms | 7.76ms | 9.49ms |");
    }
}
