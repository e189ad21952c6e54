//! The simulated internet, in-process on 127.0.0.1:0, seen by a plain reqwest client: every
//! explicit route and the main profile categories over HTTP and HTTPS, the connection counters,
//! shutdown, `--bind-all-loopback`, and `serve --truth` against a real check by the binary.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use healthcheck::net::classify::{classify, Stage};
use healthcheck::record::ErrorKind;
use healthcheck::sim::{truth, Category, Profile, SimOptions, SimServer, Site};
use reqwest::redirect::Policy;
use reqwest::{Certificate, Client, Method, StatusCode};

/// Instant answers, the seed profile.
fn instant() -> SimOptions {
    SimOptions {
        latency_scale: 0.0,
        ..SimOptions::default()
    }
}

async fn start(opts: SimOptions) -> SimServer {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    SimServer::start(listen, false, opts)
        .await
        .expect("the server starts")
}

/// A client like the checker's (no pool, no redirects followed, no proxy) that trusts the
/// server's CA and sends `names` to it.
fn client(server: &SimServer, names: &[&str], timeout: Duration) -> Client {
    // reqwest is built without a crypto provider of its own: use the ring one the crate uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // One CA per issuer.
    let cas = Certificate::from_pem_bundle(server.ca_pem().as_bytes()).expect("the CAs are PEM");
    let mut builder = Client::builder()
        .tls_certs_merge(cas)
        .redirect(Policy::none())
        .pool_max_idle_per_host(0)
        .no_proxy()
        .timeout(timeout);
    for name in names {
        builder = builder.resolve(name, server.addr());
    }
    builder.build().expect("a client")
}

fn url(server: &SimServer, scheme: &str, host: &str, path: &str) -> String {
    format!("{scheme}://{host}:{}{path}", server.addr().port())
}

/// The first three-letter .com name of each category under `opts`.
fn names_by_category(opts: &SimOptions) -> HashMap<Category, String> {
    let mut found = HashMap::new();
    for a in 'a'..='z' {
        for b in 'a'..='z' {
            for c in 'a'..='z' {
                let name = format!("{a}{b}{c}.com");
                found.entry(Site::of(&name, opts).category).or_insert(name);
            }
        }
    }
    found
}

