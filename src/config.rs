//! From the command line to a validated `CheckConfig`. `CheckArgs` (clap) stops here: the check
//! takes a `check::config::CheckConfig` of real types, which `demo` and the tests can also build
//! directly. Files are read and outputs compared with inputs here, before anything is written.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::check::config::{CheckConfig, Source};
use crate::check::expect::{Expectations, DEFAULT_MAX_BODY};
use crate::check::hosts::HostPolicy;
use crate::check::limits::DNS_CONCURRENCY;
use crate::check::probe::ProbeConfig;
use crate::check::shard_env;
use crate::cli::{CheckArgs, MethodArg};
use crate::error::{Error, Result};
use crate::net::client::{ClientConfig, ProxyChoice};
use crate::record::Method;

/// How long a kept connection waits in the pool for its host's next request (plus
/// `--host-interval`). A second covers a site's next page; longer only piles up idle sockets
/// after redirects within one origin, which keep their last connection too.
pub const POOL_IDLE: Duration = Duration::from_secs(1);

// An impl of `check`'s type, written here so that `check` knows nothing of clap.
impl CheckConfig {
    /// Read the `--ca-cert` files, refuse outputs that are inputs, and settle the defaults.
    pub fn from_args(args: CheckArgs, quiet: bool) -> Result<Self> {
        let source = Source::new(
            args.input.as_deref(),
            &args.sitemap,
            &args.alphabet,
            args.length,
            args.scheme,
            &args.tld,
        )?;
        let ca_pems = args
            .ca_cert
            .iter()
            .map(|path| {
                fs::read(path)
                    .map(|pem| (path.display().to_string(), pem))
                    .map_err(|source| Error::Input {
                        path: path.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let output = (args.output.as_os_str() != "-").then(|| args.output.clone());
        check_distinct(&args, output.as_deref())?;
        let details = args.details || args.fail_on_cert_expiring.is_some();
        let expect = Expectations {
            expect_body: args.expect_body,
            reject_body: args.reject_body,
            headers: args.expect_header,
            max_body: args.max_body.unwrap_or(DEFAULT_MAX_BODY),
        };
        if args.max_body.is_some() && !expect.reads_body() {
            return Err(Error::usage(
                "--max-body",
                "needs --expect-body or --reject-body: without them no body is read",
            ));
        }
        // The body is needed: HEAD has none.
        let method = match args.method {
            _ if expect.reads_body() => Method::Get,
            MethodArg::Head => Method::Head,
            MethodArg::Get => Method::Get,
        };
        Ok(CheckConfig {
            source,
            scheme: args.scheme,
            shard: shard_env::resolve(args.shard, args.shard_count, args.shard_by, |name| {
                std::env::var(name).ok()
            })?,
            concurrency: usize::try_from(args.concurrency).unwrap_or(usize::MAX),
            client: ClientConfig {
                connect_timeout: args.connect_timeout.unwrap_or(args.timeout),
                user_agent: args.user_agent,
                headers: args.headers,
                insecure: args.insecure,
                ca_pems,
                resolve: args.resolve,
                dns_servers: args.dns_servers,
                dns_concurrency: DNS_CONCURRENCY,
                proxy: match (args.proxy, args.no_proxy) {
                    (Some(url), _) => ProxyChoice::Url(url),
                    (None, true) => ProxyChoice::Direct,
                    (None, false) => ProxyChoice::Environment,
                },
                tls_info: details,
                // A kept connection waits for the host's next request, which may wait out
                // --host-interval first.
                pool_idle: POOL_IDLE + Duration::from_millis(args.host_interval),
                http2: !args.http1,
                timings: args.timings,
            },
            probe: ProbeConfig {
                method,
                get_fallback: args.get_fallback,
                timeout: args.timeout,
                max_redirects: args.max_redirects,
                retries: args.retries,
                success: args.success,
                details,
                expect: (!expect.is_empty()).then(|| Arc::new(expect)),
                timings: args.timings,
            },
            hosts: HostPolicy {
                concurrency: args.host_concurrency,
                interval: Duration::from_millis(args.host_interval),
                max_retry_wait: args.max_retry_wait,
                retries_429: args.retries_429,
            },
            output,
            resume: args.resume,
            lock_wait: args.lock_wait,
            format: args.format,
            summary_json: args.summary_json,
            fail_on_unhealthy: args.fail_on_unhealthy,
            details,
            timings: args.timings,
            fail_on_cert_expiring: args.fail_on_cert_expiring,
            quiet,
        })
    }
}

/// Refuse to write over a file the run reads, or over its other output, under any path to it:
/// `-i list.txt -o list.txt` would truncate the list before reading it.
fn check_distinct(args: &CheckArgs, output: Option<&Path>) -> Result<()> {
    let mut inputs: Vec<(&'static str, &Path)> = Vec::new();
    if let Some(path) = args.input.as_deref().filter(|p| p.as_os_str() != "-") {
        inputs.push(("--input", path));
    }
    inputs.extend(args.ca_cert.iter().map(|p| ("--ca-cert", p.as_path())));
    inputs.extend(args.sitemap.iter().map(|p| ("--sitemap", Path::new(p))));
    let rows = match (&args.resume, output) {
        (Some(path), _) => Some(("--resume", path.as_path())),
        (None, path) => path.map(|p| ("--output", p)),
    };
    let summary = args.summary_json.as_deref().map(|p| ("--summary-json", p));
    for (flag, out) in rows.into_iter().chain(summary) {
        if let Some((other, input)) = inputs.iter().find(|(_, input)| same_file(out, input)) {
            return Err(Error::usage(
                flag,
                format!(
                    "{} is the same file as {other} {}; writing it would destroy it",
                    out.display(),
                    input.display()
                ),
            ));
        }
        inputs.push((flag, out));
    }
    Ok(())
}

/// Whether two paths name the same regular file (device and inode), or, for files that do not
/// exist yet, the same path. Devices such as `/dev/null` may be read and written at once.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.is_file() && y.is_file() && identical(a, &x, b, &y),
        (Err(_), Err(_)) => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
        _ => false,
    }
}

#[cfg(unix)]
fn identical(_: &Path, x: &fs::Metadata, _: &Path, y: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (x.dev(), x.ino()) == (y.dev(), y.ino())
}

#[cfg(not(unix))]
fn identical(a: &Path, _: &fs::Metadata, b: &Path, _: &fs::Metadata) -> bool {
    fs::canonicalize(a).ok() == fs::canonicalize(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn config(args: &[&str]) -> Result<CheckConfig> {
        let cli = Cli::try_parse_from(["healthcheck"].iter().chain(args)).expect("valid flags");
        CheckConfig::from_args(cli.check, true)
    }

    #[test]
    fn an_output_that_is_an_input_under_another_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("list.txt");
        fs::write(&list, "a.com\n").unwrap();
        let other_path = dir.path().join(".").join("list.txt");
        let (list, other) = (list.to_str().unwrap(), other_path.to_str().unwrap());
        for (args, flag) in [
            (vec!["-i", list, "-o", other], "--output"),
            (vec!["-i", list, "--resume", other], "--resume"),
            (vec!["-i", "-", "--ca-cert", list, "-o", other], "--output"),
            (vec!["-i", list, "--summary-json", other], "--summary-json"),
        ] {
            let err = config(&args).unwrap_err();
            assert!(err.to_string().starts_with(flag), "{args:?}: {err}");
            assert_eq!(err.exit(), crate::exit_code::Exit::Usage);
        }
        let new = dir.path().join("new.csv");
        let new = new.to_str().unwrap();
        assert!(
            config(&["-o", new, "--summary-json", new]).is_err(),
            "both outputs at one path"
        );
        assert!(config(&["-i", list, "-o", new]).is_ok());
        assert!(config(&["-i", "/dev/null", "-o", "/dev/null"]).is_ok());
    }
}
