//! `healthcheck counter`: the shared-counter lesson on tokio.

use clap::Args;

use crate::error::Result;
use crate::exit_code::Exit;

#[derive(Debug, Args)]
pub struct CounterArgs {
    /// How many tasks.
    pub tasks: u64,
}

pub fn run(_args: CounterArgs) -> Result<Exit> {
    Ok(Exit::Ok)
}
