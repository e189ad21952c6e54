//! The flags of `diff`: two runs' files, what to print and where, and when to fail.

use std::path::PathBuf;

use clap::Args;

use crate::check::sink::Format;
use crate::record::SuccessCodes;
use crate::report::diff::{Change, CERT_DAYS};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier run: the CSV or JSON lines of a check (`-` for stdin).
    #[arg(value_name = "OLD")]
    pub old: PathBuf,

    /// The later run, in either format, in any row order (`-` for stdin).
    #[arg(value_name = "NEW")]
    pub new: PathBuf,

    /// Print only these kinds of change: broke, recovered, status, moved, cert, added, removed.
    ///
    /// The summary on stderr and --fail-on still count every change.
    #[arg(long, value_name = "LIST", value_enum, value_delimiter = ',')]
    pub changes: Vec<Change>,

    /// Exit with 1 when a change of one of these kinds was found (e.g. `broke` or
    /// `broke,cert`): for cron and CI.
    #[arg(long, value_name = "LIST", value_enum, value_delimiter = ',')]
    pub fail_on: Vec<Change>,

    /// A certificate whose days left crossed DAYS between the runs (either way) is a `cert`
    /// change, as is one whose issuer changed.
    #[arg(long, value_name = "DAYS", default_value_t = CERT_DAYS,
          value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub cert_days: u32,

    /// Count these status codes as success in both runs (e.g. `200-299`), instead of each
    /// row's `success` column. A row with an exception is never a success.
    #[arg(long, value_name = "LIST", value_parser = SuccessCodes::parse)]
    pub success: Option<SuccessCodes>,

    /// Where the changed rows go: a file, or `-` for stdout. Written only once both runs were
    /// read whole.
    #[arg(short, long, value_name = "PATH", default_value = "-")]
    pub output: PathBuf,

    /// The format of the changed rows: CSV with a header, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,

    /// Also write the summary as one JSON object to PATH.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
}
