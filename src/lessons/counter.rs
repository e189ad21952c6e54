//! `healthcheck counter`: the article's shared-counter lesson, replayed with tokio tasks.
//!
//! N tasks sleep, then add one to a shared counter and print it. Without `--lock` the read and
//! the write are two lock acquisitions with an `.await` between them, as Python's `count += 1` is
//! two steps with a thread switch possible between them: tasks interleave, prints come out of
//! order and updates are lost. With `--lock` one guard covers read, increment and print.
//! Real code would use an `AtomicU64`, which cannot lose an update; the split mutex is here to
//! make the race visible.
//!
//! Output contract. stdout: one line per task with the value it wrote, `done` (first without
//! `--wait`, after every task's line with `--wait`), then one summary line
//! `final count: C of N (L updates lost)` (`update` when L is 1). stderr: one line with the task
//! count, wall time and, where `/proc/self/status` has it, the peak resident memory.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio::task::JoinSet;

use super::hello::named_runtime;
use crate::error::{stdout_written, Result};
use crate::exit_code::Exit;

/// What to replay (`healthcheck counter`'s flags).
#[derive(Debug, Clone)]
pub struct Replay {
    /// How many tasks to spawn; each sleeps, adds one to the shared counter and prints it.
    pub tasks: u32,
    /// Read, increment and print under one lock guard.
    pub lock: bool,
    /// Await every task before printing `done`.
    pub wait: bool,
    /// How long each task sleeps before it touches the counter.
    pub sleep: Duration,
    /// Worker threads of the runtime; `None` for one per CPU.
    pub threads: Option<usize>,
}

pub fn run(args: Replay) -> Result<Exit> {
    let started = Instant::now();
    let runtime = named_runtime(args.threads)?;
    let outcome = runtime.block_on(replay(&args));
    drop(runtime);
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| peak_rss_kib(&status));
    eprintln!("{}", cost_line(args.tasks, started.elapsed(), peak));
    stdout_written(outcome)?;
    Ok(Exit::Ok)
}

/// Spawn the tasks, print `done` where `--wait` says, and print the final count.
async fn replay(args: &Replay) -> io::Result<()> {
    let counter = Arc::new(Mutex::new(0_u64));
    let mut tasks = JoinSet::new();
    for _ in 0..args.tasks {
        let counter = Arc::clone(&counter);
        let (lock, nap) = (args.lock, args.sleep);
        tasks.spawn(async move {
            // Outside the lock: every task sleeps at the same time, so N tasks take one sleep.
            tokio::time::sleep(nap).await;
            increment(&counter, lock, |value| say(format_args!("{value}"))).await
        });
    }
    if !args.wait {
        say(format_args!("done"))?;
    }
    // Both ways the process outlives its tasks, as Python waits for its threads at exit.
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined.expect("counter tasks do not panic and are never aborted") {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if args.wait {
        say(format_args!("done"))?;
    }
    let count = *counter.lock().await;
    say(format_args!("{}", final_count_line(count, args.tasks)))
}

/// Add one to the counter and hand the value written to `report`.
///
/// With `lock`, one guard covers the read, the write and the report, so reports come in counter
/// order. Without it, another task can read the same value while this one waits at the yield;
/// both then write the same number and one update is lost.
async fn increment(
    counter: &Mutex<u64>,
    lock: bool,
    report: impl FnOnce(u64) -> io::Result<()>,
) -> io::Result<()> {
    if lock {
        let mut guard = counter.lock().await;
        *guard += 1;
        report(*guard)
    } else {
        let seen = *counter.lock().await;
        tokio::task::yield_now().await;
        let next = seen + 1;
        *counter.lock().await = next;
        report(next)
    }
}

/// Write one line with stdout locked, so lines from concurrent tasks never tear.
fn say(line: std::fmt::Arguments<'_>) -> io::Result<()> {
    writeln!(io::stdout().lock(), "{line}")
}

/// The last stdout line: the count the tasks left against the count they should have left.
fn final_count_line(count: u64, tasks: u32) -> String {
    let lost = u64::from(tasks).saturating_sub(count);
    let noun = if lost == 1 { "update" } else { "updates" };
    format!("final count: {count} of {tasks} ({lost} {noun} lost)")
}

/// The stderr line: what N tasks cost in time and memory.
fn cost_line(tasks: u32, wall: Duration, peak_rss_kib: Option<u64>) -> String {
    let noun = if tasks == 1 { "task" } else { "tasks" };
    let mut line = format!("counter: {tasks} {noun}, wall time {:.3} s", wall.as_secs_f64());
    if let Some(kib) = peak_rss_kib {
        line.push_str(&format!(", peak RSS {:.1} MiB", kib as f64 / 1024.0));
    }
    line
}

/// The `VmHWM` (peak resident set size) of a `/proc/<pid>/status` text, in KiB.
fn peak_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `tasks` increments on a single-threaded runtime and return the reports in the order
    /// they were made, with the final count.
    fn run_increments(tasks: u64, lock: bool) -> (Vec<u64>, u64) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime starts");
        runtime.block_on(async {
            let counter = Arc::new(Mutex::new(0));
            let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut set = JoinSet::new();
            for _ in 0..tasks {
                let (counter, reports) = (Arc::clone(&counter), Arc::clone(&reports));
                set.spawn(async move {
                    increment(&counter, lock, |value| {
                        reports.lock().expect("not poisoned").push(value);
                        Ok(())
                    })
                    .await
                });
            }
            while let Some(joined) = set.join_next().await {
                joined.expect("no panic").expect("the report does not fail");
            }
            let reports = reports.lock().expect("not poisoned").clone();
            let count = *counter.lock().await;
            (reports, count)
        })
    }

    #[test]
    fn locked_increments_report_one_to_n_in_order() {
        let (reports, count) = run_increments(100, true);
        assert_eq!(reports, (1..=100).collect::<Vec<_>>());
        assert_eq!(count, 100);
    }

    #[test]
    fn split_increments_lose_updates_when_tasks_interleave() {
        let (reports, count) = run_increments(100, false);
        assert_eq!(reports.len(), 100);
        assert!(count < 100, "no update was lost: {count}");
        assert!(reports.iter().all(|&value| (1..=100).contains(&value)));
    }

    #[test]
    fn the_final_line_counts_the_lost_updates() {
        assert_eq!(
            final_count_line(9_973, 10_000),
            "final count: 9973 of 10000 (27 updates lost)"
        );
        assert_eq!(final_count_line(9, 10), "final count: 9 of 10 (1 update lost)");
        assert_eq!(final_count_line(5, 5), "final count: 5 of 5 (0 updates lost)");
    }

    #[test]
    fn the_cost_line_counts_tasks_and_leaves_out_an_unknown_peak() {
        let wall = Duration::from_millis(1_004);
        assert_eq!(
            cost_line(10, wall, Some(2_048)),
            "counter: 10 tasks, wall time 1.004 s, peak RSS 2.0 MiB"
        );
        assert_eq!(cost_line(10, wall, None), "counter: 10 tasks, wall time 1.004 s");
        assert_eq!(cost_line(1, wall, None), "counter: 1 task, wall time 1.004 s");
    }

    #[test]
    fn the_peak_rss_is_read_from_vmhwm() {
        let status = "Name:\thealthcheck\nVmPeak:\t  99999 kB\nVmHWM:\t    12345 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(peak_rss_kib(status), Some(12_345));
        assert_eq!(peak_rss_kib("Name:\tx\n"), None);
    }
}
