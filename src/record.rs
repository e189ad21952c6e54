//! One row per URL: what happened to it, as types that make wrong rows hard to write, and the flat
//! serde shape that the CSV and JSON-lines files share (`report` and `--resume` read it back).

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a URL got no HTTP response. The names are the `exception` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Timeout,
    Dns,
    Connect,
    Tls,
    Reset,
    TooManyRedirects,
    InvalidUrl,
    Protocol,
    Cancelled,
    Other,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Timeout,
        ErrorKind::Dns,
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Reset,
        ErrorKind::TooManyRedirects,
        ErrorKind::InvalidUrl,
        ErrorKind::Protocol,
        ErrorKind::Cancelled,
        ErrorKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Reset => "reset",
            ErrorKind::TooManyRedirects => "too_many_redirects",
            ErrorKind::InvalidUrl => "invalid_url",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown exception kind `{s}`"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Head,
    Get,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Head => "HEAD",
            Method::Get => "GET",
        }
    }
}

/// What the last request of a URL's check ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Response { status: u16 },
    Failed { kind: ErrorKind, detail: String },
}

/// The result of checking one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The target as checked (bare domains with their scheme); for an invalid line, the line.
    pub url: String,
    pub outcome: Outcome,
    pub success: bool,
    /// Where the redirects ended, when there were any responses at all.
    pub final_url: Option<String>,
    pub redirects: u32,
    /// The method of the last request; `None` when no request was sent (invalid line).
    pub method: Option<Method>,
    pub elapsed: Duration,
    /// Why an answer stands as it is, when the check gave up on something (a 429 it did not
    /// retry): the `error_detail` of a row with a status.
    pub note: Option<String>,
}

impl Record {
    /// A row for a target that was never sent: an invalid line, or a probe that was aborted.
    pub fn unsent(url: String, kind: ErrorKind, detail: String) -> Self {
        Record {
            url,
            outcome: Outcome::Failed { kind, detail },
            success: false,
            final_url: None,
            redirects: 0,
            method: None,
            elapsed: Duration::ZERO,
            note: None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.outcome {
            Outcome::Response { status } => Some(status),
            Outcome::Failed { .. } => None,
        }
    }

    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self.outcome {
            Outcome::Response { .. } => None,
            Outcome::Failed { kind, .. } => Some(kind),
        }
    }

    /// The flat row the writers serialise; borrows, so writing a row allocates nothing.
    pub fn row(&self) -> Row<'_> {
        let (status_code, exception, error_detail) = match &self.outcome {
            Outcome::Response { status } => (Some(*status), None, self.note.as_deref().unwrap_or("")),
            Outcome::Failed { kind, detail } => (None, Some(*kind), detail.as_str()),
        };
        Row {
            url: &self.url,
            status_code,
            success: self.success,
            exception,
            error_detail,
            final_url: self.final_url.as_deref().unwrap_or(""),
            redirects: self.redirects,
            method: self.method,
            elapsed_ms: self.elapsed.as_millis() as u64,
        }
    }
}

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

/// One output row as written.
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
}

/// One output row as read back; columns beyond these are ignored, the first four are required.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
            error_detail: None,
            final_url: None,
            redirects: None,
            method: None,
            elapsed_ms: Some(elapsed_ms),
        }
    }
}

/// Which status codes count as success (`--success`): codes and inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessCodes(Vec<RangeInclusive<u16>>);

impl SuccessCodes {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let code = |c: &str| -> Result<u16, String> {
                c.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (100..=999).contains(c))
                    .ok_or_else(|| format!("`{c}` is not a status code (100-999)"))
            };
            let range = match part.split_once('-') {
                Some((lo, hi)) => code(lo)?..=code(hi)?,
                None => code(part)?..=code(part)?,
            };
            if range.is_empty() {
                return Err(format!("`{part}` is an empty range"));
            }
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err("give at least one status code".into());
        }
        Ok(SuccessCodes(ranges))
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|r| r.contains(&status))
    }
}

impl Default for SuccessCodes {
    /// The article's rule: only 200 is healthy.
    fn default() -> Self {
        SuccessCodes(vec![200..=200])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_codes_take_codes_and_ranges() {
        let codes = SuccessCodes::parse("200-299, 301,418").unwrap();
        assert!(codes.contains(200) && codes.contains(250) && codes.contains(301));
        assert!(codes.contains(418));
        assert!(!codes.contains(300) && !codes.contains(404));
        assert!(SuccessCodes::parse("").is_err());
        assert!(SuccessCodes::parse("299-200").is_err());
        assert!(SuccessCodes::parse("2000").is_err());
        assert!(SuccessCodes::parse("ok").is_err());
    }

    #[test]
    fn error_kinds_round_trip_through_their_names() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind.as_str().parse::<ErrorKind>(), Ok(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
    }

    #[test]
    fn a_failed_row_has_no_status_and_names_its_exception() {
        let record = Record::unsent("nope".into(), ErrorKind::InvalidUrl, "bad".into());
        let row = record.row();
        assert_eq!(row.status_code, None);
        assert_eq!(row.exception, Some(ErrorKind::InvalidUrl));
        assert!(!row.success);
    }
}
