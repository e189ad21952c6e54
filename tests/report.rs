//! `report` and `sweep` over the real binary (issue 5): the counts of a file with known content,
//! the JSON for scripts, both input formats and stdin, the chart files, one-line errors for
//! foreign input, and a sweep against a server with a fixed delay.

use std::path::Path;

use crate::support::{as_json_lines, healthcheck, ok_stdout, write_lines, Sim};

/// Ten rows whose aggregates are worked out by hand in the tests below.
const ROWS: &str = "\
url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms
https://a.com,200,true,,,https://a.com/,0,HEAD,100
https://b.com,200,true,,,https://b.com/,1,HEAD,200
https://c.com,200,true,,,https://c.com/,0,HEAD,300
https://d.com,404,false,,,https://d.com/,0,HEAD,40
https://e.com,404,false,,,https://e.com/,0,GET,60
https://f.com,503,false,,,https://f.com/,0,HEAD,80
https://g.com,301,false,,,https://g.com/x,10,HEAD,500
https://h.com,,false,timeout,deadline has elapsed,,0,HEAD,5000
https://i.com,,false,timeout,deadline has elapsed,,0,HEAD,5001
https://j.com,,false,tls,invalid peer certificate: UnknownIssuer,,0,HEAD,20
";

fn rows_file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The lines of a section of the text report, each reduced to its words (the bars are
/// unit-tested; here the labels and counts matter).
fn section(stdout: &str, title: &str) -> Vec<Vec<String>> {
    stdout
        .split("\n\n")
        .find(|s| s.lines().next() == Some(title))
        .unwrap_or_else(|| panic!("no section {title:?} in\n{stdout}"))
        .lines()
        .skip(1)
        .map(|line| {
            line.split_whitespace()
                .filter(|w| !w.chars().all(|c| ('\u{2588}'..='\u{258F}').contains(&c)))
                .map(String::from)
                .collect()
        })
        .collect()
}

fn words(lines: &[&str]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

fn expected_json() -> serde_json::Value {
    serde_json::json!({
        "total": 10, "successful": 3, "failed": 7, "share_successful": 0.3,
        "by_status": {"200": 3, "301": 1, "404": 2, "503": 1},
        "error_statuses": {"404": 2, "503": 1},
        "by_exception": {"timeout": 2, "tls": 1},
        "latency_ms": {
            "answered": {"count": 7, "p50": 100, "p90": 500, "p99": 500, "max": 500},
            "by_outcome": {
                "successful": {"count": 3, "p50": 200, "p90": 300, "p99": 300, "max": 300},
                "unsuccessful_status": {"count": 4, "p50": 60, "p90": 500, "p99": 500, "max": 500},
                "timeout": {"count": 2, "p50": 5000, "p90": 5001, "p99": 5001, "max": 5001},
                "tls": {"count": 1, "p50": 20, "p90": 20, "p99": 20, "max": 20},
            },
        },
    })
}

fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    String::from_utf8(ok_stdout(cmd)).unwrap()
}

#[test]
fn report_prints_the_counts_of_a_known_csv() {
    let dir = tempfile::tempdir().unwrap();
    let file = rows_file(&dir, "output.csv", ROWS);
    let stdout = stdout_of(healthcheck().arg("report").arg(&file));
    assert!(
        stdout.starts_with("URLs: 10  successful: 3 (30.0%)  failed: 7\n"),
        "{stdout}"
    );
    assert_eq!(
        section(&stdout, "Status codes"),
        words(&["200 3", "404 2", "301 1", "503 1"])
    );
    assert_eq!(
        section(&stdout, "4xx/5xx status codes"),
        words(&["404 2", "503 1"])
    );
    assert_eq!(section(&stdout, "Exceptions"), words(&["timeout 2", "tls 1"]));
    assert_eq!(
        section(&stdout, "Latency (elapsed_ms), by outcome"),
        words(&[
            "count p50 p90 p99 max",
            "answered 7 100 500 500 500",
            "successful 3 200 300 300 300",
            "unsuccessful status 4 60 500 500 500",
            "timeout 2 5000 5001 5001 5001",
            "tls 1 20 20 20 20",
        ])
    );
}

#[test]
fn report_json_holds_the_exact_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let file = rows_file(&dir, "output.csv", ROWS);
    let stdout = stdout_of(healthcheck().args(["report", "--format", "json"]).arg(&file));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json, expected_json());
}

