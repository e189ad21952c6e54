//! The default command: check every target, stream the rows, report, pick the exit code.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::check::config::CheckConfig;
use crate::check::pipeline::{self, RunEnd};
use crate::cli::CheckArgs;
use crate::error::{Error, Result};
use crate::exit_code::Exit;

pub fn run(args: CheckArgs, quiet: bool) -> Result<Exit> {
    let threads = args.threads;
    let cfg = CheckConfig::from_args(args, quiet)?;
    let rt = super::check_runtime(threads.into())?;
    let end = rt.block_on(async {
        let (stop, abandon) = (CancellationToken::new(), CancellationToken::new());
        pipeline::watch_signals(stop.clone(), abandon.clone());
        pipeline::run(cfg.clone(), stop, abandon).await
    });
    rt.shutdown_timeout(pipeline::SHUTDOWN_GRACE);
    finish(&cfg, end?)
}

/// Print the summary, write `--summary-json`, and choose the exit code.
pub fn finish(cfg: &CheckConfig, end: RunEnd) -> Result<Exit> {
    if end.broken_pipe {
        return Ok(Exit::Ok);
    }
    let summary = &end.summary;
    if !cfg.quiet {
        eprint!("{}", summary.render());
    }
    if summary.interrupted {
        let not_checked = match summary.not_checked {
            Some(n) => format!("{n} targets were not checked"),
            None => "the rest of the input was not checked".to_string(),
        };
        let resume = match cfg.resume.as_ref().or(cfg.output.as_ref()) {
            Some(path) => format!("; finish with --resume {}", path.display()),
            None => String::new(),
        };
        eprintln!(
            "healthcheck: interrupted after {} rows; {not_checked}{resume}",
            summary.written()
        );
    }
    if let Some(path) = &cfg.summary_json {
        write_json(path, summary)?;
    }
    if let Some(error) = end.input_error {
        // The rows of what was read are written, the summary is printed: then the error.
        return Err(error);
    }
    Ok(if summary.interrupted {
        Exit::Interrupted
    } else if cfg.fail_on_unhealthy && summary.failed > 0 {
        Exit::Unhealthy
    } else if expiring(cfg.fail_on_cert_expiring, summary.soonest_cert_days_left) {
        Exit::CertExpiring
    } else {
        Exit::Ok
    })
}

/// Whether `--fail-on-cert-expiring DAYS` fails the run: a certificate with fewer than DAYS
/// whole days left, that is, one expiring before now + DAYS days (expired ones included).
fn expiring(limit: Option<u32>, soonest_days_left: Option<i64>) -> bool {
    matches!((limit, soonest_days_left), (Some(limit), Some(days)) if days < i64::from(limit))
}

pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Output {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    text.push('\n');
    std::fs::write(path, text).map_err(|source| Error::Output {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_fails_the_run_when_it_has_fewer_days_left_than_the_limit() {
        assert!(expiring(Some(30), Some(29)));
        assert!(!expiring(Some(30), Some(30)));
        assert!(expiring(Some(0), Some(-1)), "0 fails on expired ones only");
        assert!(!expiring(Some(0), Some(0)));
        assert!(!expiring(None, Some(-5)));
        assert!(
            !expiring(Some(30), None),
            "no certificate read, nothing to fail on"
        );
    }
}
