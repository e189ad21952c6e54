//! Sharded runs as job engines run them (issue 23): one healthcheck at a time writes a file, a
//! killed one leaves no lock, `--shard auto` reads Slurm's and Kubernetes' variables, the summary
//! of a resumed run covers the whole file, a file cut at any byte resumes, and the recipes
//! (deploy/slurm-array.sh, deploy/indexed-job.yaml) work as written. scripts/slurm-e2e.sh runs
//! the Slurm recipe on a real Slurm.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use healthcheck::record::OwnedRow;

use crate::support::{healthcheck, ok_stdout, rows, write_lines, Sim, ENGINE_VARS, PROXY_VARS};

/// The binary as a child process (for runs a test stops or overlaps), with the same clean
/// environment as `healthcheck()`.
fn spawn(args: &[&str], stderr: Stdio) -> Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("healthcheck"));
    cmd.env_remove("RUST_LOG");
    for var in PROXY_VARS.iter().chain(&ENGINE_VARS) {
        cmd.env_remove(var);
    }
    cmd.args(args)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// N targets that each take `ms` to answer.
fn slow_targets(sim: &Sim, dir: &tempfile::TempDir, n: usize, ms: u64) -> PathBuf {
    let lines: Vec<String> = (0..n).map(|i| sim.url(&format!("/_/slow/{ms}?i={i}"))).collect();
    write_lines(dir, "targets.txt", &lines)
}

/// Lines in `path` (0 while it does not exist).
fn lines_in(path: &Path) -> usize {
    fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// Wait (at most 30 s) until `path` has more than `n` lines.
fn wait_for_lines(path: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines_in(path) <= n {
        assert!(
            Instant::now() < deadline,
            "{} never had {n} lines",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
}

/// The rows of a whole CSV file, each URL once (the test fails on a second row).
fn rows_once(path: &Path) -> BTreeMap<String, OwnedRow> {
    let mut by_url = BTreeMap::new();
    for row in rows(&fs::read(path).unwrap()) {
        let url = row.url.clone();
        assert!(by_url.insert(url.clone(), row).is_none(), "{url} has two rows");
    }
    by_url
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_second_run_on_a_locked_resume_file_waits_for_the_first_or_gives_up_with_exit_2() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let input = slow_targets(&sim, &dir, 100, 300);
    let out = dir.path().join("out.csv");
    // One host: its limit is the concurrency.
    let base = [
        "--host-concurrency",
        "50",
        "-i",
        path_str(&input),
        "--resume",
        path_str(&out),
    ];
    let slowly = [&["--host-concurrency", "5"], &base[2..]].concat();
    let mut first = spawn(&slowly, Stdio::null());
    wait_for_lines(&out, 1);

    // A run that waits as long as it takes, started while the first one writes.
    let waiting_log = dir.path().join("waiting.log");
    let summary = dir.path().join("summary.json");
    let args = [
        &base[..],
        &["--lock-wait", "60", "--summary-json", path_str(&summary)],
    ]
    .concat();
    let mut waiting = spawn(&args, Stdio::from(fs::File::create(&waiting_log).unwrap()));

    // One that waits half a second gives up, says who holds the file, and writes nothing.
    let started = Instant::now();
    let refused = healthcheck()
        .args(base)
        .args(["--lock-wait", "0.5"])
        .output()
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500), "it waited");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "out.csv is being written by another healthcheck (pid {})",
            first.id()
        )),
        "{stderr}"
    );

    // The first one stops as a cancelled job does, finishing its checks in flight, once the
    // other is waiting; that one then reads every row it wrote and checks the rest.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fs::read_to_string(&waiting_log)
        .unwrap()
        .contains("waiting for it to finish")
    {
        assert!(Instant::now() < deadline, "the third run never waited");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&first, nix::sys::signal::Signal::SIGINT);
    assert_eq!(first.wait().unwrap().code(), Some(130));
    let first_rows = lines_in(&out) - 1;
    assert!(first_rows < 100, "the first run was stopped early");
    assert_eq!(waiting.wait().unwrap().code(), Some(0));
    let log = fs::read_to_string(&waiting_log).unwrap();
    assert!(
        log.contains(&format!(
            "is being written by another healthcheck (pid {})",
            first.id()
        )),
        "{log}"
    );
    assert_eq!(rows_once(&out).len(), 100);
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&summary).unwrap()).unwrap();
    assert_eq!(
        (json["total"].as_u64(), json["earlier_rows"].as_u64()),
        (Some(100), Some(first_rows as u64))
    );
    assert_eq!(sim.stats().requests_total, 100, "no URL checked twice");
}

