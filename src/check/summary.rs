//! The end-of-run numbers: tallied by the writer as rows go out (so nothing is held in memory),
//! rendered for stderr, and serialised for `--summary-json` (sweep scripts read it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::check::hosts::HostsSummary;
use crate::check::shard::{Shard, ShardBy, ShardFrom};
use crate::record::{ErrorKind, HttpVersion, OwnedRow, PhaseStats, Record};

/// Running counts over the rows written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub total: u64,
    pub successful: u64,
    pub by_exception: BTreeMap<ErrorKind, u64>,
    pub by_status: BTreeMap<u16, u64>,
    /// Days left on the certificate that expires first (`--details`).
    pub soonest_cert_days: Option<i64>,
    /// Answers by the protocol they came over (`--details`).
    pub by_http_version: BTreeMap<HttpVersion, u64>,
    /// The phases of the answered URLs (`--timings`).
    pub phases: PhaseStats,
}

impl Tally {
    /// Counts without the breakdown, for a writer that was left behind (see `Sink::finish`).
    pub fn counted(total: u64, successful: u64) -> Self {
        Tally {
            total,
            successful,
            ..Tally::default()
        }
    }

    pub fn add(&mut self, record: &Record) {
        self.count(
            record.success,
            record.status(),
            record.error_kind(),
            record.cert_days_left(),
            record.http_version(),
        );
        if let (Some(timings), Some(_)) = (record.timings, record.status()) {
            self.phases.add(timings.ms(), timings.new_connections);
        }
    }

    /// A row an earlier attempt wrote, read back by `--resume`.
    pub fn add_row(&mut self, row: &OwnedRow) {
        self.count(
            row.success,
            row.status_code,
            row.exception,
            row.cert_days_left,
            row.http_version,
        );
        if let (Some((ms, opened)), Some(_)) = (row.timings(), row.status_code) {
            self.phases.add(ms, opened);
        }
    }

    fn count(
        &mut self,
        success: bool,
        status: Option<u16>,
        kind: Option<ErrorKind>,
        cert_days: Option<i64>,
        http_version: Option<HttpVersion>,
    ) {
        self.total += 1;
        self.successful += u64::from(success);
        if let Some(days) = cert_days {
            self.soonest_cert_days = Some(self.soonest_cert_days.map_or(days, |d| d.min(days)));
        }
        // A `content` row has both: the status it answered and the expectation it broke.
        if let Some(status) = status {
            *self.by_status.entry(status).or_default() += 1;
        }
        if let Some(kind) = kind {
            *self.by_exception.entry(kind).or_default() += 1;
        }
        if let Some(version) = http_version {
            *self.by_http_version.entry(version).or_default() += 1;
        }
    }

    pub fn failed(&self) -> u64 {
        self.total - self.successful
    }
}

/// Everything the run reports at the end.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub total: u64,
    pub successful: u64,
    pub failed: u64,
    pub by_exception: BTreeMap<ErrorKind, u64>,
    pub by_status: BTreeMap<u16, u64>,
    /// The concurrency the run had: `requested_concurrency`, or less when the open-files limit
    /// could not fit that (see `limits`).
    pub concurrency: usize,
    pub requested_concurrency: usize,
    pub peak_in_flight: u64,
    pub wall_seconds: f64,
    pub urls_per_second: f64,
    pub interrupted: bool,
    /// Targets of a known-size set that got no row (interrupted runs); `None` when unknown.
    pub not_checked: Option<u64>,
    /// Per host: requests, 429s, retries, errors, most in flight.
    pub hosts: HostsSummary,
    /// Requests sent again on a new connection because the kept-alive one they went out on had
    /// been closed by the server before any answer (`net::client::Client::send`).
    pub stale_connection_retries: u64,
    /// Days left on the certificate that expires first, when `--details` read any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soonest_cert_days_left: Option<i64>,
    /// Answers by protocol (`HTTP/1.1`, `HTTP/2.0`), when `--details` noted them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_http_version: BTreeMap<HttpVersion, u64>,
    /// Rows that earlier attempts left in the `--resume` file. They are counted in `total`,
    /// `successful`, `failed` and the breakdowns, so that these cover the whole file; this
    /// run wrote `total - earlier_rows`.
    pub earlier_rows: u64,
    /// `--shard`: which part of the targets the file holds (K/N, what it splits on, and where
    /// K and N came from).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Why reading the targets stopped part way (a sitemap broken after its first `<loc>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_error: Option<String>,
    /// Where the answered URLs' time went, when `--timings` measured any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<PhaseMedians>,
}

