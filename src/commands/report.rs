//! `healthcheck report`: the charts of a finished run. Reads the rows once, streaming, then
//! prints the aggregates (text with bars, or JSON for scripts) and writes the image files.

use crate::cli::{ReportArgs, ReportFormat};
use crate::error::{Error, Result};
use crate::exit_code::Exit;
use crate::report::aggregate::Aggregate;
use crate::report::charts;
use crate::report::draw::{self, ImageFormat};
use crate::report::{read, terminal, write_stdout};

pub fn run(args: ReportArgs) -> Result<Exit> {
    let mut agg = Aggregate::default();
    read::for_each_row_in(&args.input, |row| agg.add(&row))?;
    for (dir, format) in [(&args.svg, ImageFormat::Svg), (&args.png, ImageFormat::Png)] {
        if let Some(dir) = dir {
            for chart in charts::report_charts(&agg) {
                draw::save(&chart, dir, format)?;
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
