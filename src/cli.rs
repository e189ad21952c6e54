//! The command line, as clap derive types: every flag of every subcommand is here (the check's
//! in `CheckArgs`, the others' in the submodules). Nothing past `config` sees these types: values
//! are parsed into their real types here (durations, shards, status ranges) so that a bad value
//! is a usage error naming its flag, and the core takes a validated `CheckConfig`. The value
//! types belong to the stage that uses them (`Scheme` to `check::targets`, `Format` to
//! `check::sink`); clap's `ValueEnum` derive stays on them there.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::check::expect::{HeaderRule, Pattern};
use crate::check::probe::GetFallback;
use crate::check::shard::{ShardArg, ShardBy};
use crate::check::sink::Format;
use crate::check::targets::Scheme;
use crate::net::resolve::ResolveRule;
use crate::record::SuccessCodes;

mod diff;
mod lessons;
mod parse;
mod report;
mod sim;

pub use diff::DiffArgs;
pub use lessons::{CounterArgs, HelloArgs};
use parse::{count, parse_dns_server, parse_header, parse_proxy, parse_secs, parse_size, parse_wait};
pub use report::{ReportArgs, ReportFormat, SweepArgs};
pub use sim::{DemoArgs, RetryAfterAs, ServeArgs, TruthTargets};

/// Check the health of thousands of URLs at once.
///
/// Without a subcommand, checks every URL (from --input, or generated from --length/--alphabet/--tld)
/// and streams one row per URL to --output: `url,status_code,success,exception,...`.
/// Progress, logs and the summary go to stderr.
#[derive(Debug, Parser)]
#[command(name = "healthcheck", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub check: CheckArgs,

    /// No progress and no summary on stderr; errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Colour the logs on stderr: `auto` does when it is a terminal and NO_COLOR is not set.
    #[arg(long, value_enum, global = true, value_name = "WHEN", default_value_t = Color::Auto)]
    pub color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether to colour stderr, given whether it is a terminal and whether NO_COLOR is set
    /// (to anything but the empty string, as <https://no-color.org> says).
    pub fn enabled(self, terminal: bool, no_color: bool) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => terminal && !no_color,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the process id and thread names: one process, many worker threads.
    Hello(HelloArgs),
    /// N tasks sleep, then bump a shared counter: the race and the lock, the async way.
    Counter(CounterArgs),
    /// Run the simulated internet: an HTTP and HTTPS server whose answers depend on the host name.
    Serve(ServeArgs),
    /// Check the 17,576 three-letter .com domains against the built-in simulated internet.
    Demo(DemoArgs),
    /// Read a CSV (or JSON lines) written by a check and chart it: status codes, exceptions, latency.
    Report(ReportArgs),
    /// Run the same check at several concurrency levels and compare wall time and throughput.
    Sweep(SweepArgs),
    /// Compare two runs' files: one row per URL whose outcome changed (broke, recovered, ...).
    Diff(DiffArgs),
}

