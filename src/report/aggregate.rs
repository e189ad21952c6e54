//! The numbers of a report, counted row by row as the file is read, so a run of millions of URLs
//! is summarised in memory that does not grow with the number of rows: counts per status code and
//! per exception kind, latencies as a `latency::Distribution`, and the `--timings` phases as one
//! per phase.
//!
//! Everything here is pure and unit-tested with exact numbers; reading and drawing live elsewhere.

use std::collections::BTreeMap;

use serde::Serialize;

use super::certs::{CertFigures, CertStats};
use super::latency::{Distribution, Percentiles};
use super::timings::{PhaseFigures, SlowHost, SlowestHosts};
use crate::record::{ErrorKind, HttpVersion, OwnedRow, PhaseStats};

/// What a row ended with, for latency by outcome. The order is the order of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeGroup {
    /// A status that counts as success.
    Successful,
    /// An answer, but not a successful status.
    UnsuccessfulStatus,
    /// No answer: an exception of this kind.
    #[serde(untagged)]
    Exception(ErrorKind),
}

impl OutcomeGroup {
    pub fn label(self) -> &'static str {
        match self {
            OutcomeGroup::Successful => "successful",
            OutcomeGroup::UnsuccessfulStatus => "unsuccessful status",
            OutcomeGroup::Exception(kind) => kind.as_str(),
        }
    }
}

/// Status codes from here on are the error statuses of the 4xx/5xx chart (and the nonstandard
/// ones above 599, such as 999, which the article's chart showed among them).
pub const FIRST_ERROR_STATUS: u16 = 400;

/// Everything a report shows, accumulated one row at a time with [`Aggregate::add`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Aggregate {
    pub total: u64,
    pub successful: u64,
    pub failed: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub by_exception: BTreeMap<ErrorKind, u64>,
    /// Answers by protocol, from the `--details` column `http_version`.
    pub by_http_version: BTreeMap<HttpVersion, u64>,
    /// Latency of the URLs that got an answer; rows without `elapsed_ms` are not counted.
    #[serde(skip)]
    pub answered_ms: Distribution,
    #[serde(skip)]
    pub outcome_ms: BTreeMap<OutcomeGroup, Distribution>,
    /// From the `--details` columns, when the file has them.
    #[serde(skip)]
    pub certs: CertStats,
    /// From the `--timings` columns, when the file has them: the phases of the answered rows,
    /// of every outcome's rows, and the slowest hosts.
    #[serde(skip)]
    pub answered_phases: PhaseStats,
    #[serde(skip)]
    pub outcome_phases: BTreeMap<OutcomeGroup, PhaseStats>,
    #[serde(skip)]
    pub slowest: SlowestHosts,
}

impl Aggregate {
    pub fn add(&mut self, row: &OwnedRow) {
        self.total += 1;
        self.certs.add(row);
        if row.success {
            self.successful += 1;
        } else {
            self.failed += 1;
        }
        // A `content` row has both: the status it answered and the expectation it broke.
        if let Some(status) = row.status_code {
            *self.by_status.entry(status).or_default() += 1;
        }
        if let Some(kind) = row.exception {
            *self.by_exception.entry(kind).or_default() += 1;
        }
        if let Some(version) = row.http_version {
            *self.by_http_version.entry(version).or_default() += 1;
        }
        let Some(ms) = row.elapsed_ms else {
            return;
        };
        let group = match (row.status_code, row.exception) {
            (Some(_), _) if row.success => OutcomeGroup::Successful,
            (_, Some(kind)) => OutcomeGroup::Exception(kind),
            (Some(_), None) => OutcomeGroup::UnsuccessfulStatus,
            (None, None) => return, // neither an answer nor an exception: nothing to file it under
        };
        if row.status_code.is_some() {
            self.answered_ms.add(ms);
        }
        self.outcome_ms.entry(group).or_default().add(ms);
        if let Some((phases, opened)) = row.timings() {
            if row.status_code.is_some() {
                self.answered_phases.add(phases, opened);
                self.slowest.consider(row, phases, opened);
            }
            self.outcome_phases.entry(group).or_default().add(phases, opened);
        }
    }

