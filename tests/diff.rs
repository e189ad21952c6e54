//! `diff` and `report --since` over the real binary (issue 20): two checks against a server
//! whose answers flip between the runs, then hand-written files for what a loopback server
//! cannot change overnight (certificates), row order, both formats, extra columns, repeated
//! URLs, foreign files and the exit codes of `--fail-on`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use healthcheck::report::diff::{CHANGE_COLUMNS, PLAIN_CHANGE_COLUMNS};

use crate::support::{answer, as_json_lines, healthcheck, refused_port, Raw, Then};

/// A diff's row: change, old and new status, exception and final URL, by URL.
type Rows = BTreeMap<String, [String; 7]>;

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn diff(args: &[&str]) -> Out {
    let out = healthcheck().arg("diff").args(args).output().unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn rows(csv_text: &str) -> Rows {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        headers[..PLAIN_CHANGE_COLUMNS],
        CHANGE_COLUMNS[..PLAIN_CHANGE_COLUMNS]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), std::array::from_fn(|i| r[i + 1].to_string()))
        })
        .collect()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A server whose answers change once `later` is set: the night between two runs.
fn flipping_server(later: Arc<AtomicBool>) -> Raw {
    Raw::start(move |head| {
        let path = head.split_whitespace().nth(1).unwrap_or("");
        let later = later.load(Ordering::SeqCst);
        let status = match path {
            "/breaks" if later => 503,
            "/recovers" if !later => 500,
            "/status" => [404, 410][usize::from(later)],
            "/moves" => {
                let location = ["/a", "/b"][usize::from(later)];
                return (answer(301, &[("location", location)]), Then::Close);
            }
            "/dies" if later => return (Vec::new(), Then::Reset),
            "/dies" => 404,
            _ => 200,
        };
        (answer(status, &[]), Then::Close)
    })
}

