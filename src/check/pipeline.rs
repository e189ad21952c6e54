//! The run: targets -> the host scheduler -> spawned probes -> `buffer_unordered(concurrency)`
//! -> the writer.
//!
//! This is the only concurrent stage. Each probe is its own task, spawned lazily inside `map`
//! (so at most `concurrency` exist), which keeps probes running while the writer is busy (a
//! slow reader of stdout never turns an answer into a false timeout) and, with `--threads` above
//! one, spreads TLS handshakes over the workers. Ctrl-C or SIGTERM stops taking targets and lets the
//! probes in flight finish; a second one abandons them (their URLs get no row, so `--resume`
//! checks them again) and ends the run within a second, whatever stdout does.

use std::io;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::check::config::{CheckConfig, Source};
use crate::check::hosts::{Hosts, Scheduled, Scheduler, LOOK_AHEAD};
use crate::check::probe::probe;
use crate::check::progress::{Counters, Progress};
use crate::check::sink::{Sink, SinkSpec};
use crate::check::summary::Summary;
use crate::check::targets::{select, Target};
use crate::check::{limits, resume};
use crate::error::{Error, Result};
use crate::exit_code::Exit;
use crate::net::client;
use crate::record::{ErrorKind, Record};

/// How long an abandoned run waits for the writer: it may be blocked on a stalled stdout.
const ABANDON_PATIENCE: Duration = Duration::from_millis(500);

/// Targets read ahead of the probes.
const READ_AHEAD: usize = 1024;
/// Slots the reader waits for at once.
const READ_BATCH: usize = READ_AHEAD / 4;

/// How a run ended, for the command to turn into an exit code.
#[derive(Debug)]
pub struct RunEnd {
    pub summary: Summary,
    /// stdout's reader went away: the run stopped quietly.
    pub broken_pipe: bool,
}