    /// Whether the file has the `--timings` columns (in any row that was sent).
    pub fn has_timings(&self) -> bool {
        !self.outcome_phases.is_empty()
    }

    /// Successful URLs as a share of all, from 0 to 1 (0 for an empty file).
    pub fn share_successful(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.successful as f64 / self.total as f64
        }
    }

    /// Status codes by count, most frequent first (ties: lower code first).
    pub fn statuses_by_count(&self) -> Vec<(u16, u64)> {
        by_count(self.by_status.iter().map(|(&code, &n)| (code, n)))
    }

    /// The 4xx/5xx (and higher) status codes alone, by count.
    pub fn error_statuses_by_count(&self) -> Vec<(u16, u64)> {
        by_count(
            self.by_status
                .range(FIRST_ERROR_STATUS..)
                .map(|(&code, &n)| (code, n)),
        )
    }

    /// Exception kinds by count, most frequent first.
    pub fn exceptions_by_count(&self) -> Vec<(ErrorKind, u64)> {
        by_count(self.by_exception.iter().map(|(&kind, &n)| (kind, n)))
    }

    /// The figures `--format json` prints: counts, shares and latency percentiles.
    pub fn figures(&self) -> Figures<'_> {
        Figures {
            total: self.total,
            successful: self.successful,
            failed: self.failed,
            share_successful: self.share_successful(),
            by_status: &self.by_status,
            error_statuses: self
                .by_status
                .range(FIRST_ERROR_STATUS..)
                .map(|(&code, &n)| (code, n))
                .collect(),
            by_exception: &self.by_exception,
            by_http_version: &self.by_http_version,
            latency_ms: LatencyFigures {
                answered: self.answered_ms.percentiles(),
                by_outcome: self
                    .outcome_ms
                    .iter()
                    .filter_map(|(&group, dist)| Some((group, dist.percentiles()?)))
                    .collect(),
            },
            certificates: (self.certs.detailed_rows > 0).then(|| self.certs.figures()),
            timings_ms: self.has_timings().then(|| TimingFigures {
                answered: PhaseFigures::of(&self.answered_phases),
                by_outcome: self
                    .outcome_phases
                    .iter()
                    .filter_map(|(&group, stats)| Some((group, PhaseFigures::of(stats)?)))
                    .collect(),
                slowest_hosts: self.slowest.hosts(),
            }),
        }
    }
}

/// The aggregates as `--format json` prints them, in this order.
#[derive(Debug, Serialize)]
pub struct Figures<'a> {
    pub total: u64,
    pub successful: u64,
    pub failed: u64,
    pub share_successful: f64,
    pub by_status: &'a BTreeMap<u16, u64>,
    pub error_statuses: BTreeMap<u16, u64>,
    pub by_exception: &'a BTreeMap<ErrorKind, u64>,
    /// Only for a file written with `--details`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_http_version: &'a BTreeMap<HttpVersion, u64>,
    pub latency_ms: LatencyFigures,
    /// Only for a file written with `--details`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertFigures<'a>>,
    /// Only for a file written with `--timings`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings_ms: Option<TimingFigures<'a>>,
}

/// The phases of the answered rows and of each outcome's, and the slowest hosts.
#[derive(Debug, Serialize)]
pub struct TimingFigures<'a> {
    /// `None` (JSON null) when no answered row has the timing columns.
    pub answered: Option<PhaseFigures>,
    pub by_outcome: BTreeMap<OutcomeGroup, PhaseFigures>,
    pub slowest_hosts: &'a [SlowHost],
}

#[derive(Debug, Serialize)]
pub struct LatencyFigures {
    /// `None` (JSON null) when no answered row has `elapsed_ms`.
    pub answered: Option<Percentiles>,
    pub by_outcome: BTreeMap<OutcomeGroup, Percentiles>,
}

