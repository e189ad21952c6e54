//! The validated configuration of a check. `CheckArgs` (clap) stops here: the pipeline takes a
//! `CheckConfig` of real types, which `demo` and the tests can also build directly.

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{CheckArgs, Format, MethodArg, Scheme};
use crate::client::{ClientConfig, ProxyChoice};
use crate::error::{Error, Result};
use crate::hosts::HostPolicy;
use crate::limits::DNS_CONCURRENCY;
use crate::probe::ProbeConfig;
use crate::record::Method;
use crate::targets::{entries, Generated, Shard};

/// Where the targets come from.
#[derive(Debug, Clone)]
pub enum Source {
    Generated(Generated),
    File(PathBuf),
    Stdin,
}

/// The entries of a source, read lazily on whichever thread iterates them.
pub type Lines = Box<dyn Iterator<Item = io::Result<String>>>;

impl Source {
    /// From the target flags: `--input` (`-` for stdin), else the generated set.
    pub fn new(input: Option<&Path>, alphabet: &str, length: u32, scheme: Scheme, tld: &str) -> Result<Self> {
        Ok(match input {
            Some(path) if path.as_os_str() == "-" => Source::Stdin,
            Some(path) => Source::File(path.to_path_buf()),
            None => Source::Generated(Generated::new(alphabet, length, scheme, tld).map_err(|m| {
                let flag = if m.contains("top-level") {
                    "--tld"
                } else {
                    "--alphabet"
                };
                Error::usage(flag, m)
            })?),
        })
    }

    /// Open the source now, so that a missing file is an error before anything is written, and
    /// return what reads it: a closure, because stdin's lock must be taken on the reading thread.
    pub fn open(&self) -> Result<Box<dyn FnOnce() -> Lines + Send>> {
        Ok(match self {
            Source::Generated(g) => {
                let generated = g.clone();
                Box::new(move || Box::new(generated.map(Ok)))
            }
            Source::File(path) => {
                let file = File::open(path).map_err(|source| Error::Input {
                    path: path.clone(),
                    source,
                })?;
                Box::new(move || Box::new(entries(BufReader::new(file))))
            }
            Source::Stdin => Box::new(|| Box::new(entries(io::stdin().lock()))),
        })
    }

    /// What the source is called in an error message.
    pub fn name(&self) -> PathBuf {
        match self {
            Source::File(path) => path.clone(),
            Source::Generated(_) | Source::Stdin => PathBuf::from("<stdin>"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckConfig {
    pub source: Source,
    /// Given to bare domains read from a file.
    pub scheme: Scheme,
    pub shard: Option<Shard>,
    pub concurrency: usize,
    pub client: ClientConfig,
    pub probe: ProbeConfig,
    /// Politeness per host: limits, pauses, retries after 429.
    pub hosts: HostPolicy,
    /// `None` for stdout.
    pub output: Option<PathBuf>,
    /// Skip what this file already holds and append to it (then `output` is this file).
    pub resume: Option<PathBuf>,
    pub format: Format,
    pub summary_json: Option<PathBuf>,
    pub fail_on_unhealthy: bool,
    pub quiet: bool,
}

impl CheckConfig {
    pub fn from_args(args: CheckArgs, quiet: bool) -> Result<Self> {
        let source = match &args.input {
            Some(path) if path.as_os_str() == "-" => Source::Stdin,
            Some(path) => Source::File(path.clone()),
            None => Source::Generated(
                Generated::new(&args.alphabet, args.length, args.scheme, &args.tld).map_err(|m| {
                    let flag = if m.contains("top-level") {
                        "--tld"
                    } else {
                        "--alphabet"
                    };
                    Error::usage(flag, m)
                })?,
            ),
        };
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
        Ok(CheckConfig {
            source,
            scheme: args.scheme,
            shard: args.shard.map(|shard| Shard {
                by: args.shard_by,
                ..shard
            }),
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
                tls_info: false,
            },
            probe: ProbeConfig {
                method: match args.method {
                    MethodArg::Head => Method::Head,
                    MethodArg::Get => Method::Get,
                },
                get_fallback: args.get_fallback,
                timeout: args.timeout,
                max_redirects: args.max_redirects,
                retries: args.retries,
                success: args.success,
            },
            hosts: HostPolicy {
                concurrency: args.host_concurrency,
                interval: Duration::from_millis(args.host_interval),
                max_retry_wait: args.max_retry_wait,
                retries_429: args.retries_429,
            },
            output,
            resume: args.resume,
            format: args.format,
            summary_json: args.summary_json,
            fail_on_unhealthy: args.fail_on_unhealthy,
            quiet,
        })
    }
}
