//! Turn a reqwest error into an `ErrorKind` by walking its source chain and looking at the typed
//! errors inside (our `DnsFailure`, rustls, io::Error kinds, hyper), never at Display strings:
//! reqwest's own message is "error sending request" whatever went wrong.

use std::error::Error as StdError;
use std::io;

use crate::record::ErrorKind;
use crate::resolve::DnsFailure;

/// The kind of a failed request and the innermost message of its chain (the useful one).
pub fn classify(err: &reqwest::Error) -> (ErrorKind, String) {
    let chain = chain(err);
    let detail = chain
        .last()
        .map(|e| e.to_string())
        .unwrap_or_else(|| err.to_string());
    (kind_of(err, &chain), detail)
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

fn kind_of(err: &reqwest::Error, chain: &[&(dyn StdError + 'static)]) -> ErrorKind {
    let find =
        |pred: &dyn Fn(&(dyn StdError + 'static)) -> Option<ErrorKind>| chain.iter().find_map(|e| pred(*e));
    if find(&|e| e.is::<DnsFailure>().then_some(ErrorKind::Dns)).is_some() {
        return ErrorKind::Dns;
    }
    if err.is_timeout() {
        return ErrorKind::Timeout;
    }
    if find(&|e| e.is::<rustls::Error>().then_some(ErrorKind::Tls)).is_some() {
        return ErrorKind::Tls;
    }
    if let Some(kind) = find(&|e| e.downcast_ref::<io::Error>().and_then(|io| io_kind(io.kind()))) {
        return kind;
    }
    if let Some(kind) = find(&|e| e.downcast_ref::<hyper::Error>().and_then(hyper_kind)) {
        return kind;
    }
    if err.is_redirect() {
        ErrorKind::TooManyRedirects
    } else if err.is_builder() {
        ErrorKind::InvalidUrl
    } else if err.is_connect() {
        ErrorKind::Connect
    } else if err.is_body() || err.is_decode() {
        ErrorKind::Protocol
    } else {
        ErrorKind::Other
    }
}

fn io_kind(kind: io::ErrorKind) -> Option<ErrorKind> {
    use io::ErrorKind as K;
    match kind {
        K::TimedOut => Some(ErrorKind::Timeout),
        K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
            Some(ErrorKind::Connect)
        }
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => Some(ErrorKind::Reset),
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
        let inner = DnsFailure("no such host".into());
        let err = Outer(io::Error::other(inner));
        let chain = chain(&err);
        assert!(chain.iter().any(|e| e.is::<DnsFailure>()));
        assert_eq!(
            chain.last().map(|e| e.to_string()).as_deref(),
            Some("no such host")
        );
    }

    #[test]
    fn io_kinds_map_to_connect_reset_and_timeout() {
        assert_eq!(
            io_kind(io::ErrorKind::ConnectionRefused),
            Some(ErrorKind::Connect)
        );
        assert_eq!(io_kind(io::ErrorKind::ConnectionReset), Some(ErrorKind::Reset));
        assert_eq!(io_kind(io::ErrorKind::TimedOut), Some(ErrorKind::Timeout));
        assert_eq!(io_kind(io::ErrorKind::NotFound), None);
    }
}
