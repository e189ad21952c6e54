//! Turn an error into an `ErrorKind` by walking its source chain and looking at the typed errors
//! inside (our resolver's, rustls, io::Error kinds, hyper), never at Display strings.

use std::error::Error as StdError;
use std::io;

use crate::net::certs;
use crate::net::client::MAX_HEADER_LINES;
use crate::net::resolve::{is_local, DnsFailure};
use crate::net::tls_words;
use crate::record::cert::UtcSecs;
use crate::record::ErrorKind;

/// Where a request was when it failed. reqwest says only whether the connection was made; the
/// step matters for the same io error: an early end of stream is the TLS handshake cut short
/// while connecting, and an answer cut short once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Resolving and opening the TCP connection of a plain HTTP URL (or its proxy tunnel).
    Connect,
    /// Opening an HTTPS connection: TCP, then the TLS handshake.
    Handshake,
    /// Connected: sending the request and reading the answer.
    Exchange,
}

impl Stage {
    /// The kind of a failure at this stage that nothing in the error's chain says more about.
    fn fallback(self) -> ErrorKind {
        match self {
            Stage::Connect => ErrorKind::Connect,
            Stage::Handshake => ErrorKind::Tls,
            Stage::Exchange => ErrorKind::Other,
        }
    }
}

/// The kind of `err` at `stage`, with the innermost message of the chain (the useful one).
pub fn classify(err: &(dyn StdError + 'static), stage: Stage) -> Failure {
    let chain = chain(err);
    if let Some(dns) = chain.iter().find_map(|e| e.downcast_ref::<DnsFailure>()) {
        let kind = match dns {
            DnsFailure::OutOfDescriptors(_) => ErrorKind::Local,
            _ => ErrorKind::Dns,
        };
        return Failure::new(kind, dns.to_string());
    }
    let tls = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>());
    // A TLS failure says which rule refused what, in words (and when a certificate expired, as
    // data too); otherwise the innermost message says most.
    let kind = kind_of(&chain, stage).unwrap_or(stage.fallback());
    let detail = tls
        .map(tls_words::describe)
        .or_else(|| too_large(&chain))
        .or_else(|| hung_up_in_handshake(&chain, kind))
        .or_else(|| chain.last().map(|e| e.to_string()))
        .unwrap_or_else(|| err.to_string());
    Failure {
        kind,
        detail,
        cert_expired: tls.and_then(certs::expired_on),
    }
}

