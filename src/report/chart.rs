/*!
Line charts as inline SVG, written by hand for the HTML page.

Why not plotters: its SVG backend would do, but it lays text out with estimated font metrics, the
percentile axis (HdrHistogram's log scale of 1/(1-p)) needs a custom coordinate mapping anyway, and a
load generator's every build would compile it for four kinds of line chart. A chart here is a title,
two axes with their ticks, polylines and a legend: about a hundred lines we control to the pixel,
rendered the same by every browser, with nothing loaded from anywhere.
*/

use std::fmt::Write as _;

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub colour: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// How values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log10,
}

pub struct Axis {
    pub scale: Scale,
    pub min: f64,
    pub max: f64,
    /// Where the ticks go, with their labels.
    pub ticks: Vec<(f64, String)>,
    pub label: String,
}

impl Axis {
    /// Percentiles as HdrHistogram's plotter shows them: x = log10(1/(1-p)), so 90 %, 99 %, 99.9 % …
    /// are evenly spaced and the tail gets the room. Values given to it are such x, from [`percentile_x`].
    pub fn percentile() -> Axis {
        let labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];
        let ticks = labels.iter().enumerate().map(|(i, l)| (i as f64, l.to_string())).collect();
        Axis { scale: Scale::Linear, min: 0.0, max: PERCENTILE_NINES, ticks, label: "percentile".into() }
    }

    /// Latency in µs on a log scale from the tick below the fastest to the tick above the slowest,
    /// ticks at 1, 2, 5 × 10^k (only decades when the range is wide). Whatever it is given (a chart with no
    /// sample has no fastest), the axis stays within the histograms' 1 µs to 1 hour, so its ticks are few.
    pub fn latency(min_us: f64, max_us: f64) -> Axis {
        const HOUR_US: f64 = 3.6e9;
        let low = if min_us.is_finite() { min_us.clamp(1.0, HOUR_US) } else { 1.0 };
        let high = if max_us.is_finite() { max_us.clamp(low * 2.0, HOUR_US * 2.0) } else { low * 2.0 };
        let (low_decade, high_decade) = (low.log10().floor() as i32, high.log10().ceil() as i32);
        let steps: &[f64] = if high_decade - low_decade > 3 { &[1.0] } else { &[1.0, 2.0, 5.0] };
        let all: Vec<f64> =
            (low_decade..=high_decade).flat_map(|d| steps.iter().map(move |s| s * 10f64.powi(d))).collect();
        let first = all.iter().rposition(|&t| t <= low * 1.0001).unwrap_or(0);
        let last = all.iter().position(|&t| t >= high / 1.0001).unwrap_or(all.len() - 1);
        let ticks: Vec<(f64, String)> = all[first..=last].iter().map(|&us| (us, short_micros(us as u64))).collect();
        Axis { scale: Scale::Log10, min: all[first], max: all[last], ticks, label: "latency".into() }
    }

    /// From 0 to `max`, about five ticks at 1, 2 or 5 × 10^k, never closer than 1: what this axis
    /// counts (seconds, requests, connections, client IPs) comes in whole numbers.
    pub fn linear(max: f64, label: &str) -> Axis {
        let max = if max > 0.0 { max } else { 1.0 };
        let rough = max / 5.0;
        let magnitude = 10f64.powf(rough.log10().floor());
        let step =
            [1.0, 2.0, 5.0, 10.0].iter().map(|s| s * magnitude).find(|&s| s >= rough).unwrap_or(magnitude).max(1.0);
        let ticks = (0..).map(|i| i as f64 * step).take_while(|&v| v <= max * 1.0001).map(|v| (v, count(v))).collect();
        Axis { scale: Scale::Linear, min: 0.0, max, ticks, label: label.into() }
    }

    fn position(&self, v: f64, length: f64) -> f64 {
        let at = |v: f64| match self.scale {
            Scale::Linear => v,
            Scale::Log10 => v.max(self.min).log10(),
        };
        let span = at(self.max) - at(self.min);
        if span <= 0.0 {
            return 0.0;
        }
        ((at(v) - at(self.min)) / span).clamp(0.0, 1.0) * length
    }
}

/// 99.999 %: five nines, as far as the percentile axis goes.
const PERCENTILE_NINES: f64 = 5.0;

/// Where quantile `q` (0 to 1) sits on [`Axis::percentile`]; 100 % is drawn at the axis' end.
pub fn percentile_x(q: f64) -> f64 {
    (1.0 / (1.0 - q.min(0.99999))).log10().min(PERCENTILE_NINES)
}

/// A bound or tick in its unit, without decimals where it is whole: 200µs, 5ms, 2s, 1.5ms.
pub fn short_micros(us: u64) -> String {
    let trim = |v: f64, unit: &str| format!("{}{unit}", format!("{v:.1}").trim_end_matches(".0"));
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=999_999 => trim(us as f64 / 1e3, "ms"),
        _ => trim(us as f64 / 1e6, "s"),
    }
}

