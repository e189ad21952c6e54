//! The default command over the real binary and the simulated internet: every fault becomes
//! exactly one row with the right exception, and the run's limits hold.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use healthcheck::record::{ErrorKind, Method, OwnedRow};
use healthcheck::sim::Profile;

use crate::support::{healthcheck, ok_rows, refused_port, rows, spawn_generated, write_lines, FakeDns, Sim};

fn by_url(rows: &[OwnedRow]) -> BTreeMap<String, OwnedRow> {
    rows.iter().map(|r| (r.url.clone(), r.clone())).collect()
}

#[test]
fn each_exception_kind_comes_from_a_real_local_fault() {
    let sim = Sim::all_ok();
    let dns = FakeDns::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let refused = format!("http://127.0.0.1:{}/", refused_port());
    let tls = format!("https://{}/", sim.addr()); // the sim's CA is not trusted here
    let lines = vec![
        sim.url("/_/hang"),
        sim.url("/_/reset"),
        sim.url("/_/garbage"),
        sim.url("/_/loop"),
        refused.clone(),
        tls.clone(),
        "http://no-such-host.test/".to_string(),
        "ftp://example.com/".to_string(),
    ];
    let input = write_lines(&dir, "targets.txt", &lines);
    let got = by_url(&ok_rows(
        healthcheck()
            .args(["--timeout", "1", "--dns-server", &dns.addr().to_string(), "-i"])
            .arg(&input),
    ));
    assert_eq!(got.len(), lines.len());
    let expect = [
        (sim.url("/_/hang"), ErrorKind::Timeout),
        (sim.url("/_/reset"), ErrorKind::Reset),
        (sim.url("/_/garbage"), ErrorKind::Protocol),
        (sim.url("/_/loop"), ErrorKind::TooManyRedirects),
        (refused, ErrorKind::Connect),
        (tls, ErrorKind::Tls),
        ("http://no-such-host.test/".to_string(), ErrorKind::Dns),
        ("ftp://example.com/".to_string(), ErrorKind::InvalidUrl),
    ];
    for (url, kind) in expect {
        let row = &got[&url];
        assert_eq!(row.exception, Some(kind), "{url}: {row:?}");
        assert_eq!(row.status_code, None);
        assert!(!row.success);
        assert!(
            row.error_detail.as_deref().is_some_and(|d| !d.is_empty()),
            "{url} has no detail"
        );
    }
}

#[test]
fn a_thousand_mixed_targets_at_concurrency_200_give_exactly_one_row_each() {
    mixed_targets_give_exactly_one_row_each(1);
}

#[test]
fn on_several_threads_the_same_targets_give_the_same_rows() {
    mixed_targets_give_exactly_one_row_each(3);
}

fn mixed_targets_give_exactly_one_row_each(threads: u16) {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let refused = refused_port();
    let routes = [
        "/_/status/200",
        "/_/status/404",
        "/_/reset",
        "/_/hang",
        "/_/slow/50",
        "/_/head405",
        "/_/redirect/2",
    ];
    let lines: Vec<String> = (0..1200)
        .map(|i| match i % 9 {
            7 => format!("http://127.0.0.1:{refused}/?i={i}"),
            8 => format!("not a url {i}"),
            r => sim.url(&format!("{}?i={i}", routes[r])),
        })
        .collect();
    let input = write_lines(&dir, "targets.txt", &lines);
    let rows = ok_rows(
        healthcheck()
            .args([
                "-c",
                "200",
                "--host-concurrency",
                "200",
                "--timeout",
                "1",
                "--threads",
                &threads.to_string(),
                "-i",
            ])
            .arg(&input),
    );
    assert_eq!(rows.len(), 1200);
    let urls: HashSet<&str> = rows.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(urls, lines.iter().map(String::as_str).collect::<HashSet<_>>());
    let count = |pred: &dyn Fn(&OwnedRow) -> bool| rows.iter().filter(|r| pred(r)).count();
    // 1200 = 9 * 133 + 3: residues 0-2 (200, 404, reset) occur 134 times, the others 133.
    assert_eq!(count(&|r| r.exception == Some(ErrorKind::Timeout)), 133);
    assert_eq!(count(&|r| r.exception == Some(ErrorKind::Reset)), 134);
    assert_eq!(count(&|r| r.exception == Some(ErrorKind::InvalidUrl)), 133);
    assert_eq!(count(&|r| r.exception == Some(ErrorKind::Connect)), 133);
    assert_eq!(count(&|r| r.status_code == Some(404)), 134);
    assert_eq!(count(&|r| r.success), 134 + 133 * 3);
}

