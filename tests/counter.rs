//! The concurrency lessons (issue 3) through the real binary: `healthcheck counter` and
//! `healthcheck hello`.

use std::time::{Duration, Instant};

use assert_cmd::Command;

/// Far above what any run here takes; only there so a hung run fails instead of blocking CI.
const RUN_LIMIT: Duration = Duration::from_secs(120);

fn healthcheck() -> Command {
    let mut cmd = Command::cargo_bin("healthcheck").expect("the healthcheck binary is built");
    cmd.timeout(RUN_LIMIT);
    cmd
}

/// Run `healthcheck <args>`, require success and return the stdout lines.
fn stdout_lines(args: &[&str]) -> Vec<String> {
    let output = healthcheck().args(args).assert().success().get_output().clone();
    String::from_utf8(output.stdout)
        .expect("stdout is UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The increments: every line that is a number, in the order printed.
fn increments(lines: &[String]) -> Vec<u64> {
    lines.iter().filter_map(|line| line.parse().ok()).collect()
}

/// `(C, N)` from the summary line `final count: C of N (...)`.
fn final_count(line: &str) -> (u64, u64) {
    let rest = line
        .strip_prefix("final count: ")
        .unwrap_or_else(|| panic!("not a final count line: {line:?}"));
    let mut words = rest.split_whitespace();
    let count = words.next().and_then(|w| w.parse().ok());
    let of = words.next();
    let tasks = words.next().and_then(|w| w.parse().ok());
    match (count, of, tasks) {
        (Some(count), Some("of"), Some(tasks)) => (count, tasks),
        _ => panic!("malformed final count line: {line:?}"),
    }
}

#[test]
fn counter_with_lock_and_wait_prints_one_to_n_then_done_then_a_count_of_n() {
    let lines = stdout_lines(&["counter", "50", "--lock", "--wait", "--sleep", "0.1"]);
    let expected: Vec<String> = (1..=50).map(|i| i.to_string()).collect();
    assert_eq!(lines[..50], expected[..]);
    assert_eq!(lines[50], "done");
    assert_eq!(lines[51], "final count: 50 of 50 (0 updates lost)");
    assert_eq!(lines.len(), 52);
}

#[test]
fn counter_with_wait_prints_done_after_every_increment() {
    let lines = stdout_lines(&["counter", "20", "--wait", "--sleep", "0.1"]);
    assert_eq!(lines.len(), 22, "{lines:?}");
    assert_eq!(increments(&lines[..20]).len(), 20, "{lines:?}");
    assert_eq!(lines[20], "done");
    assert!(lines[21].starts_with("final count: "), "{lines:?}");
}

#[test]
fn counter_without_wait_prints_done_before_any_increment() {
    // Spawning 20 tasks takes far less than the half-second each task sleeps first.
    let lines = stdout_lines(&["counter", "20", "--lock", "--sleep", "0.5"]);
    assert_eq!(lines[0], "done", "{lines:?}");
    assert_eq!(increments(&lines), (1..=20).collect::<Vec<_>>());
    assert_eq!(lines[21], "final count: 20 of 20 (0 updates lost)");
}

#[test]
fn ten_thousand_tasks_sleeping_a_fifth_of_a_second_take_about_one_sleep_not_ten_thousand() {
    let started = Instant::now();
    let lines = stdout_lines(&["counter", "10000", "--lock", "--wait", "--sleep", "0.2"]);
    let elapsed = started.elapsed();
    // One after another they would take 2,000 s; together, one sleep plus overhead.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert_eq!(increments(&lines).len(), 10_000);
    assert_eq!(final_count(lines.last().expect("a final line")), (10_000, 10_000));
}

#[test]
fn counter_without_lock_never_counts_past_n_and_prints_n_increments() {
    for threads in ["1", "2", "4"] {
        let lines = stdout_lines(&[
            "counter",
            "1000",
            "--wait",
            "--sleep",
            "0.1",
            "--threads",
            threads,
        ]);
        let values = increments(&lines);
        assert_eq!(values.len(), 1000, "--threads {threads}");
        assert!(
            values.iter().all(|v| (1..=1000).contains(v)),
            "--threads {threads}"
        );
        let (count, tasks) = final_count(lines.last().expect("a final line"));
        assert_eq!(tasks, 1000);
        assert!(count <= 1000, "--threads {threads}: {count}");
    }
}

#[test]
fn counter_reports_its_wall_time_on_stderr() {
    let output = healthcheck()
        .args(["counter", "3", "--sleep", "0"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("counter: 3 tasks, wall time "), "{stderr}");
}

#[test]
fn out_of_range_counter_values_exit_with_2_and_name_the_argument() {
    let cases: [(&[&str], &str); 5] = [
        (&["counter", "0"], "<N>"),
        (&["counter", "5", "--sleep", "-1"], "--sleep"),
        (&["counter", "5", "--sleep", "soon"], "--sleep"),
        (&["counter", "5", "--threads", "0"], "--threads"),
        (&["counter", "1000001"], "<N>"),
    ];
    for (args, named) in cases {
        let output = healthcheck().args(args).assert().code(2).get_output().clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains(named), "{args:?}: {stderr}");
    }
}

#[test]
fn hello_prints_a_numeric_pid_and_a_thread_name() {
    let lines = stdout_lines(&["hello"]);
    let pid = lines[0].strip_prefix("pid: ").expect("a pid line first");
    assert!(pid.parse::<u32>().is_ok(), "{pid:?}");
    let thread = lines[1].strip_prefix("thread: ").expect("a thread line second");
    assert!(thread.starts_with("main ("), "{thread:?}");
    assert_eq!(lines[2], "Hello World!");
    assert_eq!(lines.len(), 3);
}

#[test]
fn hello_with_four_tasks_prints_four_task_lines_on_worker_threads() {
    let lines = stdout_lines(&["hello", "--tasks", "4"]);
    let tasks: Vec<&String> = lines.iter().filter(|l| l.starts_with("task ")).collect();
    assert_eq!(tasks.len(), 4, "{lines:?}");
    assert!(tasks.iter().all(|l| l.contains(" on hc-worker-")), "{tasks:?}");
    for index in 1..=4 {
        let prefix = format!("task {index} of 4: task id ");
        assert!(tasks.iter().any(|l| l.starts_with(&prefix)), "{prefix}");
    }
}