/// Check every target of `cfg`, stream the rows, and return the summary. `stop` is cancelled
/// to stop taking targets (the first Ctrl-C), `abandon` to give up on the probes in flight.
pub async fn run(cfg: CheckConfig, stop: CancellationToken, abandon: CancellationToken) -> Result<RunEnd> {
    // On a multi-thread runtime (`--threads` above one), driven from a worker rather than the
    // thread that called `block_on`: each finished probe then wakes a task on the runtime's own
    // threads instead of parking and unparking a thread outside it (about 4% less CPU in the
    // seed-like benchmark). On the one-thread runtime the spawn costs nothing.
    tokio::spawn(drive(cfg, stop, abandon))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

async fn drive(cfg: CheckConfig, stop: CancellationToken, abandon: CancellationToken) -> Result<RunEnd> {
    let started = Instant::now();
    let concurrency = limits::fit_concurrency(cfg.concurrency);
    let http = client::build(&cfg.client)?;

    let mut done = match &cfg.resume {
        Some(path) => Some(resume::load(path, cfg.format)?.fits_details(path, cfg.details)?),
        None => None,
    };
    let sink_spec = SinkSpec {
        path: cfg.resume.clone().or(cfg.output.clone()),
        append: done.as_ref().is_some_and(|d| d.has_content),
        format: cfg.format,
        details: cfg.details,
    };
    let total = match &cfg.source {
        Source::Generated(g) => {
            let share = cfg.shard.map_or(Some(g.total()), |s| s.share_of(g.total()));
            share.map(|share| share.saturating_sub(done.as_ref().map_or(0, |d| d.urls.len() as u64)))
        }
        Source::File(_) | Source::Stdin => None,
    };
    let edit = done.as_mut().and_then(|d| d.edit.take());
    let (targets, reader) = spawn_reader(&cfg, done.map(|d| d.urls))?;
    // Every input is open and valid: only now may the output change.
    if let (Some(path), Some(edit)) = (&cfg.resume, &edit) {
        resume::apply(path, edit)?;
    }

    let counters = Arc::new(Counters::default());
    let (rows, sink) = Sink::start(sink_spec, counters.clone(), concurrency.max(READ_AHEAD))?;
    let progress = Progress::start(counters.clone(), total, cfg.quiet);

    let probe_cfg = Arc::new(cfg.probe.clone());
    let mut targets_ended = false;
    let mut targets = targets;
    let hosts = Hosts::new(cfg.hosts);
    // Stopping drops the targets the scheduler holds: like those still in the channel, they get
    // no row, and `--resume` checks them.
    let targets = Scheduler::new(
        futures::stream::poll_fn(move |cx| targets.poll_recv(cx)),
        hosts.clone(),
        LOOK_AHEAD,
    )
    .take_until(stop.clone().cancelled_owned());
    let mut results = Box::pin(
        targets
            .map(|(target, permit): Scheduled| {
                let url = target.display().to_string();
                let (http, probe_cfg, counters) = (http.clone(), probe_cfg.clone(), counters.clone());
                counters.probe_started();
                let task = AbortOnDropHandle::new(tokio::spawn(async move {
                    let record = probe(&http, &probe_cfg, target, permit).await;
                    counters.probe_finished();
                    record
                }));
                async move {
                    task.await
                        .unwrap_or_else(|e| Record::unsent(url, ErrorKind::Cancelled, e.to_string()))
                }
            })
            .buffer_unordered(concurrency),
    );
    loop {
        tokio::select! {
            biased;
            _ = abandon.cancelled() => break,
            next = results.next() => match next {
                None => {
                    targets_ended = !stop.is_cancelled();
                    break;
                }
                // Inside the select, a stalled stdout cannot keep a second Ctrl-C waiting.
                Some(record) => tokio::select! {
                    biased;
                    _ = abandon.cancelled() => break,
                    sent = rows.send(record) => if sent.is_err() {
                        break; // the writer stopped: closed pipe or write error
                    },
                },
            },
        }
    }
    drop(results); // aborts whatever is still in flight
    drop(rows);
    let end = sink
        .finish(abandon.is_cancelled().then_some(ABANDON_PATIENCE))
        .await?;
    progress.finish().await;

    // The reader has finished only when the targets ran out; otherwise it may be blocked on stdin.
    if targets_ended {
        if let Ok(Err(source)) = reader.join() {
            return Err(Error::Input {
                path: cfg.source.name(),
                source,
            });
        }
    }

    let interrupted = stop.is_cancelled() || abandon.is_cancelled();
    let mut summary = Summary::new(
        end.tally,
        (cfg.concurrency, concurrency),
        counters.peak_in_flight.load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed(),
    );
    summary.hosts = hosts.summary();
    summary.interrupted = interrupted && !end.broken_pipe;
    summary.not_checked = if summary.interrupted {
        total.map(|t| t.saturating_sub(summary.total))
    } else {
        Some(0)
    };
    Ok(RunEnd {
        summary,
        broken_pipe: end.broken_pipe,
    })
}

/// Read targets on a thread of their own (files and stdin are blocking I/O), through the shard
/// and resume filters, into a bounded channel. The thread ends at the end of input, on a read
/// error (returned), or when the pipeline drops the receiver.
fn spawn_reader(
    cfg: &CheckConfig,
    done: Option<std::collections::HashSet<String>>,
) -> Result<(mpsc::Receiver<Target>, thread::JoinHandle<io::Result<()>>)> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let scheme = cfg.scheme;
    let shard = cfg.shard;
    let open = cfg.source.open()?;
    let job = move || -> io::Result<()> {
        let targets = open().map(|entry| entry.map(|entry| Target::from_entry(entry, scheme)));
        let mut targets = select(targets, shard, done, Target::display, Target::shard_key);
        // Room is reserved a batch at a time: waiting for one free slot would wake this thread
        // (a futex call and two context switches) for every target the probes take.
        loop {
            let Ok(permits) = futures::executor::block_on(tx.reserve_many(READ_BATCH)) else {
                return Ok(()); // the pipeline stopped taking targets
            };
            for permit in permits {
                match targets.next() {
                    Some(target) => permit.send(target?),
                    None => return Ok(()),
                }
            }
        }
    };
    let handle = thread::Builder::new()
        .name("targets".into())
        .spawn(job)
        .map_err(|e| Error::io("cannot start the reader thread", e))?;
    Ok((rx, handle))
}

/// Turn SIGINT/SIGTERM into `stop` (first signal) and `abandon` (second). A third ends the
/// process at once: the handler installed here replaced the default one, so without this a
/// run stuck anywhere could no longer be interrupted.
pub fn watch_signals(stop: CancellationToken, abandon: CancellationToken) {
    // Registered now, not in the task: a signal before the task first runs is not lost.
    let Some(mut signals) = Signals::new() else {
        return;
    };
    tokio::spawn(async move {
        let mut count = 0;
        while signals.next().await {
            count += 1;
            match count {
                1 => {
                    tracing::warn!("interrupted: finishing the checks in flight (again to abandon them)");
                    stop.cancel();
                }
                2 => {
                    tracing::warn!("interrupted again: abandoning the checks in flight (again to quit now)");
                    abandon.cancel();
                }
                _ => {
                    eprintln!("healthcheck: interrupted three times: quitting without flushing");
                    std::process::exit(Exit::Interrupted.code().into());
                }
            }
        }
    });
}

/// SIGINT and SIGTERM, watched from creation on, so that none is missed between two waits.
#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// `None` if signals cannot be watched here.
    fn new() -> Option<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Some(Signals {
            int: signal(SignalKind::interrupt()).ok()?,
            term: signal(SignalKind::terminate()).ok()?,
        })
    }

    /// Wait for the next signal; `false` when none can come any more.
    async fn next(&mut self) -> bool {
        tokio::select! {
            s = self.int.recv() => s.is_some(),
            s = self.term.recv() => s.is_some(),
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Option<Self> {
        Some(Signals)
    }

    async fn next(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// Grace for the runtime's own tasks at exit; the rows are already flushed by then.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);
