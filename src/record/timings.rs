//! Where a check's time went (`--timings`): the phases of its requests, summed over every hop,
//! retry and GET fallback, as the row's five timing columns; and the phases of many rows, which
//! the writer's summary and the report count alike.

use std::time::Duration;

use serde::Serialize;

use crate::distribution::Distribution;

/// The columns `--timings` adds after the others (after `DETAIL_COLUMNS` with `--details`).
pub const TIMING_COLUMNS: [&str; 5] = ["dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "new_connections"];

/// One check's phases, summed over its requests. A phase cut short (a connect that timed out)
/// counts the time it ran, so a `timeout` row shows where it hung.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Resolving names; zero when no look-up was needed (`--resolve`, a kept connection).
    pub dns: Duration,
    /// TCP connects of the connections the check opened.
    pub connect: Duration,
    /// TLS handshakes of those connections.
    pub tls: Duration,
    /// The rest of each request: from the request written to the answer's head read.
    pub ttfb: Duration,
    /// Connections the check opened; 0 when every request went out on a kept one.
    pub new_connections: u32,
}

/// The timed phases, in column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Dns,
    Connect,
    Tls,
    Ttfb,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::Dns, Phase::Connect, Phase::Tls, Phase::Ttfb];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Ttfb => "ttfb",
        }
    }
}

impl Timings {
    /// As the row holds them: each phase in whole milliseconds, rounded down (so that the four
    /// never add up to more than the check's `elapsed_ms`).
    pub fn in_ms(&self) -> TimingsMs {
        TimingsMs {
            ms: [self.dns, self.connect, self.tls, self.ttfb]
                .map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
            new_connections: self.new_connections,
        }
    }
}

/// A check's phases as its row holds them: small, so that a record carries them inline (a box
/// allocated by the probe and freed by the writer, on another thread, cost more).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimingsMs {
    /// In `Phase::ALL` order.
    pub ms: [u32; 4],
    pub new_connections: u32,
}

impl TimingsMs {
    pub fn ms(&self) -> [u64; 4] {
        self.ms.map(u64::from)
    }
}

/// The phases of many checks: a distribution per phase (exact percentiles), and the connections
/// they opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhaseStats {
    /// In `Phase::ALL` order.
    pub phases: [Distribution; 4],
    pub new_connections: u64,
}

impl PhaseStats {
    /// One check: its phases in milliseconds (`Phase::ALL` order) and the connections it opened.
    pub fn add(&mut self, ms: [u64; 4], new_connections: u32) {
        for (distribution, ms) in self.phases.iter_mut().zip(ms) {
            distribution.add(ms);
        }
        self.new_connections += u64::from(new_connections);
    }

    pub fn checks(&self) -> u64 {
        self.phases[0].count()
    }

    /// The median of each phase, `None` before the first check.
    pub fn medians(&self) -> Option<[u64; 4]> {
        let [a, b, c, d] = &self.phases;
        Some([
            a.quantile(50, 100)?,
            b.quantile(50, 100)?,
            c.quantile(50, 100)?,
            d.quantile(50, 100)?,
        ])
    }

    /// Connections opened per check, on average (0 before the first check).
    pub fn connections_per_check(&self) -> f64 {
        match self.checks() {
            0 => 0.0,
            n => self.new_connections as f64 / n as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_down_so_they_never_exceed_the_whole() {
        let t = Timings {
            dns: Duration::from_micros(150_999),
            connect: Duration::from_micros(999),
            tls: Duration::from_micros(2_500),
            ttfb: Duration::from_micros(300_001),
            new_connections: 1,
        };
        assert_eq!(t.in_ms().ms, [150, 0, 2, 300]);
        let elapsed = t.dns + t.connect + t.tls + t.ttfb;
        assert!(t.in_ms().ms().iter().sum::<u64>() <= elapsed.as_millis() as u64);
    }

    #[test]
    fn stats_give_each_phase_its_median_and_connections_per_check() {
        let mut stats = PhaseStats::default();
        assert_eq!((stats.medians(), stats.connections_per_check()), (None, 0.0));
        stats.add([1, 10, 20, 100], 1);
        stats.add([0, 0, 0, 50], 0);
        stats.add([3, 12, 25, 900], 2);
        assert_eq!(stats.checks(), 3);
        assert_eq!(stats.medians(), Some([1, 10, 20, 100]));
        assert_eq!(stats.connections_per_check(), 1.0);
    }
}
