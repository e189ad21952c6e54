//! Values in whole milliseconds kept as a count per value (a run's latencies, or one phase of
//! them, take a few thousand distinct values at most), from which percentiles are exact and
//! memory does not grow with the number of rows. Below `record`, so that the writer's tally and
//! the report count the same way. Pure and unit-tested with exact numbers.

use std::collections::BTreeMap;

use serde::Serialize;

/// Values below this are counted in a vector indexed by the value: most latencies and phases
/// are, and an index is cheaper than a tree (the writer's tally counts four phases per row).
const DENSE: u64 = 2_048;

/// How many values fell on each whole number of milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Distribution {
    /// Counts of the values below `DENSE`, by value; as long as the largest of them needs.
    dense: Vec<u64>,
    /// Counts of the larger values.
    sparse: BTreeMap<u64, u64>,
    total: u64,
}

impl Distribution {
    pub fn add(&mut self, ms: u64) {
        if ms < DENSE {
            let at = ms as usize;
            if at >= self.dense.len() {
                self.dense.resize(at + 1, 0);
            }
            self.dense[at] += 1;
        } else {
            *self.sparse.entry(ms).or_default() += 1;
        }
        self.total += 1;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The distinct values in ascending order, each with how often it occurred.
    pub fn values(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let dense = self.dense.iter().enumerate().filter(|(_, &n)| n > 0);
        dense
            .map(|(ms, &n)| (ms as u64, n))
            .chain(self.sparse.iter().map(|(&ms, &n)| (ms, n)))
    }

    /// The nearest-rank quantile `num/den`: the smallest value that at least that share of the
    /// values does not exceed. Integer arithmetic, so p99 of 100 values is exactly the 99th.
    pub fn quantile(&self, num: u64, den: u64) -> Option<u64> {
        let rank = (self.total * num).div_ceil(den).max(1);
        let mut seen = 0;
        self.values().find_map(|(ms, n)| {
            seen += n;
            (seen >= rank).then_some(ms)
        })
    }

    pub fn max(&self) -> Option<u64> {
        let dense = || self.dense.iter().rposition(|&n| n > 0).map(|ms| ms as u64);
        self.sparse.keys().next_back().copied().or_else(dense)
    }

    /// A distribution of the given values, for tests.
    #[cfg(test)]
    pub(crate) fn of(values: impl IntoIterator<Item = u64>) -> Self {
        let mut d = Distribution::default();
        values.into_iter().for_each(|v| d.add(v));
        d
    }

    pub fn percentiles(&self) -> Option<Percentiles> {
        Some(Percentiles {
            count: self.total,
            p50: self.quantile(50, 100)?,
            p90: self.quantile(90, 100)?,
            p99: self.quantile(99, 100)?,
            max: self.max()?,
        })
    }
}

/// Percentiles of one group of values, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let d = Distribution::of(1..=100);
        assert_eq!(
            d.percentiles(),
            Some(Percentiles {
                count: 100,
                p50: 50,
                p90: 90,
                p99: 99,
                max: 100
            })
        );
        let d = Distribution::of([10, 20, 30]);
        assert_eq!(d.quantile(50, 100), Some(20));
        assert_eq!(d.quantile(90, 100), Some(30));
        assert_eq!(d.quantile(0, 100), Some(10));
        let one = Distribution::of([7]);
        assert_eq!(one.percentiles().map(|p| (p.p50, p.p99, p.max)), Some((7, 7, 7)));
        assert_eq!(Distribution::default().percentiles(), None);
    }

    #[test]
    fn repeated_values_count_once_each() {
        let d = Distribution::of([5, 5, 5, 5, 5, 5, 5, 5, 5, 900]);
        let p = d.percentiles().unwrap();
        assert_eq!((p.count, p.p50, p.p90, p.p99, p.max), (10, 5, 5, 900, 900));
        assert_eq!(d.values().collect::<Vec<_>>(), [(5, 9), (900, 1)]);
    }

    #[test]
    fn small_and_large_values_count_alike() {
        let d = Distribution::of([3_000, 1, 2_047, 2_048, 1, 60_000]);
        assert_eq!(
            d.values().collect::<Vec<_>>(),
            [(1, 2), (2_047, 1), (2_048, 1), (3_000, 1), (60_000, 1)]
        );
        assert_eq!((d.quantile(50, 100), d.max()), (Some(2_047), Some(60_000)));
        assert_eq!(Distribution::of([0, 7]).max(), Some(7));
        assert_eq!(
            Distribution::of([1, 9]),
            Distribution::of([9, 1]),
            "order does not matter"
        );
    }
}
