//! The terminal histogram of total latency, hey's and oha's "Response time histogram": a bar per bucket
//! with its count, so that the shape of a run (a second mode of slow requests, a long tail, a tight
//! cluster) shows at a glance where a percentile table hides it.
//!
//! The buckets are chosen from the distribution, so every run gets enough rows to have a shape: between
//! its 0.1th percentile and its slowest request, log-spaced on the finest of the preferred-number series
//! (1-1.25-1.6-2-2.5-3.2-4-5-6.3-8 and its coarser and finer siblings) that gives at most 20 rows, or
//! evenly spaced where the slowest is less than three times the fastest, where a log scale would put
//! nearly everything in one row. Edges are round numbers people read without arithmetic.

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// The longest bar, in characters.
const BAR: u64 = 40;

/// The most rows a histogram has: a screen's worth beside the table.
const MOST_ROWS: usize = 20;

/// Below this ratio of slowest to fastest, evenly spaced buckets show the shape; above it, log-spaced.
const LINEAR_BELOW: f64 = 3.0;

/// Preferred numbers (ISO 3, Renard's series, rounded), finest first: each decade split into 20, 10, 5, 3
/// or 1 steps of about equal ratio. Every series but the 1-2-5 one is part of the one before it.
const SERIES: [&[f64]; 5] = [
    &[1.0, 1.1, 1.25, 1.4, 1.6, 1.8, 2.0, 2.2, 2.5, 2.8, 3.2, 3.6, 4.0, 4.5, 5.0, 5.6, 6.3, 7.1, 8.0, 9.0],
    &[1.0, 1.25, 1.6, 2.0, 2.5, 3.2, 4.0, 5.0, 6.3, 8.0],
    &[1.0, 1.6, 2.5, 4.0, 6.3],
    &[1.0, 2.0, 5.0],
    &[1.0],
];

/// Requests whose latency was at most `upper_us` and above the previous bucket's bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub upper_us: u64,
    pub count: u64,
}

/// The buckets from the one holding the 0.1th percentile (and everything faster) to the one holding the
/// slowest request, empty ones between them included (a gap is information).
pub fn buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    if h.is_empty() {
        return Vec::new();
    }
    // The lowest value the histogram could have meant: a recorded 5000 µs (kept as 5000 to 5003 at 3
    // significant digits) is ≤ 5ms, not > 5ms.
    let low = h.lowest_equivalent(h.value_at_quantile(0.001)).max(1);
    let high = h.lowest_equivalent(h.max()).max(low);
    let edges = if (high as f64) < LINEAR_BELOW * low as f64 {
        linear_edges(low, high, h.equivalent_range(high))
    } else {
        log_edges(low, high)
    };
    let mut buckets: Vec<Bucket> = edges.into_iter().map(|upper_us| Bucket { upper_us, count: 0 }).collect();
    for v in h.iter_recorded() {
        let value = h.lowest_equivalent(v.value_iterated_to());
        let i = buckets.iter().position(|b| b.upper_us >= value).unwrap_or(buckets.len() - 1);
        buckets[i].count += v.count_at_value();
    }
    buckets
}

/// Multiples of the finest round step (1, 2 or 5 × 10^k, no finer than the histogram can tell apart at
/// `high`) that covers `low` to `high` in at most `MOST_ROWS` rows.
fn linear_edges(low: u64, high: u64, resolution: u64) -> Vec<u64> {
    let step = (0..)
        .flat_map(|k| [1, 2, 5].map(|s| s * 10u64.pow(k)))
        .find(|&step| step >= resolution && high.div_ceil(step) - low.div_ceil(step) < MOST_ROWS as u64)
        .expect("a step as wide as the range gives one row");
    (low.div_ceil(step)..=high.div_ceil(step)).map(|i| i * step).collect()
}

/// The finest preferred-number series that covers `low` to `high` in at most `MOST_ROWS` rows: its
/// numbers from the first at or above `low` to the first at or above `high`, in whole microseconds.
fn log_edges(low: u64, high: u64) -> Vec<u64> {
    SERIES
        .iter()
        .map(|series| {
            let numbers = (0..=10).flat_map(|decade| series.iter().map(move |n| n * 10f64.powi(decade)));
            let mut edges: Vec<u64> = numbers.map(|n| n.round() as u64).filter(|&e| e >= low).collect();
            edges.dedup();
            let last = edges.iter().position(|&e| e >= high).unwrap_or(edges.len() - 1);
            edges.truncate(last + 1);
            edges
        })
        .find(|edges| edges.len() <= MOST_ROWS)
        .expect("decades cover an hour in ten rows")
}