#[test]
fn report_reads_json_lines_from_a_file_and_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let lines = as_json_lines(ROWS);
    let file = rows_file(&dir, "output.jsonl", &lines);
    let from_file = stdout_of(healthcheck().args(["report", "--format", "json"]).arg(&file));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&from_file).unwrap(),
        expected_json()
    );
    let from_stdin = stdout_of(
        healthcheck()
            .args(["report", "--format", "json"])
            .write_stdin(lines),
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&from_stdin).unwrap(),
        expected_json()
    );
}

#[test]
fn report_reads_a_csv_from_stdin_as_a_pipe_would_give_it() {
    let stdout = stdout_of(healthcheck().args(["report", "-"]).write_stdin(ROWS));
    assert!(
        stdout.starts_with("URLs: 10  successful: 3 (30.0%)  failed: 7\n"),
        "{stdout}"
    );
}

fn has_text(svg: &str, text: &str) -> bool {
    svg.contains(&format!(">\n{text}\n</text>"))
}

#[test]
fn report_writes_titled_svg_charts_with_the_codes_and_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let file = rows_file(&dir, "output.csv", ROWS);
    let charts = dir.path().join("charts");
    healthcheck()
        .arg("report")
        .arg(&file)
        .arg("--svg")
        .arg(&charts)
        .assert()
        .success();
    let read = |name: &str| {
        let svg = std::fs::read_to_string(charts.join(name)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{name}: {svg}");
        svg
    };
    let status = read("status-codes.svg");
    for label in [
        "Status codes of 10 URLs",
        "HTTP status code",
        "URLs",
        "200",
        "301",
        "404",
        "503",
    ] {
        assert!(has_text(&status, label), "{label} in status-codes.svg");
    }
    let errors = read("error-status-codes.svg");
    assert!(has_text(&errors, "4xx/5xx status codes") && has_text(&errors, "503"));
    assert!(!has_text(&errors, "200") && !has_text(&errors, "301"));
    let exceptions = read("exceptions.svg");
    for label in [
        "Exception kinds (no HTTP answer, or content: a broken expectation)",
        "exception",
        "timeout",
        "tls",
    ] {
        assert!(has_text(&exceptions, label), "{label} in exceptions.svg");
    }
    let latency = read("latency.svg");
    for label in ["Latency of answered URLs", "URLs", "p50 = 100 ms", "p99 = 500 ms"] {
        assert!(has_text(&latency, label), "{label} in latency.svg");
    }
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
}

#[test]
fn report_writes_png_charts() {
    let dir = tempfile::tempdir().unwrap();
    let file = rows_file(&dir, "output.csv", ROWS);
    let charts = dir.path().join("png");
    healthcheck()
        .arg("report")
        .arg(&file)
        .arg("--png")
        .arg(&charts)
        .assert()
        .success();
    for name in ["status-codes", "error-status-codes", "exceptions", "latency"] {
        assert_png(&charts.join(format!("{name}.png")));
    }
}

