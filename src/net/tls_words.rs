//! Every TLS failure in words a person understands, for `error_detail`: rustls's own messages
//! name Rust enum variants (`invalid peer certificate: UnknownIssuer`, `certificate is only valid
//! for DnsName("mismatch.invalid")`, `received fatal alert: HandshakeFailure`). The rules stay
//! webpki's; only their names change. Dates are `certs`'s.

use rustls::{AlertDescription, CertificateError, Error as TlsError};

use crate::net::certs;

/// `err` as a sentence: which rule refused the certificate, or what went wrong in the handshake.
pub fn describe(err: &TlsError) -> String {
    match err {
        TlsError::InvalidCertificate(cert) => certificate(cert),
        TlsError::AlertReceived(alert) => alert_words(*alert),
        TlsError::NoCertificatesPresented => "the server sent no certificate".into(),
        TlsError::UnsupportedNameType => "the host name cannot be sent in TLS (SNI)".into(),
        TlsError::DecryptError => "a TLS record from the server did not decrypt".into(),
        TlsError::InvalidMessage(what) => {
            format!(
                "the server sent a malformed TLS message ({})",
                words(&format!("{what:?}"))
            )
        }
        TlsError::InappropriateMessage { .. } | TlsError::InappropriateHandshakeMessage { .. } => {
            "the server sent a TLS message out of order".into()
        }
        TlsError::PeerIncompatible(why) => format!(
            "the server supports no TLS version, cipher or extension this client does ({})",
            words(&format!("{why:?}"))
        ),
        TlsError::PeerMisbehaved(why) => {
            format!(
                "the server broke the TLS protocol ({})",
                words(&format!("{why:?}"))
            )
        }
        TlsError::PeerSentOversizedRecord => "the server sent a TLS record over the size limit".into(),
        TlsError::NoApplicationProtocol => "the server speaks none of the offered protocols (ALPN)".into(),
        TlsError::General(message) => message.clone(),
        TlsError::Other(other) => other.to_string(),
        other => words(&other.to_string()),
    }
}

/// Why a certificate was refused.
fn certificate(err: &CertificateError) -> String {
    use CertificateError as C;
    if let Some(dates) = certs::tls_detail(&TlsError::InvalidCertificate(err.clone())) {
        return dates;
    }
    match err {
        C::NotValidForNameContext { expected, presented } => name_mismatch(&expected.to_str(), presented),
        C::NotValidForName => "certificate is not valid for this host name".into(),
        C::UnknownIssuer => {
            "certificate issued by an unknown authority (not a trusted root, nor given with --ca-cert)".into()
        }
        C::BadSignature => "certificate signature does not verify against its issuer".into(),
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "certificate is signed with an algorithm this client does not accept".into()
        }
        C::BadEncoding => "certificate is malformed".into(),
        C::Revoked => "certificate has been revoked".into(),
        C::UnhandledCriticalExtension => {
            "certificate has a critical extension this client does not know".into()
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "certificate is not for TLS servers (its extended key usage lacks serverAuth)".into()
        }
        C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(rule) => webpki_rule(rule),
            None => words(&other.to_string()),
        },
        other => format!("certificate refused ({})", words(&format!("{other:?}"))),
    }
}

/// The webpki rules rustls passes on without a kind of its own.
fn webpki_rule(rule: &webpki::Error) -> String {
    use webpki::Error as W;
    match rule {
        W::CaUsedAsEndEntity => "certificate is a CA certificate (CA:TRUE) used as the server's own; \
             to trust it, give this very certificate with --ca-cert"
            .into(),
        W::MaximumPathDepthExceeded => {
            "certificate chain is too long (more than 6 intermediate certificates)".into()
        }
        W::EndEntityUsedAsCa => "certificate chain uses a server certificate as an intermediate CA".into(),
        W::PathLenConstraintViolated => {
            "certificate chain is longer than an intermediate CA allows (pathLen)".into()
        }
        W::NameConstraintViolation => "certificate names a host its issuing CA may not certify".into(),
        W::MaximumSignatureChecksExceeded | W::MaximumPathBuildCallsExceeded => {
            "certificate chain is too complex to verify".into()
        }
        W::UnsupportedCertVersion => "certificate is not X.509 version 3".into(),
        W::CertDistrusted => "certificate's authority is distrusted".into(),
        other => format!("certificate refused ({})", words(&format!("{other:?}"))),
    }
}

/// `certificate is for mismatch.invalid, not abc.com`; a certificate with no subjectAltName names
/// its host, if at all, only in its CN, which browsers and webpki ignore.
fn name_mismatch(expected: &str, presented: &[String]) -> String {
    let names: Vec<String> = presented.iter().map(|p| presented_name(p)).collect();
    match names.as_slice() {
        [] => format!(
            "certificate names no host in its subjectAltName (a name only in its CN does not count), \
             so not {expected}"
        ),
        [one] => format!("certificate is for {one}, not {expected}"),
        [some @ .., last] if names.len() <= 4 => {
            format!(
                "certificate is for {} and {last}, not {expected}",
                some.join(", ")
            )
        }
        [first, second, rest @ ..] => format!(
            "certificate is for {first}, {second} and {} other names, not {expected}",
            rest.len()
        ),
    }
}

