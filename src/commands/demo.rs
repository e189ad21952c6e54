//! `healthcheck demo`: the article's run against the built-in simulated internet.

use clap::Args;

use crate::error::Result;
use crate::exit_code::Exit;

#[derive(Debug, Args)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs, _quiet: bool) -> Result<Exit> {
    Ok(Exit::Ok)
}
