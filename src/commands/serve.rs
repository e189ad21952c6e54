//! `healthcheck serve`: the simulated internet as a standalone server, for checking by hand, for
//! the benchmark script and for `oha`; or, with `--truth`, the expected result of every target as
//! CSV, to score a check against.

use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::check::config::Source;
use crate::check::targets::{Entry, Target};
use crate::cli::{RetryAfterAs, ServeArgs, TruthTargets};
use crate::error::{Error, Result};
use crate::exit_code::Exit;
use crate::sim::{truth, HostLimit, HostStats, RetryAfter, SimOptions, SimServer};

/// The columns of `--truth`, in the order of `sim::Truth`'s fields.
const TRUTH_COLUMNS: [&str; 11] = [
    "url",
    "status_code",
    "success",
    "exception",
    "method",
    "redirects",
    "latency_ms",
    "category",
    "cert_days_left",
    "cert_issuer",
    "page",
];

pub fn run(args: ServeArgs) -> Result<Exit> {
    let host_limit = args.host_limit.map(|max_in_flight| HostLimit {
        max_in_flight,
        retry_after: match args.retry_after_as {
            RetryAfterAs::Seconds => RetryAfter::Seconds(args.retry_after),
            RetryAfterAs::Date => RetryAfter::Date(args.retry_after),
            RetryAfterAs::None => RetryAfter::None,
        },
    });
    let opts = SimOptions {
        seed: args.seed,
        profile: args.profile,
        latency_scale: args.latency_scale,
        host_limit,
    };
    if args.truth {
        return print_truth(&args.targets, &opts);
    }
    let rt = super::runtime()?;
    rt.block_on(serve(
        args.listen,
        args.bind_all_loopback,
        opts,
        args.ca_out.as_deref(),
        args.stats_json.as_deref(),
    ))
}

async fn serve(
    listen: SocketAddr,
    all_loopback: bool,
    opts: SimOptions,
    ca_out: Option<&Path>,
    stats_json: Option<&Path>,
) -> Result<Exit> {
    let limit = match opts.host_limit {
        Some(limit) => format!(", at most {} in flight per host", limit.max_in_flight),
        None => String::new(),
    };
    let summary = format!(
        "profile {:?}, seed {}, latency scale {}{limit}",
        opts.profile, opts.seed, opts.latency_scale
    );
    let server = SimServer::start(listen, all_loopback, opts)
        .await
        .map_err(|e| Error::io(format!("cannot serve on {listen}"), e))?;
    let addr = server.addr();
    let hosts = if all_loopback {
        format!("every 127.x.y.z:{}", addr.port())
    } else {
        addr.to_string()
    };
    eprintln!("healthcheck serve: HTTP and HTTPS on {hosts} ({summary})");
    match ca_out {
        Some(path) => {
            std::fs::write(path, server.ca_pem()).map_err(|source| Error::Output {
                path: path.to_path_buf(),
                source,
            })?;
            eprintln!(
                "healthcheck serve: CA certificate in {}; check with \
                 --ca-cert {0} --resolve '*:443:{addr}'",
                path.display()
            );
        }
        None => eprintln!(
            "healthcheck serve: no --ca-out: HTTPS clients will not trust it \
             (plain HTTP: --scheme http --resolve '*:80:{addr}')"
        ),
    }
    until_signal().await?;
    let stats = server.stats();
    let hosts = server.host_stats();
    server.shutdown().await;
    eprintln!(
        "healthcheck serve: stopped after {} connections ({} at most at once), {} requests",
        stats.connections_total, stats.connections_max, stats.requests_total
    );
    eprint!("{}", render_hosts(&hosts, HOSTS_SHOWN));
    if let Some(path) = stats_json {
        let json = serde_json::to_vec_pretty(&hosts).expect("host figures serialise");
        std::fs::write(path, json).map_err(|source| Error::Output {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(Exit::Ok)
}

/// Hosts listed on stderr when `serve` stops; --stats-json has them all.
const HOSTS_SHOWN: usize = 20;

/// The busiest `shown` hosts, a line each.
fn render_hosts(hosts: &std::collections::BTreeMap<String, HostStats>, shown: usize) -> String {
    let mut busiest: Vec<(&String, &HostStats)> = hosts.iter().collect();
    busiest.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(b.0)));
    let mut out = String::new();
    for (host, s) in busiest.iter().take(shown) {
        out += &format!(
            "  {host}: {} requests, {} connections ({} TLS), at most {} in flight, {} answered 429\n",
            s.requests, s.connections, s.tls_handshakes, s.max_in_flight, s.too_many_requests
        );
    }
    if busiest.len() > shown {
        out += &format!("  ... and {} more hosts\n", busiest.len() - shown);
    }
    out
}

/// Wait for SIGINT or SIGTERM: `serve` runs until it is told to stop, and stopping is success.
async fn until_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|e| Error::io("cannot watch SIGTERM", e))?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(|e| Error::io("cannot watch SIGINT", e)),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| Error::io("cannot watch Ctrl-C", e))
}

