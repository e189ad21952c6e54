//! The article's two concurrency lessons, replayed with tokio: `hello` (one process, many worker
//! threads) and `counter` (a shared counter, the race and the lock). They share nothing with the
//! check but the error type; `healthcheck hello` and `healthcheck counter` run them.

pub mod counter;
pub mod hello;
