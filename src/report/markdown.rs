//! `--format markdown`: one table, a row per mode, that a pull-request comment or a GitHub job
//! summary can carry as it is. Several results (`report A.json B.json`) share one table, each row led by
//! the file, target and start that tell it apart.

use std::io::{self, Write};

use crate::printable::printable;
use crate::record::result::{ModeResult, RunResult};
use crate::report::describe;
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
    columns.extend([latency(Phase::Ttfb, Stat::P50)]);
    columns
        .extend([Stat::P50, Stat::P75, Stat::P90, Stat::P95, Stat::P99, Stat::Max].map(|s| latency(Phase::Total, s)));
    if !figures::status_codes_shown(runs).is_empty() {
        columns.push(figures::status_codes());
    }
    columns
}

pub fn write(result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    write_all(&[("", result)], out)
}

/// One table for every result (`report A.json B.json`), (file name, result) each.
pub fn write_all(results: &[(&str, &RunResult)], out: &mut impl Write) -> io::Result<()> {
    let several = results.len() > 1;
    let mut versions: Vec<String> = results.iter().map(|(_, r)| printable(&r.tool.version).into_owned()).collect();
    versions.dedup();
    match results {
        [(_, result)] => {
            let status = if result.complete { "" } else { " (interrupted: partial results)" };
            let spoken = figures::spoken(&result.runs).map_or(String::new(), |http| format!(" {http}"));
            let target = printable(&result.target);
            writeln!(out, "**connbench {}** `{target}`{spoken}{status}", versions.join(", "))?;
            if let Some(described) = described(result) {
                writeln!(out, "\n{described}")?;
            }
        }
        _ => writeln!(out, "**connbench {}**: {} results", versions.join(", "), results.len())?,
    }
    writeln!(out)?;
    let runs: Vec<&ModeResult> = results.iter().flat_map(|(_, r)| &r.runs).collect();
    if runs.is_empty() {
        writeln!(out, "No mode ran: no completed request.")?;
    } else {
        table(results, several, out)?;
        for (_, result) in results {
            targets::write_markdown(result, out)?;
        }
    }
    let mut lines = Vec::new();
    for (name, result) in results {
        let from = if several { format!("{name}: ") } else { String::new() };
        if several {
            let interrupted = if result.complete { "" } else { " (interrupted: partial results)" };
            lines.push(format!("{from}{}{interrupted}", described(result).unwrap_or_default()));
        }
        lines.extend(figures::no_completed_request(&result.runs).into_iter().map(|line| format!("{from}{line}")));
        lines.extend(result.notes.iter().map(|note| format!("{from}{}", note.line())));
    }
    if !lines.is_empty() {
        writeln!(out)?;
        for line in lines {
            writeln!(out, "- {line}")?;
        }
    }
    Ok(())
}

/// The request and the plan: request `POST, body 13 bytes`, plan `-c 50, -d 10s`; with `--targets`, what they
/// are.
fn described(result: &RunResult) -> Option<String> {
    let parts: Vec<String> = [
        ("request", describe::request_line(result)),
        ("plan", describe::plan_line(result)),
        ("targets", targets::described(result)),
    ]
    .into_iter()
    .filter_map(|(what, line)| Some(format!("{what} `{}`", line?)))
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// With several results, each row is led by its file, target and start.
fn table(results: &[(&str, &RunResult)], several: bool, out: &mut impl Write) -> io::Result<()> {
    let runs: Vec<ModeResult> = results.iter().flat_map(|(_, r)| r.runs.iter().cloned()).collect();
    let columns = columns(&runs);
    let mut header: Vec<&str> = if several { vec!["file", "target", "started at"] } else { vec![] };
    header.extend(columns.iter().map(|c| if c.column == "mode" { "mode" } else { c.label.as_str() }));
    writeln!(out, "| {} |", header.join(" | "))?;
    let leading = if several { 4 } else { 1 };
    writeln!(out, "|{}{}", " --- |".repeat(leading), " ---: |".repeat(header.len() - leading))?;
    for (name, result) in results {
        for run in &result.runs {
            let mut cells: Vec<String> = if several {
                [name, result.target.as_str(), result.started_at.as_str()]
                    .iter()
                    .map(|text| printable(text).replace('|', "\\|"))
                    .collect()
            } else {
                vec![]
            };
            cells.extend(columns.iter().map(|c| cell(c.of(run))));
            writeln!(out, "| {} |", cells.join(" | "))?;
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
        assert_eq!(
            table[3],
            "| pipeline | 1 | 20000 | 71279.7 | 0 | **3** | 0 | - | - | 4.49ms | 0µs | 0µs | 0µs | 7.76ms | 9.49ms |"
        );
        assert!(text.ends_with("\n\n- serial: no completed request\n"), "{text}");
        let mut out = Vec::new();
        write(&fixture::run_result(vec![]), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("`\n\nNo mode ran: no completed request.\n"), "{text}");
    }

    #[test]
    fn several_results_share_one_table_each_row_saying_where_it_is_from() {
        let mut a = fixture::run_result(vec![fixture::mode_result(Mode::Keepalive)]);
        a.plan = Some(crate::record::result::PlanSummary { connections: 4, requests: Some(100), ..Default::default() });
        let mut b = a.clone();
        (b.target, b.started_at, b.method) = ("http://10.0.0.1/a|b".into(), "2026-01-02T00:00:00Z".into(), None);
        b.runs[0].status_codes = [(200, 3), (404, 1)].into_iter().collect();
        let mut out = Vec::new();
        write_all(&[("a.json", &a), ("b.json", &b)], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let table: Vec<_> = text.lines().filter(|l| l.starts_with('|')).collect();
        assert!(table[0].starts_with("| file | target | started at | mode | connections |"), "{text}");
        assert!(table[0].ends_with("| total max | status codes |"), "{text}");
        assert!(table[1].starts_with("| --- | --- | --- | --- | ---: |"), "{text}");
        assert!(table[2].starts_with("| a.json | http://127.0.0.1:8080/ | 2026-01-01T00:00:00Z | keepalive |"));
        assert!(table[3].starts_with("| b.json | http://10.0.0.1/a\\|b | 2026-01-02T00:00:00Z | keepalive |"));
        assert!(table[3].ends_with("| 200: 3, 404: 1 |"), "{text}");
        assert!(table[2].ends_with("| - |"), "no codes kept: {text}");
        assert!(text.contains("\n- a.json: request `GET`, plan `-c 4, -n 100`\n"), "{text}");
        assert!(text.contains("\n- b.json: plan `-c 4, -n 100`\n"), "{text}");
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