/// One name of webpki's list, which are its `Debug` forms: `DnsName("a.com")`, `IpAddress(1.2.3.4)`.
fn presented_name(debug: &str) -> String {
    for prefix in ["DnsName(", "IpAddress(", "UniformResourceIdentifier("] {
        if let Some(inner) = debug.strip_prefix(prefix).and_then(|s| s.strip_suffix(')')) {
            return inner.trim_matches('"').to_string();
        }
    }
    words(debug)
}

/// The alert a server ended the handshake with.
fn alert_words(alert: AlertDescription) -> String {
    let hint = match alert {
        AlertDescription::HandshakeFailure => {
            " (no TLS version or cipher in common, or a client certificate wanted)"
        }
        AlertDescription::ProtocolVersion => {
            " (no TLS version in common: this client speaks TLS 1.2 and 1.3)"
        }
        AlertDescription::UnrecognisedName => " (the server does not serve this host name)",
        AlertDescription::CertificateRequired => " (it wants a client certificate)",
        _ => "",
    };
    format!(
        "the server refused the TLS handshake: {}{hint}",
        words(&format!("{alert:?}"))
    )
}

/// `UnknownIssuer` as `unknown issuer`: any CamelCase word of `text` split and lower-cased, the
/// rest kept (`TLS`, numbers, punctuation).
fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for word in text.split_inclusive(|c: char| !c.is_ascii_alphanumeric()) {
        let camel = word.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && word.chars().any(|c| c.is_ascii_lowercase());
        if !camel {
            out.push_str(word);
            continue;
        }
        for (j, c) in word.char_indices() {
            if c.is_ascii_uppercase() {
                let after_lower = word[..j].chars().last().is_some_and(|p| p.is_ascii_lowercase());
                if after_lower {
                    out.push(' ');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;

    fn mismatch(expected: &str, presented: &[&str]) -> String {
        describe(&TlsError::InvalidCertificate(
            CertificateError::NotValidForNameContext {
                expected: ServerName::try_from(expected.to_string()).unwrap(),
                presented: presented.iter().map(|s| s.to_string()).collect(),
            },
        ))
    }

    #[test]
    fn a_name_mismatch_says_which_names_the_certificate_is_for() {
        assert_eq!(
            mismatch("abc.com", &["DnsName(\"mismatch.invalid\")"]),
            "certificate is for mismatch.invalid, not abc.com"
        );
        assert_eq!(
            mismatch("abc.com", &["DnsName(\"a.com\")", "IpAddress(10.0.0.1)"]),
            "certificate is for a.com and 10.0.0.1, not abc.com"
        );
        assert_eq!(
            mismatch("abc.com", &["DnsName(\"a\")", "DnsName(\"b\")", "DnsName(\"c\")"]),
            "certificate is for a, b and c, not abc.com"
        );
        let many: Vec<String> = (0..7).map(|i| format!("DnsName(\"h{i}.com\")")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            mismatch("abc.com", &many),
            "certificate is for h0.com, h1.com and 5 other names, not abc.com"
        );
        assert!(mismatch("abc.com", &[]).contains("only in its CN does not count"));
    }

    #[test]
    fn no_detail_names_a_rust_enum_variant() {
        let other = |e: webpki::Error| {
            TlsError::InvalidCertificate(CertificateError::Other(rustls::OtherError(std::sync::Arc::new(
                e,
            ))))
        };
        let cases = [
            (
                TlsError::InvalidCertificate(CertificateError::UnknownIssuer),
                "unknown authority",
            ),
            (
                other(webpki::Error::CaUsedAsEndEntity),
                "CA certificate (CA:TRUE)",
            ),
            (
                other(webpki::Error::MaximumPathDepthExceeded),
                "more than 6 intermediate",
            ),
            (
                other(webpki::Error::UnsupportedCriticalExtension),
                "unsupported critical extension",
            ),
            (
                TlsError::AlertReceived(AlertDescription::HandshakeFailure),
                "handshake failure",
            ),
            (
                TlsError::AlertReceived(AlertDescription::BadRecordMac),
                "bad record mac",
            ),
            (
                TlsError::InvalidCertificate(CertificateError::Expired),
                "certificate expired",
            ),
        ];
        for (err, expected) in cases {
            let text = describe(&err);
            assert!(text.contains(expected), "{err:?}: {text}");
            for variant in [
                "UnknownIssuer",
                "CaUsedAsEndEntity",
                "HandshakeFailure",
                "BadRecordMac",
            ] {
                assert!(!text.contains(variant), "{text}");
            }
        }
    }

    #[test]
    fn camel_case_words_are_split_and_the_rest_kept() {
        assert_eq!(
            words("received fatal alert: HandshakeFailure"),
            "received fatal alert: handshake failure"
        );
        assert_eq!(words("TLS 1.3 Unknown(0x99)"), "TLS 1.3 unknown(0x99)");
    }
}
