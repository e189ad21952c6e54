//! Content expectations over the real binary: a successful answer that breaks `--expect-body`,
//! `--reject-body` or `--expect-header` becomes `content` with its status; bodies are read with
//! GET only when they are needed, never past `--max-body`, and memory does not grow with them.

use std::io::Read;
use std::process::{Command, Stdio};

use healthcheck::record::{ErrorKind, Method, OwnedRow};

use crate::support::{answer, healthcheck, ok_rows, rows, write_lines, Raw, Sim, Then};

fn by_url<'a>(rows: &'a [OwnedRow], url: &str) -> &'a OwnedRow {
    rows.iter()
        .find(|r| r.url == url)
        .unwrap_or_else(|| panic!("no row for {url}"))
}

fn detail(row: &OwnedRow) -> &str {
    row.error_detail.as_deref().unwrap_or("")
}

#[test]
fn a_body_that_does_not_match_is_content_with_its_status() {
    let sim = Sim::all_ok();
    let (normal, maintenance) = (sim.url("/_/page/normal"), sim.url("/_/page/maintenance"));
    let got = ok_rows(
        healthcheck()
            .args(["--expect-body", "Welcome", "--expect-body", "<h1>", "-i", "-"])
            .write_stdin(format!("{normal}\n{maintenance}\n")),
    );
    let ok = by_url(&got, &normal);
    assert_eq!(
        (ok.status_code, ok.success, ok.exception),
        (Some(200), true, None)
    );
    assert_eq!(ok.method, Some(Method::Get), "a body needs GET");
    let bad = by_url(&got, &maintenance);
    assert_eq!(
        (bad.status_code, bad.success, bad.exception),
        (Some(200), false, Some(ErrorKind::Content))
    );
    assert_eq!(detail(bad), "body does not match /Welcome/");
}

#[test]
fn a_rejected_body_names_what_matched_and_errors_are_not_judged() {
    let sim = Sim::all_ok();
    let urls = [
        sim.url("/_/page/normal"),
        sim.url("/_/page/maintenance"),
        sim.url("/_/page/parked"),
        sim.url("/_/status/404"),
    ];
    let got = ok_rows(
        healthcheck()
            .args([
                "--reject-body",
                "(?i)under maintenance|domain is parked",
                "-i",
                "-",
            ])
            .write_stdin(urls.join("\n")),
    );
    assert!(by_url(&got, &urls[0]).success);
    let maintenance = by_url(&got, &urls[1]);
    assert_eq!(maintenance.exception, Some(ErrorKind::Content));
    assert_eq!(
        detail(maintenance),
        "body matches /(?i)under maintenance|domain is parked/: \"Under maintenance\""
    );
    assert_eq!(by_url(&got, &urls[2]).exception, Some(ErrorKind::Content));
    let not_found = by_url(&got, &urls[3]);
    assert_eq!(
        (not_found.status_code, not_found.exception),
        (Some(404), None),
        "only a successful status is judged"
    );
}

#[test]
fn a_header_must_be_there_and_match() {
    let server = Raw::start(|head| {
        let hsts = if head.contains("/with-hsts") {
            vec![("strict-transport-security", "max-age=31536000")]
        } else {
            Vec::new()
        };
        let mut headers = vec![("content-type", "text/plain")];
        headers.extend(hsts);
        (answer(200, &headers), Then::Close)
    });
    let (with, without) = (server.url("/with-hsts"), server.url("/without"));
    let got = ok_rows(
        healthcheck()
            .args([
                "--expect-header",
                "Strict-Transport-Security: max-age=\\d+",
                "-i",
                "-",
            ])
            .write_stdin(format!("{with}\n{without}\n")),
    );
    assert!(by_url(&got, &with).success);
    let missing = by_url(&got, &without);
    assert_eq!(
        (missing.status_code, missing.exception),
        (Some(200), Some(ErrorKind::Content))
    );
    assert_eq!(detail(missing), "header strict-transport-security missing");
    assert_eq!(missing.method, Some(Method::Head), "a header needs no body");

    let got = ok_rows(
        healthcheck()
            .args(["--expect-header", "content-type: ^text/html", "-i", "-"])
            .write_stdin(with.clone()),
    );
    assert_eq!(
        detail(&got[0]),
        "header content-type does not match /^text/html/: \"text/plain\""
    );
    assert!(
        server.heads().iter().all(|h| h.starts_with("head ")),
        "{:?}",
        server.heads()
    );
}

