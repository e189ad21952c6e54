//! HTTP/2 (issue 22): negotiated by ALPN on HTTPS, `--http1` to turn it off; the URLs of one host
//! on one connection, the server's stream limit, `GOAWAY` and `REFUSED_STREAM` sent again once,
//! HTTP/2 errors in the usual exception kinds, a redirect from HTTP/2 to HTTP/1.1. Against
//! loopback TLS servers that speak HTTP/2, HTTP/1.1 or both (`support::http2`).

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use h2::Reason;
use healthcheck::record::{ErrorKind, HttpVersion, OwnedRow};

use crate::support::http2::{Behaviour, Counts, Offer, Reply, TlsServer};
use crate::support::{healthcheck, ok_rows, rows, write_lines, Sim};
use healthcheck::sim::{Profile, SimOptions};

fn count(counter: &AtomicUsize) -> usize {
    Counts::get(counter)
}

/// Check `urls` against `server` with `--details` and `args`; the rows and stderr.
fn check(server: &TlsServer, urls: &[String], args: &[&str]) -> (Vec<OwnedRow>, String) {
    let out = healthcheck()
        .args(["--details", "--resolve", &server.resolve(), "--ca-cert"])
        .arg(server.ca_file())
        .args(args)
        .args(["-i", "-"])
        .write_stdin(urls.join("\n"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    (rows(&out.stdout), stderr)
}

/// One URL of `server`, checked with `args`: its row.
fn one(server: &TlsServer, args: &[&str]) -> OwnedRow {
    let (rows, _) = check(server, &[server.url("a.test", "/")], args);
    assert_eq!(rows.len(), 1);
    rows.into_iter().next().unwrap()
}

fn pages(server: &TlsServer, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| server.url("a.test", &format!("/page/{i}")))
        .collect()
}

fn all_ok(rows: &[OwnedRow]) -> bool {
    rows.iter().all(|r| r.status_code == Some(200) && r.success)
}

#[test]
fn an_http2_only_server_is_reached_over_http2_and_fails_the_handshake_with_http1() {
    let server = TlsServer::start(&["a.test"], Behaviour::ok(Offer::H2Only, Duration::ZERO));
    let row = one(&server, &[]);
    assert_eq!(row.status_code, Some(200), "{row:?}");
    assert_eq!(row.http_version, Some(HttpVersion::Http2));
    assert_eq!(count(&server.counts.h2_connections), 1);

    // It offers nothing --http1 accepts: the handshake fails, as curl --http1.1 does there.
    let row = one(&server, &["--http1"]);
    assert_eq!(row.exception, Some(ErrorKind::Tls), "{row:?}");
    assert!(
        row.error_detail
            .as_deref()
            .unwrap_or("")
            .contains("no application protocol"),
        "{row:?}"
    );
}

#[test]
fn an_http1_only_server_is_reached_over_http1_with_or_without_http1() {
    let server = TlsServer::start(&["a.test"], Behaviour::ok(Offer::H1Only, Duration::ZERO));
    for args in [&[][..], &["--http1"]] {
        let row = one(&server, args);
        assert_eq!(row.status_code, Some(200), "{args:?}: {row:?}");
        assert_eq!(row.http_version, Some(HttpVersion::Http11), "{args:?}");
    }
    assert_eq!(count(&server.counts.h2_connections), 0);
}

#[test]
fn a_server_offering_both_gets_http2_unless_http1_is_asked_and_the_summary_counts_them() {
    let server = TlsServer::start(&["a.test"], Behaviour::ok(Offer::Both, Duration::ZERO));
    let (rows, stderr) = check(&server, &[server.url("a.test", "/")], &[]);
    assert_eq!(rows[0].http_version, Some(HttpVersion::Http2), "{rows:?}");
    assert!(stderr.contains("by HTTP version: HTTP/2.0: 1"), "{stderr}");
    let (rows, stderr) = check(&server, &[server.url("a.test", "/")], &["--http1"]);
    assert_eq!(rows[0].http_version, Some(HttpVersion::Http11), "{rows:?}");
    assert!(stderr.contains("by HTTP version: HTTP/1.1: 1"), "{stderr}");
    assert_eq!(count(&server.counts.h2_connections), 1);
    assert_eq!(count(&server.counts.connections), 2);
}

#[test]
fn many_urls_of_one_http2_host_share_one_connection_with_host_concurrency_streams() {
    let server = TlsServer::start(&["a.test"], Behaviour::ok(Offer::Both, Duration::from_millis(30)));
    let (rows, _) = check(&server, &pages(&server, 60), &["--host-concurrency", "6"]);
    assert_eq!(rows.len(), 60);
    assert!(all_ok(&rows), "{rows:?}");
    assert!(rows.iter().all(|r| r.http_version == Some(HttpVersion::Http2)));
    let counts = &server.counts;
    assert_eq!(count(&counts.connections), 1, "one connection for 60 URLs");
    assert_eq!(count(&counts.requests), 60);
    let most = count(&counts.max_in_flight);
    assert!((2..=6).contains(&most), "streams in flight at once: {most}");

    // With --http1 the same URLs take a connection per request in flight, as before.
    let server = TlsServer::start(&["a.test"], Behaviour::ok(Offer::Both, Duration::from_millis(30)));
    let (rows, _) = check(
        &server,
        &pages(&server, 60),
        &["--host-concurrency", "6", "--http1"],
    );
    assert!(all_ok(&rows));
    let connections = count(&server.counts.connections);
    assert!((2..=12).contains(&connections), "{connections} connections");
}

#[test]
fn timings_count_the_one_http2_connection_a_hosts_urls_share() {
    let server = TlsServer::start(&["a.test"], Behaviour::ok(Offer::Both, Duration::from_millis(20)));
    let (rows, _) = check(
        &server,
        &pages(&server, 30),
        &["--host-concurrency", "4", "--timings"],
    );
    assert_eq!(rows.len(), 30);
    assert!(all_ok(&rows), "{rows:?}");
    assert_eq!(count(&server.counts.connections), 1);
    let timed: Vec<([u64; 4], u32)> = rows
        .iter()
        .map(|r| r.timings().expect("timing columns"))
        .collect();
    let opened: u32 = timed.iter().map(|&(_, n)| n).sum();
    assert_eq!(opened, 1, "the streams of one connection: {timed:?}");
    for (row, (phases, _)) in rows.iter().zip(&timed) {
        assert!(Some(phases.iter().sum::<u64>()) <= row.elapsed_ms, "{row:?}");
        assert!(phases[3] >= 15, "the server's 20 ms are first-byte time: {row:?}");
    }
}

#[test]
fn a_server_limit_of_two_streams_is_honoured_and_costs_no_url() {
    let server = TlsServer::start(
        &["a.test"],
        Behaviour {
            max_streams: Some(2),
            ..Behaviour::ok(Offer::H2Only, Duration::from_millis(40))
        },
    );
    let (rows, _) = check(&server, &pages(&server, 20), &["--host-concurrency", "8"]);
    assert_eq!(rows.len(), 20);
    assert!(all_ok(&rows), "{rows:?}");
    assert!(count(&server.counts.max_in_flight) <= 2);
    assert_eq!(count(&server.counts.connections), 1);
}

#[test]
fn goaway_mid_run_sends_the_unanswered_requests_again_on_a_new_connection() {
    let server = TlsServer::start(
        &["a.test"],
        Behaviour {
            go_away_after: Some(6),
            ..Behaviour::ok(Offer::H2Only, Duration::from_millis(50))
        },
    );
    let (rows, stderr) = check(&server, &pages(&server, 20), &["--host-concurrency", "4"]);
    assert_eq!(rows.len(), 20);
    assert!(all_ok(&rows), "{rows:?}");
    assert!(stderr.contains("Failed: 0"), "{stderr}");
    let counts = &server.counts;
    // The requests cut off went again on a new connection. Those still queued in hyper when
    // the connection closed are sent again by hyper-util itself, and requests that start before
    // any of the cut-off ones has failed still take the pool: each of those races to connect
    // (hyper-util shares one connect among requests only when it knows beforehand that the
    // origin speaks HTTP/2, which ALPN cannot tell it), and one connection is kept. Mostly 3
    // connections, up to 9 seen on a loaded machine; never one per URL.
    let connections = count(&counts.connections);
    assert!((2..=10).contains(&connections), "{counts:?} {stderr}");
    assert!(count(&counts.requests) > 20, "{counts:?}");
    for i in 0..20 {
        let asked = counts.asked(&format!("/page/{i}"));
        assert!((1..=2).contains(&asked), "/page/{i} asked {asked} times");
    }
}

#[test]
fn a_refused_stream_is_sent_again_once_and_a_second_refusal_is_a_reset_that_names_it() {
    let server = TlsServer::start(
        &["a.test"],
        Behaviour {
            reply: Arc::new(|path, before| match (path, before) {
                ("/always", _) | (_, 0) => Reply::Reset(Reason::REFUSED_STREAM),
                _ => Reply::Status(200, None),
            }),
            ..Behaviour::ok(Offer::H2Only, Duration::from_millis(10))
        },
    );
    let mut urls = pages(&server, 8);
    urls.push(server.url("a.test", "/always"));
    let (rows, _) = check(&server, &urls, &["--host-concurrency", "3"]);
    assert_eq!(rows.len(), 9);
    for row in &rows {
        let path = url::Url::parse(&row.url).unwrap().path().to_owned();
        assert_eq!(server.counts.asked(&path), 2, "{path}: sent once more, no more");
        if path == "/always" {
            assert_eq!(row.exception, Some(ErrorKind::Reset), "{row:?}");
            assert_eq!(
                row.error_detail.as_deref(),
                Some("HTTP/2 stream reset by the server: REFUSED_STREAM (refused stream before processing any application logic)")
            );
        } else {
            assert_eq!(row.status_code, Some(200), "{row:?}");
        }
    }
}

#[test]
fn http2_failures_get_the_kinds_http1_failures_get_and_name_the_code() {
    let server = TlsServer::start(
        &["a.test"],
        Behaviour {
            reply: Arc::new(|path, _| match path {
                "/internal" => Reply::Reset(Reason::INTERNAL_ERROR),
                "/protocol" => Reply::Reset(Reason::PROTOCOL_ERROR),
                _ => Reply::Status(200, None),
            }),
            ..Behaviour::ok(Offer::H2Only, Duration::ZERO)
        },
    );
    let urls = [
        server.url("a.test", "/internal"),
        server.url("a.test", "/protocol"),
    ];
    let (rows, _) = check(&server, &urls, &[]);
    let row = |path: &str| rows.iter().find(|r| r.url.ends_with(path)).expect("a row");
    assert_eq!(row("/internal").exception, Some(ErrorKind::Reset));
    assert!(row("/internal")
        .error_detail
        .as_deref()
        .unwrap()
        .starts_with("HTTP/2 stream reset by the server: INTERNAL_ERROR"));
    assert_eq!(row("/protocol").exception, Some(ErrorKind::Protocol));
    assert!(row("/protocol")
        .error_detail
        .as_deref()
        .unwrap()
        .contains("PROTOCOL_ERROR"));
    // A stream the server reset is its answer: not sent again.
    assert_eq!(server.counts.asked("/internal"), 1);
}

#[test]
fn a_redirect_from_an_http2_host_to_an_http1_host_reports_the_last_answers_protocol() {
    let h1 = TlsServer::start(&["b.test"], Behaviour::ok(Offer::H1Only, Duration::ZERO));
    let target = h1.url("b.test", "/there");
    let h2 = TlsServer::start(
        &["a.test"],
        Behaviour {
            reply: Arc::new(move |_, _| Reply::Status(301, Some(target.clone()))),
            ..Behaviour::ok(Offer::H2Only, Duration::ZERO)
        },
    );
    let out = healthcheck()
        .args([
            "--details",
            "--resolve",
            &h2.resolve(),
            "--resolve",
            &h1.resolve(),
        ])
        .arg("--ca-cert")
        .arg(h2.ca_file())
        .arg("--ca-cert")
        .arg(h1.ca_file())
        .args(["-i", "-"])
        .write_stdin(h2.url("a.test", "/go"))
        .output()
        .unwrap();
    let rows = rows(&out.stdout);
    assert_eq!(rows.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let row = &rows[0];
    assert_eq!((row.status_code, row.redirects), (Some(200), Some(1)), "{row:?}");
    assert_eq!(row.http_version, Some(HttpVersion::Http11));
    assert_eq!(count(&h2.counts.h2_connections), 1);
    assert_eq!(count(&h1.counts.requests), 1);
}

#[test]
fn every_site_of_a_shuffled_sitemap_gets_one_http2_connection() {
    // The simulated internet's sites offer HTTP/2; their pages answer after about 15 ms.
    let sim = Sim::with(SimOptions {
        profile: Profile::Site,
        latency_scale: 0.1,
        ..SimOptions::default()
    });
    let mut urls: Vec<String> = (0..5)
        .flat_map(|s| (0..40).map(move |p| format!("https://s{s}.test/page/{p}")))
        .collect();
    // Interleaved: a site's first pages go out before the next ones of it are read.
    urls.sort_by_key(|u| u.rsplit('/').next().map(str::to_owned));
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(&dir, "pages.txt", &urls);
    let rows = ok_rows(
        healthcheck()
            .args(["-c", "50", "--host-concurrency", "6", "--details"])
            .args(["--resolve", &sim.resolve_all(), "--ca-cert"])
            .arg(sim.ca_file())
            .arg("-i")
            .arg(&input),
    );
    assert_eq!(rows.len(), 200);
    assert!(rows
        .iter()
        .filter(|r| r.status_code.is_some())
        .all(|r| r.http_version == Some(HttpVersion::Http2)));
    let stats = sim.host_stats();
    assert_eq!(stats.len(), 5, "{stats:?}");
    for (host, figures) in stats {
        assert_eq!(figures.connections, 1, "{host}: {figures:?}");
        assert!(figures.max_in_flight <= 6, "{host}: {figures:?}");
    }
}
