//! `healthcheck hello`: one process, one main thread, many runtime workers.

use clap::Args;

use crate::error::Result;
use crate::exit_code::Exit;

#[derive(Debug, Args)]
pub struct HelloArgs {
    /// Spawn N tasks and have each say which worker thread ran it.
    #[arg(long, default_value_t = 0)]
    pub tasks: usize,
}

pub fn run(_args: HelloArgs) -> Result<Exit> {
    Ok(Exit::Ok)
}