#[test]
fn a_killed_run_leaves_no_lock_and_the_next_run_goes_on_at_once() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let input = slow_targets(&sim, &dir, 60, 200);
    let out = dir.path().join("out.csv");
    let base = ["-c", "5", "-i", path_str(&input), "--resume", path_str(&out)];
    let mut killed = spawn(&base, Stdio::null());
    wait_for_lines(&out, 3);
    signal(&killed, nix::sys::signal::Signal::SIGKILL);
    killed.wait().unwrap();
    let next = healthcheck()
        .args(base)
        .args(["--lock-wait", "0", "--host-concurrency", "60"])
        .output()
        .unwrap();
    assert_eq!(
        next.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    assert_eq!(rows_once(&out).len(), 60);
}

#[test]
fn a_run_refused_after_it_locked_a_new_output_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new.csv");
    let missing = dir.path().join("no-such-list.txt");
    let run = healthcheck()
        .arg("-i")
        .arg(&missing)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!out.exists(), "the file created to be locked went again");
}

/// The URLs of `--shard auto` over the 16 names aa..dd, under `vars`, and its summary's shard.
fn auto_shard(sim: &Sim, vars: &[(&str, String)]) -> (Vec<String>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = healthcheck()
        .args(["--scheme", "http", "--length", "2", "--alphabet", "abcd", "-q"])
        .args([
            "--resolve",
            &sim.resolve_all(),
            "--shard",
            "auto",
            "--summary-json",
        ])
        .arg(&summary)
        .envs(vars.iter().map(|(k, v)| (*k, v)))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{vars:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&summary).unwrap()).unwrap();
    let mut urls: Vec<String> = rows(&out.stdout).into_iter().map(|r| r.url).collect();
    urls.sort();
    (urls, json["shard"].clone())
}

#[test]
fn shard_auto_takes_k_and_n_from_a_slurm_array_or_a_kubernetes_indexed_job() {
    let sim = Sim::all_ok();
    // --array=1-4: task IDs from 1.
    let mut slurm = Vec::new();
    for id in 1..=4 {
        let vars = [
            ("SLURM_JOB_ID", "70".to_string()),
            ("SLURM_ARRAY_TASK_ID", id.to_string()),
            ("SLURM_ARRAY_TASK_MIN", "1".into()),
            ("SLURM_ARRAY_TASK_MAX", "4".into()),
            ("SLURM_ARRAY_TASK_COUNT", "4".into()),
            ("SLURM_ARRAY_TASK_STEP", "1".into()),
        ];
        let (urls, shard) = auto_shard(&sim, &vars);
        assert_eq!(
            shard,
            serde_json::json!({"index": id - 1, "count": 4, "by": "position", "from": "slurm"})
        );
        slurm.push(urls);
    }
    let mut kubernetes = Vec::new();
    for index in 0..4 {
        let vars = [
            ("JOB_COMPLETION_INDEX", index.to_string()),
            ("HEALTHCHECK_SHARD_COUNT", "4".into()),
        ];
        let (urls, shard) = auto_shard(&sim, &vars);
        assert_eq!(shard["from"], "kubernetes");
        assert_eq!(
            (shard["index"].as_u64(), shard["count"].as_u64()),
            (Some(index), Some(4))
        );
        kubernetes.push(urls);
    }
    assert_eq!(slurm, kubernetes, "the same K/N, the same targets");
    let all: Vec<&String> = slurm.iter().flatten().collect();
    let unique: HashSet<&&String> = all.iter().collect();
    assert_eq!(
        (all.len(), unique.len()),
        (16, 16),
        "disjoint, and every target once"
    );
}

#[test]
fn shard_auto_with_no_shard_in_the_environment_is_exit_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    for (vars, says) in [
        (vec![], "no shard in the environment"),
        (vec![("SLURM_JOB_ID", "9")], "not a job array"),
        (
            vec![
                ("SLURM_ARRAY_TASK_ID", "5"),
                ("SLURM_ARRAY_TASK_MIN", "5"),
                ("SLURM_ARRAY_TASK_MAX", "5"),
                ("SLURM_ARRAY_TASK_COUNT", "1"),
            ],
            "give --shard-count N",
        ),
        (vec![("JOB_COMPLETION_INDEX", "3")], "HEALTHCHECK_SHARD_COUNT"),
    ] {
        let run = healthcheck()
            .args(["--length", "1", "--shard", "auto", "-o"])
            .arg(&out)
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{vars:?}: {stderr}");
        assert!(
            stderr.starts_with("healthcheck: --shard auto: ") && stderr.contains(says),
            "{stderr}"
        );
        assert!(!out.exists(), "{vars:?}: nothing written");
    }
}

