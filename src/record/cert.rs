//! What a site's certificate says about next month: when it expires and who issued it, read from
//! the DER leaf with x509-parser (never by hand). Pure: the time of the check is a parameter, so
//! tests pin it. (What a TLS error says about the dates is `net::certs`.)

use std::fmt;

use x509_parser::prelude::{FromDer, X509Certificate};

/// Seconds in a day: `cert_days_left` counts whole days of these.
pub const DAY_SECS: i64 = 86_400;

/// The certificate columns of a `--details` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The certificate's notAfter.
    pub not_after: UtcSecs,
    /// Whole days from the check to `not_after`, rounded down: negative once expired.
    pub days_left: i64,
    /// The issuer's common name, else its organisation; `None` when it names neither.
    pub issuer: Option<String>,
}

impl CertInfo {
    /// Read a DER certificate as checked at `now`.
    pub fn from_der(der: &[u8], now: UtcSecs) -> Result<CertInfo, String> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("unreadable certificate: {e}"))?;
        let not_after = UtcSecs(cert.validity().not_after.timestamp());
        let issuer = cert.issuer();
        let issuer = issuer
            .iter_common_name()
            .chain(issuer.iter_organization())
            .find_map(|attr| attr.as_str().ok())
            .map(str::to_owned);
        Ok(CertInfo {
            not_after,
            days_left: days_left(not_after, now),
            issuer,
        })
    }
}

/// Whole days from `now` to `not_after`, rounded down, so "fewer than N days left" is exactly
/// "expires before now + N days", and a certificate that expired a minute ago has -1.
pub fn days_left(not_after: UtcSecs, now: UtcSecs) -> i64 {
    (not_after.0 - now.0).div_euclid(DAY_SECS)
}

/// A moment as Unix seconds (UTC), shown as RFC 3339 (`2026-11-26T11:15:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcSecs(pub i64);

impl UtcSecs {
    pub fn now() -> UtcSecs {
        UtcSecs(time::OffsetDateTime::now_utc().unix_timestamp())
    }
}

impl fmt::Display for UtcSecs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match time::OffsetDateTime::from_unix_timestamp(self.0) {
            Ok(t) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            // Beyond year 9999 either way: say what it is rather than fail a row.
            Err(_) => write!(f, "@{}", self.0),
        }
    }
}

impl serde::Serialize for UtcSecs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    /// 2026-11-26T00:00:00Z.
    const NOW: UtcSecs = UtcSecs(1_795_651_200);

    fn cert(issuer: &[(DnType, &str)], not_after: UtcSecs) -> Vec<u8> {
        let mut ca = CertificateParams::default();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name = rcgen::DistinguishedName::new(); // no default common name
        for (kind, value) in issuer {
            ca.distinguished_name.push(kind.clone(), *value);
        }
        let issuer = rcgen::CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let mut leaf = CertificateParams::new(vec!["a.com".into()]).unwrap();
        leaf.not_before = time::OffsetDateTime::from_unix_timestamp(NOW.0 - 90 * DAY_SECS).unwrap();
        leaf.not_after = time::OffsetDateTime::from_unix_timestamp(not_after.0).unwrap();
        let key = KeyPair::generate().unwrap();
        leaf.signed_by(&key, &issuer).unwrap().der().to_vec()
    }

    #[test]
    fn the_leaf_tells_its_expiry_and_its_issuers_common_name() {
        let der = cert(
            &[(DnType::OrganizationName, "Org"), (DnType::CommonName, "R11")],
            UtcSecs(NOW.0 + 30 * DAY_SECS + 5),
        );
        let info = CertInfo::from_der(&der, NOW).unwrap();
        assert_eq!(info.not_after.to_string(), "2026-12-26T00:00:05Z");
        assert_eq!(info.days_left, 30);
        assert_eq!(info.issuer.as_deref(), Some("R11"));
    }

    #[test]
    fn without_a_common_name_the_organisation_names_the_issuer() {
        let der = cert(&[(DnType::OrganizationName, "Sim Trust")], UtcSecs(NOW.0 - 1));
        let info = CertInfo::from_der(&der, NOW).unwrap();
        assert_eq!(info.issuer.as_deref(), Some("Sim Trust"));
        assert_eq!(info.days_left, -1, "expired a second ago");
        let anonymous = cert(&[(DnType::CountryName, "FR")], NOW);
        assert_eq!(CertInfo::from_der(&anonymous, NOW).unwrap().issuer, None);
        assert!(CertInfo::from_der(b"not DER", NOW).is_err());
    }

    #[test]
    fn days_left_round_down() {
        assert_eq!(days_left(UtcSecs(NOW.0 + DAY_SECS - 1), NOW), 0);
        assert_eq!(days_left(UtcSecs(NOW.0 + DAY_SECS), NOW), 1);
        assert_eq!(days_left(NOW, NOW), 0);
        assert_eq!(days_left(UtcSecs(NOW.0 - DAY_SECS), NOW), -1);
        assert_eq!(days_left(UtcSecs(NOW.0 - DAY_SECS - 1), NOW), -2);
    }
}
