//! `healthcheck sweep`: the same check at several concurrency levels, to measure where more
//! concurrency stops paying (the article's 100 against 1,000 threads, done by hand with a shell
//! loop), and, from the phases every run measures (`--timings` is always on), why. Each run goes
//! through the same pipeline as a check; its rows go to `--out DIR` or to the null device, never
//! to stdout, which carries the table.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::check::config::{CheckConfig, Source};
use crate::check::pipeline;
use crate::check::sink::Format;
use crate::cli::{CheckArgs, SweepArgs};
use crate::error::{Error, Result};
use crate::exit_code::Exit;
use crate::report::charts;
use crate::report::draw::{self, ImageFormat};
use crate::report::sweep::{by_level, render_table, to_csv, LevelStats, RunStats};
use crate::report::write_stdout;

/// Where the rows of a run go when `--out` is not given.
const NULL_DEVICE: &str = if cfg!(windows) { "NUL" } else { "/dev/null" };

pub fn run(args: SweepArgs, quiet: bool) -> Result<Exit> {
    let check = CheckArgs {
        timings: true,
        ..args.check.as_ref().clone()
    };
    let base = CheckConfig::from_args(check, true)?;
    check_flags(&base)?;
    let mut levels = args.levels.clone();
    levels.sort_unstable();
    levels.dedup();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|source| Error::Output {
            path: dir.clone(),
            source,
        })?;
    }

    let rt = super::check_runtime(args.check.threads.into())?;
    let mut runs = Vec::new();
    let mut any_unhealthy = false;
    let interrupted = rt.block_on(async {
        let (stop, abandon) = (CancellationToken::new(), CancellationToken::new());
        pipeline::watch_signals(stop.clone(), abandon.clone());
        for round in 1..=args.repeat {
            for &level in &levels {
                let mut cfg = base.clone();
                cfg.concurrency = usize::try_from(level).unwrap_or(usize::MAX);
                cfg.output = Some(match &args.out {
                    Some(dir) => dir.join(rows_file(level, round, args.repeat, cfg.format)),
                    None => PathBuf::from(NULL_DEVICE),
                });
                let end = pipeline::run(cfg, stop.clone(), abandon.clone()).await?;
                if end.summary.interrupted {
                    return Ok::<bool, Error>(true);
                }
                let run = RunStats::new(level, &end.summary);
                if !quiet {
                    let ran = match run.level {
                        ran if ran < level => format!("{ran} (asked {level}, as the open-files limit fits)"),
                        ran => ran.to_string(),
                    };
                    eprintln!(
                        "sweep: level {ran}, run {round} of {}: {} URLs in {:.2} s ({:.1} URLs/s), \
                         {} successful, {} failed",
                        args.repeat,
                        end.summary.total,
                        run.wall_seconds,
                        run.urls_per_second,
                        run.successful,
                        run.failed
                    );
                }
                any_unhealthy |= run.failed > 0;
                runs.push(run);
            }
        }
        Ok(false)
    });
    rt.shutdown_timeout(pipeline::SHUTDOWN_GRACE);
    let interrupted = interrupted?;

    let table = by_level(&runs);
    if let Some(dir) = &args.out {
        write_results(dir, &table)?;
    }
    write_stdout(&render_table(&table))?;
    Ok(if interrupted {
        eprintln!(
            "healthcheck: sweep interrupted; the table holds the {} runs that finished",
            runs.len()
        );
        Exit::Interrupted
    } else if base.fail_on_unhealthy && any_unhealthy {
        Exit::Unhealthy
    } else {
        Exit::Ok
    })
}

/// The check options that make no sense when the same targets are checked once per level (the
/// flags a sweep does not take at all are refused by clap, see `SweepArgs`).
fn check_flags(cfg: &CheckConfig) -> Result<()> {
    if matches!(cfg.source, Source::Stdin) {
        return Err(Error::usage(
            "--input",
            "sweep reads the targets once per run, so they must come from a file, not stdin",
        ));
    }
    Ok(())
}

/// `level-<C>.csv`, or `level-<C>-<r>.csv` when each level runs more than once.
fn rows_file(level: u64, round: u32, repeat: u32, format: Format) -> String {
    let ext = match format {
        Format::Csv => "csv",
        Format::Jsonl => "jsonl",
    };
    if repeat > 1 {
        format!("level-{level}-{round}.{ext}")
    } else {
        format!("level-{level}.{ext}")
    }
}

/// `sweep.csv` and the charts, as SVG and PNG.
fn write_results(dir: &Path, levels: &[LevelStats]) -> Result<()> {
    let path = dir.join("sweep.csv");
    let csv = to_csv(levels).map_err(|e| Error::Output {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&path, csv).map_err(|source| Error::Output { path, source })?;
    for chart in [charts::sweep_chart(levels), charts::sweep_phases_chart(levels)] {
        draw::save(&chart, dir, ImageFormat::Svg)?;
        draw::save(&chart, dir, ImageFormat::Png)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> std::result::Result<SweepArgs, clap::Error> {
        let cli = Cli::try_parse_from(["healthcheck", "sweep"].iter().chain(args))?;
        match cli.command {
            Some(Command::Sweep(args)) => Ok(args),
            other => panic!("not a sweep: {other:?}"),
        }
    }

    #[test]
    fn levels_are_a_comma_separated_list_of_positive_counts() {
        assert_eq!(
            parse(&["--levels", "10,100,1000"]).unwrap().levels,
            [10, 100, 1000]
        );
        for bad in ["0,10", "ten", "10,,20", "100001"] {
            let err = parse(&["--levels", bad]).unwrap_err().to_string();
            assert!(err.contains("--levels"), "{bad}: {err}");
        }
        assert!(parse(&[]).unwrap_err().to_string().contains("--levels"));
    }

    #[test]
    fn check_flags_that_cannot_apply_are_usage_errors() {
        let args = parse(&["--levels", "1", "-i", "-"]).unwrap();
        let cfg = CheckConfig::from_args(*args.check, true).unwrap();
        let err = check_flags(&cfg).unwrap_err();
        assert!(err.to_string().starts_with("--input"), "{err}");
        assert_eq!(err.exit(), Exit::Usage);
        for (flags, named) in [
            (&["-c", "5"][..], "--concurrency"),
            (&["--resume", "out.csv"][..], "--resume"),
            (&["-o", "rows.csv"][..], "--output"),
            (&["--summary-json", "s.json"][..], "--summary-json"),
        ] {
            let err = parse(&[&["--levels", "1"][..], flags].concat())
                .unwrap_err()
                .to_string();
            assert!(err.contains(named) && err.contains("--levels"), "{err}");
        }
    }

    #[test]
    fn each_run_has_its_own_rows_file() {
        assert_eq!(rows_file(20, 1, 1, Format::Csv), "level-20.csv");
        assert_eq!(rows_file(20, 2, 3, Format::Jsonl), "level-20-2.jsonl");
    }
}