/// Exit 2 with exactly one line on stderr, which is returned.
fn one_line_error(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn report_names_the_missing_column_of_a_foreign_csv() {
    let dir = tempfile::tempdir().unwrap();
    let file = rows_file(
        &dir,
        "foreign.csv",
        "url,success,exception\nhttps://a.com,True,\n",
    );
    let stderr = one_line_error(healthcheck().arg("report").arg(&file));
    assert!(
        stderr.contains("foreign.csv: line 1: missing column `status_code`"),
        "{stderr}"
    );
}

#[test]
fn report_names_the_line_and_column_of_a_malformed_row() {
    let dir = tempfile::tempdir().unwrap();
    let text = ROWS.replace("https://c.com,200,", "https://c.com,OK,");
    let file = rows_file(&dir, "bad.csv", &text);
    let stderr = one_line_error(healthcheck().arg("report").arg(&file));
    assert!(
        stderr.contains("bad.csv: line 4, column `status_code`: invalid digit"),
        "{stderr}"
    );
    let short = rows_file(&dir, "short.csv", &format!("{ROWS}https://k.com,200\n"));
    let stderr = one_line_error(healthcheck().arg("report").arg(&short));
    assert!(
        stderr.contains("short.csv: line 12: 2 fields where the header has 9"),
        "{stderr}"
    );
}

#[test]
fn report_of_a_missing_file_is_a_usage_error() {
    let stderr = one_line_error(healthcheck().args(["report", "/no/such/rows.csv"]));
    assert!(stderr.contains("/no/such/rows.csv"), "{stderr}");
}

#[test]
fn sweep_is_faster_at_twenty_checks_in_flight_than_at_one() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    // 40 answers of 200 ms each: about 8 s one at a time, about 0.4 s twenty at a time.
    let lines: Vec<String> = (0..40).map(|i| sim.url(&format!("/_/slow/200?i={i}"))).collect();
    let targets = write_lines(&dir, "targets.txt", &lines);
    let out_dir = dir.path().join("sweep");
    let stdout = stdout_of(
        healthcheck()
            .args(["sweep", "--levels", "1,20", "-i"])
            .arg(&targets)
            .arg("--out")
            .arg(&out_dir),
    );
    // stdout is the table alone: a header and one line per level, no rows.
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.starts_with("level  wall time  URLs/s"), "{stdout}");
    assert!(!stdout.contains("http://"), "{stdout}");

    let mut reader = csv::Reader::from_path(out_dir.join("sweep.csv")).unwrap();
    let mut ttfb = Vec::new();
    let levels: Vec<(u64, f64, u64)> = reader
        .deserialize::<std::collections::HashMap<String, String>>()
        .map(|r| {
            let r = r.unwrap();
            ttfb.push(r["ttfb_ms"].parse::<f64>().unwrap());
            (
                r["level"].parse().unwrap(),
                r["wall_seconds"].parse().unwrap(),
                r["successful"].parse().unwrap(),
            )
        })
        .collect();
    // Every run measures its phases: the 200 ms are the server's, before the head.
    assert!(ttfb.iter().all(|ms| (200.0..=450.0).contains(ms)), "{ttfb:?}");
    assert_eq!(levels.len(), 2, "{levels:?}");
    let ((one, slow, ok_one), (twenty, fast, ok_twenty)) = (levels[0], levels[1]);
    assert_eq!((one, twenty, ok_one, ok_twenty), (1, 20, 40, 40));
    // One at a time cannot beat 40 x 200 ms; twenty at a time needs at least 2 x 200 ms.
    assert!(slow >= 7.9, "level 1 took {slow} s");
    assert!(
        fast >= 0.39 && fast < slow / 4.0,
        "level 20 took {fast} s, level 1 {slow} s"
    );

    for level in [1, 20] {
        let rows = std::fs::read_to_string(out_dir.join(format!("level-{level}.csv"))).unwrap();
        assert_eq!(rows.lines().count(), 41, "level {level}: header and 40 rows");
        assert!(
            rows.lines().next().unwrap().ends_with(",new_connections"),
            "level {level}"
        );
    }
    let svg = std::fs::read_to_string(out_dir.join("sweep.svg")).unwrap();
    assert!(has_text(&svg, "Wall time and throughput by concurrency") && has_text(&svg, "20"));
    assert_png(&out_dir.join("sweep.png"));
    let phases = std::fs::read_to_string(out_dir.join("sweep-phases.svg")).unwrap();
    assert!(has_text(&phases, "ttfb") && has_text(&phases, "concurrency (checks in flight)"));
    assert_png(&out_dir.join("sweep-phases.png"));
}

#[test]
fn sweep_rejects_a_bad_level_naming_the_flag() {
    let stderr = one_line_error(healthcheck().args(["sweep", "--levels", "10,zero", "--length", "1"]));
    assert!(stderr.contains("--levels"), "{stderr}");
}
