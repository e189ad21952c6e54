//! `--timings` (issue 19): each phase measured against loopback servers with known delays (a
//! resolver that answers late, a TLS server slow to handshake and slower to answer, a listener
//! that never accepts), a host's second page on the connection its first kept, a redirect to
//! another host opening a second connection, and the report's section of a timed file.
//!
//! Every lower bound is the delay the server was told to take; every upper bound adds `MARGIN`,
//! which a loaded CI machine keeps.

use std::time::Duration;

use healthcheck::record::{ErrorKind, OwnedRow};

use crate::support::{answer, healthcheck, ok_rows, ok_stdout, write_lines, FakeDns, Raw, Sim, Then};

/// What a loaded machine may add to any measured phase.
const MARGIN: u64 = 250;

/// The timing columns of a row, which a `--timings` row always has.
fn phases(row: &OwnedRow) -> ([u64; 4], u32) {
    row.timings()
        .unwrap_or_else(|| panic!("no timing columns: {row:?}"))
}

/// The phases add up to no more than the check, and to nearly all of it.
fn assert_phases_fill_the_check(row: &OwnedRow) {
    let (ms, _) = phases(row);
    let elapsed = row.elapsed_ms.expect("elapsed_ms");
    let sum: u64 = ms.iter().sum();
    assert!(sum <= elapsed, "{ms:?} add up to more than {elapsed} ms");
    assert!(elapsed - sum <= MARGIN, "{ms:?} leave much of {elapsed} ms out");
}

#[test]
fn each_phase_shows_its_delay_and_a_kept_connection_costs_no_set_up() {
    const DNS: u64 = 150;
    const HANDSHAKE: u64 = 200;
    const HEAD: u64 = 300;
    let dns = FakeDns::slow(
        &[("pages.test", "127.0.0.1".parse().unwrap())],
        Duration::from_millis(DNS),
    );
    let cert = rcgen::generate_simple_self_signed(vec!["pages.test".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let stall = Duration::from_millis(HANDSHAKE);
    let server = Raw::start_tls_stalled(vec![cert.cert.der().clone()], key, stall, |_| {
        std::thread::sleep(Duration::from_millis(HEAD));
        (answer(200, &[]), Then::KeepOpen)
    });
    let port = server.addr().port();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let urls = [1, 2].map(|page| format!("https://pages.test:{port}/{page}"));
    let input = write_lines(&dir, "urls.txt", &urls);
    let rows = ok_rows(
        healthcheck()
            .args(["-q", "--timings", "--host-concurrency", "1"])
            .args(["--dns-server", &dns.addr().to_string(), "--ca-cert"])
            .arg(&ca)
            .arg("-i")
            .arg(&input),
    );
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.status_code == Some(200)), "{rows:?}");
    let (first, second) = (&rows[0], &rows[1]);
    assert_eq!(first.url, urls[0], "one page at a time, in order");

    let ([dns_ms, connect_ms, tls_ms, ttfb_ms], opened) = phases(first);
    assert!((DNS..=DNS + MARGIN).contains(&dns_ms), "dns {first:?}");
    // The handshake's stall is TLS time, not TCP time: the split is at the ClientHello.
    assert!(connect_ms < HANDSHAKE, "connect {first:?}");
    assert!(
        (HANDSHAKE..=HANDSHAKE + MARGIN).contains(&tls_ms),
        "tls {first:?}"
    );
    assert!((HEAD..=HEAD + MARGIN).contains(&ttfb_ms), "ttfb {first:?}");
    assert_eq!(opened, 1);
    assert_phases_fill_the_check(first);

    // The second page goes out on the connection the first kept: no look-up, no set-up.
    let ([dns_ms, connect_ms, tls_ms, ttfb_ms], opened) = phases(second);
    assert_eq!((dns_ms, connect_ms, tls_ms, opened), (0, 0, 0, 0), "{second:?}");
    assert!((HEAD..=HEAD + MARGIN).contains(&ttfb_ms), "ttfb {second:?}");
    assert_phases_fill_the_check(second);
    assert_eq!(server.accepts(), 1, "one connection for both pages");
    let heads = server.heads();
    assert!(
        heads[1].contains("connection: close"),
        "the last page asks to close: {heads:?}"
    );
}

