//! `--format csv`: one header line and one row per mode, latencies in whole microseconds, for
//! spreadsheets and `cut`/`awk`. A phase without samples (no reused connection in serial mode) has empty
//! cells, never a 0 that reads as a measured latency. The last columns say which result a row is from
//! (method, target, start, file), so that rows of several results (`report A.json B.json`) tell apart; a
//! cell that holds a comma or a quote is quoted (RFC 4180).
//!
//! With `--targets`, each mode's row is followed by a row per target the result lists, then one for the
//! others summed: `target_method` and `target_url` say which (empty in a mode's row), and only the columns a
//! target has its own figure for are filled (requests, requests/s, errors, total latency, statuses).

use std::io::{self, Write};

use crate::printable::printable;
use crate::record::result::RunResult;
use crate::report::figures::{self, latency, Figure, Phase, Stat};

// NOTE: the column names are a contract for scripts; add columns at the end, never rename.
fn columns() -> Vec<Figure> {
    let mut columns = vec![
        figures::mode(),
        figures::connections(),
        figures::requests(),
        figures::rps(),
        figures::errors(),
        figures::connections_opened(),
    ];
    for phase in [Phase::Connect, Phase::Ttfb, Phase::Transfer, Phase::Total] {
        columns.extend([Stat::P50, Stat::P90, Stat::P99, Stat::Max].map(|stat| latency(phase, stat)));
    }
    columns.extend(figures::status_classes());
    columns.push(figures::non_2xx());
    // https only; the cells are empty for http.
    columns.extend([Stat::P50, Stat::P90, Stat::P99, Stat::Max].map(|stat| latency(Phase::Tls, stat)));
    columns.extend(figures::tls_handshakes());
    columns.extend([figures::max_in_flight(), figures::max_concurrent_streams()]);
    // The HTTP version, and QUIC's figures (HTTP/3 only; empty otherwise).
    columns.push(figures::http());
    columns.extend(figures::quic());
    for phase in [Phase::Connect, Phase::Ttfb, Phase::Transfer, Phase::Total, Phase::Tls] {
        columns.extend([Stat::P75, Stat::P95].map(|stat| latency(phase, stat)));
    }
    columns.push(figures::status_codes());
    columns
}

/// What the result of each row says of itself, after the figures of its mode.
const RESULT_COLUMNS: [&str; 4] = ["method", "target", "started_at", "file"];
/// The columns after those: which target of `--targets` a row is about; then what drove the mode's
/// connections (`tokio`, `uring`; empty for an older result).
const TARGET_COLUMNS: [&str; 3] = ["target_method", "target_url", "engine"];

/// Columns a target's row fills: the figures it has of its own.
fn a_target_has(column: &str) -> bool {
    matches!(column, "mode" | "requests" | "rps" | "errors" | "non_2xx" | "status_codes")
        || column.starts_with("status_")
        || (column.starts_with("total_") && !column.starts_with("total_first") && !column.starts_with("total_reused"))
}

pub fn write(result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    write_header(out)?;
    write_rows(result, "", out)
}

pub fn write_header(out: &mut impl Write) -> io::Result<()> {
    let mut names: Vec<String> = columns().into_iter().map(|c| c.column).collect();
    names.extend(RESULT_COLUMNS.map(String::from));
    names.extend(TARGET_COLUMNS.map(String::from));
    writeln!(out, "{}", names.join(","))
}

/// One line per mode, and one per target after it, without the header: `report` writes several results under
/// one header. `file`: the file the result was read from (empty for the result of `run`).
pub fn write_rows(result: &RunResult, file: &str, out: &mut impl Write) -> io::Result<()> {
    let columns = columns();
    let method = result.method.as_deref().unwrap_or_default();
    let described = [method, &result.target, &result.started_at, file].map(|text| quoted(&printable(text)));
    for run in &result.runs {
        let engine = run.engine.map_or("", |engine| engine.name());
        let mut cells: Vec<String> = columns.iter().map(|c| c.of(run).raw()).collect();
        cells.extend(described.iter().cloned());
        writeln!(out, "{},,,{engine}", cells.join(","))?;
        for (method, url, target) in crate::report::targets::as_modes(run) {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| if a_target_has(&c.column) { c.of(&target).raw() } else { String::new() })
                .chain(described.iter().cloned())
                .chain([quoted(&method), quoted(&url), engine.to_string()])
                .collect();
            writeln!(out, "{}", cells.join(","))?;
        }
    }
    Ok(())
}

