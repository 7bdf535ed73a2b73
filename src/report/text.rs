//! The report for people: the modes side by side, one column each (Figure 4-18 of HTTP: The Definitive
//! Guide, ch. 4, measured), under the request and the plan that made them, headline first; then a histogram
//! of total latency per mode.

use std::io::{self, Write};

use crate::printable::printable;
use crate::record::result::{ModeResult, RunResult};
use crate::report::describe;
use crate::report::figures::{self, Figure};
use crate::report::{histogram, targets, Look};

const LABEL: usize = 26;
const COLUMN: usize = 12;

pub fn write(result: &RunResult, look: Look, out: &mut impl Write) -> io::Result<()> {
    let runs = &result.runs;
    let status = if result.complete { "" } else { "  (interrupted: partial results)" };
    let (version, target) = (printable(&result.tool.version), printable(&result.target));
    let spoken = figures::spoken(runs).map_or(String::new(), |http| format!("  {http}"));
    writeln!(out, "connbench {version}  {target}{spoken}{status}")?;
    if let Some(request) = describe::request_line(result) {
        writeln!(out, "request: {request}")?;
    }
    if let Some(plan) = describe::plan_line(result) {
        writeln!(out, "plan: {plan}")?;
    }
    if let Some(targets) = targets::header(result) {
        writeln!(out, "{targets}")?;
    }
    writeln!(out)?;
    if runs.is_empty() {
        // Columns of nothing would read as a broken table.
        writeln!(out, "no mode ran: no completed request")?;
        for note in &result.notes {
            writeln!(out, "  {}", note.line())?;
        }
        return Ok(());
    }
    row(out, &figures::mode(), runs)?;
    for (i, section) in figures::sections(runs).iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        for figure in &section.rows {
            row(out, figure, runs)?;
        }
        for note in &section.notes {
            writeln!(out, "  {note}")?;
        }
        if i == 0 {
            for note in &result.notes {
                writeln!(out, "  {}", note.line())?;
            }
            for run in runs {
                targets::write_text(run, out)?;
            }
        }
    }
    if look.histogram {
        for run in runs {
            // A result that `report` could load has histograms that decode; `run` wrote them itself.
            let Ok(total) = crate::record::decode(&run.latency.total) else { continue };
            let buckets = histogram::buckets(&total);
            if !buckets.is_empty() {
                writeln!(out)?;
                histogram::write(&format!("total latency, {}", run.mode.name()), &buckets, look.colour, out)?;
            }
        }
    }
    Ok(())
}