#[test]
fn after_a_resume_the_summary_covers_the_whole_file_and_says_what_was_there_before() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..20)
        .map(|i| sim.url(&format!("/_/status/{}?i={i}", if i % 4 == 0 { 404 } else { 200 })))
        .collect();
    let first = write_lines(&dir, "first.txt", &urls[..12]);
    let all = write_lines(&dir, "all.txt", &urls);
    let out = dir.path().join("out.csv");
    ok_stdout(healthcheck().arg("-i").arg(&first).arg("-o").arg(&out));
    // A row about the run is dropped, not counted, and its URL checked again.
    let mut text = fs::read_to_string(&out).unwrap();
    text.push_str(&format!("{},,false,cancelled,task aborted,,0,,0\n", urls[12]));
    fs::write(&out, text).unwrap();

    let summary = dir.path().join("summary.json");
    let run = healthcheck()
        .arg("-i")
        .arg(&all)
        .arg("--resume")
        .arg(&out)
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Checked 8 URLs in")
            && stderr.contains(
                "plus 12 rows from earlier attempts (20 in all): Successful: 15 (75.0%), Failed: 5"
            ),
        "{stderr}"
    );
    assert!(stderr.contains("by status: 200: 15, 404: 5"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["total"], 20);
    assert_eq!(json["earlier_rows"], 12);
    assert_eq!(
        (json["successful"].as_u64(), json["failed"].as_u64()),
        (Some(15), Some(5))
    );
    assert_eq!(json["by_status"], serde_json::json!({"200": 15, "404": 5}));
    assert!(json.get("shard").is_none(), "no --shard, no shard");
    assert_eq!(rows_once(&out).len(), 20);
}

/// A directory for files written and synced a thousand times: in memory where the machine has it.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

#[test]
fn a_real_output_cut_at_any_byte_of_its_last_rows_resumes_to_one_row_per_url() {
    let sim = Sim::all_ok();
    let dir = scratch();
    // Quotes, commas and multi-byte text in the rows, as lists from the wild have.
    let mut lines: Vec<String> = (0..6).map(|i| sim.url(&format!("/_/status/200?i={i}"))).collect();
    lines.push("not a url, \"quoted\" ünïcode".into());
    lines.push(sim.url("/_/status/404?q=\"a,b\"&é"));
    let input = write_lines(&dir, "targets.txt", &lines);
    for format in ["csv", "jsonl"] {
        let full_path = dir.path().join(format!("full.{format}"));
        ok_stdout(healthcheck().args([
            "--format",
            format,
            "-i",
            path_str(&input),
            "-o",
            path_str(&full_path),
        ]));
        let full = fs::read(&full_path).unwrap();
        let expected = read_rows(&full, format);
        assert_eq!(expected.len(), lines.len());
        // From the start of the second-last row to the end.
        let newlines: Vec<usize> = full
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i)
            .collect();
        let from = newlines[newlines.len() - 3] + 1;
        let cut_path = dir.path().join(format!("cut.{format}"));
        for cut in from..=full.len() {
            fs::write(&cut_path, &full[..cut]).unwrap();
            let run = healthcheck()
                .args([
                    "-q",
                    "--format",
                    format,
                    "-i",
                    path_str(&input),
                    "--resume",
                    path_str(&cut_path),
                ])
                .output()
                .unwrap();
            assert_eq!(
                run.status.code(),
                Some(0),
                "{format} cut at {cut}: {}",
                String::from_utf8_lossy(&run.stderr)
            );
            let resumed = read_rows(&fs::read(&cut_path).unwrap(), format);
            assert_eq!(
                resumed.len(),
                lines.len(),
                "{format} cut at {cut}: a URL twice or missing"
            );
            for (url, row) in &expected {
                let again = &resumed[url];
                assert_eq!(
                    (again.status_code, again.exception),
                    (row.status_code, row.exception),
                    "{url}"
                );
            }
        }
    }
}

/// The rows of a whole CSV or JSON-lines file by URL; a URL twice fails the test.
fn read_rows(bytes: &[u8], format: &str) -> BTreeMap<String, OwnedRow> {
    let all: Vec<OwnedRow> = match format {
        "csv" => rows(bytes),
        _ => bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("a whole row"))
            .collect(),
    };
    let n = all.len();
    let by_url: BTreeMap<String, OwnedRow> = all.into_iter().map(|r| (r.url.clone(), r)).collect();
    assert_eq!(by_url.len(), n, "a URL has two rows");
    by_url
}