#[test]
fn the_server_sees_no_more_connections_than_the_concurrency_and_a_few_handed_back() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..300).map(|i| sim.url(&format!("/_/slow/100?i={i}"))).collect();
    let input = write_lines(&dir, "targets.txt", &lines);
    let out = healthcheck()
        .args(["-c", "25", "--host-concurrency", "100", "-i"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(rows(&out.stdout).iter().filter(|r| r.success).count(), 300);
    // The pages of one host keep their connections; the pool takes one back only once hyper's
    // connection task has seen its answer through, so a request that comes first may open one
    // more while the other waits idle: a few, never one per URL.
    let max = sim.stats().connections_max;
    assert!((25..=28).contains(&max), "{max} connections at once");
}

#[test]
fn hanging_servers_do_not_stretch_the_run_past_the_timeout() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..300).map(|i| sim.url(&format!("/_/hang?i={i}"))).collect();
    let input = write_lines(&dir, "targets.txt", &lines);
    let started = Instant::now();
    let out = healthcheck()
        .args(["-c", "300", "--host-concurrency", "300", "--timeout", "1", "-i"])
        .arg(&input)
        .output()
        .unwrap();
    let wall = started.elapsed();
    assert_eq!(out.status.code(), Some(0));
    let rows = rows(&out.stdout);
    assert_eq!(rows.len(), 300);
    assert!(rows.iter().all(|r| r.exception == Some(ErrorKind::Timeout)));
    // One timeout for all of them at once, plus a generous margin for a loaded machine.
    assert!(wall < Duration::from_secs(8), "took {wall:?}");
}

#[test]
fn head_answered_with_405_or_501_is_retried_with_get() {
    let sim = Sim::all_ok();
    let targets = format!("{}\n{}\n", sim.url("/_/head405"), sim.url("/_/head501"));
    let out = healthcheck()
        .arg("-i")
        .arg("-")
        .write_stdin(targets.clone())
        .output()
        .unwrap();
    for row in rows(&out.stdout) {
        assert_eq!(
            (row.status_code, row.method, row.success),
            (Some(200), Some(Method::Get), true),
            "{row:?}"
        );
    }
    let out = healthcheck()
        .args(["--get-fallback", "never", "-i", "-"])
        .write_stdin(targets)
        .output()
        .unwrap();
    let statuses: Vec<_> = rows(&out.stdout)
        .iter()
        .map(|r| (r.status_code, r.method))
        .collect();
    assert!(
        statuses.contains(&(Some(405), Some(Method::Head))),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&(Some(501), Some(Method::Head))),
        "{statuses:?}"
    );
}

#[test]
fn method_get_is_used_from_the_start_when_asked() {
    let sim = Sim::all_ok();
    let out = healthcheck()
        .args(["--method", "get", "-i", "-"])
        .write_stdin(sim.url("/_/head405"))
        .output()
        .unwrap();
    let rows = rows(&out.stdout);
    assert_eq!(
        (rows[0].status_code, rows[0].method),
        (Some(200), Some(Method::Get))
    );
}

#[test]
fn redirects_are_followed_counted_and_bounded() {
    let sim = Sim::all_ok();
    let three = sim.url("/_/redirect/3");
    let out = healthcheck()
        .args(["-i", "-"])
        .write_stdin(three.clone())
        .output()
        .unwrap();
    let row = &rows(&out.stdout)[0];
    assert_eq!(
        (row.status_code, row.redirects, row.success),
        (Some(200), Some(3), true)
    );
    assert_ne!(row.final_url.as_deref(), Some(three.as_str()));

    let out = healthcheck()
        .args(["--max-redirects", "2", "-i", "-"])
        .write_stdin(three)
        .output()
        .unwrap();
    let row = &rows(&out.stdout)[0];
    assert_eq!(row.exception, Some(ErrorKind::TooManyRedirects));
    assert_eq!(row.redirects, Some(2));
}