fn row(out: &mut impl Write, figure: &Figure, runs: &[ModeResult]) -> io::Result<()> {
    write!(out, "{:<LABEL$}", figure.label)?;
    for run in runs {
        write!(out, "{:>COLUMN$}", figure.of(run).human())?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::record::result::{fixture, Hist};

    /// The whole text of a two-mode result, as a person sees it (a snapshot: change it on purpose).
    #[test]
    fn headline_first_then_connections_then_phases() {
        let mut serial = fixture::mode_result(Mode::Serial);
        (serial.requests, serial.rps, serial.connections_opened, serial.closed_by_client) = (500, 9530.7, 500, 500);
        serial.bytes_received = 60_000;
        serial.status.s2xx = 500;
        serial.latency.connect = Hist { count: 500, p50_us: 34, p99_us: 113, ..Hist::default() };
        serial.latency.total = Hist {
            count: 500,
            p50_us: 70,
            p75_us: 80,
            p90_us: 90,
            p95_us: 120,
            p99_us: 252,
            p999_us: 900,
            max_us: 25790,
            ..Hist::default()
        };
        serial.status_codes = [(200, 500)].into_iter().collect();
        serial.latency.total_first = serial.latency.total.clone();
        let mut keepalive = fixture::mode_result(Mode::Keepalive);
        (keepalive.requests, keepalive.rps, keepalive.connections_opened) = (9000, 105305.6, 50);
        keepalive.connections = 50;
        keepalive.status.s2xx = 8998;
        keepalive.status.s5xx = 2;
        keepalive.status_codes = [(200, 8990), (204, 8), (503, 2)].into_iter().collect();
        keepalive.errors.timeout = 1;
        keepalive.latency.total = Hist { count: 9000, p50_us: 402, max_us: 13060, ..Hist::default() };
        let mut result = fixture::run_result(vec![serial, keepalive]);
        result.method = Some("POST".into());
        result.request = Some(crate::record::result::RequestSummary {
            body_bytes: 13,
            headers: vec!["Content-Type: application/json".into(), "Authorization: Bearer ***".into()],
        });
        result.plan = Some(crate::record::result::PlanSummary {
            connections: 50,
            depth: 16,
            requests: None,
            duration_s: Some(1.0),
            rate: None,
        });
        let mut out = Vec::new();
        write(&result, Look { histogram: false, colour: false }, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = format!(
            "connbench {} http://127.0.0.1:8080/
request: POST, body 13 bytes, -H 'Content-Type: application/json', -H 'Authorization: Bearer ***'
plan: -c 50, -d 1s

                                serial   keepalive
connections                          1          50
requests                           500        9000
duration                         1.00s       1.00s
requests/s                      9530.7    105305.6
bytes received/s              60.0kB/s        0B/s
total p50                         70µs       402µs
total p75                         80µs         0µs
total p90                         90µs         0µs
total p95                        120µs         0µs
total p99                        252µs         0µs
total p99.9                      900µs         0µs
total max                      25.79ms     13.06ms
errors                               0           1
status 2xx                         500        8998
  200                              500        8990
  204                                0           8
status 5xx                           0           2
  503                                0           2
non-2xx                              0           2
  keepalive: WARNING: 2 of 9000 responses (0.0%) were not 2xx: 5xx 2
  keepalive errors: timeout 1

connections opened                 500          50
requests/connection                1.0       180.0
closed by client first             500           0
closed by server first               0           0
closed by reset                      0           0
retries                              0           0
keep-alive declined                  0           0

connect p50                       34µs           -
connect p99                      113µs           -
ttfb p50                             -           -
ttfb p99                             -           -
transfer p50                         -           -
transfer p99                         -           -
total p50, new conn               70µs           -
total p50, reused                    -           -
",
            result.tool.version
        )
        .replacen(" http", "  http", 1);
        assert_eq!(text, expected);
    }

    #[test]
    fn a_mode_without_a_completed_request_says_so_and_so_does_a_result_without_a_mode() {
        let mut failed = fixture::mode_result(Mode::Keepalive);
        failed.errors.truncated = 10;
        let mut out = Vec::new();
        write(&fixture::run_result(vec![failed]), Look { histogram: true, colour: false }, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\n  keepalive: no completed request\n"), "{text}");
        let mut out = Vec::new();
        write(&fixture::run_result(vec![]), Look { histogram: true, colour: false }, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("/\nrequest: GET\n\nno mode ran: no completed request\n"), "{text}");
    }

    #[test]
    fn the_notes_follow_the_headline() {
        let mut result = fixture::run_result(vec![fixture::mode_result(Mode::Keepalive)]);
        result.notes.push(crate::note::Note::new(crate::note::NoteKind::Plan, None, "-c 9 is more than -n"));
        let mut out = Vec::new();
        write(&result, Look { histogram: false, colour: false }, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let (headline, rest) = text.split_once("\n\n").unwrap().1.split_once("\n\n").unwrap();
        assert!(headline.ends_with("\n  -c 9 is more than -n"), "{headline}");
        assert!(!rest.contains("-c 9"));
    }

    #[test]
    fn a_histogram_per_mode_follows_unless_asked_not_to() {
        let t0 = std::time::Instant::now();
        let mut recorder = crate::record::Recorder::new(t0, false);
        for us in [40, 90, 90, 4000] {
            let at = t0 + std::time::Duration::from_micros(us);
            let exchange = crate::record::Exchange {
                start: t0,
                began: t0,
                sent: t0,
                first_byte: at,
                done: at,
                opened_connection: false,
            };
            recorder.completed(&exchange, 200);
        }
        let shape = crate::record::RunShape { mode: Mode::Keepalive, connections: 1, depth: 1, rate: None };
        let result = fixture::run_result(vec![recorder.finish(shape, std::time::Duration::from_secs(1))]);
        let mut out = Vec::new();
        write(&result, Look { histogram: true, colour: false }, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let histogram = text.split_once("\n\ntotal latency, keepalive\n").expect("a histogram after the table").1;
        let half = "■".repeat(20);
        // 40 µs to 4 ms: log-spaced on the 1-1.6-2.5-4-6.3 series, the finest that fits in 20 rows
        let expected = format!(
            "      ≤40µs          1 |{half}\n      ≤63µs          0 |\n     ≤100µs          2 |{half}{half}\n     \
             ≤160µs          0 |\n     ≤250µs          0 |\n     ≤400µs          0 |\n     ≤630µs          0 |\n       \
             ≤1ms          0 |\n     ≤1.6ms          0 |\n     ≤2.5ms          0 |\n       ≤4ms          1 |{half}\n"
        );
        assert_eq!(histogram, expected);
        let mut out = Vec::new();
        write(&result, Look { histogram: false, colour: false }, &mut out).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("total latency,"));
    }
}
