//! `healthcheck demo`: the main job, end to end, with no set-up and no network.

use crate::support::{healthcheck, rows};

#[test]
fn demo_of_the_two_letter_names_writes_676_rows_that_all_agree_with_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("output.csv");
    let charts = dir.path().join("charts");
    let run = healthcheck()
        .args([
            "demo",
            "--length",
            "2",
            "-c",
            "50",
            "--timeout",
            "2",
            "--latency-scale",
            "0",
            "-o",
        ])
        .arg(&out)
        .arg("--svg")
        .arg(&charts)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let rows = rows(&std::fs::read(&out).unwrap());
    assert_eq!(rows.len(), 676);
    assert!(rows
        .iter()
        .all(|r| r.url.starts_with("https://") && r.url.ends_with(".com")));
    assert!(stderr.contains("Checked 676 URLs"), "{stderr}");
    assert!(stderr.contains("Truth: 676 of 676 rows agree"), "{stderr}");
    // The report follows on stdout, and its charts are written.
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("URLs: 676"), "{stdout}");
    assert!(charts.join("status-codes.svg").exists());
}
