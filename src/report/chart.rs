/*!
Line charts as inline SVG, written by hand for the HTML page.

Why not plotters: its SVG backend would do, but it lays text out with estimated font metrics, the
percentile axis (HdrHistogram's log scale of 1/(1-p)) needs a custom coordinate mapping anyway, and a
load generator's every build would compile it for four kinds of line chart. A chart here is a title,
two axes with their ticks, polylines and a legend: about a hundred lines we control to the pixel,
rendered the same by every browser, with nothing loaded from anywhere.
*/

use std::fmt::Write as _;

/// One line of a chart, in the legend once.
pub struct Series {
    pub name: String,
    pub colour: &'static str,
    /// Runs of points, each drawn as one line: between two runs there is nothing to draw (a second in
    /// which no request completed has no latency), and a line across the gap would show values that were
    /// never measured. A run of one point is drawn as a dot.
    pub segments: Vec<Vec<(f64, f64)>>,
    /// Drawn dashed: the second of two views of one measurement (latency uncorrected for coordinated
    /// omission beside the corrected one, in the same colour).
    pub dashed: bool,
}

impl Series {
    /// A line through all of `points`.
    pub fn line(name: impl Into<String>, colour: &'static str, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), colour, segments: vec![points], dashed: false }
    }

    pub fn dashed(self) -> Series {
        Series { dashed: true, ..self }
    }

    pub fn points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.segments.iter().flatten().copied()
    }
}

/// A stretch of the x axis shaded and named: seconds in which nothing completed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub from: f64,
    pub to: f64,
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

    /// Latency in µs on a log scale from a tick below the fastest to a tick above the slowest, with room
    /// on both sides so that a flat line sits inside the frame, ticks at 1, 2, 5 × 10^k (only decades when
    /// the range is wide). Whatever it is given (a chart with no sample has no fastest), the axis stays
    /// within the histograms' 1 µs to 1 hour, so its ticks are few.
    pub fn latency(min_us: f64, max_us: f64) -> Axis {
        const HOUR_US: f64 = 3.6e9;
        const ROOM: f64 = 1.15;
        let low = if min_us.is_finite() { min_us.clamp(1.0, HOUR_US) } else { 1.0 };
        let high = if max_us.is_finite() { max_us.clamp(low, HOUR_US) } else { low };
        let (low, high) = ((low / ROOM).max(1.0), high * ROOM);
        let (low_decade, high_decade) = (low.log10().floor() as i32, high.log10().ceil() as i32);
        let steps: &[f64] = if high_decade - low_decade > 3 { &[1.0] } else { &[1.0, 2.0, 5.0] };
        let all: Vec<f64> =
            (low_decade..=high_decade).flat_map(|d| steps.iter().map(move |s| s * 10f64.powi(d))).collect();
        let first = all.iter().rposition(|&t| t <= low * 1.0001).unwrap_or(0);
        let last = all.iter().position(|&t| t >= high / 1.0001).unwrap_or(all.len() - 1).max(first + 1);
        let ticks: Vec<(f64, String)> = all[first..=last].iter().map(|&us| (us, short_micros(us as u64))).collect();
        Axis { scale: Scale::Log10, min: all[first], max: all[last], ticks, label: "latency".into() }
    }

    /// From 0 to exactly `max` (time: the run's seconds), about five ticks at 1, 2 or 5 × 10^k, never closer
    /// than 1: what these axes count (seconds, requests, connections, client IPs) comes in whole numbers.
    pub fn linear(max: f64, label: &str) -> Axis {
        let max = if max > 0.0 { max } else { 1.0 };
        Axis::linear_by(max, tick_step(max), label)
    }

    /// From 0 to the tick above `max` with a tenth to spare, so that a flat line (serial's steady
    /// requests/s, one client IP all along) is drawn below the frame, not on it.
    pub fn values(max: f64, label: &str) -> Axis {
        let max = if max > 0.0 { max } else { 1.0 };
        let step = tick_step(max);
        Axis::linear_by((max * 1.1 / step).ceil() * step, step, label)
    }

    fn linear_by(max: f64, step: f64, label: &str) -> Axis {
        let ticks =
            (0..).map(|i| i as f64 * step).take_while(|&v| v <= max * 1.0001).map(|v| (v, short_count(v))).collect();
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

/// The distance between ticks for about five of them up to `max`: 1, 2 or 5 × 10^k, at least 1.
fn tick_step(max: f64) -> f64 {
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|s| s * magnitude).find(|&s| s >= rough).unwrap_or(magnitude).max(1.0)
}

