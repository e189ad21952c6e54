//! What real servers do that the simulated internet did not (issue 10): kilobytes of headers, a
//! reset right after the answer, bodies on HEAD, credentials and redirects, proxies, IPv6, raw
//! UTF-8 in `Location`, TLS peers that hang up, redirect loops that reuse their connection, DNS
//! errors in words. Each against a raw loopback server started here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use healthcheck::record::ErrorKind;

use crate::support::{answer, healthcheck, ok_rows, ok_stdout, rows, FakeDns, Raw, Then};

/// A 200 whose head is about `size` bytes of real-looking headers (few lines, long values; the
/// limits on lines are `curl_parity`'s).
fn big_head(size: usize) -> Vec<u8> {
    let policy = "default-src 'self' https://cdn.example.com; ".repeat(size / 45 / 20 + 1);
    let mut head = String::from("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n");
    let mut n = 0;
    while head.len() < size {
        head.push_str(&format!("set-cookie: c{n}={policy}\r\n"));
        n += 1;
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[test]
fn heads_of_3_16_and_60_kilobytes_are_answers() {
    for size in [3_000, 16_000, 60_000] {
        let server = Raw::start(move |_| (big_head(size), Then::Close));
        let rows = ok_rows(healthcheck().arg("-i").arg("-").write_stdin(server.url("/")));
        assert_eq!(rows[0].status_code, Some(200), "{size}: {:?}", rows[0]);
    }
}

#[test]
fn an_answer_followed_by_a_reset_still_counts_for_thirty_urls_at_concurrency_ten() {
    let server = Raw::start(|_| (answer(200, &[("server", "rst")]), Then::Reset));
    let input: String = (0..30).map(|i| server.url(&format!("/{i}\n"))).collect();
    let rows = ok_rows(healthcheck().args(["-c", "10", "-i", "-"]).write_stdin(input));
    assert_eq!(rows.len(), 30);
    for row in &rows {
        assert_eq!(row.status_code, Some(200), "{row:?}");
    }
    // A redirect followed by a reset is a redirect too.
    let target = Raw::start(|_| (answer(204, &[]), Then::Close));
    let location = target.url("/landed");
    let redirect = Raw::start(move |_| (answer(301, &[("location", &location)]), Then::Reset));
    let input: String = (0..20).map(|i| redirect.url(&format!("/{i}\n"))).collect();
    for row in ok_rows(healthcheck().args(["-c", "10", "-i", "-"]).write_stdin(input)) {
        assert_eq!((row.status_code, row.redirects), (Some(204), Some(1)), "{row:?}");
    }
}

#[test]
fn a_head_answered_with_a_body_or_an_extra_response_is_an_answer() {
    let with_body = Raw::start(|_| {
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello".to_vec(),
            Then::Close,
        )
    });
    let extra = Raw::start(|_| {
        let mut twice = answer(200, &[]);
        twice.extend(answer(500, &[]));
        (twice, Then::Close)
    });
    for server in [&with_body, &extra] {
        let rows = ok_rows(healthcheck().arg("-i").arg("-").write_stdin(server.url("/")));
        assert_eq!(rows[0].status_code, Some(200), "{:?}", rows[0]);
    }
}

/// Two origins (two ports): `/same` redirects within the first, `/cross` to the second.
fn redirecting_pair() -> (Raw, Raw) {
    let other = Raw::start(|_| (answer(200, &[]), Then::Close));
    let elsewhere = other.url("/landed");
    let first = Raw::start(move |head| {
        if head.starts_with("head /same ") {
            (answer(302, &[("location", "/landed")]), Then::Close)
        } else if head.starts_with("head /cross ") {
            (answer(302, &[("location", &elsewhere)]), Then::Close)
        } else {
            (answer(200, &[]), Then::Close)
        }
    });
    (first, other)
}

#[test]
fn credentials_go_to_the_same_origin_and_never_to_another() {
    let (first, other) = redirecting_pair();
    let input = format!("{}\n{}\n", first.url("/same"), first.url("/cross"));
    let rows = ok_rows(
        healthcheck()
            .args([
                "-c",
                "1",
                "-H",
                "Authorization: Bearer t0ken",
                "-H",
                "Cookie: id=42",
            ])
            .args(["-H", "X-Trace: on", "-i", "-"])
            .write_stdin(input),
    );
    assert!(rows.iter().all(|r| r.status_code == Some(200)), "{rows:?}");
    let heads = first.heads();
    assert_eq!(heads.len(), 3, "{heads:?}");
    for head in &heads {
        assert!(head.contains("authorization: bearer t0ken"), "{head}");
        assert!(head.contains("cookie: id=42"), "{head}");
    }
    let landed = other.heads();
    assert_eq!(landed.len(), 1);
    assert!(!landed[0].contains("authorization"), "{}", landed[0]);
    assert!(!landed[0].contains("cookie"), "{}", landed[0]);
    assert!(
        landed[0].contains("x-trace: on"),
        "other headers still go: {}",
        landed[0]
    );
}

#[test]
fn a_url_password_is_sent_as_basic_auth_and_written_nowhere() {
    let (first, other) = redirecting_pair();
    let secret = "s3cr3t-pw";
    let with_user = |path: &str| format!("http://ann:{secret}@{}{path}", first.addr());
    let input = format!("{}\n{}\n", with_user("/same"), with_user("/cross"));
    let out = healthcheck()
        .args(["-c", "1", "-i", "-"])
        .write_stdin(input.clone())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "{stdout}{stderr}"
    );
    assert!(stdout.contains("ann:***@"), "{stdout}");
    // base64("ann:s3cr3t-pw")
    let basic = "authorization: basic yw5uonmzy3izdc1wdw==";
    assert!(
        first.heads().iter().all(|h| h.contains(basic)),
        "{:?}",
        first.heads()
    );
    assert!(!other.heads()[0].contains("authorization"), "{:?}", other.heads());

    // --resume recognises the masked rows as the same URLs.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.csv");
    std::fs::write(&file, &out.stdout).unwrap();
    let again = healthcheck()
        .args(["-c", "1", "-i", "-", "--resume"])
        .arg(&file)
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        rows(&std::fs::read(&file).unwrap()).len(),
        2,
        "nothing checked twice"
    );
}

