//! At the edges of input, output and the machine's limits (issue 11): nothing a user owns is
//! lost, and a run that cannot do what was asked says so.

use std::collections::HashSet;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use healthcheck::record::ErrorKind;

use crate::support::{healthcheck, rows, spawn_generated, write_lines, Sim};

const HEADER: &str = "url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms";

/// The binary under a lowered open-files limit (soft and hard, so it cannot raise it back).
fn with_open_files(limit: u32) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .arg(assert_cmd::cargo::cargo_bin("healthcheck"))
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(120));
    cmd
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Ten URLs of the simulated internet that answer 200 at once.
fn ten_targets(sim: &Sim, dir: &tempfile::TempDir) -> std::path::PathBuf {
    let lines: Vec<String> = (0..10)
        .map(|i| sim.url(&format!("/_/status/200?i={i}")))
        .collect();
    write_lines(dir, "targets.txt", &lines)
}

#[test]
fn an_input_that_is_a_directory_leaves_the_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("existing.csv");
    fs::write(&kept, "precious\n").unwrap();
    let out = healthcheck()
        .arg("-i")
        .arg(dir.path())
        .arg("-o")
        .arg(&kept)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("directory"), "{}", stderr_of(&out));
    assert_eq!(fs::read_to_string(&kept).unwrap(), "precious\n");

    let out = healthcheck().arg("-i").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no header before the input was validated");
}

#[test]
fn an_output_that_is_the_input_under_any_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let list = write_lines(&dir, "list.txt", &["a.com".to_string(), "b.com".to_string()]);
    let linked = dir.path().join("linked.txt");
    fs::hard_link(&list, &linked).unwrap();
    let other_path = dir.path().join(".").join("list.txt");
    for (flag, target) in [
        ("-o", &list),
        ("-o", &other_path),
        ("-o", &linked),
        ("--resume", &linked),
        ("--summary-json", &list),
    ] {
        let out = healthcheck()
            .arg("-i")
            .arg(&list)
            .arg(flag)
            .arg(target)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {}", target.display());
        assert!(stderr_of(&out).contains("same file"), "{}", stderr_of(&out));
        assert_eq!(fs::read_to_string(&list).unwrap(), "a.com\nb.com\n");
    }
}

#[test]
fn a_line_that_is_not_utf8_is_one_invalid_row_and_the_run_goes_on() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("latin1.txt");
    let mut bytes = format!("{}\n", sim.url("/_/status/200?a")).into_bytes();
    bytes.extend_from_slice(b"caf\xe9.com\n");
    bytes.extend_from_slice(format!("{}\n", sim.url("/_/status/200?b")).as_bytes());
    fs::write(&input, bytes).unwrap();
    let out_path = dir.path().join("out.csv");

    let check = |flag: &str| {
        let out = healthcheck()
            .arg("-i")
            .arg(&input)
            .arg(flag)
            .arg(&out_path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        rows(&fs::read(&out_path).unwrap())
    };
    let got = check("-o");
    assert_eq!(got.len(), 3);
    let bad = got
        .iter()
        .find(|r| r.exception == Some(ErrorKind::InvalidUrl))
        .expect("one invalid row");
    assert_eq!(bad.url, "caf\u{fffd}.com");
    assert!(
        bad.error_detail.as_deref().unwrap_or_default().contains("line 2"),
        "{bad:?}"
    );
    assert_eq!(got.iter().filter(|r| r.success).count(), 2);

    // --resume gets past the line too: it has its row, so nothing is checked twice.
    assert_eq!(check("--resume").len(), 3);
}

#[test]
fn resume_checks_local_and_cancelled_rows_again_and_keeps_one_row_per_url() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = ["ok", "local", "cancelled"]
        .iter()
        .map(|q| sim.url(&format!("/_/status/200?{q}")))
        .collect();
    let input = write_lines(&dir, "targets.txt", &urls);
    let out = dir.path().join("out.csv");
    fs::write(
        &out,
        format!(
            "{HEADER}\n{},200,true,,,{0},0,HEAD,1\n{},,false,local,Too many open files (os error 24),,0,HEAD,0\n\
             {},,false,cancelled,task panicked,,0,,0\n",
            urls[0], urls[1], urls[2]
        ),
    )
    .unwrap();
    let run = healthcheck()
        .arg("--resume")
        .arg(&out)
        .arg("-i")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr_of(&run));
    let all = rows(&fs::read(&out).unwrap());
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().all(|r| r.success), "{all:?}");
    let seen: HashSet<&str> = all.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        sim.stats().requests_total,
        2,
        "only the two rows about the run were checked again"
    );
}

#[test]
fn resume_refuses_a_file_this_tool_did_not_write_and_leaves_it_alone() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let input = ten_targets(&sim, &dir);
    for (name, text, format) in [
        ("people.csv", "url,name,age\nhttps://a.com,Ann,31\n", "csv"),
        (
            "notes.jsonl",
            "{\"url\":\"https://a.com\",\"note\":\"mine\"}\n",
            "jsonl",
        ),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        let out = healthcheck()
            .args(["--format", format, "--resume"])
            .arg(&path)
            .arg("-i")
            .arg(&input)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = stderr_of(&out);
        assert!(
            stderr.contains("line 1") && stderr.contains("this tool wrote"),
            "{stderr}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "{name} was changed");
    }
}

