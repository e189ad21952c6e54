//! `healthcheck hello`: the article's first lesson, one process and its threads.
//!
//! The Python script prints its pid and `MainThread`. Here the main thread runs the tokio
//! runtime's `block_on`, and `--tasks N` spawns tasks that the runtime's named worker threads
//! run, which shows the one-process / many-workers relation. `counter` builds its runtime with
//! [`named_runtime`] too, so both lessons name their threads the same way.

use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::task::JoinSet;

use crate::error::{stdout_written, Error, Result};
use crate::exit_code::Exit;

/// How long each `--tasks` task sleeps before it prints. The tasks wake together and idle workers
/// steal some of them; without an await point one worker drains them all before another wakes.
const TASK_NAP: Duration = Duration::from_millis(10);

/// Prefix of the runtime's worker thread names (`hc-worker-1`, `hc-worker-2`, ...).
const WORKER_PREFIX: &str = "hc-worker-";

/// A multi-thread runtime whose threads are named `hc-worker-<n>`, so that a thread name says
/// whether code runs on a worker or on the thread that called `block_on`.
///
/// `worker_threads` of `None` keeps tokio's default, one worker per CPU. (Threads of the blocking
/// pool would get the same names; neither lesson uses it.)
pub(crate) fn named_runtime(worker_threads: Option<usize>) -> Result<Runtime> {
    let next = AtomicUsize::new(1);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .enable_all()
        .thread_name_fn(move || format!("{WORKER_PREFIX}{}", next.fetch_add(1, Ordering::Relaxed)));
    if let Some(n) = worker_threads {
        builder.worker_threads(n);
    }
    builder
        .build()
        .map_err(|e| Error::io("cannot start the tokio runtime", e))
}

/// What a thread is to the runtime, from its name.
fn thread_role(name: &str) -> &'static str {
    if name.starts_with(WORKER_PREFIX) {
        "a runtime worker"
    } else {
        "the main thread, running the runtime's block_on"
    }
}

/// The current thread's name; tokio names every thread it starts, so `unnamed` is unexpected.
fn current_thread_name() -> String {
    std::thread::current().name().unwrap_or("unnamed").to_string()
}

/// Write one line with stdout locked, so lines from concurrent tasks never tear.
fn say(line: std::fmt::Arguments<'_>) -> io::Result<()> {
    writeln!(io::stdout().lock(), "{line}")
}

/// Print the pid, the thread and `Hello World!`; then spawn `tasks` tasks that each say where
/// they ran.
pub fn run(tasks: u32) -> Result<Exit> {
    let runtime = named_runtime(None)?;
    let workers = runtime.metrics().num_workers();
    let outcome: io::Result<()> = runtime.block_on(async move {
        let thread = current_thread_name();
        say(format_args!("pid: {}", std::process::id()))?;
        say(format_args!("thread: {thread} ({})", thread_role(&thread)))?;
        say(format_args!("Hello World!"))?;

        let total = tasks;
        let mut tasks = JoinSet::new();
        for index in 1..=total {
            tasks.spawn(async move {
                tokio::time::sleep(TASK_NAP).await;
                let thread = current_thread_name();
                let id = tokio::task::id();
                say(format_args!(
                    "task {index} of {total}: task id {id}, on {thread} ({})",
                    thread_role(&thread)
                ))?;
                Ok::<_, io::Error>(thread)
            });
        }
        let mut threads = HashSet::new();
        while let Some(joined) = tasks.join_next().await {
            threads.insert(joined.expect("hello tasks do not panic and are never aborted")?);
        }
        if total > 0 {
            say(format_args!(
                "{total} tasks ran on {} of {workers} worker threads, in one process",
                threads.len()
            ))?;
        }
        Ok(())
    });
    stdout_written(outcome)?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_threads_are_told_apart_from_the_main_thread() {
        assert_eq!(thread_role("hc-worker-3"), "a runtime worker");
        assert!(thread_role("main").starts_with("the main thread"));
    }

    #[test]
    fn spawned_tasks_run_on_named_workers() {
        let runtime = named_runtime(Some(2)).expect("a two-thread runtime starts");
        let name = runtime
            .block_on(async { tokio::spawn(async { current_thread_name() }).await })
            .expect("the task does not panic");
        assert!(name.starts_with(WORKER_PREFIX), "{name}");
    }
}