/// A cell as RFC 4180 writes it: in quotes, its quotes doubled, when it holds a comma, a quote or a line break.
fn quoted(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::record::result::{fixture, Hist};

    #[test]
    fn a_header_and_one_row_per_mode() {
        let mut keepalive = fixture::mode_result(Mode::Keepalive);
        (keepalive.requests, keepalive.rps, keepalive.connections_opened) = (1000, 60599.64, 4);
        keepalive.max_in_flight = Some(1);
        keepalive.latency.total = Hist {
            count: 1000,
            p50_us: 40,
            p75_us: 50,
            p90_us: 60,
            p95_us: 70,
            p99_us: 90,
            max_us: 400,
            ..Hist::default()
        };
        keepalive.status.s2xx = 999;
        keepalive.status.other = 1;
        keepalive.status_codes = [(200, 999), (999, 1)].into_iter().collect();
        let mut result = fixture::run_result(vec![fixture::mode_result(Mode::Serial), keepalive]);
        result.target = "http://127.0.0.1:8080/a,b?q=\"x\"".into();
        let mut out = Vec::new();
        write(&result, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let header: Vec<_> = lines[0].split(',').collect();
        assert_eq!(header.len(), 6 + 16 + 7 + 6 + 2 + 6 + 10 + 1 + 4 + 3);
        assert_eq!(header[..6], ["mode", "connections", "requests", "rps", "errors", "connections_opened"]);
        assert_eq!(header[18..22], ["total_p50_us", "total_p90_us", "total_p99_us", "total_max_us"]);
        assert_eq!(
            header[22..29],
            ["status_1xx", "status_2xx", "status_3xx", "status_4xx", "status_5xx", "status_other", "non_2xx"]
        );
        // https columns come last, empty for http
        assert_eq!(header[29..31], ["tls_p50_us", "tls_p90_us"]);
        assert_eq!(header[33..35], ["tls_handshakes_full", "tls_handshakes_resumed"]);
        // what --depth came to, and the server's HTTP/2 stream limit where it capped it (added at the end)
        assert_eq!(header[35..37], ["max_in_flight", "max_concurrent_streams"]);
        // then the HTTP version, and QUIC's figures for HTTP/3
        assert_eq!(header[37..39], ["http", "zero_rtt_sent"]);
        assert_eq!(header[42], "quic_rtt_us");
        // p75 and p95 of each phase, the status codes, and what tells the rows of several results apart
        assert_eq!(header[43..47], ["connect_p75_us", "connect_p95_us", "ttfb_p75_us", "ttfb_p95_us"]);
        assert_eq!(header[49..53], ["total_p75_us", "total_p95_us", "tls_p75_us", "tls_p95_us"]);
        assert_eq!(header[53..58], ["status_codes", "method", "target", "started_at", "file"]);
        // which target of --targets a row is about, empty in a mode's row; then the engine
        assert_eq!(header[58..], ["target_method", "target_url", "engine"]);
        assert!(lines[2].starts_with("keepalive,1,1000,60599.6,0,4,"), "{}", lines[2]);
        assert!(lines[2].contains(",40,60,90,400,0,999,0,0,0,1,1,,,,,,,1,,,,,,,,"), "{}", lines[2]);
        assert!(
            lines[2].ends_with(
                ",50,70,,,200:999 999:1,GET,\"http://127.0.0.1:8080/a,b?q=\"\"x\"\"\",2026-01-01T00:00:00Z,,,,"
            ),
            "{}",
            lines[2]
        );
        // phases without samples are empty cells, not 0 µs
        assert!(lines[2].starts_with("keepalive,1,1000,60599.6,0,4,,,,,,,,,,,,,40,"), "{}", lines[2]);
        assert!(lines
            .iter()
            .all(|l| l.replace(",\"http://127.0.0.1:8080/a,b", ",").split(',').count() == header.len()));
    }

    #[test]
    fn each_target_has_a_row_after_its_mode_with_its_own_figures_alone() {
        use crate::record::result::{OtherTargets, TargetFigures, TargetTally};
        let mut keepalive = fixture::mode_result(Mode::Keepalive);
        (keepalive.requests, keepalive.duration_s, keepalive.connections_opened) = (30, 2.0, 4);
        let tally = |requests: u64| {
            let mut histogram = crate::record::new_target_histogram();
            (0..requests).for_each(|_| histogram.record(50).unwrap());
            TargetTally { requests, latency: crate::record::summarize(&histogram), ..TargetTally::default() }
        };
        let mut users = tally(20);
        users.status_codes.insert("200".into(), 20);
        keepalive.targets = vec![TargetFigures { index: 0, method: "GET".into(), url: "/a,b".into(), tally: users }];
        keepalive.targets_other = Some(OtherTargets { targets: 2, tally: tally(0) });
        let mut out = Vec::new();
        write(&fixture::run_result(vec![keepalive]), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[1].starts_with("keepalive,1,30,0.0,0,4,") && lines[1].ends_with(",,"), "{text}");
        // its requests, requests/s, latency and statuses; the mode's connections are not its own
        assert!(lines[2].starts_with("keepalive,,20,10.0,0,,,,,,,,,,,,,,50,50,50,50,0,20,0,0,0,0,0,"), "{}", lines[2]);
        assert!(lines[2].ends_with(",GET,\"/a,b\","), "{}", lines[2]);
        assert!(lines[3].ends_with(",,(2 others),"), "{}", lines[3]);
    }
}