#[test]
fn proxies_from_the_environment_and_the_flag_are_honoured_with_no_proxy() {
    // The proxy answers every request itself: absolute-form request lines show it was asked.
    let proxy = Raw::start(|_| (answer(203, &[]), Then::Close));
    let direct = Raw::start(|_| (answer(200, &[]), Then::Close));
    let proxy_url = format!("http://{}", proxy.addr());
    let resolve = format!("direct.test:0:{}", direct.addr());
    let input = "http://far.test/page\nhttp://direct.test/\n";
    let by_env = ok_rows(
        healthcheck()
            .env("HTTP_PROXY", &proxy_url)
            .env("no_proxy", "direct.test")
            .args(["-c", "1", "--resolve", &resolve, "-i", "-"])
            .write_stdin(input),
    );
    let by_flag = ok_rows(
        healthcheck()
            .env("NO_PROXY", "direct.test")
            .args(["-c", "1", "--proxy", &proxy_url, "--resolve", &resolve, "-i", "-"])
            .write_stdin(input),
    );
    for rows in [&by_env, &by_flag] {
        let status = |url: &str| rows.iter().find(|r| r.url == url).unwrap().status_code;
        assert_eq!(status("http://far.test/page"), Some(203), "{rows:?}");
        assert_eq!(status("http://direct.test/"), Some(200), "{rows:?}");
    }
    let heads = proxy.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(
        heads
            .iter()
            .all(|h| h.starts_with("head http://far.test/page http/1.1")),
        "{heads:?}"
    );
    // --no-proxy ignores the environment: far.test is then looked up, and fails.
    let dns = FakeDns::start(&[]);
    let rows = ok_rows(
        healthcheck()
            .env("HTTP_PROXY", &proxy_url)
            .args(["--no-proxy", "--dns-server", &dns.addr().to_string(), "-i", "-"])
            .write_stdin("http://far.test/\n"),
    );
    assert_eq!(rows[0].exception, Some(ErrorKind::Dns), "{:?}", rows[0]);
    assert_eq!(proxy.heads().len(), 2);
}

