//! `healthcheck` checks the health of thousands of URLs at once and streams one row per URL.
//!
//! Data flows one way: `targets` -> `pipeline` (the one concurrent stage, which spawns a `probe`
//! per target) -> `sink` (one writer). `sim` is the simulated internet that `serve`, `demo`, the
//! tests and the benchmarks check against; nothing in the pipeline depends on it.

pub mod certs;
pub mod classify;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod error;
pub mod exit_code;
pub mod hash;
pub mod hosts;
pub mod limits;
pub mod pipeline;
pub mod probe;
pub mod progress;
pub mod record;
pub mod report;
pub mod resolve;
pub mod resume;
pub mod sim;
pub mod sink;
pub mod summary;
pub mod targets;

use cli::{Cli, Command};
use error::Result;
use exit_code::Exit;

/// Run the command the user asked for. Each command builds the runtime it needs.
pub fn run(cli: Cli) -> Result<Exit> {
    match cli.command {
        None => commands::check::run(cli.check, cli.quiet),
        Some(Command::Hello(args)) => commands::hello::run(args),
        Some(Command::Counter(args)) => commands::counter::run(args),
        Some(Command::Serve(args)) => commands::serve::run(args),
        Some(Command::Demo(args)) => commands::demo::run(args, cli.quiet),
        Some(Command::Report(args)) => commands::report::run(args),
        Some(Command::Sweep(args)) => commands::sweep::run(args, cli.quiet),
    }
}
