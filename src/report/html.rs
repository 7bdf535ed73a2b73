//! `--format html`: one self-contained page (inline CSS and SVG, nothing from the network) per set of
//! results: the latency percentile spectrum of each mode, the phases side by side, the run second by
//! second, and the summary table of the text report (the same `figures`).

use std::io::{self, Write};

use hdrhistogram::Histogram;

use crate::record::result::{ModeResult, RunResult, Tick};
use crate::report::chart::{escape, percentile_x, Axis, Chart, Series};
use crate::report::describe;
use crate::report::figures::{self, Phase};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:940px}\
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}\
h3{font-size:15px;margin:16px 0 4px}.meta{color:#555;margin:0 0 2px}.grid2{display:flex;flex-wrap:wrap;gap:8px}\
svg{background:#fff}svg .title{font-size:13px;font-weight:600}svg .tick,svg .legend{font-size:11px;fill:#444}\
svg .axis{font-size:11px;fill:#666}svg .grid{stroke:#e5e5e5}svg .frame{fill:none;stroke:#999}\
table{border-collapse:collapse;font-variant-numeric:tabular-nums}td,th{padding:2px 10px;text-align:right}\
td:first-child,th:first-child{text-align:left}th{border-bottom:1px solid #999}\
tr.section td{font-weight:600;padding-top:10px;text-align:left}p.note{margin:2px 0;color:#a40}.warn{color:#a40}";

/// One colour per mode, in the order of the result, and per phase.
const MODE_COLOURS: [&str; 6] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
const PHASES: [(Phase, &str); 4] =
    [(Phase::Connect, "#9467bd"), (Phase::Ttfb, "#1f77b4"), (Phase::Transfer, "#2ca02c"), (Phase::Total, "#d62728")];

const WIDE: f64 = 920.0;
const HALF: f64 = 456.0;

pub fn write(results: &[&RunResult], out: &mut impl Write) -> io::Result<()> {
    let title = results.first().map_or(String::new(), |r| format!("connbench {}", r.target));
    writeln!(out, "<!doctype html>")?;
    writeln!(out, "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>", escape(&title))?;
    writeln!(out, "<style>{STYLE}</style></head><body>")?;
    for result in results {
        write_result(result, out)?;
    }
    writeln!(out, "</body></html>")
}

fn write_result(result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    let runs = &result.runs;
    writeln!(out, "<h1>connbench {} &middot; {}</h1>", escape(&result.tool.version), escape(&result.target))?;
    writeln!(
        out,
        "<p class=\"meta\">started {} &middot; <code>{}</code></p>",
        escape(&result.started_at),
        escape(&result.command.join(" "))
    )?;
    for (what, line) in [("request", describe::request_line(result)), ("plan", describe::plan_line(result))] {
        if let Some(line) = line {
            writeln!(out, "<p class=\"meta\">{what}: <code>{}</code></p>", escape(&line))?;
        }
    }
    if !result.complete {
        writeln!(out, "<p class=\"warn\">interrupted: partial results</p>")?;
    }
    for note in &result.notes {
        writeln!(out, "<p class=\"note\">{}</p>", escape(&note.line()))?;
    }

    writeln!(out, "<h2>Latency percentile spectrum (total)</h2>")?;
    let spectra: Vec<Series> = runs
        .iter()
        .zip(MODE_COLOURS.iter().cycle())
        .filter_map(|(run, colour)| spectrum(run, Phase::Total, run.mode.name(), colour))
        .collect();
    writeln!(out, "{}", drawn(percentile_chart("total latency by percentile", WIDE, 360.0, spectra)))?;

    writeln!(out, "<h2>Latency by phase</h2><div class=\"grid2\">")?;
    for run in runs {
        let series = PHASES.iter().filter_map(|(phase, colour)| spectrum(run, *phase, phase.name(), colour)).collect();
        writeln!(out, "{}", drawn(percentile_chart(run.mode.name(), HALF, 280.0, series)))?;
    }
    writeln!(out, "</div>")?;

    writeln!(out, "<h2>Second by second</h2>")?;
    for run in runs.iter().filter(|r| !r.timeline.is_empty()) {
        writeln!(out, "<h3>{}</h3><div class=\"grid2\">", run.mode.name())?;
        for chart in timeline_charts(run) {
            writeln!(out, "{}", drawn(chart))?;
        }
        writeln!(out, "</div>")?;
    }

    writeln!(out, "<h2>Summary</h2>")?;
    summary_table(runs, out)
}

/// The chart's SVG, or a line saying why there is none: no line has a point (a mode with no completed
/// request, a result with no mode).
fn drawn(chart: Chart) -> String {
    if chart.series.iter().all(|s| s.points.is_empty()) {
        format!("<p class=\"note\">{}: no completed request</p>", escape(&chart.title))
    } else {
        chart.svg()
    }
}

/// The percentile spectrum of one phase, as HdrHistogram's plotter draws it; None without samples, or
/// when every sample is 0 µs (a transfer that came with the first byte), which a log scale cannot place.
fn spectrum(run: &ModeResult, phase: Phase, name: &str, colour: &'static str) -> Option<Series> {
    let h: Histogram<u64> = crate::record::decode(phase.of(run)?).ok().filter(|h| h.max() > 0)?;
    let points = h.iter_quantiles(5).map(|v| (percentile_x(v.quantile_iterated_to()), v.value_iterated_to() as f64));
    Some(Series { name: name.into(), colour, points: points.collect() })
}

fn percentile_chart(title: &str, width: f64, height: f64, series: Vec<Series>) -> Chart {
    let values = || series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (min, max) = (values().fold(f64::MAX, f64::min), values().fold(1.0, f64::max));
    Chart { title: title.into(), width, height, x: Axis::percentile(), y: Axis::latency(min, max), series }
}

/// Requests and errors, latency, new connections and the TIME_WAIT they leave, client IPs: the run and
/// the port governor at work, second by second.
fn timeline_charts(run: &ModeResult) -> Vec<Chart> {
    let ticks = &run.timeline;
    let seconds = ticks.last().map_or(1.0, |t| t.t as f64);
    let line = |name: &str, colour, pick: &dyn Fn(&Tick) -> Option<f64>| Series {
        name: name.into(),
        colour,
        points: ticks.iter().filter_map(|t| pick(t).map(|v| (t.t as f64, v))).collect(),
    };
    let chart = |title: &str, y_label: &str, series: Vec<Series>| {
        let max = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max);
        Chart {
            title: title.into(),
            width: HALF,
            height: 220.0,
            x: Axis::linear(seconds, "second"),
            y: Axis::linear(max, y_label),
            series,
        }
    };
    let mut charts = vec![chart(
        "requests/s and errors/s",
        "per second",
        vec![
            line("requests", "#1f77b4", &|t| Some(t.requests as f64)),
            line("errors", "#d62728", &|t| Some(t.errors as f64)),
        ],
    )];
    let latency = vec![
        line("p50", "#2ca02c", &|t| t.p50_us.map(|v| v as f64)),
        line("p99", "#ff7f0e", &|t| t.p99_us.map(|v| v as f64)),
    ];
    let values = || latency.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (min, max) = (values().fold(f64::MAX, f64::min), values().fold(1.0, f64::max));
    charts.push(Chart {
        title: "total latency per second".into(),
        width: HALF,
        height: 220.0,
        x: Axis::linear(seconds, "second"),
        y: Axis::latency(min, max),
        series: latency,
    });
    charts.push(chart(
        "new connections/s and TIME_WAIT ports held",
        "connections",
        vec![
            line("new connections", "#9467bd", &|t| Some(t.opened as f64)),
            line("TIME_WAIT held", "#8c564b", &|t| t.time_wait.map(|v| v as f64)),
        ],
    ));
    if ticks.iter().any(|t| t.client_ips.is_some()) {
        charts.push(chart(
            "client IPs in rotation",
            "client IPs",
            vec![line("client IPs", "#17becf", &|t| t.client_ips.map(|v| v as f64))],
        ));
    }
    charts
}

/// The text report's sections as one table, modes side by side.
fn summary_table(runs: &[ModeResult], out: &mut impl Write) -> io::Result<()> {
    write!(out, "<table><tr><th></th>")?;
    for run in runs {
        write!(out, "<th>{}</th>", run.mode.name())?;
    }
    writeln!(out, "</tr>")?;
    let sections = figures::sections(runs);
    for section in &sections {
        writeln!(out, "<tr class=\"section\"><td colspan=\"{}\">{}</td></tr>", runs.len() + 1, escape(section.title))?;
        for figure in &section.rows {
            write!(out, "<tr><td>{}</td>", escape(&figure.label))?;
            for run in runs {
                write!(out, "<td>{}</td>", escape(&figure.of(run).human()))?;
            }
            writeln!(out, "</tr>")?;
        }
    }
    writeln!(out, "</table>")?;
    for note in sections.iter().flat_map(|s| &s.notes) {
        writeln!(out, "<p class=\"note\">{}</p>", escape(note))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::record::result::fixture;
    use crate::record::{Exchange, Recorder, RunShape};
    use std::time::{Duration, Instant};

    fn measured(mode: Mode) -> ModeResult {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, false);
        r.connected(t0, Duration::from_micros(80));
        for i in 0..2000u64 {
            let at = |us| t0 + Duration::from_micros(i * 1000 + us);
            let exchange = Exchange {
                start: at(0),
                began: at(0),
                sent: at(0),
                first_byte: at(40 + i % 90),
                done: at(50 + i % 100),
                opened_connection: i == 0,
            };
            r.completed(&exchange, if i % 500 == 0 { 503 } else { 200 });
        }
        r.finish(RunShape { mode, connections: 1, depth: 1, rate: None }, Duration::from_secs(2))
    }

    #[test]
    fn one_page_with_a_chart_per_view_and_the_summary() {
        let mut result = fixture::run_result(vec![measured(Mode::Serial), measured(Mode::Keepalive)]);
        result.plan =
            Some(crate::record::result::PlanSummary { connections: 1, requests: Some(2000), ..Default::default() });
        let mut out = Vec::new();
        write(&[&result], &mut out).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(html.contains("<p class=\"meta\">request: <code>GET</code></p>"), "what was sent, under the title");
        assert!(html.contains("<p class=\"meta\">plan: <code>-c 1, -n 2000</code></p>"), "and the plan");
        assert!(html.contains("<tr><td>total p95</td>") && html.contains("<tr><td>  503</td>"), "p95 and the codes");
        assert!(html.starts_with("<!doctype html>\n<html lang=\"en\">") && html.ends_with("</body></html>\n"));
        // spectrum, 2 phase charts, 2 × 3 timeline charts (no client IPs without port accounting)
        assert_eq!(html.matches("<svg ").count(), 1 + 2 + 6);
        assert!(html.contains("<title>total latency by percentile</title>"));
        assert!(html.contains("<text class=\"legend\" x=\"74.0\" y=\"32\">serial</text>"), "a legend per mode");
        assert!(html.contains("<tr><td>total p99.9</td>"), "the text report's rows");
        assert!(html.contains("<p class=\"note\">serial: WARNING: 4 of 2000 responses"), "and its warnings");
        assert!(!html.contains("src=") && !html.contains("<link") && !html.contains("@import"), "self-contained");
    }

    #[test]
    fn a_mode_without_a_completed_request_and_a_result_without_a_mode_are_pages_too() {
        // a mode whose every request failed: its connections have a connect time, nothing else has a sample
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, false);
        r.connected(t0, Duration::from_micros(80));
        r.failed(t0, crate::record::ErrorKind::Truncated);
        let failed =
            r.finish(RunShape { mode: Mode::Keepalive, connections: 1, depth: 1, rate: None }, Duration::from_secs(1));
        for result in [fixture::run_result(vec![failed]), fixture::run_result(vec![])] {
            let mut out = Vec::new();
            write(&[&result], &mut out).unwrap();
            let html = String::from_utf8(out).unwrap();
            assert!(html.ends_with("</body></html>\n"), "{html}");
            assert!(html.contains("<p class=\"note\">total latency by percentile: no completed request</p>"), "{html}");
        }
    }
}
