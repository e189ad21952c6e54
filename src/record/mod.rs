//! One row per URL: what happened to it, as types that make wrong rows hard to write, and the flat
//! serde shape that the CSV and JSON-lines files share (`report` and `--resume` read it back).

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod cert;
mod row;
pub mod timings;

use cert::CertInfo;
pub use row::{OwnedRow, Row, COLUMNS, DETAIL_COLUMNS};
pub use timings::{Phase, PhaseStats, Timings, TimingsMs, TIMING_COLUMNS};

/// Why a URL got no HTTP response, or (`Content`) why its answer is not healthy although its
/// status is. The names are the `exception` column.
///
/// All but `Local` and `Cancelled` are facts about the URL; those two are about this run (see
/// [`ErrorKind::is_about_the_run`]), so `--resume` checks their URLs again.
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
    /// The status was a success, but the answer broke a content expectation (`--expect-body`,
    /// `--reject-body`, `--expect-header`): the one kind whose rows have a status code too.
    Content,
    Cancelled,
    /// A resource of this machine ran out (no file descriptors: EMFILE, ENFILE), not a fact
    /// about the URL. Written only after waiting and trying again did not help.
    Local,
    Other,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::Timeout,
        ErrorKind::Dns,
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Reset,
        ErrorKind::TooManyRedirects,
        ErrorKind::InvalidUrl,
        ErrorKind::Protocol,
        ErrorKind::Content,
        ErrorKind::Cancelled,
        ErrorKind::Local,
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
            ErrorKind::Content => "content",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Local => "local",
            ErrorKind::Other => "other",
        }
    }

    /// Whether the row says something about this run rather than the URL (a probe that was
    /// cancelled, a machine out of descriptors): such a row is not a result to keep.
    pub fn is_about_the_run(self) -> bool {
        matches!(self, ErrorKind::Local | ErrorKind::Cancelled)
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

/// The protocol of an answer (the `http_version` column), spelled as the `http` crate does:
/// what the client and the server agreed on (over HTTPS, by TLS ALPN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HttpVersion {
    #[serde(rename = "HTTP/0.9")]
    Http09,
    #[serde(rename = "HTTP/1.0")]
    Http10,
    #[serde(rename = "HTTP/1.1")]
    Http11,
    #[serde(rename = "HTTP/2.0")]
    Http2,
    #[serde(rename = "HTTP/3.0")]
    Http3,
}

impl HttpVersion {
    /// `None` for a version newer than this list.
    pub fn of(version: hyper::Version) -> Option<Self> {
        use hyper::Version as V;
        [
            (V::HTTP_09, HttpVersion::Http09),
            (V::HTTP_10, HttpVersion::Http10),
            (V::HTTP_11, HttpVersion::Http11),
            (V::HTTP_2, HttpVersion::Http2),
            (V::HTTP_3, HttpVersion::Http3),
        ]
        .into_iter()
        .find_map(|(v, ours)| (v == version).then_some(ours))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http09 => "HTTP/0.9",
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
            HttpVersion::Http2 => "HTTP/2.0",
            HttpVersion::Http3 => "HTTP/3.0",
        }
    }
}

impl fmt::Display for HttpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `--details` adds to a row. Boxed in `Record`, so a check without it carries one null
/// pointer per row and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// The address the last answer came from.
    pub ip: Option<IpAddr>,
    /// The protocol of the last answer.
    pub http_version: Option<HttpVersion>,
    /// The certificate of the URL's own host (the first hop): `None` over plain HTTP and for
    /// failures before TLS; without its issuer when it was rejected as expired.
    pub cert: Option<CertInfo>,
}

/// What the last request of a URL's check ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Response {
        status: u16,
    },
    /// A successful status whose answer broke a content expectation; `detail` names it.
    Content {
        status: u16,
        detail: String,
    },
    Failed {
        kind: ErrorKind,
        detail: String,
    },
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
    /// Collected only with `--details`.
    pub details: Option<Box<Details>>,
    /// Measured only with `--timings`; `None` for a target that was never sent.
    pub timings: Option<TimingsMs>,
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
            details: None,
            timings: None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.outcome {
            Outcome::Response { status } | Outcome::Content { status, .. } => Some(status),
            Outcome::Failed { .. } => None,
        }
    }

    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self.outcome {
            Outcome::Response { .. } => None,
            Outcome::Content { .. } => Some(ErrorKind::Content),
            Outcome::Failed { kind, .. } => Some(kind),
        }
    }

    /// The protocol of the last answer, when `--details` noted it.
    pub fn http_version(&self) -> Option<HttpVersion> {
        self.details.as_ref()?.http_version
    }

    /// Days left on the certificate of the URL's host, when `--details` read one.
    pub fn cert_days_left(&self) -> Option<i64> {
        Some(self.details.as_ref()?.cert.as_ref()?.days_left)
    }

    /// The flat row the writers serialise; borrows, so writing a row allocates nothing (but
    /// the date of a certificate). With `details` (`timings`), it has the `DETAIL_COLUMNS`
    /// (`TIMING_COLUMNS`) too, empty when the record has none (an invalid line, say).
    pub fn row(&self, details: bool, timings: bool) -> Row<'_> {
        let (status_code, exception, error_detail) = match &self.outcome {
            Outcome::Response { status } => (Some(*status), None, self.note.as_deref().unwrap_or("")),
            Outcome::Content { status, detail } => (Some(*status), Some(ErrorKind::Content), detail.as_str()),
            Outcome::Failed { kind, detail } => (None, Some(*kind), detail.as_str()),
        };
        let d = self.details.as_deref();
        let cert = d.and_then(|d| d.cert.as_ref());
        let t = self.timings;
        let phase = |i: usize| timings.then(|| t.map(|t| t.ms[i]));
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
            ip: details.then(|| d.and_then(|d| d.ip)),
            http_version: details.then(|| d.and_then(|d| d.http_version)),
            cert_not_after: details.then(|| cert.map(|c| c.not_after)),
            cert_days_left: details.then(|| cert.map(|c| c.days_left)),
            cert_issuer: details.then(|| cert.and_then(|c| c.issuer.as_deref())),
            dns_ms: phase(0),
            connect_ms: phase(1),
            tls_ms: phase(2),
            ttfb_ms: phase(3),
            new_connections: timings.then(|| t.map(|t| t.new_connections)),
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
        let row = record.row(false, false);
        assert_eq!(row.status_code, None);
        assert_eq!(row.exception, Some(ErrorKind::InvalidUrl));
        assert!(!row.success);
    }
}