/// 99.999 %: five nines, as far as the percentile axis goes.
const PERCENTILE_NINES: f64 = 5.0;

/// Where quantile `q` (0 to 1) sits on [`Axis::percentile`]; 100 % is drawn at the axis' end.
pub fn percentile_x(q: f64) -> f64 {
    (1.0 / (1.0 - q.min(0.99999))).log10().min(PERCENTILE_NINES)
}

/// The furthest a spectrum of `samples` can go on [`Axis::percentile`]: its slowest sample is the
/// percentile 1 - 1/n (99 % of 100 samples), and nothing beyond it was measured. HdrHistogram's plotter
/// draws every histogram to the axis' end, which shows a flat line out to 99.999 % that 50 samples never
/// saw.
pub fn supported_x(samples: u64) -> f64 {
    (samples.max(1) as f64).log10().min(PERCENTILE_NINES)
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

/// Counts on a linear axis and in legends: 500, 12k, 1.5M.
pub fn short_count(v: f64) -> String {
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
    /// Stretches of x in which nothing completed, shaded and named in the legend.
    pub bands: Vec<Band>,
}

const LEFT: f64 = 56.0;
const RIGHT: f64 = 28.0;
/// Above the frame: the title, then the legend's first line.
const TOP: f64 = 40.0;
const BOTTOM: f64 = 36.0;
/// Each more line of the legend, when it does not fit on one.
const LEGEND_LINE: f64 = 15.0;
/// What a shaded band is called in the legend and in its tooltip.
pub const BAND_NAME: &str = "0 completed";
const BAND_FILL: &str = "#d9d9d9";

/// One entry of the legend, and where it goes: its line (0 first) and its x.
struct LegendEntry<'a> {
    name: &'a str,
    colour: &'static str,
    dashed: bool,
    band: bool,
    line: usize,
    x: f64,
}

