//! One latency histogram in HdrHistogram's percentile distribution format (the `.hgrm` of Java's
//! `outputPercentileDistribution`, which wrk2 prints and HdrHistogram's plotter reads): values in
//! milliseconds, as wrk2 prints them, five ticks per half distance to 100 %.

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// The histogram counts microseconds; the format's readers expect milliseconds.
const MICROS_PER_UNIT: f64 = 1000.0;
/// Java's and wrk2's default: the percentile steps halve their distance to 100 % every 5 lines.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

pub fn write(h: &Histogram<u64>, out: &mut impl Write) -> io::Result<()> {
    // Java prints values with as many decimals as the histogram has significant digits.
    let digits = usize::from(h.sigfig());
    writeln!(out, "{:>12} {:>14} {:>10} {:>14}\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")?;
    let mut total = 0;
    for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += v.count_since_last_iteration();
        let value = v.value_iterated_to() as f64 / MICROS_PER_UNIT;
        let quantile = v.quantile_iterated_to();
        if quantile < 1.0 {
            writeln!(out, "{value:>12.digits$} {quantile:>2.12} {total:>10} {:>14.2}", 1.0 / (1.0 - quantile))?;
        } else {
            writeln!(out, "{value:>12.digits$} {quantile:>2.12} {total:>10}")?;
        }
    }
    let (mean, stdev, max) =
        (h.mean() / MICROS_PER_UNIT, h.stdev() / MICROS_PER_UNIT, h.max() as f64 / MICROS_PER_UNIT);
    writeln!(out, "#[Mean    = {mean:>12.digits$}, StdDeviation   = {stdev:>12.digits$}]")?;
    writeln!(out, "#[Max     = {max:>12.digits$}, Total count    = {:>12}]", h.len())?;
    writeln!(out, "#[Buckets = {:>12}, SubBuckets     = {:>12}]", h.buckets(), sub_buckets(h.sigfig()))
}

/// The sub-buckets of a histogram whose lowest discernible value is 1: the power of two that holds
/// 2 × 10^sigfig distinct values (2048 at 3 significant digits), as HdrHistogram sizes them.
fn sub_buckets(sigfig: u8) -> u32 {
    (2 * 10u32.pow(u32::from(sigfig))).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram() -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        // a fixed, skewed sequence: most requests fast, a tail of slow ones
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            h.record(40 + x % 500 + if x % 97 == 0 { 20_000 + x % 30_000 } else { 0 }).unwrap();
        }
        h
    }

    /// Every line against the crate's own numbers: the value at each percentile, the running count,
    /// and the footer's mean, max, count and sizes.
    #[test]
    fn lines_agree_with_the_histogram() {
        let h = histogram();
        let mut out = Vec::new();
        write(&h, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("       Value     Percentile TotalCount 1/(1-Percentile)"));
        assert_eq!(lines.next(), Some(""));
        let table: Vec<Vec<&str>> =
            lines.clone().take_while(|l| !l.starts_with('#')).map(|l| l.split_whitespace().collect()).collect();
        assert!(table.len() > 50, "{text}");
        let mut previous = 0;
        for (i, cells) in table.iter().enumerate() {
            let quantile: f64 = cells[1].parse().unwrap();
            let value_us = (cells[0].parse::<f64>().unwrap() * 1000.0).round() as u64;
            // The crate's iterator may step one value past a count that is exactly at the percentile (a
            // 1-ulp effect its iterators/quantile.rs documents); never further.
            let exact = h.value_at_quantile(quantile);
            assert!(value_us == exact || value_us == h.highest_equivalent(exact + 1), "line {i}: {cells:?} vs {exact}");
            let count: u64 = cells[2].parse().unwrap();
            assert_eq!(count, h.count_between(0, value_us), "line {i}: {cells:?}");
            assert!(count >= previous);
            previous = count;
            if i + 1 < table.len() {
                let inverse: f64 = cells[3].parse().unwrap();
                assert!((inverse - 1.0 / (1.0 - quantile)).abs() < 0.01, "{cells:?}");
            } else {
                // the last line is 100 %, with no 1/(1-Percentile)
                assert_eq!((cells[1], cells.len()), ("1.000000000000", 3));
                assert_eq!(count, 10_000);
            }
        }
        assert_eq!(table[0][1], "0.000000000000");
        let footer: Vec<&str> = text.lines().filter(|l| l.starts_with("#[")).collect();
        assert_eq!(footer.len(), 3);
        assert_eq!(
            footer[0],
            format!("#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]", h.mean() / 1e3, h.stdev() / 1e3)
        );
        assert_eq!(footer[1], format!("#[Max     = {:>12.3}, Total count    = {:>12}]", h.max() as f64 / 1e3, 10_000));
        assert_eq!(footer[2], format!("#[Buckets = {:>12}, SubBuckets     = {:>12}]", h.buckets(), 2048));
    }

    #[test]
    fn sub_buckets_follow_the_significant_digits() {
        assert_eq!((sub_buckets(1), sub_buckets(2), sub_buckets(3)), (32, 256, 2048));
    }
}