/// A bucket's bound in its unit with up to three significant digits: 300µs, 1.25ms, 12.5ms, 2s.
fn bound(us: u64) -> String {
    let (value, unit) = match us {
        0..=999 => return format!("{us}µs"),
        1_000..=999_999 => (us as f64 / 1e3, "ms"),
        _ => (us as f64 / 1e6, "s"),
    };
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text}{unit}")
}

/// `title`, then a line per bucket: its bound, its count, its bar (in colour on a terminal).
pub fn write(title: &str, buckets: &[Bucket], colour: bool, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{title}")?;
    let most = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    for b in buckets {
        // A bucket with any request gets at least one mark: the rare slow request is the point.
        let length = if b.count == 0 { 0 } else { (b.count * BAR).div_ceil(most) };
        let bar = "■".repeat(length as usize);
        let bound = format!("≤{}", bound(b.upper_us));
        if colour && length > 0 {
            writeln!(out, "  {bound:>9} {:>10} |\x1b[36m{bar}\x1b[0m", b.count)?;
        } else {
            writeln!(out, "  {bound:>9} {:>10} |{bar}", b.count)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[(u64, u64)]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for &(value, count) in values {
            h.record_n(value, count).unwrap();
        }
        h
    }

    fn rows(h: &Histogram<u64>) -> Vec<(u64, u64)> {
        buckets(h).iter().map(|b| (b.upper_us, b.count)).collect()
    }

    #[test]
    fn a_tight_keepalive_run_gets_rows_enough_to_show_its_shape() {
        // p50 299 µs, p99 330 µs, a few slower: once three rows (≤500µs 19949, ≤1ms 15, ≤2ms 36)
        let mut values: Vec<(u64, u64)> = (280..=340).map(|us| (us, if us < 300 { 480 } else { 95 })).collect();
        values.extend([(700, 15), (1500, 30), (2000, 6)]);
        let h = histogram(&values);
        let counts = rows(&h);
        let edges: Vec<u64> = counts.iter().map(|r| r.0).collect();
        assert_eq!(
            edges,
            [280, 320, 360, 400, 450, 500, 560, 630, 710, 800, 900, 1000, 1100, 1250, 1400, 1600, 1800, 2000]
        );
        assert_eq!(counts.iter().map(|r| r.1).sum::<u64>(), h.len());
        assert_eq!(counts[0].1 + counts[1].1, 9600 + 20 * 95 + 95, "the cluster, split in two rows");
        // the cluster alone: slowest within three times the fastest, evenly spaced round steps
        let tight = histogram(&(290..=340).map(|us| (us, 10)).collect::<Vec<_>>());
        let edges: Vec<u64> = rows(&tight).iter().map(|r| r.0).collect();
        assert_eq!(edges, (290..=340).step_by(5).collect::<Vec<_>>());
    }

    #[test]
    fn a_wide_run_gets_at_most_twenty_rows_on_a_coarser_series_and_a_flat_one_a_row() {
        let h = histogram(&[(40, 10), (90, 100), (100, 5), (5000, 1), (5004, 1)]);
        assert_eq!(
            rows(&h),
            [
                (40, 10),
                (63, 0),
                (100, 105),
                (160, 0),
                (250, 0),
                (400, 0),
                (630, 0),
                (1000, 0),
                (1600, 0),
                (2500, 0),
                (4000, 0),
                (6300, 2)
            ]
        );
        // from 10 µs to an hour: decades
        let edges: Vec<u64> = rows(&histogram(&[(10, 1000), (3_600_000_000, 1)])).iter().map(|r| r.0).collect();
        assert_eq!(edges.len(), 10, "{edges:?}");
        assert_eq!(rows(&histogram(&[(100, 7)])), [(100, 7)]);
        assert!(buckets(&histogram(&[])).is_empty());
    }

    #[test]
    fn bounds_read_in_their_unit_with_three_digits() {
        let labels: Vec<String> = [630, 1000, 1250, 12_500, 125_000, 2_000_000, 6_300_000].map(bound).into();
        assert_eq!(labels, ["630µs", "1ms", "1.25ms", "12.5ms", "125ms", "2s", "6.3s"]);
    }

    #[test]
    fn bars_scale_to_the_largest_and_show_every_nonempty_bucket() {
        let buckets = [
            Bucket { upper_us: 50, count: 1 },
            Bucket { upper_us: 100, count: 4000 },
            Bucket { upper_us: 200, count: 0 },
        ];
        let mut out = Vec::new();
        write("total latency, keepalive", &buckets, false, &mut out).unwrap();
        let expected = format!(
            "total latency, keepalive\n      ≤50µs          1 |■\n     ≤100µs       4000 |{}\n     ≤200µs          0 |\n",
            "■".repeat(40)
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        let mut out = Vec::new();
        write("t", &buckets, true, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("|\x1b[36m■\x1b[0m\n"), "{text:?}");
        assert!(text.ends_with("|\n"), "no colour codes around an empty bar");
    }
}
