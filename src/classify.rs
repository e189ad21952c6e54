//! Turn an error into an `ErrorKind` by walking its source chain and looking at the typed errors
//! inside (rustls, io::Error kinds, hyper), never at Display strings.

use std::error::Error as StdError;
use std::io;

use crate::client::Failure;
use crate::record::ErrorKind;

/// The kind of `err`, or `fallback` (the kind of the stage that failed) when nothing in its
/// chain says more, with the innermost message of the chain (the useful one).
pub fn classify(err: &(dyn StdError + 'static), fallback: ErrorKind) -> Failure {
    let chain = chain(err);
    let detail = chain.last().map_or_else(|| err.to_string(), |e| e.to_string());
    Failure {
        kind: kind_of(&chain).unwrap_or(fallback),
        detail,
    }
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

fn kind_of(chain: &[&(dyn StdError + 'static)]) -> Option<ErrorKind> {
    if chain.iter().any(|e| e.is::<rustls::Error>()) {
        return Some(ErrorKind::Tls);
    }
    chain
        .iter()
        .find_map(|e| e.downcast_ref::<io::Error>().and_then(|io| io_kind(io.kind())))
        .or_else(|| {
            chain
                .iter()
                .find_map(|e| e.downcast_ref::<hyper::Error>().and_then(hyper_kind))
        })
}

/// Whether `err` says this machine ran out of file descriptors (EMFILE: this process, 24;
/// ENFILE: the whole system, 23, the Linux and BSD numbers): a fact about the run, not the URL,
/// so its row is `local` and the probe waits and tries again.
pub fn is_local(err: &io::Error) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    matches!(err.raw_os_error(), Some(EMFILE | ENFILE))
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
        let inner = rustls::Error::General("bad handshake".into());
        let err = Outer(io::Error::new(io::ErrorKind::InvalidData, inner));
        let failure = classify(&err, ErrorKind::Other);
        assert_eq!(failure.kind, ErrorKind::Tls, "rustls wins over the io kind");
        assert_eq!(failure.detail, "unexpected error: bad handshake");
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

    #[test]
    fn only_running_out_of_descriptors_is_local() {
        assert!(is_local(&io::Error::from_raw_os_error(24)));
        assert!(is_local(&io::Error::from_raw_os_error(23)));
        assert!(!is_local(&io::Error::from_raw_os_error(111))); // ECONNREFUSED
        assert!(!is_local(&io::Error::other("too many open files")));
    }

    #[test]
    fn an_unknown_error_takes_the_kind_of_its_stage() {
        let err = io::Error::new(io::ErrorKind::UnexpectedEof, "eof");
        assert_eq!(classify(&err, ErrorKind::Tls).kind, ErrorKind::Tls);
        assert_eq!(classify(&err, ErrorKind::Connect).kind, ErrorKind::Connect);
    }
}