/// A directory with `healthcheck` first on PATH: a script that runs the binary under test with
/// `extra` flags after the recipe's (which the recipe cannot know: the local server).
fn path_with_healthcheck(dir: &Path, extra: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let script = bin.join("healthcheck");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' \"$@\" {extra}\n",
            assert_cmd::cargo::cargo_bin("healthcheck").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

/// The repository's file at `path`.
fn repo_file(path: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// Run docs/usage.md's merge command in `dir` and return the merged rows.
fn merged(dir: &Path) -> BTreeMap<String, OwnedRow> {
    let usage = repo_file("docs/usage.md");
    let merge = usage
        .lines()
        .find(|l| l.contains("tail -q -n +2 shard-*.csv"))
        .expect("docs/usage.md gives the merge command");
    let status = Command::new("sh")
        .arg("-c")
        .arg(merge)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "{merge}");
    rows_once(&dir.join("output.csv"))
}

#[test]
fn the_slurm_recipe_runs_each_task_of_its_array_on_its_own_shard() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "--scheme http --length 2 --alphabet abcd -q --resolve '{}'",
        sim.resolve_all()
    );
    let path = path_with_healthcheck(dir.path(), &extra);
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm-array.sh");
    for id in 0..4 {
        let mut cmd = Command::new("bash");
        for var in ENGINE_VARS {
            cmd.env_remove(var);
        }
        let status = cmd
            .arg(&recipe)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("SLURM_ARRAY_TASK_ID", id.to_string())
            .env("SLURM_ARRAY_TASK_MIN", "0")
            .env("SLURM_ARRAY_TASK_MAX", "3")
            .env("SLURM_ARRAY_TASK_COUNT", "4")
            .status()
            .unwrap();
        assert!(status.success());
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join(format!("shard-{id}.json"))).unwrap()).unwrap();
        assert_eq!(
            (json["shard"]["index"].as_u64(), json["shard"]["from"].as_str()),
            (Some(id), Some("slurm"))
        );
    }
    assert_eq!(merged(dir.path()).len(), 16);
}

/// The folded (`>-`) shell line of the manifest's container `args`, and the env value `name`.
fn manifest_parts(manifest: &str) -> (String, String, u64) {
    let lines: Vec<&str> = manifest.lines().collect();
    let start = lines.iter().position(|l| l.trim() == "- >-").expect("args: - >-") + 1;
    let indent = lines[start].len() - lines[start].trim_start().len();
    let command: Vec<&str> = lines[start..]
        .iter()
        .take_while(|l| l.len() - l.trim_start().len() == indent && !l.trim().is_empty())
        .map(|l| l.trim())
        .collect();
    let count = manifest
        .lines()
        .find(|l| l.contains("name: HEALTHCHECK_SHARD_COUNT"))
        .and_then(|l| l.split("value: \"").nth(1))
        .and_then(|v| v.split('"').next())
        .expect("the manifest sets HEALTHCHECK_SHARD_COUNT")
        .to_string();
    let completions = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("completions:"))
        .and_then(|v| v.split('#').next())
        .and_then(|v| v.trim().parse().ok())
        .expect("completions");
    (command.join(" "), count, completions)
}

#[test]
fn the_kubernetes_recipe_runs_each_pod_of_its_indexed_job_on_its_own_shard() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let (command, count, completions) = manifest_parts(&repo_file("deploy/indexed-job.yaml"));
    assert!(
        command.starts_with("exec healthcheck ") && command.contains("--shard auto --resume"),
        "{command}"
    );
    assert_eq!(
        count,
        completions.to_string(),
        "HEALTHCHECK_SHARD_COUNT is the Job's completions"
    );
    let results = dir.path().join("results");
    fs::create_dir(&results).unwrap();
    let command = command.replace("/results/", &format!("{}/", results.display()));
    let extra = format!(
        "--scheme http --length 2 --alphabet abcd -q --resolve '{}'",
        sim.resolve_all()
    );
    let path = path_with_healthcheck(dir.path(), &extra);
    for index in 0..completions {
        let mut cmd = Command::new("/bin/sh");
        for var in ENGINE_VARS {
            cmd.env_remove(var);
        }
        let status = cmd
            .args(["-c", &command])
            .env("PATH", &path)
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env("HEALTHCHECK_SHARD_COUNT", &count)
            .status()
            .unwrap();
        assert!(status.success(), "pod {index}");
    }
    assert_eq!(merged(&results).len(), 16);
}