/// The median of each phase over the answered URLs of a `--timings` run, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhaseMedians {
    pub answered: u64,
    pub dns_ms: u64,
    pub connect_ms: u64,
    pub tls_ms: u64,
    pub ttfb_ms: u64,
    /// Connections opened per answered URL, on average.
    pub new_connections_per_url: f64,
}

impl PhaseMedians {
    pub fn of(stats: &PhaseStats) -> Option<Self> {
        let [dns_ms, connect_ms, tls_ms, ttfb_ms] = stats.medians()?;
        Some(PhaseMedians {
            answered: stats.checks(),
            dns_ms,
            connect_ms,
            tls_ms,
            ttfb_ms,
            new_connections_per_url: stats.connections_per_check(),
        })
    }

    /// In `Phase::ALL` order.
    pub fn ms(&self) -> [u64; 4] {
        [self.dns_ms, self.connect_ms, self.tls_ms, self.ttfb_ms]
    }
}

/// Hosts named in the summary on stderr; `--summary-json` has up to a thousand.
const BUSIEST_SHOWN: usize = 5;

impl Summary {
    /// `concurrency` is (requested, what ran).
    pub fn new(tally: Tally, concurrency: (usize, usize), peak_in_flight: u64, wall: Duration) -> Self {
        let secs = wall.as_secs_f64();
        Summary {
            total: tally.total,
            successful: tally.successful,
            failed: tally.failed(),
            urls_per_second: if secs > 0.0 {
                tally.total as f64 / secs
            } else {
                0.0
            },
            soonest_cert_days_left: tally.soonest_cert_days,
            timings: PhaseMedians::of(&tally.phases),
            by_exception: tally.by_exception,
            by_status: tally.by_status,
            by_http_version: tally.by_http_version,
            requested_concurrency: concurrency.0,
            concurrency: concurrency.1,
            peak_in_flight,
            wall_seconds: secs,
            interrupted: false,
            not_checked: None,
            hosts: HostsSummary::default(),
            stale_connection_retries: 0,
            earlier_rows: 0,
            shard: None,
            input_error: None,
        }
    }

    /// Count the rows that earlier attempts left in the file too (`--resume`); the rate stays
    /// this run's.
    pub fn with_earlier(mut self, earlier: &Tally) -> Self {
        self.earlier_rows += earlier.total;
        self.total += earlier.total;
        self.successful += earlier.successful;
        self.failed += earlier.failed();
        for (kind, n) in &earlier.by_exception {
            *self.by_exception.entry(*kind).or_default() += n;
        }
        for (status, n) in &earlier.by_status {
            *self.by_status.entry(*status).or_default() += n;
        }
        if let Some(days) = earlier.soonest_cert_days {
            self.soonest_cert_days_left = Some(self.soonest_cert_days_left.map_or(days, |d| d.min(days)));
        }
        self
    }

    /// The rows this run wrote.
    pub fn written(&self) -> u64 {
        self.total - self.earlier_rows
    }

