//! The network side of a probe: the shared reqwest client (`client`), the resolver behind it
//! (`resolve`), an answer's body for the few requests that read one (`body`), and the reading of a failed request's error chain into an `exception` kind
//! (`classify`, `certs`). Knows nothing of targets, rows on disk or the command line.

pub mod body;
pub mod certs;
pub mod classify;
pub mod client;
mod insecure;
pub mod resolve;
