//! `--format html`: one self-contained page (inline CSS and SVG, nothing from the network) per set of
//! results: the latency percentile spectrum of each mode, the phases side by side, the run second by
//! second, and the summary table of the text report (the same `figures`).

use std::io::{self, Write};

use hdrhistogram::Histogram;

use crate::record::result::{ModeResult, RunResult, Tick};
use crate::report::chart::{escape, percentile_x, short_count, supported_x, Axis, Band, Chart, Series};
use crate::report::describe;
use crate::report::figures::{self, Phase};
use crate::report::targets;

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
const PHASES: [(Phase, &str); 6] = [
    (Phase::Connect, "#9467bd"),
    (Phase::Tls, "#e377c2"),
    (Phase::Ttfb, "#1f77b4"),
    (Phase::Transfer, "#2ca02c"),
    (Phase::Total, TOTAL),
    (Phase::TotalUncorrected, TOTAL),
];
const TOTAL: &str = "#d62728";

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
    let spoken = crate::report::figures::spoken(&result.runs).map_or(String::new(), |http| format!(" &middot; {http}"));
    writeln!(out, "<h1>connbench {} &middot; {}{spoken}</h1>", escape(&result.tool.version), escape(&result.target))?;
    writeln!(
        out,
        "<p class=\"meta\">started {} &middot; <code>{}</code></p>",
        escape(&result.started_at),
        escape(&shown_command(&result.command))
    )?;
    for (what, line) in [("request", describe::request_line(result)), ("plan", describe::plan_line(result))] {
        if let Some(line) = line {
            writeln!(out, "<p class=\"meta\">{what}: <code>{}</code></p>", escape(&line))?;
        }
    }
    if let Some(targets) = targets::header(result) {
        writeln!(out, "<p class=\"meta\">{}</p>", escape(&targets))?;
    }
    if !result.complete {
        writeln!(out, "<p class=\"warn\">interrupted: partial results</p>")?;
    }
    for note in &result.notes {
        writeln!(out, "<p class=\"note\">{}</p>", escape(&note.line()))?;
    }

    writeln!(out, "<h2>Latency percentile spectrum (total)</h2>")?;
    let mut spectra = Vec::new();
    for (run, colour) in runs.iter().zip(MODE_COLOURS.iter().cycle()) {
        spectra.extend(spectrum(run, Phase::Total, run.mode.name(), colour));
        // With --rate, beside it, latency from each request's actual start: how much coordinated omission
        // would have hidden.
        let uncorrected = format!("{}, uncorrected", run.mode.name());
        spectra.extend(spectrum(run, Phase::TotalUncorrected, &uncorrected, colour).map(Series::dashed));
    }
    writeln!(out, "{}", drawn(percentile_chart("total latency by percentile", WIDE, 360.0, spectra)))?;

    writeln!(out, "<h2>Latency by phase</h2><div class=\"grid2\">")?;
    for run in runs {
        let series = PHASES
            .iter()
            .filter_map(|&(phase, colour)| {
                let line = spectrum(run, phase, phase.name(), colour)?;
                Some(if phase == Phase::TotalUncorrected { line.dashed() } else { line })
            })
            .collect();
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
    summary_table(runs, out)?;
    if runs.iter().any(|r| !r.targets.is_empty()) {
        writeln!(out, "<h2>Targets</h2>")?;
        for run in runs {
            targets::write_html(run, out)?;
        }
    }
    Ok(())
}

/// The command as typed, under the name people type: results written by older builds kept the binary's
/// path (`/home/…/target/release/connbench`), which says nothing about the run.
fn shown_command(command: &[String]) -> String {
    let args = command.iter().skip(1).map(String::as_str);
    std::iter::once("connbench").chain(args).collect::<Vec<_>>().join(" ")
}

/// The chart's SVG, or a line saying why there is none: no line has a point (a mode with no completed
/// request, a result with no mode).
fn drawn(chart: Chart) -> String {
    if chart.series.iter().all(|s| s.points().next().is_none()) {
        format!("<p class=\"note\">{}: no completed request</p>", escape(&chart.title))
    } else {
        chart.svg()
    }
}

