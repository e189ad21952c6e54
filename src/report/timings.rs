//! The `--timings` section of `report`: percentiles of each phase (the distributions are counted
//! in `aggregate`, by outcome, as the latency's are) and the ten slowest hosts with their phases,
//! kept in memory bounded by ten entries whatever the number of rows. Pure, like `aggregate`.

use serde::Serialize;

use crate::distribution::Percentiles;
use crate::record::{OwnedRow, PhaseStats};

/// How many of the slowest hosts the report lists.
pub const SLOWEST: usize = 10;

/// A host, by its slowest answered check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlowHost {
    pub host: String,
    pub elapsed_ms: u64,
    pub dns_ms: u64,
    pub connect_ms: u64,
    pub tls_ms: u64,
    pub ttfb_ms: u64,
    pub new_connections: u32,
}

/// The `SLOWEST` hosts whose slowest answered check took longest, slowest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlowestHosts(Vec<SlowHost>);

impl SlowestHosts {
    /// Consider an answered check. Exact with ten entries: a host that drops out had ten
    /// slower hosts, and its slower checks, if any, are considered when they come.
    pub fn consider(&mut self, row: &OwnedRow, ms: [u64; 4], new_connections: u32) {
        let Some(elapsed_ms) = row.elapsed_ms else {
            return;
        };
        let full = self.0.len() == SLOWEST;
        if full && self.0.last().is_some_and(|last| last.elapsed_ms >= elapsed_ms) {
            return;
        }
        let host = url::Url::parse(&row.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| row.url.clone());
        if let Some(at) = self.0.iter().position(|h| h.host == host) {
            if self.0[at].elapsed_ms >= elapsed_ms {
                return;
            }
            self.0.remove(at);
        }
        let [dns_ms, connect_ms, tls_ms, ttfb_ms] = ms;
        let entry = SlowHost {
            host,
            elapsed_ms,
            dns_ms,
            connect_ms,
            tls_ms,
            ttfb_ms,
            new_connections,
        };
        // After every host as slow: the first seen stays first.
        let at = self.0.partition_point(|h| h.elapsed_ms >= elapsed_ms);
        self.0.insert(at, entry);
        self.0.truncate(SLOWEST);
    }

    pub fn hosts(&self) -> &[SlowHost] {
        &self.0
    }
}

/// The phases of one group of checks, as `report --format json` prints them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseFigures {
    pub count: u64,
    pub dns: Percentiles,
    pub connect: Percentiles,
    pub tls: Percentiles,
    pub ttfb: Percentiles,
    pub new_connections_per_url: f64,
}

impl PhaseFigures {
    pub fn of(stats: &PhaseStats) -> Option<Self> {
        let [dns, connect, tls, ttfb] = &stats.phases;
        Some(PhaseFigures {
            count: stats.checks(),
            dns: dns.percentiles()?,
            connect: connect.percentiles()?,
            tls: tls.percentiles()?,
            ttfb: ttfb.percentiles()?,
            new_connections_per_url: stats.connections_per_check(),
        })
    }

    /// In `Phase::ALL` order.
    pub fn phases(&self) -> [&Percentiles; 4] {
        [&self.dns, &self.connect, &self.tls, &self.ttfb]
    }
}

#[cfg(test)]
impl OwnedRow {
    /// An answered row with the `--timings` columns, for the report's unit tests.
    pub(crate) fn timed(url: &str, ms: [u64; 4], new_connections: u32) -> Self {
        let [dns, connect, tls, ttfb] = ms;
        OwnedRow {
            url: url.into(),
            status_code: Some(200),
            success: true,
            elapsed_ms: Some(ms.iter().sum::<u64>() + 1),
            dns_ms: Some(dns),
            connect_ms: Some(connect),
            tls_ms: Some(tls),
            ttfb_ms: Some(ttfb),
            new_connections: Some(new_connections),
            ..OwnedRow::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consider(slowest: &mut SlowestHosts, url: &str, ttfb: u64) {
        let row = OwnedRow::timed(url, [0, 0, 0, ttfb], 1);
        slowest.consider(&row, row.timings().unwrap().0, 1);
    }

    #[test]
    fn the_slowest_ten_hosts_are_kept_once_each_by_their_slowest_check() {
        let mut slowest = SlowestHosts::default();
        for i in 0..30 {
            consider(&mut slowest, &format!("https://h{i}.com/"), 100 + i);
        }
        consider(&mut slowest, "https://h29.com/other", 50); // faster than its first: ignored
        consider(&mut slowest, "https://h3.com/late", 500); // back in, at the top
        consider(&mut slowest, "https://h3.com/later", 400);
        consider(&mut slowest, "https://tie.com/", 121); // as slow as the last: the first seen stays
        let hosts: Vec<(&str, u64)> = slowest
            .hosts()
            .iter()
            .map(|h| (h.host.as_str(), h.elapsed_ms))
            .collect();
        assert_eq!(hosts.len(), SLOWEST);
        assert_eq!(hosts[0], ("h3.com", 501));
        assert_eq!(hosts[1], ("h29.com", 130));
        assert_eq!(&hosts[8..], [("h22.com", 123), ("h21.com", 122)]);
        assert!(!hosts.iter().any(|(h, _)| *h == "tie.com"), "{hosts:?}");
        assert_eq!(slowest.hosts()[0].ttfb_ms, 500);
    }

    #[test]
    fn figures_hold_every_phase_and_the_connections() {
        let mut stats = PhaseStats::default();
        assert!(PhaseFigures::of(&stats).is_none());
        stats.add([1, 2, 3, 40], 1);
        stats.add([0, 0, 0, 20], 0);
        let figures = PhaseFigures::of(&stats).unwrap();
        assert_eq!((figures.count, figures.ttfb.p50, figures.ttfb.max), (2, 20, 40));
        assert_eq!(figures.new_connections_per_url, 0.5);
        let json = serde_json::to_value(&figures).unwrap();
        assert_eq!(json["tls"]["p99"], 3);
    }
}
