//! `healthcheck diff OLD NEW`: what changed between two runs. The older run is read into the
//! join, the newer one streams past it, and only then are the changed rows written, so a file
//! that is not a check's output (exit 2) leaves `-o` untouched. Then the summary on stderr,
//! `--summary-json`, and the exit code of `--fail-on`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::check::sink::Format;
use crate::cli::DiffArgs;
use crate::config::same_file;
use crate::error::{stdout_written, Error, Result};
use crate::exit_code::Exit;
use crate::report::changes::Summary;
use crate::report::diff::{Change, Changed, Diff, Join, Older, Rules, CHANGE_COLUMNS, PLAIN_CHANGE_COLUMNS};
use crate::report::read::{self, Shape};

pub fn run(args: DiffArgs, quiet: bool) -> Result<Exit> {
    check_paths(&args)?;
    let rules = Rules {
        success: args.success.clone(),
        cert_days: args.cert_days.into(),
    };
    let (mut join, old) = read_old(&args.old, rules)?;
    let new = read::for_each_row_in(&args.new, |row| join.add(row))?;
    let diff = join.finish();
    let summary = Summary::of(&diff, &name(&args.old), &name(&args.new));
    for warning in summary.warnings() {
        tracing::warn!("{warning}");
    }
    write_rows(&diff, &args, old.details && new.details)?;
    if !quiet {
        eprint!("{}", summary.render());
    }
    if let Some(path) = &args.summary_json {
        super::check::write_json(path, &summary)?;
    }
    Ok(match diff.has_any(&args.fail_on) {
        true => Exit::Changed,
        false => Exit::Ok,
    })
}

/// The older run, read whole into a join (also `report --since`'s).
pub(crate) fn read_old(path: &Path, rules: Rules) -> Result<(Join, Shape)> {
    let mut older = Older::new(rules);
    let shape = read::for_each_row_in(path, |row| older.add(row))?;
    Ok((older.join(), shape))
}

/// A file's name in messages.
pub(crate) fn name(path: &Path) -> String {
    match path.as_os_str() == "-" {
        true => "<stdin>".into(),
        false => path.display().to_string(),
    }
}

/// Both runs cannot come from stdin, and no output may overwrite an input or the other output.
fn check_paths(args: &DiffArgs) -> Result<()> {
    let stdin = |p: &Path| p.as_os_str() == "-";
    if stdin(&args.old) && stdin(&args.new) {
        return Err(Error::usage("NEW", "OLD and NEW cannot both be stdin (`-`)"));
    }
    let mut taken: Vec<(&str, &Path)> = [("OLD", &args.old), ("NEW", &args.new)]
        .into_iter()
        .filter(|(_, p)| !stdin(p))
        .map(|(what, p)| (what, p.as_path()))
        .collect();
    let output = Some(&args.output).filter(|p| !stdin(p));
    let outputs = [
        ("--output", output),
        ("--summary-json", args.summary_json.as_ref()),
    ];
    for (flag, out) in outputs {
        let Some(out) = out else { continue };
        if let Some((other, _)) = taken.iter().find(|(_, p)| same_file(out, p)) {
            return Err(Error::usage(
                flag,
                format!(
                    "{} is the same file as {other}; writing it would destroy it",
                    out.display()
                ),
            ));
        }
        taken.push((flag, out));
    }
    Ok(())
}

/// The changed rows (those of `--changes`, or all) to `-o` or stdout.
fn write_rows(diff: &Diff, args: &DiffArgs, certs: bool) -> Result<()> {
    let kinds: &[Change] = &args.changes;
    let rows = diff
        .changes()
        .filter(|c| kinds.is_empty() || kinds.contains(&c.change));
    if args.output.as_os_str() == "-" {
        return stdout_written(encode(io::stdout().lock(), args.format, certs, rows));
    }
    let failed = |source| Error::Output {
        path: PathBuf::from(&args.output),
        source,
    };
    let file = File::create(&args.output).map_err(failed)?;
    encode(file, args.format, certs, rows).map_err(failed)
}

/// CSV with its header, or JSON lines; `certs` adds the certificate columns.
fn encode<'a>(
    out: impl Write,
    format: Format,
    certs: bool,
    rows: impl Iterator<Item = Changed<'a>>,
) -> io::Result<()> {
    match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(out);
            let columns = if certs {
                CHANGE_COLUMNS.len()
            } else {
                PLAIN_CHANGE_COLUMNS
            };
            w.write_record(&CHANGE_COLUMNS[..columns])?;
            for c in rows {
                w.serialize(c.row(certs))?;
            }
            w.flush()
        }
        Format::Jsonl => {
            let mut w = BufWriter::with_capacity(64 * 1024, out);
            for c in rows {
                serde_json::to_writer(&mut w, &c.row(certs))?;
                w.write_all(b"\n")?;
            }
            w.flush()
        }
    }
}