/// The percentile spectrum of one phase, as HdrHistogram's plotter draws it but only as far as its samples
/// reach (`supported_x`), named with their count; None without samples, or when every sample is 0 µs (a
/// transfer that came with the first byte), which a log scale cannot place.
fn spectrum(run: &ModeResult, phase: Phase, name: &str, colour: &'static str) -> Option<Series> {
    let h: Histogram<u64> = crate::record::decode(phase.of(run)?).ok().filter(|h| h.max() > 0)?;
    let end = supported_x(h.len());
    let mut points: Vec<(f64, f64)> = h
        .iter_quantiles(5)
        .map(|v| (percentile_x(v.quantile_iterated_to()), v.value_iterated_to() as f64))
        .take_while(|&(x, _)| x < end)
        .collect();
    points.push((end, h.max() as f64));
    Some(Series::line(format!("{name} (n={})", short_count(h.len() as f64)), colour, points))
}

fn percentile_chart(title: &str, width: f64, height: f64, series: Vec<Series>) -> Chart {
    let values = || series.iter().flat_map(|s| s.points().map(|p| p.1));
    let (min, max) = (values().fold(f64::MAX, f64::min), values().fold(1.0, f64::max));
    let (x, y) = (Axis::percentile(), Axis::latency(min, max));
    Chart { title: title.into(), width, height, x, y, series, bands: Vec::new() }
}

/// A partial second shorter than this is left out of the charts: too short for a rate to mean anything
/// (a second after the window has none at all).
const SHORTEST_SECOND: f64 = 0.1;

/// One second of the timeline as the charts place it: its entry, where it ends on the time axis, and how
/// long it lasted (the last of a run that ended between two seconds is shorter).
struct Second<'a> {
    tick: &'a Tick,
    end: f64,
    length: f64,
}

impl Second<'_> {
    /// A count of the second as a rate: over its own length, so a partial last second is not a collapse.
    fn rate(&self, count: u64) -> f64 {
        count as f64 / self.length
    }
}

/// The seconds worth drawing. A result written before seconds said their length has it inferred from the
/// mode's duration, so its trailing partial second is drawn as a rate too.
fn seconds(run: &ModeResult) -> Vec<Second<'_>> {
    run.timeline
        .iter()
        .map(|tick| {
            let start = tick.t.saturating_sub(1) as f64;
            let length = tick.length_s.unwrap_or_else(|| (run.duration_s - start).clamp(0.0, 1.0));
            Second { tick, end: start + length, length }
        })
        .filter(|second| second.length >= SHORTEST_SECOND)
        .collect()
}

/// A line over the seconds, broken wherever `pick` has no value (no latency in a second where nothing
/// completed) and where a second is missing (merged results that did not all run at once).
fn broken_line(name: &str, colour: &'static str, seconds: &[Second], pick: &dyn Fn(&Second) -> Option<f64>) -> Series {
    let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    let mut previous: Option<u64> = None;
    for second in seconds {
        let value = pick(second);
        let gap = previous.is_some_and(|t| second.tick.t != t + 1);
        if (value.is_none() || gap) && segments.last().is_some_and(|s| !s.is_empty()) {
            segments.push(Vec::new());
        }
        if let Some(value) = value {
            segments.last_mut().expect("one segment at least").push((second.end, value));
        }
        previous = Some(second.tick.t);
    }
    segments.retain(|s| !s.is_empty());
    Series { name: name.into(), colour, segments, dashed: false }
}

/// The stretches of seconds in which no request completed: a stall, shaded on every chart of the mode.
fn stalls(seconds: &[Second]) -> Vec<Band> {
    let mut bands: Vec<Band> = Vec::new();
    for second in seconds.iter().filter(|s| s.tick.requests == 0) {
        let from = second.end - second.length;
        match bands.last_mut() {
            Some(band) if (band.to - from).abs() < 1e-9 => band.to = second.end,
            _ => bands.push(Band { from, to: second.end }),
        }
    }
    bands
}

