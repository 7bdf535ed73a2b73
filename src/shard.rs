//! `--shard I/N`: this process runs share I (from 0, as a Kubernetes Indexed Job numbers its pods) of a plan
//! run by N processes at once, and `merge` puts the N results back together. Pure arithmetic, a leaf of
//! shared vocabulary: the plan splits itself with it, the result records it, merge checks it.
//!
//! Counts split so that the shares add up exactly, the remainder going one each to the lowest indices
//! (10 over 3: 4, 3, 3); a rate splits evenly (each shard paces R/N, so together they start one request
//! every 1/R on average).

use serde::{Deserialize, Serialize};

/// The most shards one plan may have: enough for any cluster, small enough that a slice of 127.0.0.0/8
/// per shard still holds thousands of client IPs.
pub const MAX_SHARDS: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("'{text}' is not I/N (shard I of N, I from 0 to N-1, N from 1 to {MAX_SHARDS})");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) =
            (index.trim().parse().map_err(|_| bad())?, count.trim().parse().map_err(|_| bad())?);
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// This shard's part of `total` things; the parts of all shards add up to `total`.
    pub fn share(self, total: u64) -> u64 {
        let count = u64::from(self.count);
        total / count + u64::from(u64::from(self.index) < total % count)
    }

    /// This shard's part of a rate.
    pub fn rate(self, rate: f64) -> f64 {
        rate / f64::from(self.count)
    }

    /// This shard's contiguous slice of `items`: the shares of `items.len()`, in index order.
    pub fn slice<T>(self, items: &[T]) -> &[T] {
        let len = items.len() as u64;
        let start: u64 = (0..self.index).map(|i| Shard { index: i, count: self.count }.share(len)).sum();
        &items[start as usize..(start + self.share(len)) as usize]
    }

    /// The first address and the length of this shard's slice of `pool` addresses starting at `first`.
    pub fn range(self, first: u32, pool: u32) -> (u32, u32) {
        let size = pool / self.count;
        (first + self.index * size, size)
    }
}

/// What a sharded plan asks as a whole, whatever share of it one process runs: the result records it
/// beside the shard, and `merge` checks that every shard ran the same whole.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WholePlan {
    pub connections: u32,
    pub rate: Option<f64>,
    /// `-n`, when the plan counts requests.
    pub requests: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(count: u32) -> impl Iterator<Item = Shard> {
        (0..count).map(move |index| Shard { index, count })
    }

    #[test]
    fn shares_add_up_exactly_with_the_remainder_on_the_lowest_indices() {
        // each case: total, shards, the shares
        for (total, count, want) in
            [(10, 3, vec![4, 3, 3]), (1001, 3, vec![334, 334, 333]), (4, 2, vec![2, 2]), (2, 4, vec![1, 1, 0, 0])]
        {
            let got: Vec<_> = shards(count).map(|s| s.share(total)).collect();
            assert_eq!(got, want, "{total} over {count}");
            assert_eq!(got.iter().sum::<u64>(), total);
        }
        let rates: f64 = shards(3).map(|s| s.rate(2000.0)).sum();
        assert!((rates - 2000.0).abs() < 1e-9);
    }

    #[test]
    fn slices_are_disjoint_and_cover_everything() {
        let ips: Vec<u32> = (0..7).collect();
        let slices: Vec<&[u32]> = shards(3).map(|s| s.slice(&ips)).collect();
        assert_eq!(slices, vec![&[0, 1, 2][..], &[3, 4], &[5, 6]]);
        let ranges: Vec<_> = shards(4).map(|s| s.range(100, 1000)).collect();
        assert_eq!(ranges, vec![(100, 250), (350, 250), (600, 250), (850, 250)]);
    }

    #[test]
    fn shard_flags_parse_or_say_what_is_wrong() {
        assert_eq!("0/2".parse::<Shard>(), Ok(Shard { index: 0, count: 2 }));
        assert_eq!(" 2 / 3 ".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["2/2", "1", "a/2", "0/0", "-1/2", "0/1001"] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("is not I/N"), "{bad}: {err}");
        }
    }
}
