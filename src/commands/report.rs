//! `healthcheck report`: the charts of a finished run. Reads the rows once, streaming, then
//! prints the aggregates (text with bars, or JSON for scripts) and writes the image files.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::{Error, Result};
use crate::exit_code::Exit;
use crate::report::aggregate::Aggregate;
use crate::report::charts::{self, ImageFormat};
use crate::report::{read, terminal, write_stdout};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

pub fn run(args: ReportArgs) -> Result<Exit> {
    let mut agg = Aggregate::default();
    read::for_each_row_in(&args.input, |row| agg.add(&row))?;
    for (dir, format) in [(&args.svg, ImageFormat::Svg), (&args.png, ImageFormat::Png)] {
        if let Some(dir) = dir {
            for chart in charts::report_charts(&agg) {
                charts::save(&chart, dir, format)?;
            }
        }
    }
    let text = match args.format {
        ReportFormat::Text => terminal::render(&agg),
        ReportFormat::Json => {
            let mut json = serde_json::to_string_pretty(&agg.figures()).map_err(|e| Error::Output {
                path: "<stdout>".into(),
                source: std::io::Error::other(e),
            })?;
            json.push('\n');
            json
        }
    };
    write_stdout(&text)?;
    Ok(Exit::Ok)
}