    /// The human summary for stderr.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let share = if self.total > 0 {
            100.0 * self.successful as f64 / self.total as f64
        } else {
            0.0
        };
        let lowered = if self.concurrency < self.requested_concurrency {
            format!(
                " of {} asked: the open-files limit fits no more",
                self.requested_concurrency
            )
        } else {
            String::new()
        };
        let earlier = match self.earlier_rows {
            0 => String::new(),
            n => format!(", plus {n} rows from earlier attempts ({} in all)", self.total),
        };
        let _ = writeln!(
            s,
            "Checked {} URLs in {:.2} s ({:.0} URLs/s, concurrency {}{lowered}){earlier}: Successful: {} ({share:.1}%), Failed: {}",
            self.written(), self.wall_seconds, self.urls_per_second, self.concurrency, self.successful, self.failed
        );
        if let Some(shard) = &self.shard {
            let from = match shard.from {
                ShardFrom::Flag => "",
                ShardFrom::Slurm => ", from the Slurm job array",
                ShardFrom::Kubernetes => ", from the Kubernetes Indexed Job",
            };
            let by = match shard.by {
                ShardBy::Position => "position",
                ShardBy::Host => "host",
            };
            let _ = writeln!(s, "  shard {}/{} by {by}{from}", shard.index, shard.count);
        }
        if !self.by_status.is_empty() {
            let codes: Vec<String> = self
                .by_status
                .iter()
                .map(|(code, n)| format!("{code}: {n}"))
                .collect();
            let _ = writeln!(s, "  by status: {}", codes.join(", "));
        }
        if !self.by_exception.is_empty() {
            let kinds: Vec<String> = self
                .by_exception
                .iter()
                .map(|(kind, n)| format!("{kind}: {n}"))
                .collect();
            let _ = writeln!(s, "  by exception: {}", kinds.join(", "));
        }
        if !self.by_http_version.is_empty() {
            let versions: Vec<String> = self
                .by_http_version
                .iter()
                .map(|(version, n)| format!("{version}: {n}"))
                .collect();
            let _ = writeln!(s, "  by HTTP version: {}", versions.join(", "));
        }
        for host in self.hosts.busiest.iter().take(BUSIEST_SHOWN) {
            let f = &host.figures;
            let _ = writeln!(
                s,
                "  host {}: {} requests, {} throttled (429), {} retries, {} errors, at most {} in flight",
                host.host, f.requests, f.throttled, f.retries, f.errors, f.max_in_flight
            );
        }
        if let Some(t) = &self.timings {
            let _ = writeln!(
                s,
                "  phases of {} answered URLs (medians): dns {} ms, connect {} ms, tls {} ms, ttfb {} ms; \
                 {:.2} connections opened per URL",
                t.answered, t.dns_ms, t.connect_ms, t.tls_ms, t.ttfb_ms, t.new_connections_per_url
            );
        }
        if self.stale_connection_retries > 0 {
            let _ = writeln!(
                s,
                "  {} requests sent again on a new connection: the server had closed the kept one",
                self.stale_connection_retries
            );
        }
        if let Some(error) = &self.input_error {
            let _ = writeln!(
                s,
                "  input stopped early: {error}; only the URLs read before it were checked"
            );
        }
        match self.soonest_cert_days_left {
            Some(days) if days < 0 => {
                let _ = writeln!(s, "  soonest certificate expiry: expired {} days ago", -days);
            }
            Some(days) => {
                let _ = writeln!(s, "  soonest certificate expiry: {days} days left");
            }
            None => {}
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Method, Outcome};

    fn record(outcome: Outcome, success: bool) -> Record {
        Record {
            url: "https://a.com".into(),
            outcome,
            success,
            final_url: None,
            redirects: 0,
            method: Some(Method::Head),
            elapsed: Duration::ZERO,
            note: None,
            details: None,
            timings: None,
        }
    }

    #[test]
    fn the_tally_counts_statuses_and_exceptions() {
        let mut tally = Tally::default();
        tally.add(&record(Outcome::Response { status: 200 }, true));
        tally.add(&record(Outcome::Response { status: 200 }, true));
        tally.add(&record(Outcome::Response { status: 404 }, false));
        tally.add(&record(
            Outcome::Failed {
                kind: ErrorKind::Timeout,
                detail: String::new(),
            },
            false,
        ));
        assert_eq!((tally.total, tally.successful, tally.failed()), (4, 2, 2));
        assert_eq!(tally.by_status, BTreeMap::from([(200, 2), (404, 1)]));
        assert_eq!(tally.by_exception, BTreeMap::from([(ErrorKind::Timeout, 1)]));

        let summary = Summary::new(tally.clone(), (10, 10), 4, Duration::from_secs(2));
        assert_eq!(summary.urls_per_second, 2.0);
        assert!(summary.render().contains("concurrency 10):"));
        let summary = Summary::new(tally, (5000, 76), 4, Duration::from_secs(2));
        let text = summary.render();
        assert!(text.contains("concurrency 76 of 5000 asked"), "{text}");
        assert!(text.contains("Successful: 2 (50.0%), Failed: 2"), "{text}");
        assert!(text.contains("by status: 200: 2, 404: 1"), "{text}");
        assert!(text.contains("by exception: timeout: 1"), "{text}");
        assert!(
            !text.contains("host "),
            "no host had more than one request: {text}"
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["by_exception"]["timeout"], 1);
        assert_eq!(json["by_status"]["404"], 1);
        assert_eq!(
            (
                json["concurrency"].as_u64(),
                json["requested_concurrency"].as_u64()
            ),
            (Some(76), Some(5000))
        );
        assert!(
            json.get("soonest_cert_days_left").is_none(),
            "no certificates, no field"
        );
        assert!(json.get("by_http_version").is_none(), "no --details, no field");
        assert_eq!(json["hosts"]["other_hosts"], 0);
    }

    #[test]
    fn a_resumed_run_counts_the_whole_file_and_its_rate_is_its_own() {
        let mut now = Tally::default();
        now.add(&record(Outcome::Response { status: 200 }, true));
        now.add(&record(Outcome::Response { status: 404 }, false));
        let mut earlier = Tally::default();
        earlier.add_row(&OwnedRow::sample(Some(200), None, 5));
        earlier.add_row(&OwnedRow::sample(None, Some(ErrorKind::Timeout), 5000));
        earlier.add_row(&OwnedRow::sample(Some(200), None, 5));
        let mut summary = Summary::new(now, (10, 10), 2, Duration::from_secs(1)).with_earlier(&earlier);
        summary.shard = Some(Shard {
            index: 2,
            count: 8,
            by: ShardBy::Position,
            from: ShardFrom::Slurm,
        });
        assert_eq!(
            (summary.total, summary.written(), summary.earlier_rows),
            (5, 2, 3)
        );
        assert_eq!((summary.successful, summary.failed), (3, 2));
        assert_eq!(
            summary.urls_per_second, 2.0,
            "this run's rows over this run's time"
        );
        let text = summary.render();
        assert!(
            text.starts_with("Checked 2 URLs in 1.00 s (2 URLs/s, concurrency 10), plus 3 rows from earlier attempts (5 in all): Successful: 3 (60.0%), Failed: 2"),
            "{text}"
        );
        assert!(
            text.contains("  shard 2/8 by position, from the Slurm job array"),
            "{text}"
        );
        assert!(
            text.contains("by status: 200: 3, 404: 1") && text.contains("by exception: timeout: 1"),
            "{text}"
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["earlier_rows"], 3);
        assert_eq!(
            json["shard"],
            serde_json::json!({"index": 2, "count": 8, "by": "position", "from": "slurm"})
        );
    }

    #[test]
    fn the_busiest_hosts_are_shown_five_at_most() {
        use crate::check::hosts::{HostFigures, NamedHost};
        let mut summary = Summary::new(Tally::default(), (10, 10), 4, Duration::from_secs(1));
        summary.hosts.busiest = (0..7)
            .map(|i| NamedHost {
                host: format!("https://s{i}.test:443"),
                figures: HostFigures {
                    requests: 100 - i,
                    throttled: 1,
                    max_in_flight: 6,
                    ..HostFigures::default()
                },
            })
            .collect();
        let text = summary.render();
        assert_eq!(text.matches("  host ").count(), 5, "{text}");
        assert!(
            text.contains("host https://s0.test:443: 100 requests, 1 throttled (429), 0 retries, 0 errors, at most 6 in flight"),
            "{text}"
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["hosts"]["busiest"][6]["requests"], 94);
    }

    #[test]
    fn requests_sent_again_on_a_new_connection_are_counted_and_shown_when_any() {
        let mut summary = Summary::new(Tally::default(), (10, 10), 4, Duration::from_secs(1));
        assert!(!summary.render().contains("sent again"));
        assert_eq!(
            serde_json::to_value(&summary).unwrap()["stale_connection_retries"],
            0
        );
        summary.stale_connection_retries = 3;
        assert!(summary
            .render()
            .contains("  3 requests sent again on a new connection: the server had closed the kept one"));
        assert_eq!(
            serde_json::to_value(&summary).unwrap()["stale_connection_retries"],
            3
        );
    }

    #[test]
    fn the_tally_keeps_the_soonest_certificate() {
        let with_cert = |days_left| Record {
            details: Some(Box::new(crate::record::Details {
                http_version: Some(crate::record::HttpVersion::Http11),
                cert: Some(crate::record::cert::CertInfo {
                    not_after: crate::record::cert::UtcSecs(0),
                    days_left,
                    issuer: None,
                }),
                ..Default::default()
            })),
            ..record(Outcome::Response { status: 200 }, true)
        };
        let mut tally = Tally::default();
        tally.add(&record(Outcome::Response { status: 200 }, true));
        assert_eq!(tally.soonest_cert_days, None);
        for days in [40, -2, 9] {
            tally.add(&with_cert(days));
        }
        assert_eq!(tally.soonest_cert_days, Some(-2));
        assert_eq!(
            tally.by_http_version,
            BTreeMap::from([(crate::record::HttpVersion::Http11, 3)])
        );
        let summary = Summary::new(tally, (1, 1), 1, Duration::from_secs(1));
        let text = summary.render();
        assert!(text.contains("soonest certificate expiry: expired 2 days ago"));
        assert!(text.contains("by HTTP version: HTTP/1.1: 3"), "{text}");
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["soonest_cert_days_left"], -2);
        assert_eq!(json["by_http_version"]["HTTP/1.1"], 3);
    }

    #[test]
    fn with_timings_the_summary_has_the_median_phases_of_the_answered_urls() {
        let timed = |ms: u64, outcome| Record {
            timings: Some(crate::record::TimingsMs {
                ms: [ms, 1, 2 * ms, 10 * ms].map(|ms| ms as u32),
                new_connections: 1,
            }),
            ..record(outcome, true)
        };
        let mut tally = Tally::default();
        let summary = Summary::new(tally.clone(), (1, 1), 1, Duration::from_secs(1));
        assert!(summary.timings.is_none() && !summary.render().contains("phases"));
        for ms in [3, 5, 4] {
            tally.add(&timed(ms, Outcome::Response { status: 200 }));
        }
        let failed = Outcome::Failed {
            kind: ErrorKind::Timeout,
            detail: String::new(),
        };
        tally.add(&timed(900, failed));
        let summary = Summary::new(tally, (1, 1), 1, Duration::from_secs(1));
        let text = summary.render();
        assert!(
            text.contains(
                "phases of 3 answered URLs (medians): dns 4 ms, connect 1 ms, tls 8 ms, ttfb 40 ms; \
                 1.00 connections opened per URL"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["timings"]["ttfb_ms"], 40);
        assert_eq!(json["timings"]["answered"], 3);
    }
}
