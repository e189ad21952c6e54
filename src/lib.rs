//! `healthcheck` checks the health of thousands of URLs at once and streams one row per URL.
//!
//! Data flows one way: `check::targets` -> `check::hosts` -> `check::pipeline` (the one concurrent stage, which
//! spawns a `check::probe` per target, each sending through `net`) -> `check::sink` (one writer)
//! -> rows of `record`. `sim` is the simulated internet that `serve`, `demo`, the tests and the
//! benchmarks check against; nothing in the check depends on it.
//!
//! Imports point down only (`docs/architecture.md`, checked by `scripts/module_cycles.py`):
//! `commands` -> `config` -> `cli` -> `report` -> `check` -> `sim`, `lessons` -> `hash` ->
//! `net` -> `record` -> `distribution` -> `error` -> `exit_code`, each group using only groups to
//! its right.

pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod distribution;
pub mod error;
pub mod exit_code;
pub mod hash;
pub mod lessons;
pub mod net;
pub mod record;
pub mod report;
pub mod sim;

use cli::{Cli, Command};
use error::Result;
use exit_code::Exit;

/// Run the command the user asked for. Each command builds the runtime it needs.
pub fn run(cli: Cli) -> Result<Exit> {
    match cli.command {
        None => commands::check::run(cli.check, cli.quiet),
        Some(Command::Hello(args)) => commands::lessons::hello(args),
        Some(Command::Counter(args)) => commands::lessons::counter(args),
        Some(Command::Serve(args)) => commands::serve::run(args),
        Some(Command::Demo(args)) => commands::demo::run(args, cli.quiet),
        Some(Command::Report(args)) => commands::report::run(args),
        Some(Command::Sweep(args)) => commands::sweep::run(args, cli.quiet),
        Some(Command::Diff(args)) => commands::diff::run(args, cli.quiet),
    }
}
