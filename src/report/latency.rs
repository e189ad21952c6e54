//! Latency histograms with round bins, over the exact `Distribution` the report counts into
//! (re-exported here: the report's latency figures are its percentiles).

use serde::Serialize;

pub use crate::distribution::{Distribution, Percentiles};

impl Distribution {
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
        for (ms, n) in self.values() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_have_round_widths_and_hold_every_value() {
        let d = Distribution::of([0, 3, 9, 10, 19, 57]);
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
