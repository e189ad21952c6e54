//! The flat shape of a row on disk, shared by the CSV and JSON-lines writers and read back by
//! `report` and `--resume`: the columns in file order, the borrowed row that is written and the
//! owned row that is read.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::cert::UtcSecs;
use super::{ErrorKind, HttpVersion, Method};

/// The columns, in file order. The first four are the thread-pool script's.
pub const COLUMNS: [&str; 9] = [
    "url",
    "status_code",
    "success",
    "exception",
    "error_detail",
    "final_url",
    "redirects",
    "method",
    "elapsed_ms",
];

/// The columns `--details` adds after `COLUMNS`.
pub const DETAIL_COLUMNS: [&str; 5] = [
    "ip",
    "http_version",
    "cert_not_after",
    "cert_days_left",
    "cert_issuer",
];

/// One output row as written. The detail (timing) columns are `None` without `--details`
/// (`--timings`) and then not written at all (not even empty), so the default file keeps its
/// nine columns.
#[derive(Debug, Serialize)]
pub struct Row<'a> {
    pub url: &'a str,
    pub status_code: Option<u16>,
    pub success: bool,
    pub exception: Option<ErrorKind>,
    pub error_detail: &'a str,
    pub final_url: &'a str,
    pub redirects: u32,
    pub method: Option<Method>,
    pub elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<Option<IpAddr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_version: Option<Option<HttpVersion>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_not_after: Option<Option<UtcSecs>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_days_left: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_issuer: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_ms: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ms: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfb_ms: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_connections: Option<Option<u32>>,
}

/// One output row as read back; columns beyond these are ignored, the first four are required
/// (files without the detail or timing columns read as rows without them).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OwnedRow {
    pub url: String,
    pub status_code: Option<u16>,
    pub success: bool,
    pub exception: Option<ErrorKind>,
    #[serde(default)]
    pub error_detail: Option<String>,
    #[serde(default)]
    pub final_url: Option<String>,
    #[serde(default)]
    pub redirects: Option<u32>,
    #[serde(default)]
    pub method: Option<Method>,
    #[serde(default)]
    pub elapsed_ms: Option<u64>,
    #[serde(default)]
    pub ip: Option<IpAddr>,
    #[serde(default)]
    pub http_version: Option<HttpVersion>,
    /// RFC 3339, as written.
    #[serde(default)]
    pub cert_not_after: Option<String>,
    #[serde(default)]
    pub cert_days_left: Option<i64>,
    #[serde(default)]
    pub cert_issuer: Option<String>,
    #[serde(default)]
    pub dns_ms: Option<u64>,
    #[serde(default)]
    pub connect_ms: Option<u64>,
    #[serde(default)]
    pub tls_ms: Option<u64>,
    #[serde(default)]
    pub ttfb_ms: Option<u64>,
    #[serde(default)]
    pub new_connections: Option<u32>,
}

impl OwnedRow {
    /// The `--timings` columns, when the row has every one: the phases in milliseconds
    /// (`Phase::ALL` order) and the connections the check opened.
    pub fn timings(&self) -> Option<([u64; 4], u32)> {
        Some((
            [self.dns_ms?, self.connect_ms?, self.tls_ms?, self.ttfb_ms?],
            self.new_connections?,
        ))
    }
}

#[cfg(test)]
impl OwnedRow {
    /// A row for the report's unit tests: success is the article's rule, status 200.
    pub(crate) fn sample(status_code: Option<u16>, exception: Option<ErrorKind>, elapsed_ms: u64) -> Self {
        OwnedRow {
            url: "https://a.com".into(),
            status_code,
            success: status_code == Some(200),
            exception,
            elapsed_ms: Some(elapsed_ms),
            ..OwnedRow::default()
        }
    }
}
