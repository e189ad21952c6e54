//! The network side of a probe: the shared reqwest client (`client`) with its certificate
//! verifiers (`pinned`, `insecure`), the resolver behind it (`resolve`), the measurement of each
//! request's phases (`timing`, for `--timings`), which connection an HTTPS request takes
//! (`origins`, for HTTP/2), what an answer's `Location` lines say (`location`), an answer's body
//! for the few requests that read one (`body`), and the reading of a failed request's error chain
//! into an `exception` kind and words (`classify`, `certs`, `tls_words`, `http2`). Knows nothing
//! of targets, rows on disk or the command line.

pub mod body;
pub mod certs;
pub mod classify;
pub mod client;
pub mod http2;
mod insecure;
pub mod location;
mod origins;
mod pinned;
pub mod resolve;
pub mod timing;
mod tls_words;
