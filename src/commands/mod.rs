//! One module per subcommand (the two lessons share one); each takes its flags from `cli`,
//! parses nothing itself and returns an `Exit`.

pub mod check;
pub mod demo;
pub mod diff;
pub mod lessons;
pub mod report;
pub mod serve;
pub mod sweep;

use crate::error::{Error, Result};

/// The multi-thread runtime the servers run on (one worker per core).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    built(tokio::runtime::Builder::new_multi_thread())
}

/// The runtime a check runs on (`--threads`). With one thread, every wake-up stays on it: no
/// worker parks and unparks another through a futex, which cost a tenth of the CPU of a
/// plain-HTTP check (README, "Performance").
pub(crate) fn check_runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        built(tokio::runtime::Builder::new_current_thread())
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        built(builder)
    }
}

fn built(mut builder: tokio::runtime::Builder) -> Result<tokio::runtime::Runtime> {
    builder
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))
}
