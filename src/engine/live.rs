//! Total latency as the progress display reads it while a mode runs: counts in log-linear buckets (16 to
//! each power of two, so a value reads back within 3 %), each written by one engine thread with a plain load
//! and store, as the other live counters are, and read by anyone. The recorder's histograms stay with their
//! thread until the mode ends; this is the glance at the last second in between.

use std::sync::atomic::{AtomicU64, Ordering};

/// Values below this have a bucket each; above it, each power of two is split in `SUB` buckets.
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Enough for 2^32 µs (71 minutes), past the histograms' hour; larger values share the last bucket.
const BUCKETS: usize = (32 - SUB_BITS as usize + 1) * SUB;

/// Counts of total latency by bucket; one thread writes, any reads.
#[derive(Debug)]
pub struct LiveLatency {
    counts: Box<[AtomicU64]>,
}

impl Default for LiveLatency {
    fn default() -> LiveLatency {
        LiveLatency { counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect() }
    }
}

impl LiveLatency {
    /// Counts one latency; called by the thread that owns these counts only.
    pub fn record(&self, us: u64) {
        let counter = &self.counts[bucket(us)];
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Adds the counts so far to `into` (one slot per bucket), to read several threads' counts as one.
    pub fn add_to(&self, into: &mut Vec<u64>) {
        into.resize(BUCKETS, 0);
        for (sum, count) in into.iter_mut().zip(self.counts.iter()) {
            *sum += count.load(Ordering::Relaxed);
        }
    }
}

fn bucket(us: u64) -> usize {
    let us = us.min(u64::from(u32::MAX));
    if us < SUB as u64 {
        return us as usize;
    }
    let power = 63 - us.leading_zeros();
    let sub = (us >> (power - SUB_BITS)) as usize & (SUB - 1);
    (power - SUB_BITS + 1) as usize * SUB + sub
}

/// The middle of a bucket's values, in µs.
fn middle(index: usize) -> u64 {
    if index < SUB {
        return index as u64;
    }
    let power = (index / SUB) as u32 + SUB_BITS - 1;
    let width = 1u64 << (power - SUB_BITS);
    ((SUB + index % SUB) as u64) * width + width / 2
}

/// The value at quantile `q` (0 to 1) of counts by bucket (the difference of two readings: one second);
/// None when they count nothing.
pub fn quantile(counts: &[u64], q: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    counts
        .iter()
        .position(|&n| {
            seen += n;
            seen >= rank
        })
        .map(middle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_values_within_a_few_percent_and_in_order() {
        let mut last = 0;
        for us in (0..5000).chain([65_432, 1_000_000, 3_600_000_000]) {
            let index = bucket(us);
            assert!(index >= last && index < BUCKETS, "{us}");
            last = index;
            let back = middle(index) as f64;
            assert!((back - us as f64).abs() <= 0.035 * us as f64 + 0.5, "{us} reads back as {back}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_seconds_counts() {
        let live = LiveLatency::default();
        for us in (1..=99).map(|_| 300).chain([20_000]) {
            live.record(us);
        }
        let mut counts = Vec::new();
        live.add_to(&mut counts);
        let (p50, p99, max) = (quantile(&counts, 0.5), quantile(&counts, 0.99), quantile(&counts, 1.0));
        assert!(p50.is_some_and(|v| v.abs_diff(300) <= 10), "{p50:?}");
        assert_eq!(p99, p50, "99 of 100 are 300 µs");
        assert!(max.is_some_and(|v| v.abs_diff(20_000) <= 700), "{max:?}");
        assert_eq!(quantile(&vec![0; BUCKETS], 0.5), None);
    }
}
