//! `healthcheck demo`: the article's run, anywhere. Starts the simulated internet in-process on
//! loopback, checks every three-letter .com name against it (routed there by the same mechanism
//! as `--resolve '*:...'`), writes `output.csv`, prints the summary, and scores every row against
//! what the simulated internet says it should be; then prints the report of the CSV on stdout.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use url::Url;

use crate::check::config::{CheckConfig, Source};
use crate::check::expect::Expectations;
use crate::check::hosts::HostPolicy;
use crate::check::limits::DNS_CONCURRENCY;
use crate::check::pipeline;
use crate::check::probe::ProbeConfig;
use crate::check::sink::Format;
use crate::check::targets::Generated;
use crate::check::targets::Scheme;
use crate::cli::{DemoArgs, ReportArgs, ReportFormat, DEFAULT_USER_AGENT};
use crate::error::{Error, Result};
use crate::exit_code::Exit;
use crate::net::client::{ClientConfig, ProxyChoice};
use crate::net::resolve::ResolveRule;
use crate::record::{ErrorKind, Method, OwnedRow};
use crate::sim::{self, SimOptions, SimServer};

pub fn run(args: DemoArgs, quiet: bool) -> Result<Exit> {
    let timeout = args.timeout;
    let expect = Expectations {
        expect_body: args.expect_body.clone(),
        reject_body: args.reject_body.clone(),
        ..Expectations::default()
    };
    let expect = (!expect.is_empty()).then(|| Arc::new(expect));
    let opts = SimOptions {
        seed: args.seed,
        profile: args.profile,
        latency_scale: args.latency_scale,
        ..SimOptions::default()
    };
    let rt = super::runtime()?;
    let (cfg, end) = rt.block_on(async {
        let listen = "127.0.0.1:0".parse().expect("a literal socket address");
        let server = SimServer::start(listen, false, opts.clone())
            .await
            .map_err(|e| Error::io("cannot start the simulated internet", e))?;
        if !quiet {
            eprintln!(
                "healthcheck demo: simulated internet on {} (profile {:?}, seed {}); checking {} names",
                server.addr(),
                args.profile,
                args.seed,
                26u64.pow(args.length)
            );
        }
        let cfg = demo_config(&args, &server, timeout, quiet, expect.clone())?;
        let (stop, abandon) = (CancellationToken::new(), CancellationToken::new());
        pipeline::watch_signals(stop.clone(), abandon.clone());
        let end = pipeline::run(cfg.clone(), stop, abandon).await;
        server.shutdown().await;
        Ok::<_, Error>((cfg, end?))
    })?;
    rt.shutdown_timeout(pipeline::SHUTDOWN_GRACE);
    let interrupted = end.summary.interrupted;
    let exit = super::check::finish(&cfg, end)?;
    if !interrupted {
        let (agree, total, first_miss) = score(&args.output, &opts, timeout, expect.as_deref())?;
        if !quiet {
            eprintln!("Truth: {agree} of {total} rows agree with what the simulated internet should yield");
            if let Some(miss) = first_miss {
                eprintln!("  first disagreement: {miss}");
            }
        }
        super::report::run(ReportArgs {
            input: args.output.clone(),
            format: ReportFormat::Text,
            svg: args.svg.clone(),
            png: None,
            since: None,
        })?;
    }
    Ok(exit)
}

fn demo_config(
    args: &DemoArgs,
    server: &SimServer,
    timeout: Duration,
    quiet: bool,
    expect: Option<Arc<Expectations>>,
) -> Result<CheckConfig> {
    let generated = Generated::new("abcdefghijklmnopqrstuvwxyz", args.length, Scheme::Https, "com")
        .map_err(|m| Error::usage("--length", m))?;
    Ok(CheckConfig {
        source: Source::Generated(generated),
        scheme: Scheme::Https,
        shard: None,
        concurrency: usize::try_from(args.concurrency).unwrap_or(usize::MAX),
        client: ClientConfig {
            connect_timeout: timeout,
            user_agent: DEFAULT_USER_AGENT.to_string(),
            headers: Vec::new(),
            insecure: false,
            ca_pems: vec![(
                "the simulated internet's CA".to_string(),
                server.ca_pem().as_bytes().to_vec(),
            )],
            resolve: vec![ResolveRule {
                host: "*".into(),
                addrs: vec![server.addr()],
            }],
            dns_servers: Vec::new(),
            dns_concurrency: DNS_CONCURRENCY,
            // The simulated internet is on this machine: no proxy stands between.
            proxy: ProxyChoice::Direct,
            tls_info: true,
            pool_idle: crate::config::POOL_IDLE,
            http2: true,
            timings: true,
        },
        probe: ProbeConfig {
            timeout,
            details: true,
            // A body needs GET.
            method: if expect.is_some() {
                Method::Get
            } else {
                Method::Head
            },
            expect,
            timings: true,
            ..ProbeConfig::default()
        },
        hosts: HostPolicy::default(),
        output: Some(args.output.clone()),
        resume: None,
        lock_wait: crate::check::lock::DEFAULT_WAIT,
        format: Format::Csv,
        summary_json: args.summary_json.clone(),
        fail_on_unhealthy: false,
        // The demo shows what a check can say, certificates and timings included.
        details: true,
        timings: true,
        fail_on_cert_expiring: None,
        quiet,
    })
}

/// Compare every row of the output with the truth: (agreeing rows, rows, first disagreement).
/// With body expectations, a 200's page (the truth knows which) is judged as the check judges it.
fn score(
    path: &Path,
    opts: &SimOptions,
    timeout: Duration,
    expect: Option<&Expectations>,
) -> Result<(u64, u64, Option<String>)> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| Error::InputContent {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let (mut agree, mut total, mut first_miss) = (0, 0, None);
    for row in reader.deserialize::<OwnedRow>() {
        let row = row.map_err(|e| Error::InputContent {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        total += 1;
        let Ok(url) = Url::parse(&row.url) else { continue };
        let mut truth = sim::truth(&url, opts, timeout);
        if let (Some(expect), Some(page), true) = (expect, truth.page, truth.success) {
            let body = page.render(url.host_str().unwrap_or(""), url.path());
            if expect.broken_body(body.as_bytes()).is_some() {
                (truth.success, truth.exception) = (false, Some(ErrorKind::Content));
            }
        }
        // A certificate the check read must be the one the name was given (a check that
        // failed before the handshake ended read none).
        let cert = (row.cert_days_left, row.cert_issuer.as_deref());
        let cert_agrees = cert.0.is_none() || cert == (truth.cert_days_left, truth.cert_issuer);
        // The protocol too, when the row says one (HTTP/2 to the names that offer it).
        let version_agrees = row.http_version.is_none() || row.http_version == truth.http_version;
        if (truth.status_code, truth.success, truth.exception)
            == (row.status_code, row.success, row.exception)
            && cert_agrees
            && version_agrees
        {
            agree += 1;
        } else if first_miss.is_none() {
            first_miss = Some(format!(
                "{}: expected {:?}/{:?} (certificate {:?}, {:?}), got {:?}/{:?} (certificate {cert:?}, {:?})",
                row.url,
                truth.status_code,
                truth.exception,
                (truth.cert_days_left, truth.cert_issuer),
                truth.http_version,
                row.status_code,
                row.exception,
                row.http_version
            ));
        }
    }
    Ok((agree, total, first_miss))
}
