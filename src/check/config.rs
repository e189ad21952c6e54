//! The validated configuration of a check: real types only (durations, shards, paths), so the
//! pipeline never sees a flag. `crate::config` builds it from the command line; `demo`, `sweep`
//! and the tests build it directly.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::hosts::HostPolicy;
use super::probe::ProbeConfig;
use super::shard::Shard;
use super::sink::Format;
use super::sitemap::{self, Fetch, Location};
use super::targets::{entries, Entry, Generated, Scheme};
use crate::error::{Error, Result};
use crate::net::client::ClientConfig;

/// Where the targets come from.
#[derive(Debug, Clone)]
pub enum Source {
    Generated(Generated),
    File(PathBuf),
    Stdin,
    /// `--sitemap`: the `<loc>`s of these sitemaps, in order.
    Sitemaps(Vec<Location>),
}

/// The entries of a source, read lazily on whichever thread iterates them.
pub type Lines = Box<dyn Iterator<Item = io::Result<Entry>>>;

impl Source {
    /// From the target flags: `--input` (`-` for stdin), else `--sitemap`s, else the generated set.
    pub fn new(
        input: Option<&Path>,
        sitemaps: &[String],
        alphabet: &str,
        length: u32,
        scheme: Scheme,
        tld: &str,
    ) -> Result<Self> {
        Ok(match input {
            None if !sitemaps.is_empty() => {
                Source::Sitemaps(sitemaps.iter().map(|s| Location::parse(s)).collect())
            }
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
    /// Sitemaps fetch with `fetch`: only a check has it.
    pub fn open(&self, fetch: Option<Fetch>) -> Result<Box<dyn FnOnce() -> Lines + Send>> {
        Ok(match self {
            Source::Sitemaps(locations) => {
                let fetch =
                    fetch.ok_or_else(|| Error::usage("--sitemap", "sitemaps are read by a check only"))?;
                Box::new(sitemap::open(locations, fetch)?)
            }
            Source::Generated(g) => {
                let generated = g.clone();
                Box::new(move || Box::new(generated.map(|url| Ok(Entry::Text(url)))))
            }
            Source::File(path) => {
                let unreadable = |source| Error::Input {
                    path: path.clone(),
                    source,
                };
                let file = File::open(path).map_err(unreadable)?;
                // Opening a directory succeeds; reading it fails, after the output was opened.
                if file.metadata().map_err(unreadable)?.is_dir() {
                    return Err(unreadable(io::Error::new(
                        io::ErrorKind::IsADirectory,
                        "it is a directory",
                    )));
                }
                Box::new(move || Box::new(entries(BufReader::new(file))))
            }
            Source::Stdin => Box::new(|| Box::new(entries(io::stdin().lock()))),
        })
    }

    /// What the source is called in an error message.
    pub fn name(&self) -> PathBuf {
        match self {
            Source::File(path) => path.clone(),
            Source::Sitemaps(locations) => {
                PathBuf::from(locations.first().map(Location::name).unwrap_or_default())
            }
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
    /// How long to wait for another process's lock on the output file.
    pub lock_wait: Duration,
    pub format: Format,
    pub summary_json: Option<PathBuf>,
    pub fail_on_unhealthy: bool,
    /// Collect and write the `--details` columns.
    pub details: bool,
    /// Measure and write the `--timings` columns.
    pub timings: bool,
    /// Fail when a certificate has fewer days left than this.
    pub fail_on_cert_expiring: Option<u32>,
    pub quiet: bool,
}
