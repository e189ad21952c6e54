//! `--ca-cert` certificates that are a server's own. A certificate given with `--ca-cert` is a
//! trust root, and webpki refuses a root that a server presents as its leaf when it is marked
//! `CA:TRUE` (`CaUsedAsEndEntity`), which is how `openssl req -x509` makes a self-signed one:
//! the certificate of most internal services and test boxes. curl trusts it. So does this
//! verifier: a leaf whose DER is one of the `--ca-cert` certificates is trusted as pinned, still
//! only within its dates and for the names it carries; every other leaf goes through webpki as
//! before, and the handshake's signatures always do.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The `--ca-cert` certificates as pins, then webpki with the trust roots.
#[derive(Debug)]
pub(super) struct PinnedOrWebPki {
    pub(super) pinned: Vec<CertificateDer<'static>>,
    pub(super) webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pinned.iter().any(|pin| pin.as_ref() == end_entity.as_ref()) {
            return verify_pinned(end_entity, server_name, now);
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// A pinned leaf: trusted as it is, but only between its dates and for the names in its
/// subjectAltName (webpki's own name check, so a name only in the CN does not count), with the
/// errors webpki gives for the same faults.
fn verify_pinned(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    let (_, parsed) = X509Certificate::from_der(cert).map_err(|_| CertificateError::BadEncoding)?;
    let at = |time: x509_parser::time::ASN1Time| {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(time.timestamp()).unwrap_or(0),
        ))
    };
    let (not_before, not_after) = (at(parsed.validity().not_before), at(parsed.validity().not_after));
    if now.as_secs() < not_before.as_secs() {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before,
        }
        .into());
    }
    if now.as_secs() > not_after.as_secs() {
        return Err(CertificateError::ExpiredContext { time: now, not_after }.into());
    }
    rustls::client::verify_server_name(&ParsedCertificate::try_from(cert)?, server_name)?;
    Ok(ServerCertVerified::assertion())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

    /// A self-signed certificate as `openssl req -x509` makes it: CA:TRUE, for `names`.
    fn self_signed(names: &[&str], cn: &str, days: (i64, i64)) -> CertificateDer<'static> {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let today = time::OffsetDateTime::now_utc();
        params.not_before = today + time::Duration::days(days.0);
        params.not_after = today + time::Duration::days(days.1);
        params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .clone()
    }

    fn verifier(pinned: Vec<CertificateDer<'static>>) -> PinnedOrWebPki {
        let mut roots = rustls::RootCertStore::empty();
        for cert in &pinned {
            roots.add(cert.clone()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        PinnedOrWebPki {
            pinned,
            webpki: WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap(),
        }
    }

    fn verify(v: &PinnedOrWebPki, cert: &CertificateDer<'_>, name: &str) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(name.to_string()).unwrap();
        v.verify_server_cert(cert, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn a_pinned_self_signed_ca_certificate_is_trusted_for_its_names_only() {
        let cert = self_signed(&["abc.com"], "abc.com", (-1, 30));
        let pinned = verifier(vec![cert.clone()]);
        assert!(verify(&pinned, &cert, "abc.com").is_ok());
        let Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented,
            ..
        })) = verify(&pinned, &cert, "other.com")
        else {
            panic!("another name is refused");
        };
        assert_eq!(presented, ["DnsName(\"abc.com\")"]);
        // Without the pin, webpki refuses a CA certificate as a server's own.
        let unpinned = PinnedOrWebPki {
            pinned: Vec::new(),
            ..verifier(vec![cert.clone()])
        };
        assert!(verify(&unpinned, &cert, "abc.com").is_err());
    }

    #[test]
    fn a_pinned_certificate_is_still_refused_outside_its_dates_or_for_a_name_only_in_its_cn() {
        let expired = self_signed(&["abc.com"], "abc.com", (-30, -2));
        let v = verifier(vec![expired.clone()]);
        assert!(matches!(
            verify(&v, &expired, "abc.com"),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ExpiredContext { .. }
            ))
        ));
        let early = self_signed(&["abc.com"], "abc.com", (2, 30));
        let v = verifier(vec![early.clone()]);
        assert!(matches!(
            verify(&v, &early, "abc.com"),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYetContext { .. }
            ))
        ));
        let cn_only = self_signed(&[], "abc.com", (-1, 30));
        let v = verifier(vec![cn_only.clone()]);
        assert!(matches!(
            verify(&v, &cn_only, "abc.com"),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForNameContext { .. }
            ))
        ));
    }
}