#[test]
fn resolve_sends_generated_https_domains_to_a_local_tls_server() {
    let sim = Sim::all_ok();
    let rows = ok_rows(
        healthcheck()
            .args([
                "--length",
                "1",
                "--alphabet",
                "xyz",
                "--resolve",
                &sim.resolve_all(),
                "--ca-cert",
            ])
            .arg(sim.ca_file()),
    );
    let mut got: Vec<(String, Option<u16>)> = rows.into_iter().map(|r| (r.url, r.status_code)).collect();
    got.sort();
    let want: Vec<(String, Option<u16>)> = ["x", "y", "z"]
        .iter()
        .map(|l| (format!("https://{l}.com"), Some(200)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn bare_domains_comments_and_invalid_lines_from_stdin() {
    let sim = Sim::all_ok();
    let input = "  abc.com  \n# a comment\n\nhttp://bad host/\nmailto:x@y.z\nhttp://www.abc.com/path\n";
    let got = by_url(&ok_rows(
        healthcheck()
            .args(["--scheme", "http", "--resolve", &sim.resolve_all(), "-i", "-"])
            .write_stdin(input),
    ));
    let keys: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "http://abc.com",
            "http://bad host/",
            "http://www.abc.com/path",
            "mailto:x@y.z"
        ]
    );
    assert_eq!(got["http://abc.com"].status_code, Some(200));
    assert_eq!(got["http://bad host/"].exception, Some(ErrorKind::InvalidUrl));
    assert_eq!(got["mailto:x@y.z"].exception, Some(ErrorKind::InvalidUrl));
}

#[test]
fn shards_partition_the_target_set_exactly() {
    let sim = Sim::all_ok();
    let mut seen: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    for k in 0..3 {
        let out = healthcheck()
            .args([
                "--scheme",
                "http",
                "--length",
                "2",
                "--alphabet",
                "abcd",
                "--resolve",
                &sim.resolve_all(),
            ])
            .args(["--shard", &format!("{k}/3")])
            .output()
            .unwrap();
        let urls: Vec<String> = rows(&out.stdout).into_iter().map(|r| r.url).collect();
        sizes.push(urls.len());
        seen.extend(urls);
    }
    assert_eq!(sizes, [6, 5, 5]);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 16);
}

#[test]
fn sigint_then_resume_checks_every_url_exactly_once() {
    let sim = Sim::start(Profile::AllOk, 0.0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let lines: Vec<String> = (0..400).map(|i| sim.url(&format!("/_/slow/200?i={i}"))).collect();
    let input = write_lines(&dir, "targets.txt", &lines);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("healthcheck"))
        .args(["-c", "10", "-o"])
        .arg(&out)
        .arg("-i")
        .arg(&input)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let first = rows(&std::fs::read(&out).unwrap());
    assert!(
        !first.is_empty() && first.len() < 400,
        "{} rows before the interrupt",
        first.len()
    );

    let resumed = healthcheck()
        .args(["-c", "100", "--resume"])
        .arg(&out)
        .arg("-i")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let all = rows(&std::fs::read(&out).unwrap());
    assert_eq!(all.len(), 400);
    let urls: HashSet<&str> = all.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(urls.len(), 400);
}

