//! What HTTP/2 adds to a failure: its error codes, put into the `exception` kinds HTTP/1.1
//! failures get (a stream the server reset is `reset`, a broken frame is `protocol`) with the code
//! named in `error_detail`, and whether the server said it never processed the request
//! (`REFUSED_STREAM`, or a `GOAWAY` that closed the connection before it), which makes sending
//! it again safe (RFC 9113 8.7).
//!
//! The errors are `h2::Error`s deep in reqwest's error chain (reqwest, hyper-util, hyper, h2);
//! one that wraps an io error (the connection dropped) is classified by that io error, as over
//! HTTP/1.1.

use std::error::Error as StdError;

use h2::Reason;

use crate::net::classify::Failure;
use crate::record::ErrorKind;

/// The first `h2::Error` in an error's source chain.
fn find<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a h2::Error> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return Some(h2);
        }
        next = e.source();
    }
    None
}

/// Whether the server said it did not process the request, so that it may be sent again:
/// `RST_STREAM` with `REFUSED_STREAM` (a stream opened before the server's
/// `SETTINGS_MAX_CONCURRENT_STREAMS` arrived, or a server shedding load; the connection is
/// fine), or a `GOAWAY` (another connection must take it). HEAD and GET are safe methods, so a
/// `GOAWAY` that names the stream as possibly processed (an error `GOAWAY` ending the
/// connection under it) is safe to repeat too.
fn unprocessed(err: &(dyn StdError + 'static)) -> bool {
    find(err)
        .is_some_and(|h2| h2.is_remote() && (h2.is_go_away() || h2.reason() == Some(Reason::REFUSED_STREAM)))
}

/// Whether a request that failed on HTTP/2 is sent once more: the server did not process it
/// (`unprocessed`), or the HTTP/2 connection under it broke (an io error inside h2; HEAD and GET
/// may be repeated).
pub fn send_again(err: &(dyn StdError + 'static)) -> bool {
    unprocessed(err) || find(err).is_some_and(h2::Error::is_io)
}

/// Whether the HTTP/2 connection the request went on is gone or going (a `GOAWAY`, or the
/// connection under it broke): the origin's next request sets up another, alone.
pub fn connection_lost(err: &(dyn StdError + 'static)) -> bool {
    find(err).is_some_and(|h2| h2.is_go_away() || h2.is_io())
}

/// Whether the error came from HTTP/2's own frames (a stream reset, a `GOAWAY`, a broken frame)
/// rather than from the connection underneath.
pub fn is_http2(err: &(dyn StdError + 'static)) -> bool {
    find(err).is_some_and(|h2| h2.reason().is_some())
}

/// The io error inside an `h2::Error`, which its `source()` does not give.
pub fn io_inside<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a std::io::Error> {
    err.downcast_ref::<h2::Error>()?.get_io()
}

/// The row of a request that failed on HTTP/2's terms; `None` for other errors (an io error
/// inside h2 included: the caller classifies it as any io error).
pub fn failure(chain: &[&(dyn StdError + 'static)]) -> Option<Failure> {
    let h2 = chain.iter().find_map(|e| e.downcast_ref::<h2::Error>())?;
    let reason = h2.reason()?;
    let kind = kind_of(reason, h2.is_library());
    let detail = if h2.is_library() {
        format!("HTTP/2 protocol error in the server's frames: {reason:?} ({reason})")
    } else if h2.is_go_away() && h2.is_remote() {
        format!("HTTP/2 connection closed by the server: GOAWAY {reason:?} ({reason})")
    } else if h2.is_reset() && h2.is_remote() {
        format!("HTTP/2 stream reset by the server: {reason:?} ({reason})")
    } else {
        format!("HTTP/2 error: {reason:?} ({reason})")
    };
    Some(Failure::new(kind, detail))
}

/// The kind of an HTTP/2 error code. Codes that say a frame or the protocol was broken are
/// `protocol`, as a malformed HTTP/1.1 answer is; the others end a stream or a connection the
/// way a reset does. `library`: h2 found the server's frames broken.
fn kind_of(reason: Reason, library: bool) -> ErrorKind {
    let broken = [
        Reason::PROTOCOL_ERROR,
        Reason::FLOW_CONTROL_ERROR,
        Reason::FRAME_SIZE_ERROR,
        Reason::COMPRESSION_ERROR,
        Reason::SETTINGS_TIMEOUT,
        Reason::HTTP_1_1_REQUIRED,
        Reason::INADEQUATE_SECURITY,
    ];
    if library || broken.contains(&reason) {
        ErrorKind::Protocol
    } else {
        ErrorKind::Reset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] h2::Error);

    #[test]
    fn codes_that_break_the_protocol_are_protocol_and_the_rest_reset() {
        assert_eq!(kind_of(Reason::REFUSED_STREAM, false), ErrorKind::Reset);
        assert_eq!(kind_of(Reason::INTERNAL_ERROR, false), ErrorKind::Reset);
        assert_eq!(kind_of(Reason::CANCEL, false), ErrorKind::Reset);
        assert_eq!(kind_of(Reason::ENHANCE_YOUR_CALM, false), ErrorKind::Reset);
        assert_eq!(kind_of(Reason::NO_ERROR, false), ErrorKind::Reset);
        assert_eq!(kind_of(Reason::PROTOCOL_ERROR, false), ErrorKind::Protocol);
        assert_eq!(kind_of(Reason::HTTP_1_1_REQUIRED, false), ErrorKind::Protocol);
        assert_eq!(kind_of(Reason::INTERNAL_ERROR, true), ErrorKind::Protocol);
    }

    #[test]
    fn an_error_from_a_bare_code_names_it_and_is_not_retried() {
        let err = Outer(h2::Error::from(Reason::FRAME_SIZE_ERROR));
        let failure = failure(&[&err, &err.0]).expect("an HTTP/2 failure");
        assert_eq!(failure.kind, ErrorKind::Protocol);
        assert_eq!(
            failure.detail,
            "HTTP/2 error: FRAME_SIZE_ERROR (frame with invalid size)"
        );
        assert!(!unprocessed(&err), "not said by the server");
        assert!(is_http2(&err));
    }
}