#[test]
fn a_bad_proxy_flag_is_a_usage_error_naming_it() {
    let out = healthcheck()
        .args(["--proxy", "ftp://127.0.0.1:1", "-i", "-"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--proxy"), "{stderr}");
}

/// A listener whose SYNs are dropped (full accept queue): a dead address, not a refusing one.
fn dead_v4() -> (socket2::Socket, std::net::TcpStream, SocketAddr) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let filler = std::net::TcpStream::connect(addr).unwrap();
    (socket, filler, addr)
}

#[test]
fn a_dual_stack_host_with_a_dead_ipv4_address_answers_over_ipv6() {
    let v6 = Raw::start_on("[::1]:0", |_| (answer(200, &[]), Then::Close));
    let (_socket, _filler, dead) = dead_v4();
    let rule = format!("dual.test:0:{dead},{}", v6.addr());
    let rows = ok_rows(
        healthcheck()
            .args(["--timeout", "5", "--resolve", &rule, "-i", "-"])
            .write_stdin("http://dual.test/\nhttp://v6only.test/\n")
            .args(["--resolve", &format!("v6only.test:0:{}", v6.addr())]),
    );
    for row in &rows {
        assert_eq!(row.status_code, Some(200), "{row:?}");
        assert!(row.elapsed_ms.unwrap() < 2_500, "the race moved on: {row:?}");
    }
}

#[test]
fn the_resolver_asks_for_both_families() {
    // The name has an A record where nothing listens and an AAAA record that answers.
    let v6 = Raw::start_on("[::1]:0", |_| (answer(200, &[]), Then::Close));
    let port = v6.addr().port();
    let dns = FakeDns::start(&[
        ("both.test", IpAddr::from([127, 0, 0, 1])),
        ("both.test", "::1".parse().unwrap()),
        ("six.test", "::1".parse().unwrap()),
    ]);
    let input = format!("http://both.test:{port}/\nhttp://six.test:{port}/\n");
    let rows = ok_rows(
        healthcheck()
            .args(["--dns-server", &dns.addr().to_string(), "-i", "-"])
            .write_stdin(input),
    );
    for row in &rows {
        assert_eq!(row.status_code, Some(200), "{row:?}");
    }
}

#[test]
fn a_raw_utf8_location_is_followed_percent_encoded() {
    let server = Raw::start(|head| {
        if head.starts_with("head /caf%c3%a9 ") {
            (answer(200, &[]), Then::Close)
        } else {
            let mut raw = b"HTTP/1.1 301 Moved\r\ncontent-length: 0\r\nlocation: /caf".to_vec();
            raw.extend("é\r\n\r\n".as_bytes());
            (raw, Then::Close)
        }
    });
    let rows = ok_rows(healthcheck().arg("-i").arg("-").write_stdin(server.url("/")));
    assert_eq!(rows[0].status_code, Some(200), "{:?}", rows[0]);
    assert_eq!(rows[0].final_url.as_deref(), Some(&*server.url("/caf%C3%A9")));
}

/// A TLS server on 127.0.0.1 for `localhost` that does `behave` with each connection, and the
/// path of its certificate (to trust with --ca-cert).
fn tls_server(behave: fn(&[u8]) -> bool) -> (SocketAddr, std::path::PathBuf, tempfile::TempDir) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            // Serves for a bounded time, then the thread ends with the test binary or earlier.
            let _ = tokio::time::timeout(Duration::from_secs(30), async {
                loop {
                    let Ok((mut tcp, _)) = listener.accept().await else {
                        return;
                    };
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        use tokio::io::AsyncReadExt;
                        let mut hello = [0u8; 64];
                        let Ok(n) = tcp.peek(&mut hello).await else { return };
                        if !behave(&hello[..n]) {
                            let _ = tcp.read(&mut hello).await;
                            return; // hang up in the middle of the handshake
                        }
                        let Ok(mut tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let mut request = [0u8; 1024];
                        let _ = tls.read(&mut request).await;
                        // Then drop: TCP closes without a TLS close_notify and without an answer.
                    });
                }
            })
            .await;
        });
    });
    (addr, ca, dir)
}

#[test]
fn a_tls_peer_that_hangs_up_is_tls_during_the_handshake_and_reset_after() {
    for (complete_handshake, kind) in [(false, ErrorKind::Tls), (true, ErrorKind::Reset)] {
        let behave = if complete_handshake {
            |_: &[u8]| true
        } else {
            |_: &[u8]| false
        };
        let (addr, ca, _dir) = tls_server(behave);
        let rows = ok_rows(
            healthcheck()
                .args(["--resolve", &format!("localhost:0:{addr}"), "--ca-cert"])
                .arg(&ca)
                .args(["-i", "-"])
                .write_stdin("https://localhost/\n"),
        );
        assert_eq!(rows[0].exception, Some(kind), "{:?}", rows[0]);
        if kind == ErrorKind::Tls {
            // It hangs up with the ClientHello unread: a reset.
            assert_eq!(
                rows[0].error_detail.as_deref(),
                Some("the server reset the connection during the TLS handshake")
            );
        }
    }
}

#[test]
fn a_redirect_loop_on_one_host_reuses_its_connection() {
    let server = Raw::start(|_| (answer(301, &[("location", "/again")]), Then::KeepOpen));
    let out = ok_stdout(
        healthcheck()
            .args(["--max-redirects", "10", "-i", "-"])
            .write_stdin(server.url("/start")),
    );
    let row = &rows(&out)[0];
    assert_eq!(row.exception, Some(ErrorKind::TooManyRedirects), "{row:?}");
    assert_eq!(server.heads().len(), 11);
    // The first request and the first hop ask to close (most URLs are never asked again, most
    // chains end after one hop); from the second same-origin redirect on, one connection
    // carries the rest.
    assert_eq!(server.accepts(), 3);
}

#[test]
fn dns_failures_say_what_failed_in_words() {
    let dns = FakeDns::start(&[]);
    let rows = ok_rows(
        healthcheck()
            .args(["--dns-server", &dns.addr().to_string(), "-i", "-"])
            .write_stdin("http://nope.test/\n"),
    );
    assert_eq!(rows[0].exception, Some(ErrorKind::Dns));
    assert_eq!(rows[0].error_detail.as_deref(), Some("no such host: nope.test"));
}

#[test]
fn the_simulated_internet_sends_big_heads_and_resets_after_answers_too() {
    let sim = crate::support::Sim::all_ok();
    let port = sim.addr().port();
    let input: String = ["http", "https"]
        .iter()
        .flat_map(|scheme| {
            ["/_/big-head/16000", "/_/reset-after"].map(|path| format!("{scheme}://localhost:{port}{path}\n"))
        })
        .collect();
    let rows = ok_rows(
        healthcheck()
            .args(["--resolve", &format!("localhost:0:{}", sim.addr()), "--ca-cert"])
            .arg(sim.ca_file())
            .args(["-i", "-"])
            .write_stdin(input),
    );
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row.status_code, Some(200), "{row:?}");
    }
}