/// The options of a check (the default command; `demo` reuses some of them).
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Read targets from FILE (`-` for stdin): one URL or bare domain per line.
    ///
    /// Bare domains get --scheme. Blank lines and lines starting with `#` are skipped,
    /// whitespace is trimmed. An invalid line becomes a row with exception `invalid_url`.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Read targets from the <loc>s of a sitemap: a file or an http(s) URL (repeatable).
    ///
    /// sitemap.xml, gzip-compressed (.xml.gz) or not, and sitemap indexes, whose sitemaps are
    /// fetched with the same client (--ca-cert, --resolve, proxies). Streamed: checks start at
    /// the first <loc>. A sitemap broken before its first <loc> is an error (exit 2, nothing
    /// written); broken later, the URLs read so far are checked, then the run exits 2.
    #[arg(long, value_name = "PATH_OR_URL", conflicts_with = "input")]
    pub sitemap: Vec<String>,

    /// Without --input: length of the generated labels (3 gives aaa..zzz, 17,576 URLs).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=12))]
    pub length: u32,

    /// Without --input: the letters the labels are made of, in the order they are generated.
    #[arg(long, default_value = "abcdefghijklmnopqrstuvwxyz")]
    pub alphabet: String,

    /// Scheme of generated targets and of bare domains in --input.
    #[arg(long, value_enum, default_value_t = Scheme::Https)]
    pub scheme: Scheme,

    /// Without --input: the top-level domain of generated targets.
    #[arg(long, default_value = "com")]
    pub tld: String,

    /// How many URLs are checked at once (the thread count of the thread-pool version).
    #[arg(short, long, default_value_t = 500, allow_negative_numbers = true, value_parser = count(1, 100_000))]
    pub concurrency: u64,

    /// Threads that run the checks. One keeps up with the network for plain HTTP at the least
    /// CPU and memory; more spread TLS handshakes over cores when they keep one core busy.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: u16,

    /// Seconds allowed for one request of a URL, redirects included (a GET fallback or a
    /// retry gets its own).
    #[arg(long, value_name = "SECS", default_value = "5", allow_negative_numbers = true, value_parser = parse_secs)]
    pub timeout: Duration,

    /// Seconds allowed for DNS, TCP and TLS set-up of each connection (default: --timeout).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, value_parser = parse_secs)]
    pub connect_timeout: Option<Duration>,

    /// How many redirects are followed before the URL fails with `too_many_redirects`.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    pub max_redirects: u32,

    /// When HEAD is answered with an error, retry once with GET (reading no body).
    #[arg(long, value_enum, default_value_t = GetFallback::Status405)]
    pub get_fallback: GetFallback,

    /// The request method: HEAD (with --get-fallback) or always GET.
    #[arg(long, value_enum, default_value_t = MethodArg::Head)]
    pub method: MethodArg,

    /// Retries after a timeout or a connection failure, with exponential backoff.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub retries: u32,

    /// At most N requests in flight to one host (scheme, host and port), as browsers do. A URL
    /// whose host is busy waits without taking one of the slots of the global limit.
    #[arg(long, value_name = "N", default_value_t = 6,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub host_concurrency: u32,

    /// The least time between two URLs' first requests to one host, in milliseconds (a URL's
    /// redirects and GET fallback follow at once).
    #[arg(long, value_name = "MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub host_interval: u64,

    /// Send a URL again after a 429 (or a 503 with Retry-After) up to N times, once its host's
    /// pause is over.
    #[arg(long = "retries-429", value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries_429: u32,

    /// The most one URL waits in total for 429s to pass, in seconds. A Retry-After beyond what
    /// is left keeps the 429, and error_detail says so.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_wait)]
    pub max_retry_wait: Duration,

    /// Status codes that count as success: a list of codes and ranges, e.g. `200` or `200-399,401`.
    #[arg(long, value_name = "LIST", default_value = "200", value_parser = SuccessCodes::parse)]
    pub success: SuccessCodes,

    /// A successful answer's body must match REGEX, or the row gets exception `content`
    /// (repeatable: all must match). Checks then send GET and read at most --max-body.
    #[arg(long, value_name = "REGEX", value_parser = Pattern::parse)]
    pub expect_body: Vec<Pattern>,

    /// A successful answer's body must not match REGEX, e.g. `(?i)under maintenance|index of /`
    /// (repeatable). Checks then send GET and read at most --max-body.
    #[arg(long, value_name = "REGEX", value_parser = Pattern::parse)]
    pub reject_body: Vec<Pattern>,

    /// A successful answer must have header NAME with a value matching REGEX, e.g.
    /// `content-type: ^text/html` (repeatable; an empty REGEX only asks that NAME be there).
    #[arg(long, value_name = "NAME: REGEX", value_parser = HeaderRule::parse)]
    pub expect_header: Vec<HeaderRule>,

    /// The most of a body read for --expect-body and --reject-body (default 1M): bytes, or with
    /// a K, M or G suffix (1024-based). Reading stops there, or as soon as the answer is known.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_body: Option<usize>,

    /// The User-Agent header sent with every request.
    #[arg(long, default_value = DEFAULT_USER_AGENT)]
    pub user_agent: String,

    /// An extra request header, `NAME:VALUE` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,

    /// Accept any TLS certificate (expired, self-signed, wrong name).
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// A PEM file of CA certificates added to the trust roots (repeatable).
    ///
    /// A server that presents one of these very certificates as its own (a self-signed one, as
    /// `openssl req -x509` makes) is trusted as pinned, still only for its names and dates.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,

    /// Send connections for HOST to ADDR instead of resolving it, as curl does (repeatable).
    ///
    /// HOST may be `*` for every host. ADDR is an IP, or IP:PORT to also change the port of
    /// URLs that name none; several, comma-separated, are tried as a resolver's answer would be
    /// (IPv6 and IPv4 raced). DNS has no ports, so the rule applies to every port of HOST.
    #[arg(long, value_name = "HOST:PORT:ADDR[,ADDR]", value_parser = ResolveRule::parse)]
    pub resolve: Vec<ResolveRule>,

    /// Send every request through this proxy: `http://`, `https://` or `socks5://` (with
    /// `user:password@` if it needs them). Hosts in NO_PROXY still go direct.
    ///
    /// Without it, HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY (either case) are honoured.
    #[arg(long, value_name = "URL", value_parser = parse_proxy, conflicts_with = "no_proxy")]
    pub proxy: Option<url::Url>,

    /// Connect directly, whatever HTTP_PROXY, HTTPS_PROXY or ALL_PROXY say.
    #[arg(long)]
    pub no_proxy: bool,

    /// Speak HTTP/1.1 only: offer no HTTP/2 in TLS ALPN.
    ///
    /// By default HTTPS offers HTTP/2 and HTTP/1.1, as browsers do, and the server picks; the
    /// URLs of one HTTP/2 host then share one connection. Plain HTTP is always HTTP/1.1.
    #[arg(long)]
    pub http1: bool,

    /// Ask this name server (IP or IP:PORT, UDP) instead of the system's (repeatable).
    #[arg(long = "dns-server", value_name = "ADDR", value_parser = parse_dns_server)]
    pub dns_servers: Vec<std::net::SocketAddr>,

    /// Where the rows go: a file, or `-` for stdout.
    #[arg(short, long, value_name = "PATH", default_value = "-")]
    pub output: PathBuf,

    /// The row format: CSV with a header, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,

    /// Check only part K (from 0) of N disjoint, interleaved parts of the targets; `auto`
    /// takes K and N from a Slurm job array or a Kubernetes Indexed Job.
    ///
    /// Slurm: K = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN, N = SLURM_ARRAY_TASK_COUNT.
    /// Kubernetes: K = JOB_COMPLETION_INDEX, N = --shard-count. With --shard-count, a Slurm
    /// task's ID is K as it is (docs/usage.md, "Sharding").
    #[arg(long, value_name = "K/N|auto", value_parser = ShardArg::parse)]
    pub shard: Option<ShardArg>,

    /// With --shard auto: the number of shards (a Kubernetes Job's completions).
    #[arg(long, value_name = "N", env = "HEALTHCHECK_SHARD_COUNT",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub shard_count: Option<u64>,

    /// What --shard splits on: positions (even parts) or hosts (every URL of a host in one
    /// part, so per-host limits hold across machines; parts are uneven).
    #[arg(long, value_enum, default_value_t = ShardBy::Position, requires = "shard")]
    pub shard_by: ShardBy,

    /// Skip every URL that already has a row in FILE and append the other rows to FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "output")]
    pub resume: Option<PathBuf>,

    /// How long to wait, in seconds, while another healthcheck writes the same output file,
    /// before giving up with exit 2.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_wait)]
    pub lock_wait: Duration,

    /// Also write the end-of-run summary as one JSON object to PATH.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    /// Exit with 1 when any URL was unhealthy.
    #[arg(long)]
    pub fail_on_unhealthy: bool,

    /// Add columns: the answer's IP and HTTP version, the certificate's expiry and issuer.
    ///
    /// `ip,http_version,cert_not_after,cert_days_left,cert_issuer` after the nine columns. The
    /// certificate is that of the URL's own host; empty over plain HTTP and for failures before TLS.
    #[arg(long)]
    pub details: bool,

    /// Add columns: where each check's time went, in milliseconds, and the connections it opened.
    ///
    /// `dns_ms,connect_ms,tls_ms,ttfb_ms,new_connections` after the others, each summed over
    /// the check's redirects, retries and GET fallback.
    #[arg(long)]
    pub timings: bool,

    /// Exit with 1 when a certificate has fewer than DAYS days left (0: only expired ones).
    ///
    /// For CI and cron; implies --details.
    #[arg(long, value_name = "DAYS", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub fail_on_cert_expiring: Option<u32>,
}

