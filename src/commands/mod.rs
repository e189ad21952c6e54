//! One module per subcommand; each parses nothing itself and returns an `Exit`.

pub mod check;
pub mod counter;
pub mod demo;
pub mod hello;
pub mod report;
pub mod serve;
pub mod sweep;

use crate::error::{Error, Result};

/// The multi-thread runtime the network commands run on (one worker per core).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))
}
