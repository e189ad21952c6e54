//! The network side of a probe: the shared reqwest client (`client`), the resolver behind it
//! (`resolve`), which connection an HTTPS request takes (`origins`, for HTTP/2), an answer's body for the few requests that read one (`body`), and the reading of a failed request's error chain into an `exception` kind
//! (`classify`, `certs`, `http2`). Knows nothing of targets, rows on disk or the command line.

pub mod body;
pub mod certs;
pub mod classify;
pub mod client;
pub mod http2;
mod insecure;
mod origins;
pub mod resolve;