#[test]
fn two_checks_of_a_server_that_changed_overnight_show_each_change_where_it_happened() {
    let later = Arc::new(AtomicBool::new(false));
    let server = flipping_server(later.clone());
    let dir = tempfile::tempdir().unwrap();
    let flaky = "http://flaky.test/";
    let urls = |paths: &[&str]| -> String {
        let mut text: String = paths.iter().map(|p| server.url(p) + "\n").collect();
        text.push_str(flaky);
        text
    };
    let both = ["/same", "/breaks", "/recovers", "/status", "/moves", "/dies"];
    let day1 = write(&dir, "day1.txt", &urls(&[&both[..], &["/gone"]].concat()));
    let day2 = write(&dir, "day2.txt", &urls(&[&["/new"], &both[..]].concat()));
    let (old, new) = (dir.path().join("day1.csv"), dir.path().join("day2.jsonl"));
    // Yesterday flaky.test answered; today nothing listens where it resolves.
    let check = |input: &Path, output: &Path, flaky_at: String, format: &str| {
        healthcheck()
            .args([
                "-q",
                "--format",
                format,
                "--resolve",
                &format!("flaky.test:80:{flaky_at}"),
            ])
            .arg("-i")
            .arg(input)
            .arg("-o")
            .arg(output)
            .assert()
            .success();
    };
    check(&day1, &old, server.addr().to_string(), "csv");
    later.store(true, Ordering::SeqCst);
    check(&day2, &new, format!("127.0.0.1:{}", refused_port()), "jsonl");

    let out = diff(&[s(&old), s(&new)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let url = |p: &str| server.url(p);
    let row = |change: &str, old: [&str; 3], new: [&str; 3]| {
        [change, old[0], new[0], old[1], new[1], old[2], new[2]].map(String::from)
    };
    let expected: Rows = [
        (
            url("/breaks"),
            row(
                "broke",
                ["200", "", &url("/breaks")],
                ["503", "", &url("/breaks")],
            ),
        ),
        (
            flaky.into(),
            row("broke", ["200", "", flaky], ["", "connect", flaky]),
        ),
        (
            url("/recovers"),
            row(
                "recovered",
                ["500", "", &url("/recovers")],
                ["200", "", &url("/recovers")],
            ),
        ),
        (
            url("/status"),
            row(
                "status",
                ["404", "", &url("/status")],
                ["410", "", &url("/status")],
            ),
        ),
        (
            url("/dies"),
            row("status", ["404", "", &url("/dies")], ["", "reset", &url("/dies")]),
        ),
        (
            url("/moves"),
            row("moved", ["200", "", &url("/a")], ["200", "", &url("/b")]),
        ),
        (url("/new"), row("added", ["", "", ""], ["200", "", &url("/new")])),
        (
            url("/gone"),
            row("removed", ["200", "", &url("/gone")], ["", "", ""]),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(rows(&out.stdout), expected);
    assert!(
        out.stderr.contains("Compared 8 rows of ")
            && out.stderr.contains("with 8 rows of ")
            && out.stderr.contains(": 8 URLs changed, 1 unchanged\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("  broke: 2, recovered: 1, status: 2, moved: 1, cert: 0, added: 1, removed: 1\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("  broke on flaky.test: http://flaky.test/\n"),
        "{}",
        out.stderr
    );

    // The exit codes for cron: 1 when a change of a named kind exists, else 0.
    assert_eq!(diff(&["--fail-on", "broke", s(&old), s(&new)]).code, Some(1));
    assert_eq!(diff(&["--fail-on", "cert,moved", s(&old), s(&new)]).code, Some(1));
    assert_eq!(diff(&["--fail-on", "cert", s(&old), s(&new)]).code, Some(0));
    // The same run against itself: nothing changed, nothing printed but the header.
    let same = diff(&[
        "--fail-on",
        "broke,recovered,status,moved,cert,added,removed",
        s(&old),
        s(&old),
    ]);
    assert_eq!(
        (same.code, same.stdout.lines().count()),
        (Some(0), 1),
        "{}",
        same.stderr
    );
}

#[test]
fn a_page_that_lost_its_content_broke_with_the_same_status() {
    let later = Arc::new(AtomicBool::new(false));
    let flag = later.clone();
    let server = Raw::start(move |_| {
        let body = match flag.load(Ordering::SeqCst) {
            true => "Down for maintenance",
            false => "Welcome",
        };
        let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        (answer.into_bytes(), Then::Close)
    });
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/page");
    let input = write(&dir, "urls.txt", &format!("{url}\n"));
    let (old, new) = (dir.path().join("old.csv"), dir.path().join("new.csv"));
    let check = |output: &Path| {
        healthcheck()
            .args(["-q", "--expect-body", "Welcome", "-i", s(&input), "-o", s(output)])
            .assert()
            .success();
    };
    check(&old);
    later.store(true, Ordering::SeqCst);
    check(&new);
    let row =
        |change: &str, old: &str, new: &str| [change, "200", "200", old, new, &url, &url].map(String::from);
    let out = diff(&["--fail-on", "broke", s(&old), s(&new)]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(
        rows(&out.stdout),
        [(url.clone(), row("broke", "", "content"))].into()
    );
    let back = diff(&[s(&new), s(&old)]);
    assert_eq!(
        rows(&back.stdout),
        [(url.clone(), row("recovered", "content", ""))].into()
    );
}

/// Six URLs with `--details` columns, yesterday.
const OLD: &str = "\
url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms,ip,http_version,cert_not_after,cert_days_left,cert_issuer
https://a.com,200,true,,,https://a.com/,0,HEAD,12,::1,HTTP/1.1,2027-01-20T00:00:00Z,20,R1
https://b.com,200,true,,,https://b.com/,0,HEAD,12,::1,HTTP/1.1,2027-03-01T00:00:00Z,60,R1
https://c.com,200,true,,,https://c.com/,0,HEAD,12,::1,HTTP/1.1,2027-03-01T00:00:00Z,60,R1
https://d.com,204,true,,,https://d.com/,0,HEAD,12,::1,HTTP/1.1,2027-03-01T00:00:00Z,60,R1
https://e.com,,false,timeout,\"deadline, 5 s\",,0,HEAD,5000,,,,,
http://f.com,200,true,,,http://f.com/,0,HEAD,3,::1,HTTP/1.1,,,
";

/// Today, in another order, with the `--timings` columns after the others: a.com's
/// certificate crossed 14 days, b.com's changed issuer, c.com aged without crossing, d.com
/// answered 200 where it answered 204, e.com fails as it did.
const NEW: &str = "\
url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms,ip,http_version,cert_not_after,cert_days_left,cert_issuer,dns_ms,connect_ms,tls_ms,ttfb_ms,new_connections
http://f.com,200,true,,,http://f.com/,0,HEAD,3,::1,HTTP/1.1,,,,1,1,,2,1
https://e.com,,false,timeout,deadline,,0,HEAD,5000,,,,,,1,,,,1
https://d.com,200,true,,,https://d.com/,0,HEAD,12,::1,HTTP/1.1,2027-03-01T00:00:00Z,60,R1,1,1,3,4,1
https://c.com,200,true,,,https://c.com/,0,HEAD,12,::1,HTTP/1.1,2027-02-01T00:00:00Z,30,R1,1,1,3,4,1
https://b.com,200,true,,,https://b.com/,0,HEAD,12,::1,HTTP/1.1,2027-03-01T00:00:00Z,60,E5,1,1,3,4,1
https://a.com,200,true,,,https://a.com/,0,HEAD,12,::1,HTTP/1.1,2027-01-13T00:00:00Z,13,R1,1,1,3,4,1
";

#[test]
fn certificates_and_wider_success_in_either_format_and_any_row_order() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(&dir, "old.csv", OLD);
    let new = write(&dir, "new.csv", NEW);
    let out = diff(&[s(&old), s(&new)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "url,change,old_status,new_status,old_exception,new_exception,old_final_url,new_final_url,\
         old_cert_days_left,new_cert_days_left,old_cert_issuer,new_cert_issuer\n\
         https://d.com,status,204,200,,,https://d.com/,https://d.com/,60,60,R1,R1\n\
         https://a.com,cert,200,200,,,https://a.com/,https://a.com/,20,13,R1,R1\n\
         https://b.com,cert,200,200,,,https://b.com/,https://b.com/,60,60,R1,E5\n"
    );
    // The order of the rows and the format of either file change nothing.
    let mut reversed: Vec<&str> = OLD.lines().collect();
    reversed[1..].reverse();
    let reversed = write(&dir, "reversed.csv", &(reversed.join("\n") + "\n"));
    let old_jsonl = write(&dir, "old.jsonl", &as_json_lines(OLD));
    let new_jsonl = write(&dir, "new.jsonl", &as_json_lines(NEW));
    for (a, b) in [
        (&reversed, &new),
        (&old_jsonl, &new),
        (&old, &new_jsonl),
        (&old_jsonl, &new_jsonl),
    ] {
        assert_eq!(diff(&[s(a), s(b)]).stdout, out.stdout, "{a:?} {b:?}");
    }
    // A line at 45 days: c.com's 60 -> 30 crosses it, a.com's 20 -> 13 no longer does. A file
    // without the detail columns has no certificate columns to compare or print.
    let wide = diff(&["--cert-days", "45", "--changes", "cert", s(&old), s(&new)]);
    assert_eq!(
        rows(&wide.stdout).keys().collect::<Vec<_>>(),
        ["https://b.com", "https://c.com"]
    );
    let plain: String = NEW
        .lines()
        .map(|l| l.split(',').take(9).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    let plain = write(&dir, "plain.csv", &plain);
    let out = diff(&[s(&old), s(&plain)]);
    assert_eq!(
        out.stdout,
        "url,change,old_status,new_status,old_exception,new_exception,old_final_url,new_final_url\n\
         https://d.com,status,204,200,,,https://d.com/,https://d.com/\n"
    );
    // Under the file's own `success`, 204 -> 200 is a new status; once 204 fails, it recovered.
    let strict = diff(&["--success", "200", s(&old), s(&plain)]);
    assert_eq!(rows(&strict.stdout)["https://d.com"][0], "recovered");
}

#[test]
fn changes_filters_the_rows_and_output_and_jsonl_write_them_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(&dir, "old.csv", OLD);
    let new = write(&dir, "new.csv", NEW);
    let file = dir.path().join("changes.jsonl");
    let summary = dir.path().join("summary.json");
    let out = diff(&[
        "--changes",
        "status,moved",
        "--format",
        "jsonl",
        "-o",
        s(&file),
        "--summary-json",
        s(&summary),
        s(&old),
        s(&new),
    ]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), ""), "{}", out.stderr);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0],
        serde_json::json!({
            "url": "https://d.com", "change": "status", "old_status": 204, "new_status": 200,
            "old_exception": null, "new_exception": null,
            "old_final_url": "https://d.com/", "new_final_url": "https://d.com/",
            "old_cert_days_left": 60, "new_cert_days_left": 60,
            "old_cert_issuer": "R1", "new_cert_issuer": "R1",
        })
    );
    // The summary counts every change, whatever --changes prints.
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(json["changed"], 3);
    assert_eq!(json["unchanged"], 3);
    assert_eq!(json["by_change"]["cert"], 2);
    assert_eq!(json["by_change"]["broke"], 0);
    assert_eq!(json["old"]["rows"], 6);
    assert_eq!(json["new"]["path"], s(&new));
    // Quiet: no summary on stderr.
    let quiet = diff(&["-q", s(&old), s(&new)]);
    assert_eq!((quiet.code, quiet.stderr.as_str()), (Some(0), ""));
    // NEW from stdin.
    let piped = healthcheck()
        .args(["diff", s(&old), "-"])
        .write_stdin(NEW)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(piped.stdout).unwrap(),
        diff(&[s(&old), s(&new)]).stdout
    );
}

#[test]
fn a_foreign_file_exits_2_naming_its_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(&dir, "old.csv", OLD);
    let output = write(&dir, "out.csv", "precious\n");
    let summary = dir.path().join("summary.json");
    let foreign = write(&dir, "people.csv", "name,age\nada,36\n");
    let broken = write(
        &dir,
        "broken.csv",
        &format!("{OLD}https://g.com,abc,false,,,,0,HEAD,1,,,,,\n"),
    );
    for (file, message) in [
        (&foreign, format!("{}: line 1: missing column `url`", s(&foreign))),
        (
            &broken,
            format!("{}: line 8, column `status_code`: invalid digit", s(&broken)),
        ),
    ] {
        for args in [[s(file), s(&old)], [s(&old), s(file)]] {
            let out = diff(&[
                "-o",
                s(&output),
                "--summary-json",
                s(&summary),
                "--fail-on",
                "broke",
                args[0],
                args[1],
            ]);
            assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
            assert!(
                out.stderr.starts_with(&format!("healthcheck: {message}")),
                "{}",
                out.stderr
            );
            assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
            assert_eq!(std::fs::read_to_string(&output).unwrap(), "precious\n");
            assert!(!summary.exists());
        }
    }
    // An output that is an input is refused before anything is read.
    let out = diff(&["-o", s(&old), s(&old), s(&output)]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("--output: ") && out.stderr.contains("same file as OLD"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(&old).unwrap(), OLD);
    let out = diff(&["-", "-"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}

#[test]
fn a_url_twice_in_a_file_is_reported_and_its_first_row_compared() {
    let dir = tempfile::tempdir().unwrap();
    let header = "url,status_code,success,exception\n";
    let old = write(
        &dir,
        "old.csv",
        &format!("{header}https://a.com,200,true,\nhttps://b.com,200,true,\n"),
    );
    // Two shards that overlapped on a.com, the later one seeing it fail.
    let new = write(
        &dir,
        "merged.csv",
        &format!("{header}https://a.com,200,true,\nhttps://b.com,200,true,\nhttps://a.com,,false,timeout\n"),
    );
    let out = diff(&["--fail-on", "broke", s(&old), s(&new)]);
    assert_eq!(
        out.code,
        Some(0),
        "the first row of a.com is compared: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "{}: 1 rows repeat the URL of an earlier row (an overlap of merged shards?); the first row of each URL is compared: https://a.com",
            s(&new)
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn report_since_adds_a_changes_section() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(&dir, "old.csv", OLD);
    let new = write(&dir, "new.csv", NEW);
    let out = healthcheck()
        .args(["report", "--since", s(&old), s(&new)])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("URLs: 6  successful: 5"), "{stdout}");
    let section = stdout
        .split("\n\n")
        .find(|s| s.starts_with("Changes since "))
        .unwrap_or_else(|| panic!("no Changes section in\n{stdout}"));
    let words: Vec<Vec<&str>> = section
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter(|w| !w.contains(['█', '▏', '▎', '▍', '▌', '▋', '▊', '▉']))
                .collect()
        })
        .collect();
    assert_eq!(
        words[0].join(" "),
        format!("Changes since {}: 3 URLs changed, 3 unchanged", s(&old))
    );
    assert_eq!(
        words[1..8].iter().map(|w| w.join(" ")).collect::<Vec<_>>(),
        [
            "broke 0",
            "recovered 0",
            "status 1",
            "moved 0",
            "cert 2",
            "added 0",
            "removed 0"
        ]
    );
    assert_eq!(
        words[9..].iter().map(|w| w.join(" ")).collect::<Vec<_>>(),
        [
            "status https://d.com 204 -> 200",
            "cert https://a.com 20 -> 13 days left",
            "cert https://b.com 60 -> 60 days left, issuer R1 -> E5"
        ]
    );
    // Piped in, and as JSON.
    let out = healthcheck()
        .args(["report", "--format", "json", "--since", s(&old)])
        .write_stdin(NEW)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["total"], 6);
    assert_eq!(json["changes"]["by_change"]["cert"], 2);
    assert_eq!(json["changes"]["first"][0]["url"], "https://d.com");
    assert_eq!(json["changes"]["first"][1]["new_cert_days_left"], 13);
}
