//! `healthcheck report`: the charts of a finished run.

use clap::Args;

use crate::error::Result;
use crate::exit_code::Exit;

#[derive(Debug, Args)]
pub struct ReportArgs {}

pub fn run(_args: ReportArgs) -> Result<Exit> {
    Ok(Exit::Ok)
}
