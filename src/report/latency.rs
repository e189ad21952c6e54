//! Latencies kept as a count per millisecond value (a run's latencies take a few thousand
//! distinct values at most), from which percentiles are exact and histograms have round bins.
//! Pure and unit-tested with exact numbers.

use std::collections::BTreeMap;

use serde::Serialize;

/// How many URLs took each whole number of milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Distribution {
    counts: BTreeMap<u64, u64>,
    total: u64,
}

impl Distribution {
    pub fn add(&mut self, ms: u64) {
        *self.counts.entry(ms).or_default() += 1;
        self.total += 1;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The nearest-rank quantile `num/den`: the smallest value that at least that share of the
    /// values does not exceed. Integer arithmetic, so p99 of 100 values is exactly the 99th.
    pub fn quantile(&self, num: u64, den: u64) -> Option<u64> {
        let rank = (self.total * num).div_ceil(den).max(1);
        let mut seen = 0;
        self.counts.iter().find_map(|(&ms, &n)| {
            seen += n;
            (seen >= rank).then_some(ms)
        })
    }

    pub fn max(&self) -> Option<u64> {
        self.counts.keys().next_back().copied()
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

    /// Equal-width bins from 0 to past the maximum, at most `max_bins` of them, whose width is
    /// 1, 2 or 5 times a power of ten so that the axis reads in round numbers.
    pub fn histogram(&self, max_bins: u64) -> Vec<Bin> {
        let Some(max) = self.max() else {
            return Vec::new();
        };
        let width = nice_width(max + 1, max_bins.max(1));
        let bins = max / width + 1;
        let mut out: Vec<Bin> = (0..bins)
            .map(|i| Bin {
                from_ms: i * width,
                to_ms: (i + 1) * width,
                count: 0,
            })
            .collect();
        for (&ms, &n) in &self.counts {
            // `ms / width < bins` because `ms <= max`.
            out[(ms / width) as usize].count += n;
        }
        out
    }
}

/// The smallest width of 1, 2 or 5 times a power of ten that covers `span` in `max_bins` bins.
fn nice_width(span: u64, max_bins: u64) -> u64 {
    let mut scale = 1u64;
    loop {
        for step in [1, 2, 5] {
            let width = step * scale;
            if span.div_ceil(width) <= max_bins {
                return width;
            }
        }
        scale = scale.saturating_mul(10);
    }
}

/// One bar of a latency histogram: URLs that took `from_ms <= elapsed < to_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bin {
    pub from_ms: u64,
    pub to_ms: u64,
    pub count: u64,
}

/// Latency percentiles of one group of rows, in milliseconds.
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

    fn distribution(values: impl IntoIterator<Item = u64>) -> Distribution {
        let mut d = Distribution::default();
        values.into_iter().for_each(|v| d.add(v));
        d
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let d = distribution(1..=100);
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
        let d = distribution([10, 20, 30]);
        assert_eq!(d.quantile(50, 100), Some(20));
        assert_eq!(d.quantile(90, 100), Some(30));
        assert_eq!(d.quantile(0, 100), Some(10));
        let one = distribution([7]);
        assert_eq!(one.percentiles().map(|p| (p.p50, p.p99, p.max)), Some((7, 7, 7)));
        assert_eq!(Distribution::default().percentiles(), None);
    }

    #[test]
    fn repeated_values_count_once_each() {
        let d = distribution([5, 5, 5, 5, 5, 5, 5, 5, 5, 900]);
        let p = d.percentiles().unwrap();
        assert_eq!((p.count, p.p50, p.p90, p.p99, p.max), (10, 5, 5, 900, 900));
    }

    #[test]
    fn histogram_bins_have_round_widths_and_hold_every_value() {
        let d = distribution([0, 3, 9, 10, 19, 57]);
        let bins = d.histogram(10);
        assert_eq!(bins.len(), 6);
        assert_eq!(
            bins[0],
            Bin {
                from_ms: 0,
                to_ms: 10,
                count: 3
            }
        );
        assert_eq!(
            bins[1],
            Bin {
                from_ms: 10,
                to_ms: 20,
                count: 2
            }
        );
        assert_eq!(
            bins[5],
            Bin {
                from_ms: 50,
                to_ms: 60,
                count: 1
            }
        );
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 6);
        assert_eq!(nice_width(5000, 40), 200);
        assert_eq!(nice_width(1, 40), 1);
        assert_eq!(nice_width(81, 40), 5);
        assert!(Distribution::default().histogram(10).is_empty());
    }
}
