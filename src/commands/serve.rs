//! `healthcheck serve`: the simulated internet as a standalone server.

use clap::Args;

use crate::error::Result;
use crate::exit_code::Exit;

#[derive(Debug, Args)]
pub struct ServeArgs {}

pub fn run(_args: ServeArgs) -> Result<Exit> {
    Ok(Exit::Ok)
}