impl Chart {
    /// The legend's entries left to right, wrapped onto more lines where the chart is too narrow.
    fn legend(&self) -> Vec<LegendEntry<'_>> {
        let items = self.series.iter().map(|s| (s.name.as_str(), s.colour, s.dashed, false));
        let band = (!self.bands.is_empty()).then_some((BAND_NAME, BAND_FILL, false, true));
        let (mut line, mut x) = (0, LEFT);
        let mut entries = Vec::new();
        for (name, colour, dashed, band) in items.chain(band) {
            let width = 30.0 + 6.5 * name.chars().count() as f64;
            if x > LEFT && x + width - 12.0 > self.width - RIGHT {
                (line, x) = (line + 1, LEFT);
            }
            entries.push(LegendEntry { name, colour, dashed, band, line, x });
            x += width;
        }
        entries
    }

    pub fn svg(&self) -> String {
        let legend = self.legend();
        let top = TOP + LEGEND_LINE * legend.last().map_or(0, |e| e.line) as f64;
        let (w, h) = (self.width - LEFT - RIGHT, self.height - TOP - BOTTOM);
        let x = |v: f64| LEFT + self.x.position(v, w);
        let y = |v: f64| top + h - self.y.position(v, h);
        let mut s = String::new();
        let (width, height) = (self.width, top + h + BOTTOM);
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"><title>{}</title>"#,
            escape(&self.title)
        );
        let _ = write!(s, r#"<text class="title" x="{LEFT}" y="16">{}</text>"#, escape(&self.title));
        for band in &self.bands {
            let (from, to) = (x(band.from), x(band.to));
            let _ = write!(
                s,
                r#"<rect class="band" x="{from:.1}" y="{top}" width="{:.1}" height="{h:.1}" fill="{BAND_FILL}"><title>{BAND_NAME}</title></rect>"#,
                (to - from).max(1.0)
            );
        }
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
                r#"<line class="grid" x1="{at:.1}" x2="{at:.1}" y1="{top}" y2="{:.1}"/><text class="tick" x="{at:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
                top + h,
                top + h + 16.0
            );
        }
        let _ = write!(
            s,
            r#"<rect class="frame" x="{LEFT}" y="{top}" width="{w:.1}" height="{h:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + w / 2.0,
            height - 4.0,
            escape(&self.x.label)
        );
        for series in &self.series {
            let dash = if series.dashed { r#" stroke-dasharray="5 3""# } else { "" };
            for segment in &series.segments {
                match segment.as_slice() {
                    [] => {}
                    [(px, py)] => {
                        let _ = write!(
                            s,
                            r#"<circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{}"/>"#,
                            x(*px),
                            y(*py),
                            series.colour
                        );
                    }
                    points => {
                        let points: Vec<String> =
                            points.iter().map(|&(px, py)| format!("{:.1},{:.1}", x(px), y(py))).collect();
                        let _ = write!(
                            s,
                            r#"<polyline fill="none" stroke="{}" stroke-width="1.6"{dash} points="{}"/>"#,
                            series.colour,
                            points.join(" ")
                        );
                    }
                }
            }
        }
        for entry in &legend {
            let (at, line_y) = (entry.x, 28.0 + LEGEND_LINE * entry.line as f64);
            if entry.band {
                let _ = write!(
                    s,
                    r#"<rect x="{at:.1}" y="{:.1}" width="14" height="9" fill="{}"/>"#,
                    line_y - 5.0,
                    entry.colour
                );
            } else {
                let dash = if entry.dashed { r#" stroke-dasharray="4 2""# } else { "" };
                let _ = write!(
                    s,
                    r#"<line x1="{at:.1}" x2="{:.1}" y1="{line_y}" y2="{line_y}" stroke="{}" stroke-width="3"{dash}/>"#,
                    at + 14.0,
                    entry.colour
                );
            }
            let _ = write!(
                s,
                r#"<text class="legend" x="{:.1}" y="{}">{}</text>"#,
                at + 18.0,
                line_y + 4.0,
                escape(entry.name)
            );
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
    fn a_spectrum_goes_as_far_as_its_samples_reach() {
        // 50 samples: the slowest is p98, x = log10(50); 10 at p90; a million and more at five nines
        assert!((supported_x(50) - 50f64.log10()).abs() < 1e-9);
        assert_eq!((supported_x(10), supported_x(1), supported_x(0)), (1.0, 0.0, 0.0));
        assert_eq!(supported_x(10_000_000), 5.0);
    }

    #[test]
    fn ticks_are_round_numbers_in_their_unit() {
        let labels = |a: Axis| a.ticks.into_iter().map(|(_, l)| l).collect::<Vec<_>>();
        assert_eq!(labels(Axis::latency(40.0, 900.0)), ["20µs", "50µs", "100µs", "200µs", "500µs", "1ms", "2ms"]);
        assert_eq!(labels(Axis::latency(40.0, 2_000_000.0)), ["10µs", "100µs", "1ms", "10ms", "100ms", "1s", "10s"]);
        assert_eq!(labels(Axis::linear(12_000.0, "requests/s")), ["0", "5k", "10k"]);
        assert_eq!(labels(Axis::linear(10.0, "second")), ["0", "2", "4", "6", "8", "10"]);
        assert_eq!(short_micros(1500), "1.5ms");
        // a chart with no sample has no fastest and no slowest: still a handful of ticks
        for (min, max) in [(f64::MAX, 1.0), (f64::INFINITY, f64::NAN), (0.0, f64::MAX)] {
            assert!(Axis::latency(min, max).ticks.len() < 40, "{min} {max}");
        }
    }

    #[test]
    fn a_flat_series_is_drawn_inside_the_frame_not_on_it() {
        // serial's steady requests/s, one client IP all along, a p50 that never moves
        for (axis, flat) in [
            (Axis::values(8000.0, "requests/s"), 8000.0),
            (Axis::values(2.0, "client IPs"), 2.0),
            (Axis::values(1.0, "client IPs"), 1.0),
            (Axis::latency(100.0, 100.0), 100.0),
            (Axis::latency(300.0, 300.0), 300.0),
        ] {
            let at = axis.position(flat, 100.0);
            assert!(at > 0.0 && at < 95.0, "{flat} at {at} of 100 on {:?}", axis.ticks);
            assert_eq!(axis.ticks.last().map(|t| t.0), Some(axis.max), "the top is a tick");
        }
        let labels = |a: Axis| a.ticks.into_iter().map(|(_, l)| l).collect::<Vec<_>>();
        assert_eq!(labels(Axis::values(2.0, "client IPs")), ["0", "1", "2", "3"]);
        assert_eq!(labels(Axis::values(12_000.0, "requests/s")), ["0", "5k", "10k", "15k"]);
    }

    fn chart(series: Vec<Series>, bands: Vec<Band>) -> Chart {
        Chart {
            title: "a <b> & c".into(),
            width: 400.0,
            height: 200.0,
            x: Axis::linear(10.0, "seconds"),
            y: Axis::linear(100.0, "requests/s"),
            series,
            bands,
        }
    }

    #[test]
    fn a_chart_is_one_svg_element_with_its_lines_inside_the_frame() {
        let svg = chart(vec![Series::line("rps", "#000", vec![(0.0, 0.0), (10.0, 100.0)])], vec![]).svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.ends_with("</svg>"));
        assert!(svg.contains("<title>a &lt;b&gt; &amp; c</title>"));
        // (0,0) at the frame's bottom left, (10,100) at its top right
        assert!(svg.contains(r#"points="56.0,164.0 372.0,40.0""#), "{svg}");
        assert!(!svg.contains(BAND_NAME) && !svg.contains("stroke-dasharray"));
    }

    #[test]
    fn segments_are_separate_lines_a_lone_point_a_dot_and_bands_are_shaded_and_named() {
        let broken = Series {
            name: "p50".into(),
            colour: "#000",
            segments: vec![vec![(1.0, 10.0), (2.0, 20.0)], vec![(5.0, 50.0)], vec![(7.0, 70.0), (8.0, 80.0)]],
            dashed: false,
        };
        let dashed = Series::line("uncorrected", "#111", vec![(0.0, 0.0), (10.0, 100.0)]).dashed();
        let svg = chart(vec![broken, dashed], vec![Band { from: 2.0, to: 4.0 }]).svg();
        assert_eq!(svg.matches("<polyline").count(), 3, "{svg}");
        assert!(svg.contains(r#"points="87.6,151.6 119.2,139.2""#), "{svg}");
        assert!(svg.contains(r#"<circle cx="214.0" cy="102.0""#), "{svg}");
        assert!(svg.contains(r##"stroke="#111" stroke-width="1.6" stroke-dasharray="5 3""##), "{svg}");
        // the band from 2 to 4 s, under the lines, and its legend entry after the lines'
        assert!(svg.contains(r#"<rect class="band" x="119.2" y="40" width="63.2" height="124.0""#), "{svg}");
        assert!(svg.contains(&format!(">{BAND_NAME}</text>")), "{svg}");
    }

    #[test]
    fn a_legend_too_wide_for_the_chart_wraps_and_the_frame_moves_down() {
        let names = ["connect (n=187k)", "tls (n=187k)", "ttfb (n=187k)", "transfer (n=187k)", "total (n=187k)"];
        let series = names.iter().map(|n| Series::line(*n, "#000", vec![(0.0, 0.0), (1.0, 1.0)])).collect();
        let svg = chart(series, vec![]).svg();
        // three lines: two entries on the first, two on the second, one on the third
        assert!(svg.contains(r#"y="47">transfer (n=187k)</text>"#), "{svg}");
        assert!(svg.contains(r#"x="74.0" y="62">total (n=187k)</text>"#), "{svg}");
        assert!(svg.contains(r#"<rect class="frame" x="56" y="70""#), "{svg}");
        assert!(svg.contains(r#"viewBox="0 0 400 230""#), "taller by two lines: {svg}");
    }
}