/// Wait (bounded) until the server holds no connection.
async fn until_idle(server: &SimServer) -> bool {
    for _ in 0..100 {
        if server.stats().connections_now == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn status(client: &Client, method: Method, url: &str) -> StatusCode {
    client
        .request(method, url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e:?}"))
        .status()
}

async fn failure(client: &Client, url: &str) -> ErrorKind {
    match client.head(url).send().await {
        Ok(response) => panic!("{url} answered {}", response.status()),
        // reqwest's own timer: its error type is reqwest's, which `classify` does not know.
        Err(e) if e.is_timeout() => ErrorKind::Timeout,
        Err(e) => classify(&e, Stage::Exchange).kind,
    }
}

/// Follow relative redirects by hand (as the checker does), at most `limit`.
async fn follow(client: &Client, start: &str, limit: u32) -> (StatusCode, u32) {
    let mut url = reqwest::Url::parse(start).expect("a valid URL");
    for hops in 0..=limit {
        let response = client.head(url.clone()).send().await.expect("an answer");
        let Some(location) = response.headers().get("location") else {
            return (response.status(), hops);
        };
        let location = location.to_str().expect("a text Location");
        assert!(location.starts_with('/'), "relative: {location}");
        url = url.join(location).expect("a joinable Location");
    }
    (StatusCode::LOOP_DETECTED, limit)
}

#[tokio::test]
async fn explicit_routes_answer_as_documented_over_http_and_https() {
    let server = start(instant()).await;
    let client = client(&server, &["localhost"], Duration::from_secs(5));
    for scheme in ["http", "https"] {
        let at = |path| url(&server, scheme, "localhost", path);
        assert_eq!(status(&client, Method::HEAD, &at("/_/status/418")).await, 418);
        assert_eq!(status(&client, Method::GET, &at("/_/status/999")).await, 999);
        assert_eq!(status(&client, Method::HEAD, &at("/_/head405")).await, 405);
        assert_eq!(status(&client, Method::GET, &at("/_/head405")).await, 200);
        assert_eq!(status(&client, Method::HEAD, &at("/_/head501")).await, 501);
        assert_eq!(status(&client, Method::GET, &at("/_/head501")).await, 200);
        assert_eq!(
            follow(&client, &at("/_/redirect/3"), 10).await,
            (StatusCode::OK, 3)
        );
        assert_eq!(
            follow(&client, &at("/_/loop"), 10).await,
            (StatusCode::LOOP_DETECTED, 10)
        );
        let started = Instant::now();
        assert_eq!(status(&client, Method::HEAD, &at("/_/slow/300")).await, 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(
            failure(&client, &at("/_/reset")).await,
            ErrorKind::Reset,
            "{scheme}"
        );
        assert_eq!(
            failure(&client, &at("/_/garbage")).await,
            ErrorKind::Protocol,
            "{scheme}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_hanging_route_times_out_and_the_server_lets_the_connection_go() {
    let server = start(instant()).await;
    let client = client(&server, &["localhost"], Duration::from_millis(300));
    for scheme in ["http", "https"] {
        let hang = url(&server, scheme, "localhost", "/_/hang");
        assert_eq!(failure(&client, &hang).await, ErrorKind::Timeout);
    }
    assert!(until_idle(&server).await, "{:?}", server.stats());
    server.shutdown().await;
}

#[tokio::test]
async fn profile_categories_answer_as_their_truth_says_over_http_and_https() {
    let opts = instant();
    let names = names_by_category(&opts);
    let server = start(opts.clone()).await;
    let hosts: Vec<&str> = names.values().map(String::as_str).collect();
    let client = client(&server, &hosts, Duration::from_secs(1));
    let kinds = [
        Category::Ok,
        Category::Forbidden,
        Category::NotFound,
        Category::Gone,
        Category::ServerError,
        Category::OddStatus,
        Category::Reset,
        Category::TlsMismatch,
    ];
    for category in kinds {
        let name = &names[&category];
        for scheme in ["http", "https"] {
            let target = url(&server, scheme, name, "/");
            let expected = truth(
                &reqwest::Url::parse(&target).expect("a valid URL"),
                &opts,
                Duration::from_secs(1),
            );
            match client.head(&target).send().await {
                Ok(response) => assert_eq!(
                    Some(response.status().as_u16()),
                    expected.status_code,
                    "{category:?} over {scheme}"
                ),
                Err(e) => assert_eq!(
                    Some(classify(&e, Stage::Exchange).kind),
                    expected.exception,
                    "{category:?} over {scheme}: {e:?}"
                ),
            }
        }
    }
    let redirect = url(&server, "https", &names[&Category::Redirect], "/");
    let (end, hops) = follow(&client, &redirect, 10).await;
    assert_eq!(end, StatusCode::OK);
    assert_eq!(hops, Site::of(&names[&Category::Redirect], &opts).hops);
    let head405 = url(&server, "http", &names[&Category::HeadNotAllowed], "/");
    assert_eq!(status(&client, Method::HEAD, &head405).await, 405);
    assert_eq!(status(&client, Method::GET, &head405).await, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn an_ip_literal_host_is_judged_by_its_first_path_segment() {
    let opts = instant();
    let names = names_by_category(&opts);
    let server = start(opts).await;
    let client = client(&server, &[], Duration::from_secs(5));
    let forbidden = format!("/{}", names[&Category::Forbidden]);
    for scheme in ["http", "https"] {
        let target = url(&server, scheme, "127.0.0.1", &forbidden);
        assert_eq!(status(&client, Method::HEAD, &target).await, 403);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_counters_see_every_connection_and_request() {
    let server = start(SimOptions {
        profile: Profile::AllOk,
        latency_scale: 0.0,
        ..SimOptions::default()
    })
    .await;
    let client = client(&server, &["localhost"], Duration::from_secs(5));
    let gets = (0..20).map(|i| {
        let target = url(&server, "http", "localhost", &format!("/n{i}"));
        let client = client.clone();
        async move { client.get(target).send().await.map(|r| r.status()) }
    });
    for answer in futures::future::join_all(gets).await {
        assert_eq!(answer.expect("an answer"), 200);
    }
    assert!(until_idle(&server).await);
    let stats = server.stats();
    assert_eq!(stats.requests_total, 20);
    assert_eq!(stats.connections_total, 20);
    assert!((1..=20).contains(&stats.connections_max), "{stats:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_the_server_ends_its_connections_at_once() {
    let server = start(instant()).await;
    let client = client(&server, &["localhost"], Duration::from_secs(30));
    let hang = client.head(url(&server, "http", "localhost", "/_/hang")).send();
    let waiting = tokio::spawn(hang);
    while server.stats().connections_now == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let addr = server.addr();
    drop(server);
    let ended = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the hanging request ends with the server")
        .expect("the request task does not panic");
    assert!(ended.is_err(), "no answer from a dropped server");
    // Nothing listens any more (the accept loop is gone with the listener).
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused);
}

#[tokio::test]
async fn all_loopback_serves_every_127_address() {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let server = SimServer::start(listen, true, instant())
        .await
        .expect("the server starts");
    let client = client(&server, &[], Duration::from_secs(5));
    for ip in ["127.0.0.1", "127.0.0.2", "127.1.2.3"] {
        let target = url(&server, "http", ip, "/_/status/204");
        assert_eq!(status(&client, Method::HEAD, &target).await, 204, "{ip}");
    }
    server.shutdown().await;
}

#[test]
fn serve_truth_prints_the_header_and_one_row_per_target() {
    let out = assert_cmd::Command::cargo_bin("healthcheck")
        .expect("the binary")
        .args(["serve", "--truth", "--length", "2", "--scheme", "http"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("it runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "url,status_code,success,exception,method,redirects,latency_ms,category,\
             cert_days_left,cert_issuer,page"
        )
    );
    assert_eq!(lines.clone().count(), 676);
    assert!(lines.next().is_some_and(|l| l.starts_with("http://aa.com,")));
}

/// The two-letter names over these letters (256) hold every category of the seed profile.
const ALPHABET: &str = "abcdefghijklmnop";

/// The binary's check of 256 names over HTTPS agrees with `truth` on every row. Latencies are
/// scaled to at most 0.4 s against a 3 s timeout, and the concurrency is low: a debug build
/// handshakes slowly, and a redirect loop is eleven handshakes in a row.
#[test]
fn a_real_check_agrees_with_the_truth_on_every_row() {
    let opts = SimOptions {
        latency_scale: 0.1,
        ..SimOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let server = runtime.block_on(start(opts.clone()));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).expect("the CA is written");
    let out = assert_cmd::Command::cargo_bin("healthcheck")
        .expect("the binary")
        .args([
            "--length",
            "2",
            "--alphabet",
            ALPHABET,
            "--timeout",
            "3",
            "-c",
            "25",
        ])
        .arg("--resolve")
        .arg(format!("*:443:{}", server.addr()))
        .arg("--ca-cert")
        .arg(&ca)
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("the check runs");
    runtime.block_on(server.shutdown());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut rows = csv::Reader::from_reader(out.stdout.as_slice());
    let (mut checked, mut seen) = (0, HashSet::new());
    for row in rows.deserialize::<healthcheck::record::OwnedRow>() {
        let row = row.expect("a well-formed row");
        let url = reqwest::Url::parse(&row.url).expect("a valid URL");
        let expected = truth(&url, &opts, Duration::from_secs(3));
        assert_eq!(
            (row.status_code, row.success, row.exception),
            (expected.status_code, expected.success, expected.exception),
            "{} ({:?}, truth {:?}): {:?} after {:?} ms and {:?} redirects",
            row.url,
            expected.category,
            expected.latency_ms,
            row.error_detail,
            row.elapsed_ms,
            row.redirects
        );
        seen.insert(expected.category);
        checked += 1;
    }
    assert_eq!(checked, 256);
    assert_eq!(
        seen.len(),
        Profile::Seed.weights().len(),
        "every category of the seed profile was checked: {seen:?}"
    );
}
