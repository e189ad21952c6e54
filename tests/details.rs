//! `--details` (issue 13): the extra columns over plain HTTP and TLS, expired and soon-to-expire
//! certificates from the simulated internet, the report's certificate section, the exit code of
//! `--fail-on-cert-expiring`, and `--resume` keeping a file's columns as they are.

use crate::support::{healthcheck, ok_stdout, write_lines};

/// Rows of a `--details` run: three certificates (one expired), one plain-HTTP answer, one
/// failure before TLS.
const DETAILED: &str = "\
url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms,ip,http_version,cert_not_after,cert_days_left,cert_issuer
https://a.com,200,true,,,https://a.com/,0,HEAD,100,127.0.0.1,HTTP/1.1,2026-12-01T12:00:00Z,5,Sim Encrypt R3
https://b.com,200,true,,,https://b.com/,0,HEAD,100,127.0.0.1,HTTP/1.1,2027-06-01T12:00:00Z,187,Sim Trust DV CA
https://c.com,,false,tls,certificate expired on 2026-11-01T12:00:00Z (25 days ago),,0,HEAD,20,,,2026-11-01T12:00:00Z,-25,
http://d.com,200,true,,,http://d.com/,0,HEAD,100,127.0.0.1,HTTP/1.1,,,
https://e.com,,false,dns,no such host,,0,HEAD,3,,,,,
";

#[test]
fn the_report_of_a_details_file_has_a_certificate_section_a_chart_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.csv");
    std::fs::write(&file, DETAILED).unwrap();
    let charts = dir.path().join("charts");
    let text = ok_stdout(healthcheck().arg("report").arg(&file).arg("--svg").arg(&charts));
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("Certificates: 3 read, 1 expired; expiring within 7 days: 1, 30 days: 1, 90 days: 1\n"),
        "{text}"
    );
    let soonest: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "Soonest to expire")
        .skip(2)
        .take(3)
        .map(|l| l.split_whitespace().nth(2).unwrap_or(""))
        .collect();
    assert_eq!(soonest, ["c.com", "a.com", "b.com"], "{text}");
    assert!(
        text.contains("(unknown)"),
        "the expired one names no issuer: {text}"
    );
    let svg = std::fs::read_to_string(charts.join("cert-days-left.svg")).unwrap();
    assert!(svg.contains("Days left on 3 certificates"));

    let json = ok_stdout(healthcheck().arg("report").arg(&file).args(["--format", "json"]));
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let certs = &json["certificates"];
    assert_eq!(
        (certs["certificates"].as_u64(), certs["expired"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(certs["issuers"]["Sim Encrypt R3"], 1);
    assert_eq!(certs["soonest"][1]["not_after"], "2026-12-01T12:00:00Z");
}

#[test]
fn a_file_without_the_detail_columns_has_no_certificate_section() {
    let dir = tempfile::tempdir().unwrap();
    let nine: String = DETAILED
        .lines()
        .map(|l| l.split(',').take(9).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    let file = dir.path().join("rows.csv");
    std::fs::write(&file, nine).unwrap();
    let text = String::from_utf8(ok_stdout(healthcheck().arg("report").arg(&file))).unwrap();
    assert!(text.contains("URLs: 5"), "{text}");
    assert!(!text.contains("Certificates"), "{text}");
    let json = ok_stdout(healthcheck().arg("report").arg(&file).args(["--format", "json"]));
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert!(json.get("certificates").is_none(), "{json}");
}

#[test]
fn resume_keeps_the_columns_the_file_has() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(&dir, "in.txt", &["http://127.0.0.1:9/x".to_string()]);
    let nine = dir.path().join("nine.csv");
    std::fs::write(
        &nine,
        "url,status_code,success,exception\nhttp://127.0.0.1:9/y,200,true,\n",
    )
    .unwrap();
    let before = std::fs::read(&nine).unwrap();
    let out = healthcheck()
        .arg("--details")
        .arg("-i")
        .arg(&input)
        .arg("--resume")
        .arg(&nine)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--details: ") && stderr.contains("nine.csv has no --details columns"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&nine).unwrap(), before, "nothing written");
}