/// Counts on a linear axis: 500, 12k, 1.5M.
fn count(v: f64) -> String {
    let trim = |v: f64, unit: &str| format!("{}{unit}", format!("{v:.1}").trim_end_matches(".0"));
    match v {
        v if v >= 1e6 => trim(v / 1e6, "M"),
        v if v >= 1e3 => trim(v / 1e3, "k"),
        v => trim(v, ""),
    }
}

pub struct Chart {
    pub title: String,
    pub width: f64,
    pub height: f64,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
}

const LEFT: f64 = 56.0;
const RIGHT: f64 = 28.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 36.0;

impl Chart {
    pub fn svg(&self) -> String {
        let (w, h) = (self.width - LEFT - RIGHT, self.height - TOP - BOTTOM);
        let x = |v: f64| LEFT + self.x.position(v, w);
        let y = |v: f64| TOP + h - self.y.position(v, h);
        let mut s = String::new();
        let (width, height) = (self.width, self.height);
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"><title>{}</title>"#,
            escape(&self.title)
        );
        let _ = write!(s, r#"<text class="title" x="{LEFT}" y="16">{}</text>"#, escape(&self.title));
        for (v, label) in &self.y.ticks {
            let at = y(*v);
            let _ = write!(
                s,
                r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{at:.1}" y2="{at:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"#,
                LEFT + w,
                LEFT - 6.0,
                at + 4.0
            );
        }
        for (v, label) in &self.x.ticks {
            let at = x(*v);
            let _ = write!(
                s,
                r#"<line class="grid" x1="{at:.1}" x2="{at:.1}" y1="{TOP}" y2="{:.1}"/><text class="tick" x="{at:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
                TOP + h,
                TOP + h + 16.0
            );
        }
        let _ = write!(
            s,
            r#"<rect class="frame" x="{LEFT}" y="{TOP}" width="{w:.1}" height="{h:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + w / 2.0,
            self.height - 4.0,
            escape(&self.x.label)
        );
        for series in &self.series {
            let points: Vec<String> =
                series.points.iter().map(|&(px, py)| format!("{:.1},{:.1}", x(px), y(py))).collect();
            let _ = write!(
                s,
                r#"<polyline fill="none" stroke="{}" stroke-width="1.6" points="{}"/>"#,
                series.colour,
                points.join(" ")
            );
        }
        // The legend, on the line under the title.
        let mut at = LEFT;
        for series in &self.series {
            let _ = write!(
                s,
                r#"<line x1="{at:.1}" x2="{:.1}" y1="28" y2="28" stroke="{}" stroke-width="3"/><text class="legend" x="{:.1}" y="32">{}</text>"#,
                at + 14.0,
                series.colour,
                at + 18.0,
                escape(&series.name)
            );
            at += 30.0 + 6.5 * series.name.chars().count() as f64;
        }
        s.push_str("</svg>");
        s
    }
}

/// Text safe inside SVG and HTML elements and attributes, its controls and bidirectional overrides shown.
pub fn escape(text: &str) -> String {
    crate::printable::printable(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_axis_spaces_the_nines_evenly() {
        assert_eq!(percentile_x(0.0), 0.0);
        assert!((percentile_x(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(percentile_x(1.0), 5.0);
    }

    #[test]
    fn ticks_are_round_numbers_in_their_unit() {
        let labels = |a: Axis| a.ticks.into_iter().map(|(_, l)| l).collect::<Vec<_>>();
        assert_eq!(labels(Axis::latency(40.0, 900.0)), ["20µs", "50µs", "100µs", "200µs", "500µs", "1ms"]);
        assert_eq!(labels(Axis::latency(40.0, 2_000_000.0)), ["10µs", "100µs", "1ms", "10ms", "100ms", "1s", "10s"]);
        assert_eq!(labels(Axis::linear(12_000.0, "requests/s")), ["0", "5k", "10k"]);
        assert_eq!(labels(Axis::linear(2.0, "client IPs")), ["0", "1", "2"]);
        assert_eq!(short_micros(1500), "1.5ms");
        // a chart with no sample has no fastest and no slowest: still a handful of ticks
        for (min, max) in [(f64::MAX, 1.0), (f64::INFINITY, f64::NAN), (0.0, f64::MAX)] {
            assert!(Axis::latency(min, max).ticks.len() < 40, "{min} {max}");
        }
    }

    #[test]
    fn a_chart_is_one_svg_element_with_its_lines_inside_the_frame() {
        let chart = Chart {
            title: "a <b> & c".into(),
            width: 400.0,
            height: 200.0,
            x: Axis::linear(10.0, "seconds"),
            y: Axis::linear(100.0, "requests/s"),
            series: vec![Series { name: "rps".into(), colour: "#000", points: vec![(0.0, 0.0), (10.0, 100.0)] }],
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.ends_with("</svg>"));
        assert!(svg.contains("<title>a &lt;b&gt; &amp; c</title>"));
        // (0,0) at the frame's bottom left, (10,100) at its top right
        assert!(svg.contains(r#"points="56.0,164.0 372.0,40.0""#), "{svg}");
    }
}
