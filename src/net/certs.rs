//! What a TLS error says about a certificate's dates: the message for one that failed
//! verification because it expired (or is not valid yet), and when it expired, for `--details`.

use rustls::{CertificateError, Error as TlsError};

use crate::record::cert::{UtcSecs, DAY_SECS};

/// The `error_detail` of a certificate rejected for its dates ("certificate expired on ..."),
/// or `None` when `err` is about something else (the caller keeps rustls's own message).
pub fn tls_detail(err: &TlsError) -> Option<String> {
    let TlsError::InvalidCertificate(cert) = err else {
        return None;
    };
    match cert {
        CertificateError::ExpiredContext { time, not_after } => {
            let (time, not_after) = (unix(time), unix(not_after));
            let ago = (time.0 - not_after.0) / DAY_SECS;
            let unit = if ago == 1 { "day" } else { "days" };
            Some(format!("certificate expired on {not_after} ({ago} {unit} ago)"))
        }
        CertificateError::Expired => Some("certificate expired".into()),
        CertificateError::NotValidYetContext { not_before, .. } => {
            Some(format!("certificate not valid before {}", unix(not_before)))
        }
        _ => None,
    }
}

/// When a certificate rejected as expired expired, if the error says.
pub fn expired_on(err: &TlsError) -> Option<UtcSecs> {
    match err {
        TlsError::InvalidCertificate(CertificateError::ExpiredContext { not_after, .. }) => {
            Some(unix(not_after))
        }
        _ => None,
    }
}

fn unix(t: &rustls::pki_types::UnixTime) -> UtcSecs {
    UtcSecs(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::UnixTime;
    use std::time::Duration;

    /// 2026-11-26T00:00:00Z.
    const NOW: UtcSecs = UtcSecs(1_795_651_200);

    #[test]
    fn an_expired_certificate_says_when_it_expired() {
        let at = |secs: i64| UnixTime::since_unix_epoch(Duration::from_secs(secs as u64));
        let err = TlsError::InvalidCertificate(CertificateError::ExpiredContext {
            time: at(NOW.0),
            not_after: at(NOW.0 - 3 * DAY_SECS - 60),
        });
        assert_eq!(
            tls_detail(&err).as_deref(),
            Some("certificate expired on 2026-11-22T23:59:00Z (3 days ago)")
        );
        assert_eq!(expired_on(&err), Some(UtcSecs(NOW.0 - 3 * DAY_SECS - 60)));
        let unknown = TlsError::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(tls_detail(&unknown), None);
        assert_eq!(expired_on(&unknown), None);
        assert_eq!(tls_detail(&TlsError::General("x".into())), None);
    }
}
