//! The network side of a probe: the shared reqwest client (`client`), the resolver behind it
//! (`resolve`), the measurement of each request's phases (`timing`, for `--timings`), and the
//! reading of a failed request's error chain into an `exception` kind (`classify`, `certs`).
//! Knows nothing of targets, rows on disk or the command line.

pub mod certs;
pub mod classify;
pub mod client;
mod insecure;
pub mod resolve;
pub mod timing;
