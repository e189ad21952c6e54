//! The certificate section of `report`, counted from the `--details` columns as rows stream by:
//! how many certificates expire within 7, 30 and 90 days, the ten that expire first, issuers by
//! count, and the days left in buckets for the histogram. Memory is bounded by the number of
//! distinct issuers, not of rows. Pure, like `aggregate`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::OwnedRow;

/// The windows of "expiring within N days" (expired certificates are counted apart).
pub const WINDOWS: [i64; 3] = [7, 30, 90];
/// How many of the soonest certificates the report lists.
pub const SOONEST: usize = 10;
/// The days-left buckets of the histogram: a label and the first day past it.
pub const BUCKETS: [(&str, i64); 7] = [
    ("expired", 0),
    ("0-6", 7),
    ("7-29", 30),
    ("30-89", 90),
    ("90-179", 180),
    ("180-364", 365),
    ("365+", i64::MAX),
];
/// The issuer of a certificate that names none, or was rejected before it could be read.
const UNKNOWN_ISSUER: &str = "(unknown)";

/// One of the certificates that expire first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expiring {
    pub days_left: i64,
    pub host: String,
    pub not_after: String,
    pub issuer: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertStats {
    /// Rows with any detail column filled: the file was written with `--details`.
    pub detailed_rows: u64,
    /// Rows with a certificate (`cert_days_left`).
    pub certificates: u64,
    pub expired: u64,
    /// Certificates not yet expired with fewer than `WINDOWS[i]` days left.
    pub within: [u64; WINDOWS.len()],
    /// The `SOONEST` certificates with the fewest days left, fewest first.
    pub soonest: Vec<Expiring>,
    pub issuers: BTreeMap<String, u64>,
    /// Certificates per `BUCKETS` entry.
    pub buckets: [u64; BUCKETS.len()],
}

impl CertStats {
    pub fn add(&mut self, row: &OwnedRow) {
        let Some(days) = row.cert_days_left else {
            if row.ip.is_some() || row.http_version.is_some() {
                self.detailed_rows += 1;
            }
            return;
        };
        self.detailed_rows += 1;
        self.certificates += 1;
        if days < 0 {
            self.expired += 1;
        }
        for (count, window) in self.within.iter_mut().zip(WINDOWS) {
            *count += u64::from((0..window).contains(&days));
        }
        let bucket = BUCKETS
            .iter()
            .position(|&(_, end)| days < end)
            .unwrap_or(BUCKETS.len() - 1);
        self.buckets[bucket] += 1;
        let issuer = row.cert_issuer.as_deref().unwrap_or(UNKNOWN_ISSUER);
        match self.issuers.get_mut(issuer) {
            Some(n) => *n += 1,
            None => {
                self.issuers.insert(issuer.to_owned(), 1);
            }
        }
        self.consider_soonest(row, days);
    }

    /// Keep the row if it is among the soonest; only then is anything allocated.
    fn consider_soonest(&mut self, row: &OwnedRow, days: i64) {
        if self.soonest.len() == SOONEST && self.soonest.last().is_some_and(|last| last.days_left <= days) {
            return;
        }
        let host = url::Url::parse(&row.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| row.url.clone());
        let entry = Expiring {
            days_left: days,
            host,
            not_after: row.cert_not_after.clone().unwrap_or_default(),
            issuer: row.cert_issuer.clone(),
        };
        // After every entry with as few days: the first seen stays first.
        let at = self.soonest.partition_point(|e| e.days_left <= days);
        self.soonest.insert(at, entry);
        self.soonest.truncate(SOONEST);
    }

    /// Issuers, most certificates first.
    pub fn issuers_by_count(&self) -> Vec<(String, u64)> {
        let mut items: Vec<(String, u64)> = self.issuers.iter().map(|(k, &n)| (k.clone(), n)).collect();
        items.sort_by_key(|&(_, n)| std::cmp::Reverse(n)); // stable: ties by name
        items
    }

