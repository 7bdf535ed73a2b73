//! The terminal histogram of total latency, hey's "Response time histogram" with log-spaced buckets:
//! a bar per bucket with its count, so a second mode of slow requests shows at a glance where a
//! percentile table hides it.

use std::io::{self, Write};

use hdrhistogram::Histogram;

use crate::report::chart::short_micros;

/// The longest bar, in characters.
const BAR: u64 = 40;

/// Bucket bounds run 1, 2, 5, 10, 20, 50, … µs: log-spaced, three to a decade, and each one a number
/// people read without arithmetic.
fn bound(step: u32) -> u64 {
    [1, 2, 5][(step % 3) as usize] * 10u64.pow(step / 3)
}

/// Requests whose latency was at most `upper_us` and above the previous bucket's bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub upper_us: u64,
    pub count: u64,
}

/// The buckets from the one holding the fastest request to the one holding the slowest, empty ones
/// between them included (a gap is information).
pub fn buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let slowest = h.lowest_equivalent(h.max());
    let first = (0..).find(|&s| bound(s) >= h.min()).expect("bounds grow past any latency");
    let last = (first..).find(|&s| bound(s) >= slowest).expect("bounds grow past any latency");
    let mut buckets: Vec<Bucket> = (first..=last).map(|s| Bucket { upper_us: bound(s), count: 0 }).collect();
    for v in h.iter_recorded() {
        // The lowest value the histogram could have meant: a recorded 5000 µs (kept as 5000 to 5003 at 3
        // significant digits) is ≤ 5ms, not > 5ms.
        let value = h.lowest_equivalent(v.value_iterated_to());
        let i = buckets.iter().position(|b| b.upper_us >= value).unwrap_or(buckets.len() - 1);
        buckets[i].count += v.count_at_value();
    }
    buckets
}

/// `title`, then a line per bucket: its bound, its count, its bar (in colour on a terminal).
pub fn write(title: &str, buckets: &[Bucket], colour: bool, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{title}")?;
    let most = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    for b in buckets {
        // A bucket with any request gets at least one mark: the rare slow request is the point.
        let length = if b.count == 0 { 0 } else { (b.count * BAR).div_ceil(most) };
        let bar = "■".repeat(length as usize);
        let bound = format!("≤{}", short_micros(b.upper_us));
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

    #[test]
    fn buckets_are_log_spaced_and_span_fastest_to_slowest() {
        let h = histogram(&[(40, 10), (90, 100), (100, 5), (5000, 1), (5004, 1)]);
        let counts: Vec<_> = buckets(&h).iter().map(|b| (b.upper_us, b.count)).collect();
        assert_eq!(counts, [(50, 10), (100, 105), (200, 0), (500, 0), (1000, 0), (2000, 0), (5000, 1), (10_000, 1)]);
        assert!(buckets(&histogram(&[])).is_empty());
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