#[test]
fn without_expectations_the_check_sends_head_and_with_a_body_one_get() {
    let server = Raw::start(|_| {
        let mut out = answer(200, &[("content-type", "text/html")]);
        // A body after all: `content-length: 0` is replaced.
        out = String::from_utf8(out)
            .unwrap()
            .replace("content-length: 0", "content-length: 7")
            .into_bytes();
        out.extend_from_slice(b"Welcome");
        (out, Then::Close)
    });
    let url = server.url("/");
    let plain = ok_rows(healthcheck().args(["-i", "-"]).write_stdin(url.clone()));
    assert!(plain[0].success);
    let expecting = ok_rows(
        healthcheck()
            .args(["--expect-body", "^Welcome$", "-i", "-"])
            .write_stdin(url.clone()),
    );
    assert!(expecting[0].success, "{:?}", expecting[0]);
    let methods: Vec<String> = server
        .heads()
        .iter()
        .map(|h| h.split(' ').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(methods, ["head", "get"]);
}

/// Run `cmd` to the end and return its exit code, stdout and peak memory (KiB), as the kernel
/// counted it for this child alone.
#[allow(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also gives its peak memory"
)]
fn run_measured(mut cmd: Command) -> (i32, Vec<u8>, i64) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut stdout = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let (mut status, mut usage) = (0, std::mem::MaybeUninit::<nix::libc::rusage>::zeroed());
    // SAFETY: `pid` is our own child, not waited for yet; `status` and `usage` are valid for writes.
    let waited = unsafe { nix::libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    assert_eq!(waited, pid);
    // SAFETY: wait4 filled it in.
    let usage = unsafe { usage.assume_init() };
    (nix::libc::WEXITSTATUS(status), stdout, usage.ru_maxrss)
}

#[test]
fn a_ten_gigabyte_body_is_read_to_the_limit_only_and_memory_stays_flat() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let run = |body_bytes: u64| {
        let input = write_lines(&dir, "one.txt", &[sim.url(&format!("/_/bytes/{body_bytes}"))]);
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("healthcheck"));
        cmd.args([
            "--expect-body",
            "Welcome",
            "--max-body",
            "1M",
            "--timeout",
            "60",
            "-i",
        ])
        .arg(input);
        run_measured(cmd)
    };
    let (code, small_out, small_rss) = run(1000);
    assert_eq!(code, 0);
    assert_eq!(rows(&small_out)[0].exception, Some(ErrorKind::Content));
    let sent_before = sim.stats().body_bytes;
    let (code, out, huge_rss) = run(10_000_000_000);
    assert_eq!(code, 0);
    let row = &rows(&out)[0];
    assert_eq!(
        (row.status_code, row.exception),
        (Some(200), Some(ErrorKind::Content))
    );
    assert_eq!(
        detail(row),
        "body does not match /Welcome/ in its first 1048576 bytes"
    );
    // The server makes the body as the socket takes it: what it made is what the client read,
    // plus what the socket buffers hold.
    let sent = sim.stats().body_bytes - sent_before;
    assert!(sent < 64 << 20, "the server sent {sent} bytes of 10 GB");
    assert!(
        huge_rss < small_rss + 32 * 1024,
        "peak memory {huge_rss} KiB with a 10 GB body, {small_rss} KiB with 1 KB"
    );
}

#[test]
fn content_failures_are_counted_in_the_summary_and_the_report() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = ["normal", "maintenance", "parked"]
        .iter()
        .map(|p| sim.url(&format!("/_/page/{p}")))
        .collect();
    let input = write_lines(&dir, "pages.txt", &lines);
    let (csv, json) = (dir.path().join("out.csv"), dir.path().join("summary.json"));
    let out = healthcheck()
        .args(["--reject-body", "(?i)maintenance|parked", "-i"])
        .arg(&input)
        .arg("-o")
        .arg(&csv)
        .arg("--summary-json")
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("by exception: content: 2"), "{stderr}");
    assert!(stderr.contains("by status: 200: 3"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(summary["by_exception"]["content"], 2);
    assert_eq!(summary["failed"], 2);
    let report = healthcheck().arg("report").arg(&csv).output().unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    let exceptions = text.split("Exceptions").nth(1).unwrap_or("");
    assert!(exceptions.contains("content"), "{text}");
}