#[test]
fn under_a_low_open_files_limit_the_concurrency_that_ran_is_reported() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let input = ten_targets(&sim, &dir);
    let summary = dir.path().join("summary.json");
    let out = with_open_files(256)
        .args(["-c", "5000", "-i"])
        .arg(&input)
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&summary).unwrap()).unwrap();
    let ran = json["concurrency"].as_u64().unwrap();
    assert!(
        (50..256).contains(&ran),
        "a probe holds about one descriptor, not {}",
        256 / ran.max(1)
    );
    assert_eq!(json["requested_concurrency"], 5000);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(&format!("concurrency {ran} of 5000 asked")),
        "{stderr}"
    );

    // A sweep labels the level with what ran, and keeps the one asked.
    let sweep_dir = dir.path().join("sweep");
    let out = with_open_files(256)
        .args(["sweep", "--levels", "5000", "-i"])
        .arg(&input)
        .arg("--out")
        .arg(&sweep_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&format!("{ran} (asked 5000)")), "{table}");
    let csv = fs::read_to_string(sweep_dir.join("sweep.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let line: Vec<&str> = lines.next().unwrap().split(',').collect();
    let field = |name| line[header.iter().position(|h| *h == name).expect(name)];
    assert_eq!(
        (field("level"), field("asked_level")),
        (ran.to_string().as_str(), "5000")
    );
}

#[test]
fn a_reader_gone_before_the_header_ends_the_run_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(assert_cmd::cargo::cargo_bin("healthcheck"))
        .args(["-i", "/dev/null"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn a_second_ctrl_c_ends_the_run_within_a_second_even_when_stdout_is_stalled() {
    let sim = Sim::all_ok();
    // 17,576 rows into a pipe nobody reads: the writer blocks, then the channel fills.
    let mut child = spawn_generated(&sim, Stdio::null());
    std::thread::sleep(Duration::from_secs(2));
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&child);
    let asked = Instant::now();
    let status = wait_or_kill(&mut child, Duration::from_secs(5));
    let took = asked.elapsed();
    let status = status.expect("the run hung after the second Ctrl-C");
    assert_eq!(status.code(), Some(130));
    // A second, plus room for a machine shared with other test runs.
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn a_third_ctrl_c_quits_even_a_run_stuck_opening_its_output() {
    // A FIFO with no reader: opening it for the rows blocks, before any check starts.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("rows");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("healthcheck"))
        .args(["--threads", "2", "-i", "/dev/null", "-o"])
        .arg(&fifo)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    for _ in 0..3 {
        interrupt(&child);
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = wait_or_kill(&mut child, Duration::from_secs(5));
    assert_eq!(status.expect("the third Ctrl-C was swallowed").code(), Some(130));
}

/// Ctrl-C, as a terminal sends it.
fn interrupt(child: &std::process::Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
}

/// Wait for `child` to exit, at most `limit`; past that, kill it and return `None`.
fn wait_or_kill(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    None
}

#[test]
fn logs_are_coloured_only_when_asked_or_on_a_terminal() {
    // Under a low limit a check warns that it lowered the concurrency: a log line on stderr.
    let warned = |color: &[&str]| {
        let out = with_open_files(256)
            .args(color)
            .args(["-c", "5000", "-i", "/dev/null"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        let stderr = stderr_of(&out);
        assert!(stderr.contains("does not fit the open-files limit"), "{stderr}");
        stderr.contains('\u{1b}')
    };
    assert!(!warned(&[]), "stderr is a pipe here, not a terminal");
    assert!(!warned(&["--color", "never"]));
    assert!(warned(&["--color", "always"]));
}

#[test]
fn negative_numbers_and_flags_a_command_does_not_take_get_clear_errors() {
    for (args, needles) in [
        (&["--concurrency", "-1"][..], &["--concurrency", "1..=100000"][..]),
        (&["--threads", "-2"][..], &["--threads", "1..=1024"][..]),
        (&["sweep", "--levels", "-5"][..], &["--levels", "1..=100000"][..]),
        (
            &["sweep", "--levels", "1", "-c", "5"][..],
            &["--concurrency", "--levels"][..],
        ),
        (&["sweep", "--levels", "1", "-o", "x.csv"][..], &["--output"][..]),
    ] {
        let out = healthcheck().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = stderr_of(&out);
        for needle in needles {
            assert!(stderr.contains(needle), "{args:?}: {stderr}");
        }
        assert!(!stderr.contains("unexpected argument '-"), "{args:?}: {stderr}");
    }
    let help = String::from_utf8(healthcheck().args(["sweep", "--help"]).output().unwrap().stdout).unwrap();
    assert!(help.contains("--levels") && help.contains("--timeout"), "{help}");
    for hidden in ["--concurrency", "--output", "--resume", "--summary-json"] {
        assert!(!help.contains(hidden), "sweep --help lists {hidden}");
    }
}

#[test]
fn a_runtime_that_cannot_start_is_an_internal_failure_not_a_usage_error() {
    // Four descriptors: enough to load the binary, too few for the runtime's poller and waker.
    let out = with_open_files(4).args(["-i", "/dev/null"]).output().unwrap();
    let stderr = stderr_of(&out);
    assert!(stderr.contains("cannot start the async runtime"), "{stderr}");
    assert_eq!(out.status.code(), Some(4), "{stderr}");
}