/// Requests and errors, latency, new connections and the TIME_WAIT they leave, client IPs: the run and
/// the port governor at work, second by second.
fn timeline_charts(run: &ModeResult) -> Vec<Chart> {
    let seconds = seconds(run);
    let end = seconds.iter().map(|s| s.end).fold(0.0, f64::max);
    let bands = stalls(&seconds);
    let line = |name: &str, colour, pick: &dyn Fn(&Second) -> Option<f64>| broken_line(name, colour, &seconds, pick);
    let chart = |title: &str, y: Axis, series: Vec<Series>| Chart {
        title: title.into(),
        width: HALF,
        height: 220.0,
        x: Axis::linear(end, "second"),
        y,
        series,
        bands: bands.clone(),
    };
    let counts = |title: &str, y_label: &str, series: Vec<Series>| {
        let max = series.iter().flat_map(|s| s.points().map(|p| p.1)).fold(0.0, f64::max);
        chart(title, Axis::values(max, y_label), series)
    };
    let mut rates = vec![
        // Broken where nothing completed, as the latency lines are: the band says 0 there, and a line
        // down to 0 and up again would draw a decline and a recovery that no second measured.
        line("requests", "#1f77b4", &|s| (s.tick.requests > 0).then(|| s.rate(s.tick.requests))),
        line("errors", "#d62728", &|s| Some(s.rate(s.tick.errors))),
    ];
    // Open loop: what the schedule asked (the requests due in the second, as a rate), beside what was achieved.
    if run.timeline.iter().any(|t| t.target_rate.is_some()) {
        rates.insert(0, line("target", "#7f7f7f", &|s| s.tick.target_rate.map(|due| due / s.length)));
    }
    let mut charts = vec![counts("requests/s and errors/s", "per second", rates)];
    let latency = vec![
        line("p50", "#2ca02c", &|s| s.tick.p50_us.map(|v| v as f64)),
        line("p99", "#ff7f0e", &|s| s.tick.p99_us.map(|v| v as f64)),
    ];
    let values = || latency.iter().flat_map(|s| s.points().map(|p| p.1));
    let (min, max) = (values().fold(f64::MAX, f64::min), values().fold(1.0, f64::max));
    charts.push(chart("total latency per second", Axis::latency(min, max), latency));
    let opened = line("new connections", "#9467bd", &|s| Some(s.rate(s.tick.opened)));
    // This mode's own TIME_WAIT apart from what earlier modes left, as the table's rows say; a result
    // written before the two were told apart has their sum.
    let time_wait = if seconds.iter().any(|s| s.tick.time_wait_own.is_some()) {
        vec![
            line("TIME_WAIT, this mode", "#8c564b", &|s| s.tick.time_wait_own.map(|v| v as f64)),
            line("TIME_WAIT, held before", "#bcbd22", &|s| {
                Some(s.tick.time_wait?.saturating_sub(s.tick.time_wait_own?) as f64)
            })
            .dashed(),
        ]
    } else {
        vec![line("TIME_WAIT held", "#8c564b", &|s| s.tick.time_wait.map(|v| v as f64))]
    };
    charts.push(counts(
        "new connections/s and TIME_WAIT ports held",
        "connections",
        std::iter::once(opened).chain(time_wait).collect(),
    ));
    if seconds.iter().any(|s| s.tick.client_ips.is_some()) {
        charts.push(counts(
            "client IPs in rotation",
            "client IPs",
            vec![line("client IPs", "#17becf", &|s| s.tick.client_ips.map(|v| v as f64))],
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
    use crate::record::result::{fixture, Hist};
    use crate::record::{Exchange, Recorder, RunShape};
    use std::time::{Duration, Instant};

    /// A histogram of these latencies in µs, as a result keeps it.
    fn hist(values: impl IntoIterator<Item = u64>) -> Hist {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        crate::record::summarize(&h)
    }

    /// One second with `requests` completed at `p50` (p99 twice that), the ports quiet, two client IPs.
    fn second(t: u64, requests: u64, p50: Option<u64>) -> Tick {
        Tick {
            t,
            requests,
            p50_us: p50,
            p99_us: p50.map(|v| v * 2),
            time_wait: Some(30),
            time_wait_own: Some(10),
            client_ips: Some(2),
            ..Tick::default()
        }
    }

    /// The polylines of an SVG, each as its points.
    fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
        polylines_but(svg, "none")
    }

    /// The polylines of an SVG but those in colour `except`, each as its points.
    fn polylines_but(svg: &str, except: &str) -> Vec<Vec<(f64, f64)>> {
        svg.split("<polyline ")
            .skip(1)
            .filter(|element| !element.contains(&format!("stroke=\"{except}\"")))
            .map(|element| {
                let points = element.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
                points
                    .split(' ')
                    .map(|p| {
                        let (x, y) = p.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    /// Where second `t` falls on the x axis of a timeline chart `seconds` long (HALF wide).
    fn x_of(t: f64, seconds: f64) -> f64 {
        56.0 + t / seconds * (HALF - 56.0 - 28.0)
    }

    #[test]
    fn a_stall_breaks_the_lines_and_is_shaded_and_a_partial_last_second_is_a_rate() {
        let mut run = fixture::mode_result(Mode::Keepalive);
        run.duration_s = 4.5;
        let mut partial = second(5, 500, Some(100));
        partial.length_s = Some(0.5);
        // a second after the window, as a result may end with: not drawn
        let mut after = second(6, 3, Some(100));
        after.length_s = Some(0.0);
        run.timeline = vec![
            second(1, 1000, Some(100)),
            second(2, 1000, Some(100)),
            second(3, 0, None),
            second(4, 1000, Some(1_000_000)),
            partial,
            after,
        ];
        let charts = timeline_charts(&run);
        let segments = |chart: usize, series: usize| charts[chart].series[series].segments.clone();
        assert_eq!(segments(0, 0), [vec![(1.0, 1000.0), (2.0, 1000.0)], vec![(4.0, 1000.0), (4.5, 1000.0)]]);
        assert_eq!(segments(1, 0), [vec![(1.0, 100.0), (2.0, 100.0)], vec![(4.0, 1e6), (4.5, 100.0)]]);
        assert_eq!(charts[0].x.max, 4.5, "the time axis ends with the window");
        for chart in &charts {
            assert_eq!(chart.bands, [Band { from: 2.0, to: 3.0 }], "{}", chart.title);
        }
        // in the SVG: no line of what completed (requests, latency) across the empty second, and the band
        // named; errors/s, a count that was measured there (0 here), goes on
        for chart in &charts[..2] {
            let svg = chart.svg();
            assert!(svg.contains(">0 completed</text>") && svg.contains("<rect class=\"band\""), "{svg}");
            let (before, after) = (x_of(2.0, 4.5) + 0.1, x_of(3.0, 4.5) - 0.1);
            for line in polylines_but(&svg, "#d62728") {
                assert!(line.windows(2).all(|w| w[0].0 > after || w[1].0 < before), "{line:?} crosses the stall");
            }
        }
        // a result written before seconds said their length: inferred from the duration
        for tick in &mut run.timeline {
            tick.length_s = None;
        }
        assert_eq!(timeline_charts(&run)[0].series[0].segments[1], [(4.0, 1000.0), (4.5, 1000.0)]);
    }

    #[test]
    fn an_https_rate_run_shows_its_tls_phase_both_totals_and_curves_as_far_as_their_samples_reach() {
        let mut run = fixture::mode_result(Mode::Keepalive);
        run.rate = Some(50.0);
        (run.requests, run.status.s2xx) = (50, 50);
        run.latency.total = hist((1..=50).map(|i| 1000 + i * 100));
        run.latency.total_uncorrected = Some(hist((1..=50).map(|i| 900 + i * 10)));
        run.latency.tls = Some(hist([300; 4]));
        run.latency.connect = hist([80; 4]);
        run.latency.ttfb = hist((1..=50).map(|i| 800 + i * 10));
        let result = fixture::run_result(vec![run]);
        let mut out = Vec::new();
        write(&[&result], &mut out).unwrap();
        let html = String::from_utf8(out).unwrap();
        let (spectrum, rest) = html.split_once("<h2>Latency by phase</h2>").unwrap();
        let phases = rest.split_once("<h2>Second by second</h2>").unwrap().0;
        // the spectrum: corrected and uncorrected, same colour, the second dashed, each with its count
        assert!(
            spectrum.contains(">keepalive (n=50)</text>") && spectrum.contains(">keepalive, uncorrected (n=50)</text>")
        );
        let lines: Vec<&str> = spectrum.split("<polyline ").skip(1).collect();
        assert_eq!(lines.len(), 2, "{spectrum}");
        assert!(lines.iter().all(|l| l.contains("stroke=\"#1f77b4\"")), "{lines:?}");
        assert_eq!(lines.iter().filter(|l| l.contains("stroke-dasharray")).count(), 1);
        // 50 samples reach p98, x = log10(50) of the five nines, where each line ends at its slowest
        let end = 56.0 + 50f64.log10() / 5.0 * (WIDE - 56.0 - 28.0);
        for line in polylines(spectrum) {
            let last = *line.last().unwrap();
            assert!((last.0 - end).abs() < 0.1, "ends at {last:?}, not {end}");
            assert!(line.iter().all(|p| p.0 <= last.0));
        }
        // the phases: tls (4 handshakes reach p75), the uncorrected total dashed
        for name in ["connect (n=4)", "tls (n=4)", "ttfb (n=50)", "total (n=50)", "total_uncorrected (n=50)"] {
            assert!(phases.contains(&format!(">{name}</text>")), "{name}: {phases}");
        }
        assert!(phases.contains("stroke=\"#e377c2\""), "the tls line is drawn");
        assert_eq!(phases.matches("stroke-dasharray=\"5 3\"").count(), 1);
        // a plain http run has no tls line, a closed loop no uncorrected one
        let plain = fixture::run_result(vec![measured(Mode::Keepalive)]);
        let mut out = Vec::new();
        write(&[&plain], &mut out).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(!html.contains(">tls (n=") && !html.contains("uncorrected"));
    }

    #[test]
    fn flat_series_are_drawn_inside_the_frame() {
        let mut run = fixture::mode_result(Mode::Serial);
        run.duration_s = 3.0;
        run.timeline = (1..=3).map(|t| second(t, 8000, Some(90))).collect();
        let charts = timeline_charts(&run);
        let top_of = |chart: &Chart| chart.y.max;
        assert!(top_of(&charts[0]) >= 8800.0, "requests/s: {:?}", charts[0].y.ticks);
        assert_eq!(charts[3].title, "client IPs in rotation");
        assert!(top_of(&charts[3]) >= 2.2, "client IPs: {:?}", charts[3].y.ticks);
        // in the SVG, below the frame's top (y 40) and above its bottom
        for chart in [&charts[0], &charts[1], &charts[3]] {
            for line in polylines_but(&chart.svg(), "#d62728") {
                assert!(line.iter().all(|&(_, y)| y > 45.0 && y < 180.0), "{}: {line:?}", chart.title);
            }
        }
        // TIME_WAIT: this mode's own and what it began with, apart
        let names: Vec<&str> = charts[2].series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["new connections", "TIME_WAIT, this mode", "TIME_WAIT, held before"]);
        assert_eq!(charts[2].series[2].segments[0][0], (1.0, 20.0));
    }

    #[test]
    fn the_command_is_shown_under_the_name_people_type() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let path = words(&["/home/me/connbench/target/release/connbench", "run", "--mode", "all"]);
        assert_eq!(shown_command(&path), "connbench run --mode all");
        assert_eq!(shown_command(&words(&["connbench", "run"])), "connbench run");
        assert_eq!(shown_command(&[]), "connbench");
    }

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
        assert!(html.contains("<text class=\"legend\" x=\"74.0\" y=\"32\">serial (n=2k)</text>"), "a legend per mode");
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