    /// The histogram's bars, in days order.
    pub fn days_left_bars(&self) -> Vec<(String, u64)> {
        BUCKETS
            .iter()
            .zip(self.buckets)
            .map(|(&(label, _), n)| (label.to_owned(), n))
            .collect()
    }

    /// The section as `report --format json` prints it.
    pub fn figures(&self) -> CertFigures<'_> {
        CertFigures {
            certificates: self.certificates,
            expired: self.expired,
            expiring_within_days: WINDOWS.iter().map(|w| w.to_string()).zip(self.within).collect(),
            soonest: &self.soonest,
            issuers: &self.issuers,
            days_left: BUCKETS
                .iter()
                .map(|&(label, _)| label)
                .zip(self.buckets)
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CertFigures<'a> {
    pub certificates: u64,
    pub expired: u64,
    pub expiring_within_days: BTreeMap<String, u64>,
    pub soonest: &'a [Expiring],
    pub issuers: &'a BTreeMap<String, u64>,
    pub days_left: BTreeMap<&'static str, u64>,
}

#[cfg(test)]
impl OwnedRow {
    /// An answered row with a certificate, for the report's unit tests.
    pub(crate) fn with_cert(host: &str, days: i64, issuer: Option<&str>) -> Self {
        OwnedRow {
            url: format!("https://{host}"),
            status_code: Some(200),
            success: true,
            http_version: Some(crate::record::HttpVersion::Http11),
            cert_not_after: Some(format!("in {days} days")),
            cert_days_left: Some(days),
            cert_issuer: issuer.map(str::to_owned),
            ..OwnedRow::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_counted_by_window_bucket_and_issuer() {
        let mut stats = CertStats::default();
        for (host, days, issuer) in [
            ("a.com", -2, None),
            ("b.com", 0, Some("R1")),
            ("c.com", 6, Some("R1")),
            ("d.com", 7, Some("E5")),
            ("e.com", 29, Some("R1")),
            ("f.com", 89, Some("E5")),
            ("g.com", 400, Some("R1")),
        ] {
            stats.add(&OwnedRow::with_cert(host, days, issuer));
        }
        stats.add(&OwnedRow {
            url: "http://plain.com".into(),
            ip: Some([127, 0, 0, 1].into()),
            ..OwnedRow::default()
        });
        stats.add(&OwnedRow::default());
        assert_eq!(
            (stats.detailed_rows, stats.certificates, stats.expired),
            (8, 7, 1)
        );
        assert_eq!(stats.within, [2, 4, 5]);
        assert_eq!(stats.buckets, [1, 2, 2, 1, 0, 0, 1]);
        assert_eq!(
            stats.issuers_by_count(),
            [("R1".into(), 4), ("E5".into(), 2), ("(unknown)".into(), 1)]
        );
        let json = serde_json::to_value(stats.figures()).unwrap();
        assert_eq!(json["expiring_within_days"]["30"], 4);
        assert_eq!(json["days_left"]["365+"], 1);
        assert_eq!(json["soonest"][0]["host"], "a.com");
    }

    #[test]
    fn the_soonest_ten_are_kept_in_order_and_ties_keep_their_arrival() {
        let mut stats = CertStats::default();
        for i in 0..30 {
            stats.add(&OwnedRow::with_cert(&format!("h{i}.com"), 100 - i, Some("R1")));
        }
        stats.add(&OwnedRow::with_cert("tie.com", 71, None));
        let soonest: Vec<(i64, &str)> = stats
            .soonest
            .iter()
            .map(|e| (e.days_left, e.host.as_str()))
            .collect();
        assert_eq!(soonest.len(), SOONEST);
        assert_eq!(soonest[0], (71, "h29.com"));
        assert_eq!(soonest[1], (71, "tie.com"));
        assert_eq!(soonest[9], (79, "h21.com"));
    }
}
