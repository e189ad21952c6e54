//! `--details` (issue 13): the extra columns over plain HTTP and TLS, expired and soon-to-expire
//! certificates from the simulated internet, the report's certificate section, the exit code of
//! `--fail-on-cert-expiring`, and `--resume` keeping a file's columns as they are.

use healthcheck::record::HttpVersion;
use healthcheck::sim::{Category, Profile, SimOptions, Site, ISSUERS};

use crate::support::{healthcheck, ok_rows, ok_stdout, write_lines, Sim};

/// The first three-letter .com name whose site passes `want`, under the options of
/// `Sim::start(profile, 0.0)`.
fn name_where(profile: Profile, want: impl Fn(&Site) -> bool) -> (String, Site) {
    let opts = SimOptions {
        seed: 0,
        profile,
        latency_scale: 0.0,
        host_limit: None,
    };
    let letters = || b'a'..=b'z';
    letters()
        .flat_map(|a| letters().flat_map(move |b| letters().map(move |c| [a, b, c])))
        .map(|l| format!("{}.com", String::from_utf8_lossy(&l)))
        .map(|name| {
            let site = Site::of(&name, &opts);
            (name, site)
        })
        .find(|(_, site)| want(site))
        .expect("some three-letter name has such a site")
}

/// A check of `urls` against `sim` over HTTPS (its CAs trusted), with `args` added.
fn check_tls(sim: &Sim, dir: &tempfile::TempDir, urls: &[String], args: &[&str]) -> assert_cmd::Command {
    let input = write_lines(dir, "urls.txt", urls);
    let mut cmd = healthcheck();
    cmd.args([
        "-q",
        "--timeout",
        "5",
        "--resolve",
        &sim.resolve_all(),
        "--ca-cert",
    ])
    .arg(sim.ca_file())
    .arg("-i")
    .arg(input)
    .args(args);
    cmd
}

#[test]
fn plain_http_rows_have_the_address_and_protocol_and_no_certificate() {
    let sim = Sim::all_ok();
    let url = sim.url("/_/status/200");
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(&dir, "urls.txt", &[url]);
    let rows = ok_rows(healthcheck().args(["-q", "--details", "-i"]).arg(&input));
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.status_code, Some(200));
    assert_eq!(row.ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(row.http_version, Some(HttpVersion::Http11));
    assert_eq!(
        (&row.cert_not_after, row.cert_days_left, &row.cert_issuer),
        (&None, None, &None)
    );
    let json = ok_stdout(
        healthcheck()
            .args(["-q", "--details", "--format", "jsonl", "-i"])
            .arg(&input),
    );
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["ip"], "127.0.0.1");
    assert_eq!(json["http_version"], "HTTP/1.1");
    assert_eq!(json["cert_days_left"], serde_json::Value::Null);
    let plain = ok_stdout(healthcheck().args(["-q", "-i"]).arg(&input));
    let header = String::from_utf8(plain).unwrap();
    assert_eq!(
        header.lines().next().map(|h| h.split(',').count()),
        Some(9),
        "off by default"
    );
}

#[test]
fn a_tls_row_has_the_certificate_of_the_listed_host() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::of("localhost", &SimOptions::default());
    let rows = ok_rows(&mut check_tls(
        &sim,
        &dir,
        &["https://localhost/_/redirect/2".to_string()],
        &["--details"],
    ));
    let row = &rows[0];
    assert_eq!((row.status_code, row.redirects), (Some(200), Some(2)));
    assert_eq!(row.ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(row.cert_days_left, Some(site.cert_days));
    assert_eq!(row.cert_issuer.as_deref(), Some(ISSUERS[site.issuer]));
    let not_after = row.cert_not_after.as_deref().expect("a date");
    assert!(
        not_after.len() == 20 && not_after.ends_with('Z') && not_after.as_bytes()[10] == b'T',
        "RFC 3339: {not_after}"
    );
}

#[test]
fn an_expired_certificate_fails_as_tls_and_says_when_and_a_soon_one_fails_the_run() {
    let sim = Sim::start(Profile::Seed, 0.0);
    let dir = tempfile::tempdir().unwrap();
    let (expired, expired_site) = name_where(Profile::Seed, |s| s.category == Category::CertExpired);
    let (soon, soon_site) = name_where(Profile::Seed, |s| {
        s.category == Category::Ok && (1..7).contains(&s.cert_days)
    });
    let urls = [
        format!("https://{expired}/"),
        format!("https://{soon}/_/status/200"),
    ];
    let out = check_tls(&sim, &dir, &urls, &["--fail-on-cert-expiring", "7"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = crate::support::rows(&out.stdout);
    let by_url = |u: &str| rows.iter().find(|r| r.url == u).expect("a row per URL");
    let row = by_url(&urls[0]);
    assert_eq!(row.exception, Some(healthcheck::record::ErrorKind::Tls));
    let detail = row.error_detail.as_deref().unwrap_or_default();
    assert!(detail.starts_with("certificate expired on 20"), "{detail}");
    assert_eq!(row.cert_days_left, Some(expired_site.cert_days));
    assert!(expired_site.cert_days < 0);
    assert_eq!(
        row.cert_issuer, None,
        "a refused certificate is known by its date only"
    );
    let row = by_url(&urls[1]);
    assert_eq!(
        (row.status_code, row.cert_days_left),
        (Some(200), Some(soon_site.cert_days))
    );

    // The soon one alone: DAYS is a strict bound on whole days left.
    let days = soon_site.cert_days.to_string();
    let over = (soon_site.cert_days + 1).to_string();
    let exit = |limit: &str| {
        check_tls(&sim, &dir, &urls[1..], &["--fail-on-cert-expiring", limit])
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(exit(&days), Some(0), "{days} days left is not fewer than {days}");
    assert_eq!(exit(&over), Some(1));
    let plain = check_tls(&sim, &dir, &urls[1..], &[]).output().unwrap();
    assert_eq!(plain.status.code(), Some(0), "off by default");
}

#[test]
fn with_insecure_an_expired_certificate_answers_and_is_read_whole() {
    let sim = Sim::start(Profile::Seed, 0.0);
    let dir = tempfile::tempdir().unwrap();
    let (expired, site) = name_where(Profile::Seed, |s| s.category == Category::CertExpired);
    let urls = [format!("https://{expired}/_/status/200")];
    let rows = ok_rows(&mut check_tls(&sim, &dir, &urls, &["--details", "-k"]));
    assert_eq!(rows[0].status_code, Some(200));
    assert_eq!(rows[0].cert_days_left, Some(site.cert_days));
    assert_eq!(rows[0].cert_issuer.as_deref(), Some(ISSUERS[site.issuer]));
}

#[test]
fn the_fail_on_cert_expiring_flag_is_checked() {
    for bad in ["-1", "soon", "4000"] {
        let out = healthcheck()
            .args(["--fail-on-cert-expiring", bad, "-i", "/nonexistent"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--fail-on-cert-expiring"), "{stderr}");
    }
}

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
        "url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms\n\
         http://127.0.0.1:9/y,200,true,,,http://127.0.0.1:9/y,0,HEAD,3\n",
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
