//! The flags of the commands that look at rows after a run: `report` and `sweep`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::parse::count;
use super::CheckArgs;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The rows of a check: its CSV (with the header) or JSON lines; `-` for stdin.
    #[arg(value_name = "FILE", default_value = "-")]
    pub input: PathBuf,

    /// What to print: text with bar charts, or the aggregates as one JSON object.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Also write the charts as SVG files into DIR (created if missing).
    ///
    /// status-codes.svg, error-status-codes.svg, exceptions.svg and latency.svg; for a file
    /// written with --details, cert-days-left.svg too.
    #[arg(long, value_name = "DIR")]
    pub svg: Option<PathBuf>,

    /// Also write the charts as PNG files into DIR (created if missing).
    #[arg(long, value_name = "DIR")]
    pub png: Option<PathBuf>,

    /// Add a "Changes" section: what changed since the run in OLD (as `healthcheck diff OLD
    /// FILE` finds it), counts per kind and the first changes.
    #[arg(long, value_name = "OLD")]
    pub since: Option<PathBuf>,
}

/// What `report` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

/// The check's options that a sweep does not take: hidden from its help, and refused by name
/// (`--levels` replaces `-c`; the table goes to stdout and the rows to `--out DIR`). `--timings`
/// is always on, so it is hidden too.
#[derive(Debug, Args)]
#[command(
    mut_arg("concurrency", |a| a.hide(true).conflicts_with("levels")),
    mut_arg("output", |a| a.hide(true).conflicts_with("levels")),
    mut_arg("resume", |a| a.hide(true).conflicts_with("levels")),
    mut_arg("summary_json", |a| a.hide(true).conflicts_with("levels")),
    mut_arg("timings", |a| a.hide(true))
)]
pub struct SweepArgs {
    /// The concurrency levels to compare, e.g. `10,100,1000`.
    #[arg(
        long,
        value_name = "LIST",
        required = true,
        value_delimiter = ',',
        allow_negative_numbers = true,
        value_parser = count(1, 100_000)
    )]
    pub levels: Vec<u64>,

    /// Runs per level; the table then shows the median wall time and its spread (min-max), and
    /// each phase's median over the runs' medians.
    ///
    /// The runs go round the levels R times rather than level by level, so a change in the
    /// network or the machine during the sweep affects every level alike.
    #[arg(long, value_name = "R", default_value_t = 1, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,

    /// Keep every run's rows as DIR/level-<C>.csv (level-<C>-<r>.csv with --repeat), and write
    /// DIR/sweep.csv, sweep.svg and sweep.png, and the median phases as sweep-phases.svg and
    /// sweep-phases.png (the rows have the --timings columns: a sweep always measures them).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Boxed: the check's options are most of the command line's size.
    #[command(flatten)]
    pub check: Box<CheckArgs>,
}