#[test]
fn a_redirect_to_another_host_opens_a_second_connection() {
    let target = Raw::start(|_| (answer(200, &[]), Then::KeepOpen));
    let elsewhere = target.url("/landing");
    let origin = Raw::start(move |_| (answer(302, &[("location", &elsewhere)]), Then::KeepOpen));
    let out = ok_stdout(
        healthcheck()
            .args(["-q", "--timings", "--format", "jsonl", "-i", "-"])
            .write_stdin(origin.url("/")),
    );
    let row: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((&row["status_code"], &row["redirects"]), (&200.into(), &1.into()));
    assert_eq!(row["new_connections"], 2, "{row}");
    for field in ["dns_ms", "connect_ms", "tls_ms", "ttfb_ms"] {
        assert!(row[field].is_u64(), "{field} in {row}");
    }
    assert_eq!(row["tls_ms"], 0, "plain HTTP");
    let plain = ok_stdout(healthcheck().args(["-q", "-i", "-"]).write_stdin(origin.url("/")));
    let header = String::from_utf8(plain).unwrap();
    assert!(!header.contains("dns_ms"), "off by default: {header}");
}

#[test]
fn a_connect_that_times_out_shows_the_time_in_connect_ms() {
    // A listener that never accepts, its queue of one full: the kernel drops the next SYN.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let _queued = std::net::TcpStream::connect(addr).unwrap();
    let rows = ok_rows(
        healthcheck()
            .args([
                "-q",
                "--timings",
                "--connect-timeout",
                "0.5",
                "--timeout",
                "3",
                "-i",
                "-",
            ])
            .write_stdin(format!("http://{addr}/")),
    );
    let row = &rows[0];
    assert_eq!(row.exception, Some(ErrorKind::Timeout), "{row:?}");
    let ([dns_ms, connect_ms, tls_ms, _], opened) = phases(row);
    // The connect timer starts a hair after reqwest's own: a millisecond of slack below.
    assert!((499..=500 + MARGIN).contains(&connect_ms), "{row:?}");
    assert_eq!((dns_ms, tls_ms, opened), (0, 0, 0), "{row:?}");
    assert_phases_fill_the_check(row);
}

#[test]
fn report_of_a_timed_file_shows_the_phases_the_chart_and_the_slowest_hosts() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = [("a.test", 30), ("b.test", 120), ("c.test", 60)]
        .iter()
        .map(|(host, ms)| format!("http://{host}/_/slow/{ms}"))
        .chain(["http://d.test/_/status/404".to_string()])
        .collect();
    let input = write_lines(&dir, "urls.txt", &urls);
    let rows_path = dir.path().join("rows.csv");
    ok_stdout(
        healthcheck()
            .args(["-q", "--timings", "--resolve", &sim.resolve_all(), "-o"])
            .arg(&rows_path)
            .arg("-i")
            .arg(&input),
    );
    let charts = dir.path().join("charts");
    let text = String::from_utf8(ok_stdout(
        healthcheck()
            .arg("report")
            .arg(&rows_path)
            .arg("--svg")
            .arg(&charts),
    ))
    .unwrap();
    let section = &text[text.find("Where the time went").expect("a phases section")..];
    for label in [
        "answered",
        "successful",
        "unsuccessful status",
        "Slowest hosts (ms)",
    ] {
        assert!(section.contains(label), "{label} in {section}");
    }
    let hosts: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with("Slowest hosts"))
        .skip(2)
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(&hosts[..3], ["b.test", "c.test", "a.test"], "{section}");
    let svg = std::fs::read_to_string(charts.join("phases.svg")).unwrap();
    assert!(
        svg.contains("Where the time went: median phases by outcome"),
        "{svg}"
    );
    let json: serde_json::Value = serde_json::from_slice(&ok_stdout(
        healthcheck().args(["report", "--format", "json"]).arg(&rows_path),
    ))
    .unwrap();
    let timings = &json["timings_ms"];
    assert_eq!(timings["answered"]["count"], 4, "{timings}");
    assert!(timings["by_outcome"]["successful"]["ttfb"]["max"].as_u64() >= Some(120));
    assert_eq!(timings["slowest_hosts"][0]["host"], "b.test");
}