#[test]
fn a_full_disk_is_exit_3_with_a_clear_error() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let sim = Sim::all_ok();
    let out = healthcheck()
        .args(["-o", "/dev/full", "-i", "-"])
        .write_stdin(sim.url("/"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot write /dev/full"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let sim = Sim::all_ok();
    let mut child = spawn_generated(&sim, Stdio::piped());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    for _ in 0..3 {
        line.clear();
        stdout.read_line(&mut line).unwrap();
    }
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("error"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_and_missing_files_are_exit_2_naming_the_culprit() {
    for (args, needle) in [
        (vec!["-c", "0"], "--concurrency"),
        (vec!["--shard", "3/3"], "--shard"),
        (vec!["--timeout", "soon"], "--timeout"),
        (vec!["--success", "2xx"], "--success"),
        (vec!["--resolve", "nonsense"], "--resolve"),
        (vec!["-i", "/no/such/file.txt"], "/no/such/file.txt"),
        (vec!["--ca-cert", "/no/such/ca.pem"], "/no/such/ca.pem"),
        (vec!["--alphabet", "aa"], "--alphabet"),
    ] {
        let out = healthcheck().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn zero_targets_still_write_the_header() {
    let out = healthcheck()
        .args(["-i", "-"])
        .write_stdin("# nothing\n\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms\n"
    );
}

#[test]
fn the_summary_goes_to_stderr_and_json_and_unhealthy_urls_can_fail_the_run() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let input = format!(
        "{}\n{}\n{}\n",
        sim.url("/_/status/200"),
        sim.url("/_/status/404"),
        sim.url("/_/reset")
    );
    let out = healthcheck()
        .args(["--fail-on-unhealthy", "--summary-json"])
        .arg(&summary)
        .args(["-i", "-"])
        .write_stdin(input.clone())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Successful: 1 (33.3%), Failed: 2"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(
        (json["total"].as_u64(), json["successful"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(json["by_exception"]["reset"], 1);
    assert_eq!(json["by_status"]["404"], 1);

    let out = healthcheck()
        .args(["-q", "--success", "200-499", "-i", "-"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows(&out.stdout).iter().filter(|r| r.success).count(), 2);
}

#[test]
fn json_lines_carry_the_same_fields() {
    let sim = Sim::all_ok();
    let out = healthcheck()
        .args(["--format", "jsonl", "-i", "-"])
        .write_stdin(sim.url("/_/status/410"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let row: OwnedRow = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(
        (row.status_code, row.success, row.method),
        (Some(410), false, Some(Method::Head))
    );
}

#[test]
fn retries_follow_timeouts_and_refused_connections_but_not_answers() {
    let refused = format!("http://127.0.0.1:{}/", refused_port());
    let rows = ok_rows(
        healthcheck()
            .args(["--retries", "2", "-i", "-"])
            .write_stdin(refused),
    );
    assert_eq!(rows[0].exception, Some(ErrorKind::Connect));
    // Two backoffs, 250 ms then 500 ms, before the third and last try.
    assert!(rows[0].elapsed_ms.unwrap() >= 750, "{:?}", rows[0]);

    let sim = Sim::all_ok();
    let rows = ok_rows(
        healthcheck()
            .args(["--retries", "1", "--timeout", "0.3", "-i", "-"])
            .write_stdin(format!("{}\n", sim.url("/_/hang"))),
    );
    assert_eq!(rows[0].exception, Some(ErrorKind::Timeout));
    assert_eq!(sim.stats().requests_total, 2);

    let sim = Sim::all_ok();
    let rows = ok_rows(
        healthcheck()
            .args(["--retries", "3", "-i", "-"])
            .write_stdin(sim.url("/_/status/404")),
    );
    assert_eq!(rows[0].status_code, Some(404));
    assert_eq!(sim.stats().requests_total, 1);
}

#[test]
fn the_user_agent_and_extra_headers_are_sent() {
    let (url, request) = crate::support::capture_one_request();
    let rows = ok_rows(
        healthcheck()
            .args([
                "--user-agent",
                "probe/9",
                "-H",
                "X-Trace: abc:1",
                "-H",
                "Accept-Language: fr",
                "-i",
                "-",
            ])
            .write_stdin(url),
    );
    assert_eq!(rows[0].status_code, Some(200));
    let head = request.join().unwrap().to_ascii_lowercase();
    assert!(head.starts_with("head /captured http/1.1\r\n"), "{head}");
    for line in ["user-agent: probe/9", "x-trace: abc:1", "accept-language: fr"] {
        assert!(
            head.contains(&format!("\r\n{line}\r\n")),
            "{line} missing from {head}"
        );
    }
}

#[test]
fn insecure_accepts_a_certificate_from_an_unknown_issuer() {
    let sim = Sim::all_ok();
    let url = format!("https://{}/_/status/200", sim.addr());
    let rows = ok_rows(healthcheck().args(["-k", "-i", "-"]).write_stdin(url.clone()));
    assert_eq!((rows[0].status_code, rows[0].success), (Some(200), true));
    let rows = ok_rows(healthcheck().args(["-i", "-"]).write_stdin(url));
    assert_eq!(rows[0].exception, Some(ErrorKind::Tls));
}
