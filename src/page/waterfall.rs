//! `--format html`: one self-contained page (inline CSS and SVG, nothing from the network): the median page load
//! of each strategy side by side, the report's table, then one waterfall per strategy of its median load,
//! connections as rows and requests as bars split by phase (waiting for the first byte, then the transfer),
//! the connection's handshakes before them and the critical path outlined, so that HTTP: The Definitive Guide's
//! figures 4-10 to 4-18 can be laid beside it.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::report::{figures, preamble};
use super::result::{PageResult, StrategyResult};
use super::timeline::Timeline;
use crate::report::chart::{escape, short_micros, Axis};
use crate::report::micros;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1340px}\
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}\
h3{font-size:15px;margin:20px 0 4px}.meta{color:#555;margin:0 0 2px}p.line{margin:0;color:#444}\
svg{background:#fff}svg text{font-size:11px;fill:#444}svg .grid{stroke:#e5e5e5}svg .axis{stroke:#999}\
svg .crit{stroke:#000;stroke-width:1.6}table{border-collapse:collapse;font-variant-numeric:tabular-nums}\
td,th{padding:2px 10px;text-align:right}td:first-child,th:first-child{text-align:left}th{border-bottom:1px solid #999}\
.legend span{display:inline-block;margin-right:16px}.legend i{display:inline-block;width:14px;height:10px;\
margin-right:5px;vertical-align:middle}";

const CONNECT: &str = "#9467bd";
const TLS: &str = "#c5b0d5";
const WAIT: &str = "#aec7e8";
const TRANSFER: &str = "#1f77b4";
const FAILED: &str = "#d62728";
const RETRIED: &str = "#bbbbbb";

const WIDTH: f64 = 1320.0;
const LABEL: f64 = 190.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 26.0;
const LANE: f64 = 10.0;
const LANE_GAP: f64 = 2.0;
const ROW_GAP: f64 = 6.0;

pub fn write(result: &PageResult, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "<!doctype html>")?;
    writeln!(
        out,
        "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>connbench page {}</title>",
        escape(&result.page)
    )?;
    writeln!(out, "<style>{STYLE}</style></head><body>")?;
    let mut lines = preamble(result).into_iter();
    writeln!(out, "<h1>{}</h1>", escape(&lines.next().unwrap_or_default()))?;
    writeln!(
        out,
        "<p class=\"meta\">started {} &middot; <code>{}</code></p>",
        escape(&result.started_at),
        escape(&result.command.join(" "))
    )?;
    for line in lines {
        writeln!(out, "<p class=\"line\">{}</p>", escape(line.trim_start()))?;
    }
    writeln!(out, "<h2>Median page load</h2>")?;
    writeln!(out, "{}", medians(&result.strategies))?;
    writeln!(out, "<h2>Summary</h2>")?;
    summary(result, out)?;
    writeln!(out, "<h2>The median load of each strategy</h2>")?;
    writeln!(
        out,
        "<p class=\"legend\"><span><i style=\"background:{CONNECT}\"></i>TCP handshake</span><span><i \
         style=\"background:{TLS}\"></i>TLS handshake</span><span><i style=\"background:{WAIT}\"></i>request sent, \
         waiting for the first byte</span><span><i style=\"background:{TRANSFER}\"></i>transfer</span><span><i \
         style=\"background:{RETRIED}\"></i>unanswered, sent again</span><span><i style=\"background:{FAILED}\"></i>\
         failed</span><span><i style=\"border:1.6px solid #000;height:8px\"></i>on the critical path</span>\
         <span>each waterfall on its own time scale</span></p>"
    )?;
    for s in &result.strategies {
        let path = s.critical_path;
        writeln!(
            out,
            "<h3>{}: {} (load {} of {}), {} round trips on the critical path ({} of handshakes, {} request waves)</h3>",
            s.strategy.name(),
            micros(s.median_load.page_load_us),
            s.median_load.load + 1,
            s.loads,
            path.round_trips,
            path.handshakes,
            path.requests
        )?;
        writeln!(out, "{}", waterfall(&s.median_load.timeline, result))?;
    }
    writeln!(out, "</body></html>")
}

/// The median page load of each strategy as a bar, on one scale.
fn medians(strategies: &[StrategyResult]) -> String {
    let longest = strategies.iter().map(|s| s.median_load.page_load_us).max().unwrap_or(1).max(1) as f64;
    let row = 22.0;
    let height = TOP + row * strategies.len() as f64 + 8.0;
    let plot = WIDTH - LABEL - RIGHT - 80.0;
    let mut svg = svg_open(height, "median page load by strategy");
    time_axis(&mut svg, longest, plot, height - 4.0);
    for (i, s) in strategies.iter().enumerate() {
        let y = TOP + row * i as f64;
        let length = s.median_load.page_load_us as f64 / longest * plot;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{LABEL}" y="{:.1}" width="{length:.1}" height="14" fill="{TRANSFER}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LABEL - 8.0,
            y + 11.0,
            s.strategy.name(),
            y,
            LABEL + length + 6.0,
            y + 11.0,
            micros(s.median_load.page_load_us)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn svg_open(height: f64, title: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" role="img"><title>{}</title>"#,
        escape(title)
    )
}

/// Ticks of time from 0 to `longest` µs across `plot` pixels, gridlines down to `bottom`.
fn time_axis(svg: &mut String, longest: f64, plot: f64, bottom: f64) {
    for (us, _) in Axis::linear(longest, "").ticks {
        let x = LABEL + us / longest * plot;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{bottom:.1}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP - 6.0,
            TOP - 10.0,
            short_micros(us as u64)
        );
    }
}

/// The report's figures, strategies side by side.
fn summary(result: &PageResult, out: &mut impl Write) -> io::Result<()> {
    write!(out, "<table><tr><th></th>")?;
    for s in &result.strategies {
        write!(out, "<th>{}</th>", s.strategy.name())?;
    }
    writeln!(out, "</tr>")?;
    for figure in figures(result) {
        write!(out, "<tr><td>{}</td>", escape(figure.label.trim()))?;
        for s in &result.strategies {
            write!(out, "<td>{}</td>", escape(&figure.of(s).human()))?;
        }
        writeln!(out, "</tr>")?;
    }
    writeln!(out, "</table>")
}

/// Which lane of its connection's row each request takes: the first lane free when it was sent, so that
/// requests in flight together (pipelined, multiplexed) lie one under the other.
fn lanes(timeline: &Timeline) -> (Vec<usize>, Vec<usize>) {
    let mut lane_of = vec![0; timeline.requests.len()];
    let mut ends: Vec<Vec<u64>> = vec![Vec::new(); timeline.connections.len()];
    let mut order: Vec<usize> = (0..timeline.requests.len()).collect();
    order.sort_by_key(|&r| (timeline.requests[r].sent_us, r));
    for r in order {
        let request = &timeline.requests[r];
        let lanes = &mut ends[request.connection];
        let lane = lanes.iter().position(|&end| end <= request.sent_us).unwrap_or(lanes.len());
        if lane == lanes.len() {
            lanes.push(0);
        }
        lanes[lane] = request.done_us;
        lane_of[r] = lane;
    }
    (lane_of, ends.iter().map(|lanes| lanes.len().max(1)).collect())
}

/// One load as a waterfall: a row per connection, its handshakes, then its requests.
fn waterfall(timeline: &Timeline, result: &PageResult) -> String {
    let (lane_of, lanes_per_row) = lanes(timeline);
    let mut row_top = Vec::with_capacity(lanes_per_row.len());
    let mut y = TOP;
    for lanes in &lanes_per_row {
        row_top.push(y);
        y += *lanes as f64 * (LANE + LANE_GAP) + ROW_GAP;
    }
    let height = y + 4.0;
    let longest = timeline.page_load_us().max(1) as f64;
    let plot = WIDTH - LABEL - RIGHT;
    let x = |us: u64| LABEL + (us as f64 / longest).min(1.0) * plot;
    let mut svg = svg_open(height, "waterfall");
    time_axis(&mut svg, longest, plot, height - 4.0);
    let several_origins = result.found.iter().map(|f| &f.origin).collect::<std::collections::BTreeSet<_>>().len() > 1;
    let critical = timeline.critical_requests();
    // A connection whose handshake a request on the critical path waited for is on it too.
    let critical_connection = |index: usize| {
        critical.iter().any(|&r| timeline.requests[r].connection == index && timeline.requests[r].after.is_none())
    };
    for (index, connection) in timeline.connections.iter().enumerate() {
        let top = row_top[index];
        let origin = connection.origin.split_once("://").map_or(&*connection.origin, |(_, rest)| rest);
        let label = match several_origins {
            true => format!("#{} {} {}", index + 1, connection.protocol, origin),
            false => format!("#{} {}", index + 1, connection.protocol),
        };
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABEL - 8.0,
            top + 8.5,
            escape(&label)
        );
        let connected = connection.connected_us.unwrap_or(connection.closed_us.unwrap_or(connection.start_us));
        bar(&mut svg, x(connection.start_us), x(connected), top, CONNECT, &format!("#{} TCP handshake", index + 1));
        let secured = connection.secured_us.unwrap_or(connected);
        if let Some(tls) = &connection.tls {
            bar(&mut svg, x(connected), x(secured), top, TLS, &format!("#{} TLS handshake ({tls})", index + 1));
        }
        if critical_connection(index) {
            outline(&mut svg, x(connection.start_us), x(secured), top);
        }
    }
    for (r, request) in timeline.requests.iter().enumerate() {
        let top = row_top[request.connection] + lane_of[r] as f64 * (LANE + LANE_GAP);
        let object = match request.object {
            0 => format!("the page, {}", result.page),
            i => result.objects.get(i - 1).map_or(format!("object {i}"), |o| format!("object {i}, {}", o.url)),
        };
        let outcome = match (&request.error, request.status, request.retried) {
            (Some(error), _, _) => format!("failed: {error}"),
            (None, Some(status), _) => format!("{status}, {} bytes", request.bytes),
            _ => "unanswered, sent again".into(),
        };
        let title = format!(
            "{object}: sent {}, first byte {}, done {}; {outcome}",
            micros(request.sent_us),
            request.first_byte_us.map_or("-".into(), micros),
            micros(request.done_us)
        );
        let _ = write!(svg, "<g><title>{}</title>", escape(&title));
        let first_byte = request.first_byte_us.unwrap_or(request.done_us);
        match (&request.error, request.retried) {
            (Some(_), _) => bar(&mut svg, x(request.sent_us), x(request.done_us), top, FAILED, ""),
            (None, true) => bar(&mut svg, x(request.sent_us), x(request.done_us), top, RETRIED, ""),
            (None, false) => {
                bar(&mut svg, x(request.sent_us), x(first_byte), top, WAIT, "");
                bar(&mut svg, x(first_byte), x(request.done_us), top, TRANSFER, "");
            }
        }
        if critical.contains(&r) {
            outline(&mut svg, x(request.sent_us), x(request.done_us), top);
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

/// The outline of a span on the critical path.
fn outline(svg: &mut String, left: f64, right: f64, top: f64) {
    let width = (right - left).max(1.5);
    let _ = write!(
        svg,
        r#"<rect class="crit" x="{left:.1}" y="{top:.1}" width="{width:.1}" height="{LANE}" fill="none"/>"#
    );
}

/// A bar from `left` to `right` in one lane, at least a pixel wide so that a short phase still shows, edged in
/// white so that requests one after another on a connection show as bars of their own.
fn bar(svg: &mut String, left: f64, right: f64, top: f64, colour: &str, title: &str) {
    let width = (right - left).max(1.0);
    let _ = write!(
        svg,
        r##"<rect x="{left:.1}" y="{top:.1}" width="{width:.1}" height="{LANE}" fill="{colour}" stroke="#fff" stroke-width="0.6">"##
    );
    if !title.is_empty() {
        let _ = write!(svg, "<title>{}</title>", escape(title));
    }
    svg.push_str("</rect>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::timeline::{Connection, Request};

    #[test]
    fn requests_in_flight_together_take_lanes_of_their_own() {
        let connection = Connection {
            origin: "http://h".into(),
            protocol: "h2".into(),
            after: None,
            start_us: 0,
            connected_us: Some(10),
            secured_us: None,
            handshake_round_trips: 1,
            tls: None,
            closed_us: None,
            bytes: 0,
        };
        let request = |sent_us, done_us| Request {
            object: 0,
            connection: 0,
            after: None,
            sent_us,
            first_byte_us: None,
            done_us,
            status: Some(200),
            bytes: 0,
            error: None,
            retried: false,
        };
        // the page alone, then two streams at once, then one after the first of them ended
        let timeline = Timeline {
            connections: vec![connection],
            requests: vec![request(10, 20), request(20, 40), request(20, 30), request(30, 50)],
        };
        assert_eq!(lanes(&timeline), (vec![0, 0, 1, 1], vec![2]));
    }
}