/// Write one truth row per target; invalid lines are skipped with a warning (they never reach a
/// server). A closed stdout (`| head`) ends quietly.
fn print_truth(targets: &TruthTargets, opts: &SimOptions) -> Result<Exit> {
    let from = Source::new(
        targets.input.as_deref(),
        &[],
        &targets.alphabet,
        targets.length,
        targets.scheme,
        &targets.tld,
    )?;
    let lines = from.open(None)?();
    let stdout = io::stdout().lock();
    match write_truth(lines, targets, opts, BufWriter::new(stdout)) {
        Ok(()) => Ok(Exit::Ok),
        Err(TruthError::Input(source)) => Err(Error::Input {
            path: from.name(),
            source,
        }),
        Err(TruthError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Exit::Ok),
        Err(TruthError::Output(source)) => Err(Error::Output {
            path: PathBuf::from("<stdout>"),
            source,
        }),
    }
}

enum TruthError {
    Input(io::Error),
    Output(io::Error),
}

fn write_truth(
    lines: impl Iterator<Item = io::Result<Entry>>,
    targets: &TruthTargets,
    opts: &SimOptions,
    out: impl Write,
) -> Result<(), TruthError> {
    let output = |e: csv::Error| {
        TruthError::Output(match e.into_kind() {
            csv::ErrorKind::Io(e) => e,
            other => io::Error::other(format!("{other:?}")),
        })
    };
    let mut csv = csv::WriterBuilder::new().has_headers(false).from_writer(out);
    csv.write_record(TRUTH_COLUMNS).map_err(output)?;
    for line in lines {
        let line = line.map_err(TruthError::Input)?;
        match Target::from_entry(line, targets.scheme) {
            Target::Valid { display, url } => {
                let mut row = truth(&url, opts, targets.timeout);
                row.url = display;
                csv.serialize(&row).map_err(output)?;
            }
            Target::Invalid { line, reason } => {
                tracing::warn!("--truth skips `{line}`: {reason}");
            }
        }
    }
    csv.flush().map_err(TruthError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::sim::Profile;
    use clap::Parser;

    fn serve_args(args: &[&str]) -> std::result::Result<ServeArgs, clap::Error> {
        let argv = ["healthcheck", "serve"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Some(Command::Serve(args)) => Ok(args),
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn serve_defaults_to_the_seed_profile_on_port_8080() {
        let args = serve_args(&[]).expect("no flags are needed");
        assert_eq!(args.listen, "127.0.0.1:8080".parse().expect("an address"));
        assert_eq!(args.profile, Profile::Seed);
        assert_eq!(args.latency_scale, 1.0);
        assert!(!args.truth);
    }

    #[test]
    fn the_host_limit_flags_go_together() {
        assert!(serve_args(&["--retry-after", "2"]).is_err());
        assert!(serve_args(&["--host-limit", "0"]).is_err());
        let args = serve_args(&[
            "--profile",
            "site",
            "--host-limit",
            "8",
            "--retry-after-as",
            "date",
        ])
        .expect("valid flags");
        assert_eq!(
            (args.host_limit, args.retry_after, args.retry_after_as),
            (Some(8), 1, RetryAfterAs::Date)
        );
    }

    #[test]
    fn the_busiest_hosts_come_first() {
        let mut hosts = std::collections::BTreeMap::new();
        for (name, requests) in [("a.test", 1), ("b.test", 5), ("c.test", 3)] {
            let mut stats = HostStats::default();
            stats.requests = requests;
            hosts.insert(name.to_string(), stats);
        }
        let text = render_hosts(&hosts, 2);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("  b.test: 5 requests"), "{text}");
        assert!(lines[1].starts_with("  c.test: 3 requests"), "{text}");
        assert_eq!(lines[2], "  ... and 1 more hosts");
    }

    #[test]
    fn target_flags_need_truth_and_scales_must_be_sane() {
        assert!(serve_args(&["--length", "2"]).is_err());
        assert!(serve_args(&["--truth", "--length", "2", "--profile", "all-ok"]).is_ok());
        assert!(serve_args(&["--latency-scale", "-1"]).is_err());
        assert!(serve_args(&["--latency-scale", "0"]).is_ok());
        assert!(serve_args(&["--truth", "--timeout", "0"]).is_err());
    }

    #[test]
    fn truth_rows_follow_the_header_and_skip_invalid_lines() {
        let args = serve_args(&["--truth", "--scheme", "http"]).expect("valid flags");
        let lines = ["abc.com", "ftp://nope", "https://localhost/_/status/404"]
            .into_iter()
            .map(|l| Ok(Entry::Text(l.to_string())));
        let mut out = Vec::new();
        assert!(write_truth(lines, &args.targets, &SimOptions::default(), &mut out).is_ok());
        let text = String::from_utf8(out).expect("CSV is UTF-8");
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows[0], TRUTH_COLUMNS.join(","));
        assert_eq!(rows.len(), 3);
        assert!(rows[1].starts_with("http://abc.com,"));
        assert_eq!(
            rows[2],
            "https://localhost/_/status/404,404,false,,HEAD,0,0,route,41,Sim Trust DV CA,"
        );
        assert!(
            rows[1].ends_with(",,"),
            "no certificate over plain HTTP: {}",
            rows[1]
        );
    }
}
