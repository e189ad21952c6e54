//! An answer's body, for the few requests that read one: a check with content expectations
//! (bounded: it stops at a limit, or as soon as the caller knows enough) and a sitemap fetched
//! over HTTP (streamed to a blocking reader). Every other request drops its answer after the
//! head, and never gets here.
//!
//! The body is read as sent: the client asks for no compression, so a body the server
//! compressed anyway is matched compressed (a sitemap's reader looks for gzip itself).

use std::io::{self, Read};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Response;

use crate::net::classify::{classify, Failure, Stage};
use crate::record::ErrorKind;

/// The answer a request was asked to keep (`Hop::keep_body`): its headers, and its body, unread.
#[derive(Debug)]
pub struct Body(Response);

/// Why reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The whole body was read.
    Complete,
    /// The limit was reached; the rest was never read.
    Limit,
    /// The caller knew enough.
    Enough,
}

impl Body {
    pub(crate) fn new(response: Response) -> Self {
        Body(response)
    }

    pub fn headers(&self) -> &HeaderMap {
        self.0.headers()
    }

    /// Append the body to `buf`, never past `limit` bytes in all, asking `enough` after each
    /// piece whether to stop. Dropping the answer early closes its connection, so whatever
    /// the server goes on sending is never read.
    pub async fn read(
        mut self,
        limit: usize,
        buf: &mut Vec<u8>,
        mut enough: impl FnMut(&[u8]) -> bool,
    ) -> Result<Ended, Failure> {
        loop {
            if buf.len() >= limit {
                return Ok(Ended::Limit);
            }
            let chunk = match self.0.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Ok(Ended::Complete),
                Err(e) => return Err(body_failure(&e)),
            };
            let room = limit - buf.len();
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if enough(buf) {
                return Ok(Ended::Enough);
            }
        }
    }

    /// The body as a blocking reader, for a thread outside the runtime: each read waits on
    /// `handle` for the next piece, at most `idle` long.
    pub fn blocking(self, handle: tokio::runtime::Handle, idle: Duration) -> BlockingBody {
        BlockingBody {
            response: self.0,
            handle,
            idle,
            pending: hyper::body::Bytes::new(),
        }
    }
}

/// A failure while reading a body: the answer was cut short or was not valid HTTP.
fn body_failure(err: &reqwest::Error) -> Failure {
    let failure = classify(err, Stage::Exchange);
    match failure.kind {
        // hyper's "unexpected end of body" and friends: the answer was cut short.
        ErrorKind::Other if err.is_body() || err.is_decode() => {
            Failure::new(ErrorKind::Reset, failure.detail)
        }
        _ => failure,
    }
}

/// `Body::blocking`: an answer's body as `std::io::Read`.
pub struct BlockingBody {
    response: Response,
    handle: tokio::runtime::Handle,
    idle: Duration,
    pending: hyper::body::Bytes,
}

impl Read for BlockingBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            let next = self
                .handle
                // Made inside `block_on`: a timer needs the runtime's context.
                .block_on(async { tokio::time::timeout(self.idle, self.response.chunk()).await });
            self.pending = match next {
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("nothing received for {:?}", self.idle),
                    ))
                }
                Ok(Err(e)) => return Err(io::Error::other(body_failure(&e).detail)),
                Ok(Ok(None)) => return Ok(0),
                Ok(Ok(Some(chunk))) => chunk,
            };
        }
        let n = out.len().min(self.pending.len());
        out[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}
