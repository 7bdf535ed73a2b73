//! `--format markdown`: one table, a row per mode, that a pull-request comment or a GitHub job
//! summary can carry as it is.

use std::io::{self, Write};

use crate::printable::printable;
use crate::record::result::{ModeResult, RunResult};
use crate::report::figures::{self, latency, Figure, Phase, Stat, Value};
use crate::report::targets;

/// The table's columns; https adds the TLS handshake beside connect, and the handshakes that resumed; a run
/// deeper than one request per connection adds what its depth came to, and the server's HTTP/2 stream limit
/// where it capped it.
fn columns(runs: &[ModeResult]) -> Vec<Figure> {
    let mut columns = vec![figures::mode(), figures::connections()];
    if runs.iter().any(|r| r.depth > 1) {
        columns.push(figures::depth_reached(runs));
    }
    if runs.iter().any(|r| r.max_concurrent_streams.is_some()) {
        columns.push(figures::max_concurrent_streams());
    }
    columns.extend([
        figures::requests(),
        figures::rps(),
        figures::errors(),
        figures::non_2xx(),
        figures::connections_opened(),
        latency(Phase::Connect, Stat::P50),
    ]);
    if runs.iter().any(|r| r.tls.is_some()) {
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
    let (version, target) = (printable(&result.tool.version), printable(&result.target));
    let spoken = figures::spoken(&result.runs).map_or(String::new(), |http| format!(" {http}"));
    writeln!(out, "**connbench {version}** `{target}`{spoken}{status}")?;
    if let Some(targets) = targets::header(result) {
        writeln!(out, "{targets}")?;
    }
    writeln!(out)?;
    if result.runs.is_empty() {
        writeln!(out, "No mode ran: no completed request.")?;
    } else {
        table(result, out)?;
        targets::write_markdown(result, out)?;
    }
    let lines: Vec<String> = figures::no_completed_request(&result.runs)
        .into_iter()
        .chain(result.notes.iter().map(|note| note.line()))
        .collect();
    if !lines.is_empty() {
        writeln!(out)?;
        for line in lines {
            writeln!(out, "- {line}")?;
        }
    }
    Ok(())
}

fn table(result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    let columns = columns(&result.runs);
    let header: Vec<&str> =
        columns.iter().map(|c| if c.column == "mode" { "mode" } else { c.label.as_str() }).collect();
    writeln!(out, "| {} |", header.join(" | "))?;
    writeln!(out, "| --- |{}", " ---: |".repeat(columns.len() - 1))?;
    for run in &result.runs {
        let cells: Vec<String> = columns.iter().map(|c| cell(c.of(run))).collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
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
        assert!(text.ends_with("\n\n- serial: no completed request\n"), "{text}");
        let mut out = Vec::new();
        write(&fixture::run_result(vec![]), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("`\n\nNo mode ran: no completed request.\n"), "{text}");
    }

    #[test]
    fn a_deep_run_says_what_its_depth_came_to_and_the_servers_stream_limit() {
        let mut multiplex = fixture::mode_result(Mode::Multiplex);
        (multiplex.depth, multiplex.max_in_flight, multiplex.max_concurrent_streams) = (16, Some(8), Some(8));
        let result = fixture::run_result(vec![multiplex]);
        let mut out = Vec::new();
        write(&result, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let table: Vec<_> = text.lines().filter(|l| l.starts_with('|')).collect();
        assert!(
            table[0].starts_with("| mode | connections | streams in flight, most | server's stream limit |"),
            "{text}"
        );
        assert!(table[2].starts_with("| multiplex | 1 | 8 of 16 | 8 |"), "{text}");
    }
}