/// `--method`: what `check::probe` sends first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Head,
    Get,
}

/// What every request says it is, unless `--user-agent` says otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("healthcheck/", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn colour_follows_the_flag_then_the_terminal_and_no_color() {
        assert!(Color::Auto.enabled(true, false));
        assert!(!Color::Auto.enabled(false, false));
        assert!(!Color::Auto.enabled(true, true));
        assert!(Color::Always.enabled(false, true));
        assert!(!Color::Never.enabled(true, false));
    }

    #[test]
    fn a_negative_number_is_told_its_range() {
        for (flag, range) in [
            ("--concurrency", "1..=100000"),
            ("--threads", "1..=1024"),
            ("--length", "1..=12"),
            ("--retries", "0..=10"),
        ] {
            let err = Cli::try_parse_from(["healthcheck", flag, "-1"])
                .unwrap_err()
                .to_string();
            assert!(err.contains(flag) && err.contains(range), "{err}");
        }
        let err = Cli::try_parse_from(["healthcheck", "--timeout", "-1"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--timeout") && err.contains("more than 0"), "{err}");
    }

    #[test]
    fn check_options_parse_without_a_subcommand() {
        let cli = Cli::try_parse_from(["healthcheck", "-c", "10", "--shard", "1/4"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.check.concurrency, 10);
        assert!(Cli::try_parse_from(["healthcheck", "-c", "0"]).is_err());
        assert!(Cli::try_parse_from(["healthcheck", "--threads", "0"]).is_err());
        assert_eq!(Cli::try_parse_from(["healthcheck"]).unwrap().check.threads, 1);
    }

    #[test]
    fn the_lock_wait_defaults_to_what_the_lock_module_says() {
        let check = Cli::try_parse_from(["healthcheck"]).unwrap().check;
        assert_eq!(check.lock_wait, crate::check::lock::DEFAULT_WAIT);
        let auto = Cli::try_parse_from(["healthcheck", "--shard", "auto", "--shard-count", "8"]).unwrap();
        assert_eq!(
            (auto.check.shard, auto.check.shard_count),
            (Some(crate::check::shard::ShardArg::Auto), Some(8))
        );
    }

    #[test]
    fn host_politeness_has_browser_like_defaults() {
        let check = Cli::try_parse_from(["healthcheck"]).unwrap().check;
        assert_eq!((check.host_concurrency, check.host_interval), (6, 0));
        assert_eq!(
            (check.retries_429, check.max_retry_wait),
            (3, Duration::from_secs(60))
        );
        assert!(Cli::try_parse_from(["healthcheck", "--host-concurrency", "0"]).is_err());
        assert!(Cli::try_parse_from(["healthcheck", "--max-retry-wait", "0"]).is_ok());
        assert!(
            Cli::try_parse_from(["healthcheck", "--shard-by", "host"]).is_err(),
            "needs --shard"
        );
        let cli = Cli::try_parse_from(["healthcheck", "--shard", "0/2", "--shard-by", "host"]).unwrap();
        assert_eq!(cli.check.shard_by, ShardBy::Host);
    }
}