/// Sort by count, descending; equal counts keep the key order of the map they came from.
fn by_count<K>(items: impl Iterator<Item = (K, u64)>) -> Vec<(K, u64)> {
    let mut items: Vec<(K, u64)> = items.collect();
    items.sort_by_key(|&(_, n)| std::cmp::Reverse(n)); // stable
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: Option<u16>, success: bool, exception: Option<ErrorKind>, ms: Option<u64>) -> OwnedRow {
        OwnedRow {
            url: "https://a.com".into(),
            status_code: status,
            success,
            exception,
            elapsed_ms: ms,
            ..OwnedRow::default()
        }
    }

    #[test]
    fn rows_are_counted_by_status_exception_and_outcome() {
        let mut agg = Aggregate::default();
        agg.add(&row(Some(200), true, None, Some(100)));
        agg.add(&row(Some(200), true, None, Some(300)));
        agg.add(&row(Some(404), false, None, Some(50)));
        agg.add(&row(Some(503), false, None, Some(70)));
        agg.add(&row(Some(301), false, None, None));
        agg.add(&row(None, false, Some(ErrorKind::Timeout), Some(5000)));
        agg.add(&row(None, false, Some(ErrorKind::Tls), Some(20)));
        agg.add(&row(None, false, Some(ErrorKind::Timeout), Some(5001)));

        assert_eq!((agg.total, agg.successful, agg.failed), (8, 2, 6));
        assert_eq!(agg.share_successful(), 0.25);
        assert_eq!(agg.statuses_by_count(), [(200, 2), (301, 1), (404, 1), (503, 1)]);
        assert_eq!(agg.error_statuses_by_count(), [(404, 1), (503, 1)]);
        assert_eq!(
            agg.exceptions_by_count(),
            [(ErrorKind::Timeout, 2), (ErrorKind::Tls, 1)]
        );
        // The 301 has no elapsed_ms: counted, but not in the latencies.
        assert_eq!(agg.answered_ms.count(), 4);
        let answered = agg.answered_ms.percentiles().unwrap();
        assert_eq!((answered.p50, answered.p90, answered.max), (70, 300, 300));
        let timeouts = &agg.outcome_ms[&OutcomeGroup::Exception(ErrorKind::Timeout)];
        assert_eq!(
            (timeouts.quantile(50, 100), timeouts.max()),
            (Some(5000), Some(5001))
        );
    }

    #[test]
    fn the_json_holds_the_counts_and_percentiles() {
        let mut agg = Aggregate::default();
        agg.add(&row(Some(200), true, None, Some(100)));
        agg.add(&row(Some(404), false, None, Some(40)));
        agg.add(&row(None, false, Some(ErrorKind::Dns), Some(3)));
        let json = serde_json::to_value(agg.figures()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "total": 3, "successful": 1, "failed": 2, "share_successful": 1.0 / 3.0,
                "by_status": {"200": 1, "404": 1},
                "error_statuses": {"404": 1},
                "by_exception": {"dns": 1},
                "latency_ms": {
                    "answered": {"count": 2, "p50": 40, "p90": 100, "p99": 100, "max": 100},
                    "by_outcome": {
                        "successful": {"count": 1, "p50": 100, "p90": 100, "p99": 100, "max": 100},
                        "unsuccessful_status": {"count": 1, "p50": 40, "p90": 40, "p99": 40, "max": 40},
                        "dns": {"count": 1, "p50": 3, "p90": 3, "p99": 3, "max": 3},
                    },
                },
            })
        );
    }

    #[test]
    fn answers_are_counted_by_http_version_when_the_file_has_the_column() {
        let mut agg = Aggregate::default();
        for version in [HttpVersion::Http2, HttpVersion::Http11, HttpVersion::Http2] {
            agg.add(&OwnedRow {
                http_version: Some(version),
                ..row(Some(200), true, None, Some(1))
            });
        }
        agg.add(&row(None, false, Some(ErrorKind::Dns), Some(3)));
        let json = serde_json::to_value(agg.figures()).unwrap();
        assert_eq!(
            json["by_http_version"],
            serde_json::json!({"HTTP/1.1": 1, "HTTP/2.0": 2})
        );
    }

    #[test]
    fn an_empty_input_aggregates_to_zeros() {
        let agg = Aggregate::default();
        assert_eq!(agg.share_successful(), 0.0);
        assert_eq!(
            serde_json::to_value(agg.figures()).unwrap()["latency_ms"]["answered"],
            serde_json::Value::Null
        );
    }
}
