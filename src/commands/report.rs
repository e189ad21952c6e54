//! `healthcheck report`: the charts of a finished run. Reads the rows once, streaming, then
//! prints the aggregates (text with bars, or JSON for scripts) and writes the image files. With
//! `--since OLD`, the same pass feeds the rows to a diff against OLD, for a "Changes" section.

use serde::Serialize;

use crate::cli::{ReportArgs, ReportFormat};
use crate::error::{Error, Result};
use crate::exit_code::Exit;
use crate::report::aggregate::{Aggregate, Figures};
use crate::report::changes::{self, SectionFigures};
use crate::report::charts;
use crate::report::diff::Rules;
use crate::report::draw::{self, ImageFormat};
use crate::report::{read, terminal, write_stdout};

pub fn run(args: ReportArgs) -> Result<Exit> {
    let mut since = match &args.since {
        Some(old) if old.as_os_str() == "-" && args.input.as_os_str() == "-" => {
            return Err(Error::usage("--since", "OLD and FILE cannot both be stdin (`-`)"));
        }
        Some(old) => Some(super::diff::read_old(old, Rules::default())?),
        None => None,
    };
    let mut agg = Aggregate::default();
    let shape = read::for_each_row_in(&args.input, |row| {
        agg.add(&row);
        if let Some((join, _)) = &mut since {
            join.add(row);
        }
    })?;
    let since = since.map(|(join, old)| (join.finish(), old.details && shape.details));
    let since_name = args.since.as_deref().map(super::diff::name).unwrap_or_default();
    for (dir, format) in [(&args.svg, ImageFormat::Svg), (&args.png, ImageFormat::Png)] {
        if let Some(dir) = dir {
            for chart in charts::report_charts(&agg) {
                draw::save(&chart, dir, format)?;
            }
        }
    }
    let text = match args.format {
        ReportFormat::Text => {
            let mut text = terminal::render(&agg);
            if let Some((diff, _)) = &since {
                text.push('\n');
                let file = match args.input.as_os_str() == "-" {
                    true => "FILE".into(),
                    false => super::diff::name(&args.input),
                };
                text.push_str(&changes::section(diff, &since_name, &file));
            }
            text
        }
        ReportFormat::Json => {
            let report = Json {
                figures: agg.figures(),
                changes: since
                    .as_ref()
                    .map(|(diff, certs)| changes::section_figures(diff, &since_name, *certs)),
            };
            let mut json = serde_json::to_string_pretty(&report).map_err(|e| Error::Output {
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

/// `--format json`: the aggregates, and the changes with `--since`.
#[derive(Serialize)]
struct Json<'a> {
    #[serde(flatten)]
    figures: Figures<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<SectionFigures<'a>>,
}
