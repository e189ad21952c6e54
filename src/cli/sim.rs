//! The flags of the commands around the simulated internet: `serve` (and its `--truth`) and
//! `demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse::{count, parse_scale, parse_secs};
use crate::check::expect::Pattern;
use crate::check::targets::Scheme;
use crate::sim::Profile;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on; HTTP and HTTPS share the port.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Accept connections to every 127.x.y.z on the port of --listen.
    ///
    /// Binds 0.0.0.0 and drops any connection that did not arrive on a loopback address, so
    /// each target can have its own address (`http://127.A.B.C:PORT/label`).
    #[arg(long)]
    pub bind_all_loopback: bool,

    /// Shuffles which name gets which category and latency.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// The mix of answers: `seed` looks like the real three-letter .com run.
    #[arg(long, value_enum, default_value_t = Profile::Seed)]
    pub profile: Profile,

    /// Multiplies every latency (median 150 ms, at most 4 s); 0 answers at once.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = parse_scale)]
    pub latency_scale: f64,

    /// The most requests one host serves at once; more are answered 429 at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub host_limit: Option<u32>,

    /// With --host-limit: the Retry-After of a 429, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1, requires = "host_limit")]
    pub retry_after: u32,

    /// With --host-limit: how Retry-After is written (a date is whole seconds, so up to one
    /// second less than --retry-after away).
    #[arg(long, value_enum, default_value_t = RetryAfterAs::Seconds, requires = "host_limit")]
    pub retry_after_as: RetryAfterAs,

    /// When stopped, write the per-host figures (connections, TLS handshakes, requests, most in
    /// flight, 429s) as JSON to FILE: for the site profile or --host-limit.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,

    /// Write the CA certificates (PEM, one per issuer) to FILE, for `healthcheck --ca-cert FILE`.
    #[arg(long, value_name = "FILE")]
    pub ca_out: Option<PathBuf>,

    /// Print the expected result of each target as CSV on stdout, instead of serving.
    ///
    /// The targets are given as to the checker (--input, or --length/--alphabet/--tld/--scheme);
    /// the columns are url,status_code,success,exception,method,redirects,latency_ms,category,
    /// cert_days_left,cert_issuer,page (the page a GET of a 200 reads).
    #[arg(long)]
    pub truth: bool,

    #[command(flatten)]
    pub targets: TruthTargets,
}

/// The form of `Retry-After` in a 429 (`--retry-after-as`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RetryAfterAs {
    Seconds,
    Date,
    /// No Retry-After header at all.
    None,
}

/// The target flags of `--truth`: the checker's, with the same defaults.
#[derive(Debug, Args)]
pub struct TruthTargets {
    /// With --truth: read targets from FILE (`-` for stdin), one URL or bare domain per line.
    #[arg(short, long, value_name = "FILE", requires = "truth")]
    pub input: Option<PathBuf>,

    /// With --truth, without --input: length of the generated labels.
    #[arg(long, default_value_t = 3, requires = "truth",
          value_parser = clap::value_parser!(u32).range(1..=12))]
    pub length: u32,

    /// With --truth, without --input: the letters the labels are made of.
    #[arg(long, default_value = "abcdefghijklmnopqrstuvwxyz", requires = "truth")]
    pub alphabet: String,

    /// With --truth: scheme of generated targets and of bare domains.
    #[arg(long, value_enum, default_value_t = Scheme::Https, requires = "truth")]
    pub scheme: Scheme,

    /// With --truth, without --input: the top-level domain of generated targets.
    #[arg(long, default_value = "com", requires = "truth")]
    pub tld: String,

    /// With --truth: the checker's --timeout, in seconds, per request.
    #[arg(long, value_name = "SECS", default_value = "5", requires = "truth",
          value_parser = parse_secs)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many URLs are checked at once.
    #[arg(short, long, default_value_t = 1000, allow_negative_numbers = true, value_parser = count(1, 100_000))]
    pub concurrency: u64,

    /// Length of the generated .com labels (3: the article's 17,576 names; 2: 676).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=5))]
    pub length: u32,

    /// Where the rows go.
    #[arg(short, long, value_name = "PATH", default_value = "output.csv")]
    pub output: PathBuf,

    /// Seconds allowed for one request of a URL, redirects included.
    #[arg(long, value_name = "SECS", default_value = "5", allow_negative_numbers = true, value_parser = parse_secs)]
    pub timeout: Duration,

    /// The simulated internet's mix of answers.
    #[arg(long, value_enum, default_value_t = Profile::Seed)]
    pub profile: Profile,

    /// Seed of the simulated internet: another seed, another internet.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Multiply the simulated latencies (0 answers at once).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, allow_negative_numbers = true, value_parser = parse_scale)]
    pub latency_scale: f64,

    /// Also write the end-of-run summary as one JSON object to PATH.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    /// A page must match REGEX to count as healthy (repeatable): checks send GET, and pages that
    /// break it are `content` (scored against what the simulated internet serves).
    #[arg(long, value_name = "REGEX", value_parser = Pattern::parse)]
    pub expect_body: Vec<Pattern>,

    /// A page must not match REGEX, e.g. `(?i)under maintenance|domain is parked` (repeatable).
    #[arg(long, value_name = "REGEX", value_parser = Pattern::parse)]
    pub reject_body: Vec<Pattern>,

    /// Also write the report's charts as SVG files into DIR.
    #[arg(long, value_name = "DIR")]
    pub svg: Option<PathBuf>,
}