/// A server that hung up during the TLS handshake, in words rather than the socket's
/// (`Connection reset by peer (os error 104)`, `tls handshake eof`).
fn hung_up_in_handshake(chain: &[&(dyn StdError + 'static)], kind: ErrorKind) -> Option<String> {
    use io::ErrorKind as K;
    if kind != ErrorKind::Tls {
        return None;
    }
    let how = chain
        .iter()
        .find_map(|e| match e.downcast_ref::<io::Error>()?.kind() {
            K::ConnectionReset | K::ConnectionAborted => Some("reset"),
            K::BrokenPipe | K::UnexpectedEof => Some("closed"),
            _ => None,
        })?;
    Some(format!(
        "the server {how} the connection during the TLS handshake"
    ))
}

/// hyper's "message head is too large", with the limits it broke.
fn too_large(chain: &[&(dyn StdError + 'static)]) -> Option<String> {
    is_too_large(chain).then(|| {
        format!("response head is too large (over {MAX_HEADER_LINES} header lines, or about 400 KB)")
    })
}

/// Whether hyper refused the answer's head as too large (too many lines or bytes).
pub fn head_too_large(err: &(dyn StdError + 'static)) -> bool {
    is_too_large(&chain(err))
}

fn is_too_large(chain: &[&(dyn StdError + 'static)]) -> bool {
    chain.iter().any(|e| {
        e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_parse_too_large)
    })
}

/// Every error in the chain, with the inner error of a custom `io::Error` included:
/// `io::Error::source()` skips it and returns the inner error's own source.
fn chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        out.push(e);
        next = match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    out
}

fn kind_of(chain: &[&(dyn StdError + 'static)], stage: Stage) -> Option<ErrorKind> {
    if chain.iter().any(|e| e.is::<rustls::Error>()) {
        return Some(ErrorKind::Tls);
    }
    chain
        .iter()
        .find_map(|e| e.downcast_ref::<io::Error>().and_then(|io| io_kind(io, stage)))
        .or_else(|| {
            chain
                .iter()
                .find_map(|e| e.downcast_ref::<hyper::Error>().and_then(hyper_kind))
        })
}

/// Why a request got no answer: the `exception` column and the innermost error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub detail: String,
    /// When the handshake refused the certificate as expired: when it expired (`--details`).
    pub cert_expired: Option<UtcSecs>,
}

impl Failure {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Failure {
            kind,
            detail: detail.into(),
            cert_expired: None,
        }
    }
}

fn io_kind(err: &io::Error, stage: Stage) -> Option<ErrorKind> {
    use io::ErrorKind as K;
    if is_local(err) {
        return Some(ErrorKind::Local);
    }
    match err.kind() {
        K::TimedOut => Some(ErrorKind::Timeout),
        K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
            Some(ErrorKind::Connect)
        }
        // TCP's own set-up ends in a refusal, never in a reset or an end of stream: while
        // connecting over TLS, those are the server hanging up during the handshake.
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
            if stage == Stage::Handshake =>
        {
            Some(ErrorKind::Tls)
        }
        // Closed before a whole answer, with or without a TLS close_notify.
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Some(ErrorKind::Reset)
        }
        K::InvalidData => Some(ErrorKind::Protocol),
        _ => None,
    }
}

fn hyper_kind(err: &hyper::Error) -> Option<ErrorKind> {
    if err.is_incomplete_message() || err.is_canceled() || err.is_closed() {
        // The peer closed the connection before a whole response: a reset without the RST.
        Some(ErrorKind::Reset)
    } else if err.is_parse() || err.is_parse_status() || err.is_parse_too_large() {
        Some(ErrorKind::Protocol)
    } else if err.is_timeout() {
        Some(ErrorKind::Timeout)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] io::Error);

    #[test]
    fn the_chain_includes_the_inner_error_of_a_custom_io_error() {
        let inner = rustls::Error::General("bad handshake".into());
        let err = Outer(io::Error::new(io::ErrorKind::InvalidData, inner));
        let failure = classify(&err, Stage::Exchange);
        assert_eq!(failure.kind, ErrorKind::Tls, "rustls wins over the io kind");
        assert_eq!(failure.detail, "bad handshake");
    }

    #[test]
    fn an_expired_certificate_says_when_it_expired() {
        use rustls::pki_types::UnixTime;
        let at = |secs| UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext {
            time: at(1_795_651_200),
            not_after: at(1_795_651_200 - 86_400),
        });
        let err = Outer(io::Error::new(io::ErrorKind::InvalidData, expired));
        let failure = classify(&err, Stage::Handshake);
        assert_eq!(failure.kind, ErrorKind::Tls);
        assert_eq!(
            failure.detail,
            "certificate expired on 2026-11-25T00:00:00Z (1 day ago)"
        );
        assert_eq!(
            failure.cert_expired,
            Some(crate::record::cert::UtcSecs(1_795_651_200 - 86_400))
        );
    }

    #[test]
    fn io_kinds_map_to_connect_reset_and_timeout() {
        let kind = |k: io::ErrorKind, stage| io_kind(&io::Error::from(k), stage);
        use io::ErrorKind as K;
        assert_eq!(
            kind(K::ConnectionRefused, Stage::Connect),
            Some(ErrorKind::Connect)
        );
        assert_eq!(kind(K::ConnectionReset, Stage::Exchange), Some(ErrorKind::Reset));
        assert_eq!(kind(K::TimedOut, Stage::Handshake), Some(ErrorKind::Timeout));
        assert_eq!(kind(K::NotFound, Stage::Exchange), None);
    }

    #[test]
    fn an_early_end_is_tls_while_shaking_hands_and_reset_after() {
        use io::ErrorKind as K;
        let eof = io::Error::new(
            K::UnexpectedEof,
            "peer closed connection without sending TLS close_notify",
        );
        let during = classify(&eof, Stage::Handshake);
        assert_eq!(during.kind, ErrorKind::Tls);
        assert_eq!(
            during.detail,
            "the server closed the connection during the TLS handshake"
        );
        let reset = classify(&io::Error::from(K::ConnectionReset), Stage::Handshake);
        assert_eq!(
            reset.detail,
            "the server reset the connection during the TLS handshake"
        );
        assert_eq!(classify(&eof, Stage::Exchange).kind, ErrorKind::Reset);
    }

    #[test]
    fn running_out_of_descriptors_is_local_wherever_it_happens() {
        let emfile = Outer(io::Error::from_raw_os_error(24));
        assert_eq!(classify(&emfile, Stage::Connect).kind, ErrorKind::Local);
        let dns = Outer(io::Error::other(DnsFailure::OutOfDescriptors("a.com".into())));
        assert_eq!(classify(&dns, Stage::Connect).kind, ErrorKind::Local);
    }

    #[test]
    fn an_unknown_error_takes_the_kind_of_its_stage() {
        let err = io::Error::other("something");
        assert_eq!(classify(&err, Stage::Handshake).kind, ErrorKind::Tls);
        assert_eq!(classify(&err, Stage::Connect).kind, ErrorKind::Connect);
        assert_eq!(classify(&err, Stage::Exchange).kind, ErrorKind::Other);
    }

    #[test]
    fn a_dns_failure_anywhere_in_the_chain_is_dns_in_words() {
        let err = Outer(io::Error::other(DnsFailure::NoSuchHost("nope.test".into())));
        let failure = classify(&err, Stage::Connect);
        assert_eq!(failure.kind, ErrorKind::Dns);
        assert_eq!(failure.detail, "no such host: nope.test");
    }
}
