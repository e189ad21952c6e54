//! The run: targets -> the host scheduler -> spawned probes -> `buffer_unordered(concurrency)`
//! -> the writer, in four steps: `set_up`, `stream`, `shut_down`, `summarize`.
//!
//! `stream` is the only concurrent stage. Each probe is its own task, spawned lazily inside `map`
//! (so at most `concurrency` exist), which keeps probes running while the writer is busy (a
//! slow reader of stdout never turns an answer into a false timeout) and, with `--threads` above
//! one, spreads TLS handshakes over the workers. Ctrl-C or SIGTERM stops taking targets and lets the
//! probes in flight finish; a second one abandons them (their URLs get no row, so `--resume`
//! checks them again) and ends the run within a second, whatever stdout does.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::check::config::{CheckConfig, Source};
use crate::check::hosts::{Hosts, Scheduled, Scheduler, LOOK_AHEAD};
use crate::check::lock::LockedOutput;
use crate::check::probe::{probe, ProbeConfig};
use crate::check::progress::{Counters, Progress};
use crate::check::shard::select;
use crate::check::sink::{Sink, SinkEnd, SinkSpec};
use crate::check::sitemap::{Fetch, SitemapError};
use crate::check::summary::{Summary, Tally};
use crate::check::targets::Target;
use crate::check::{limits, resume};
use crate::error::{Error, Result};
use crate::exit_code::Exit;
use crate::net::client::{self, Client};
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
    /// Reading the targets failed part way (a sitemap broken after its first `<loc>`): the
    /// URLs read before were checked, and the run ends with this error.
    pub input_error: Option<Error>,
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
    let output = lock_output(&cfg, &stop).await?;
    let started = Instant::now();
    let (run, targets, outputs) = set_up(&cfg, output).await?;
    let targets_ended = stream(&run, targets, &outputs.rows, &stop, &abandon).await;
    let (end, input_error) = shut_down(outputs, &cfg.source, targets_ended, abandon.is_cancelled()).await?;
    let interrupted = stop.is_cancelled() || abandon.is_cancelled();
    Ok(summarize(&cfg, &run, end, started, interrupted, input_error))
}

/// What the streaming step borrows, and the summary reads afterwards.
struct Run {
    /// `--concurrency`, lowered if the open-files limit cannot fit it.
    concurrency: usize,
    /// How many targets a generated set holds after `--shard` and `--resume`; `None` for a list.
    total: Option<u64>,
    http: Client,
    probe: Arc<ProbeConfig>,
    hosts: Hosts,
    counters: Arc<Counters>,
    /// The rows that earlier attempts left in the `--resume` file.
    earlier: Tally,
}

/// What shutdown closes, in this order: the rows' channel, the writer, the progress bar, and
/// the thread that read a file or stdin (`None` for the generated set).
struct Outputs {
    rows: mpsc::Sender<Record>,
    sink: Sink,
    progress: Progress,
    reader: Option<Reader>,
}

/// The thread that reads a file or stdin; it returns the read error that ended it, if any.
type Reader = thread::JoinHandle<io::Result<()>>;

/// Lock the output file (`-o`, `--resume`) before anything reads it: another run writing it
/// is waited for, `--lock-wait` at most (see `lock`). `None` for stdout and devices.
async fn lock_output(cfg: &CheckConfig, stop: &CancellationToken) -> Result<Option<LockedOutput>> {
    match cfg.resume.as_ref().or(cfg.output.as_ref()) {
        Some(path) => LockedOutput::acquire(path, cfg.lock_wait, stop).await,
        None => Ok(None),
    }
}

/// Build the client, read `--resume`, open the targets and the output, start the writer and
/// the progress bar. Every input is opened and validated before the output changes (a sitemap
/// up to its first `<loc>`); `output`, the locked output file, goes to the writer, which holds
/// the lock until its last flush.
async fn set_up(
    cfg: &CheckConfig,
    mut output: Option<LockedOutput>,
) -> Result<(Run, BoxStream<'static, Target>, Outputs)> {
    let concurrency = limits::fit_concurrency(cfg.concurrency);
    let http = client::build(&cfg.client)?;
    let mut done = match (&cfg.resume, output.as_mut()) {
        (Some(path), Some(file)) => {
            let bytes = file.read_all().map_err(|source| Error::Input {
                path: path.clone(),
                source,
            })?;
            Some(
                resume::load(path, &bytes, cfg.format)?
                    .fits_details(path, cfg.details)?
                    .fits_timings(path, cfg.timings)?,
            )
        }
        (Some(path), None) => {
            return Err(Error::usage(
                "--resume",
                format!(
                    "{} is not a regular file: --resume appends to a file",
                    path.display()
                ),
            ))
        }
        (None, _) => None,
    };
    let append = done.as_ref().is_some_and(|d| d.has_content);
    let total = match &cfg.source {
        Source::Generated(g) => {
            let share = cfg.shard.map_or(Some(g.total()), |s| s.share_of(g.total()));
            share.map(|share| share.saturating_sub(done.as_ref().map_or(0, |d| d.urls.len() as u64)))
        }
        Source::File(_) | Source::Stdin | Source::Sitemaps(_) => None,
    };
    let edit = done.as_mut().and_then(|d| d.edit.take());
    let earlier = match (&cfg.resume, &done) {
        (Some(path), Some(done)) => earlier_rows(path, done),
        _ => Tally::default(),
    };
    let (targets, reader) = open_targets(cfg, done.map(|d| d.urls), &http).await?;
    // Every input is open and valid: only now may the output change.
    if let (Some(path), Some(edit), Some(file)) = (&cfg.resume, &edit, output.as_mut()) {
        resume::apply(path, file.handle(), edit)?;
    }
    let path = cfg.resume.clone().or(cfg.output.clone());
    let file = match (output, &path) {
        (Some(output), Some(path)) => Some(output.into_writer(append).map_err(|source| Error::Output {
            path: path.clone(),
            source,
        })?),
        _ => None,
    };
    let sink_spec = SinkSpec {
        path,
        file,
        append,
        format: cfg.format,
        details: cfg.details,
        timings: cfg.timings,
    };
    let counters = Arc::new(Counters::default());
    let (rows, sink) = Sink::start(sink_spec, counters.clone(), concurrency.max(READ_AHEAD))?;
    let progress = Progress::start(counters.clone(), total, cfg.quiet);
    let run = Run {
        concurrency,
        total,
        http,
        probe: Arc::new(cfg.probe.clone()),
        hosts: Hosts::new(cfg.hosts),
        counters,
        earlier,
    };
    let outputs = Outputs {
        rows,
        sink,
        progress,
        reader,
    };
    Ok((run, targets, outputs))
}

/// The one concurrent stage: the targets through the host scheduler, each probe spawned as its
/// own task inside `map` (so at most `concurrency` exist) under `buffer_unordered`, and the rows
/// to the writer in completion order. Returns whether the targets ran out, rather than a stop,
/// an abandon or a writer that stopped; returning drops (and so aborts) the probes in flight.
async fn stream(
    run: &Run,
    targets: BoxStream<'static, Target>,
    rows: &mpsc::Sender<Record>,
    stop: &CancellationToken,
    abandon: &CancellationToken,
) -> bool {
    // Stopping drops the targets the scheduler holds: like those still unread, they get no
    // row, and `--resume` checks them.
    let scheduled =
        Scheduler::new(targets, run.hosts.clone(), LOOK_AHEAD).take_until(stop.clone().cancelled_owned());
    let mut results = Box::pin(
        scheduled
            .map(|(target, permit): Scheduled| {
                let url = target.display().to_string();
                let (http, probe_cfg, counters) = (run.http.clone(), run.probe.clone(), run.counters.clone());
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
            .buffer_unordered(run.concurrency),
    );
    loop {
        tokio::select! {
            biased;
            _ = abandon.cancelled() => return false,
            next = results.next() => match next {
                None => return !stop.is_cancelled(),
                // Inside the select, a stalled stdout cannot keep a second Ctrl-C waiting.
                Some(record) => tokio::select! {
                    biased;
                    _ = abandon.cancelled() => return false,
                    sent = rows.send(record) => if sent.is_err() {
                        return false; // the writer stopped: closed pipe or write error
                    },
                },
            },
        }
    }
}

/// Close the rows' channel and wait for the writer (for `ABANDON_PATIENCE` at most when the run
/// was abandoned: it may be blocked on a stalled stdout), stop the progress bar, and surface a
/// read error of the targets. The reader has finished only when the targets ran out; otherwise
/// it may be blocked on stdin, and is left behind.
async fn shut_down(
    outputs: Outputs,
    source: &Source,
    targets_ended: bool,
    abandoned: bool,
) -> Result<(SinkEnd, Option<Error>)> {
    let Outputs {
        rows,
        sink,
        progress,
        reader,
    } = outputs;
    drop(rows);
    let end = sink.finish(abandoned.then_some(ABANDON_PATIENCE)).await?;
    progress.finish().await;
    let mut input_error = None;
    if let (true, Some(reader)) = (targets_ended, reader) {
        if let Ok(Err(e)) = reader.join() {
            input_error = Some(read_error(source, e));
        }
    }
    Ok((end, input_error))
}

/// A read error of the targets as the run reports it: a sitemap's names the sitemap and where.
fn read_error(source: &Source, e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<SitemapError>()) {
        let inner = e.into_inner().expect("checked above");
        return Error::from(*inner.downcast::<SitemapError>().expect("checked above"));
    }
    Error::Input {
        path: source.name(),
        source: e,
    }
}

/// The counts of the rows that `--resume` keeps in FILE; what it drops is said now.
fn earlier_rows(path: &std::path::Path, done: &resume::Done) -> Tally {
    if done.dropped > 0 || done.torn {
        tracing::info!(
            "{}: keeping {} rows of earlier attempts; dropping {} rows about the run (local, cancelled){}: their URLs are checked again",
            path.display(),
            done.tally.total,
            done.dropped,
            if done.torn { " and a half-written last row" } else { "" }
        );
    }
    done.tally.clone()
}

/// The run's summary: the writer's counts (and the rows of earlier attempts), the concurrency
/// asked for and used, the hosts, the shard, and what an interruption left unchecked.
fn summarize(
    cfg: &CheckConfig,
    run: &Run,
    end: SinkEnd,
    started: Instant,
    interrupted: bool,
    input_error: Option<Error>,
) -> RunEnd {
    let mut summary = Summary::new(
        end.tally,
        (cfg.concurrency, run.concurrency),
        run.counters.peak_in_flight.load(Ordering::Relaxed),
        started.elapsed(),
    )
    .with_earlier(&run.earlier);
    summary.hosts = run.hosts.summary();
    summary.stale_connection_retries = run.http.stale_retries();
    summary.shard = cfg.shard;
    summary.interrupted = interrupted && !end.broken_pipe;
    summary.not_checked = if summary.interrupted {
        run.total.map(|t| t.saturating_sub(summary.written()))
    } else {
        Some(0)
    };
    summary.input_error = input_error.as_ref().map(Error::to_string);
    RunEnd {
        summary,
        broken_pipe: end.broken_pipe,
        input_error,
    }
}

/// The targets as a stream, through the `--shard` and `--resume` filters. The generated set is
/// a lazy iterator, pulled on this task as the probes take targets: it does no I/O, so it costs
/// no thread and no channel. A file or stdin is read on a thread of its own (`spawn_reader`):
/// a read blocks, and a slow stdin must never stall the probes in flight or the writer. Sitemaps
/// are read there too (fetched through `http`), and are waited for up to their first `<loc>`, so
/// that one broken from the start is an error before the output is touched.
async fn open_targets(
    cfg: &CheckConfig,
    done: Option<HashSet<String>>,
    http: &Client,
) -> Result<(BoxStream<'static, Target>, Option<Reader>)> {
    if let Source::Generated(generated) = &cfg.source {
        let scheme = cfg.scheme;
        let names = generated.clone().map(move |url| Ok(Target::parse(&url, scheme)));
        let targets = select(names, cfg.shard, done, Target::display, Target::shard_key).map(
            |target: io::Result<Target>| target.expect("a generated name is never read, so never fails"),
        );
        return Ok((futures::stream::iter(targets).boxed(), None));
    }
    let fetch = Fetch {
        client: http.clone(),
        timeout: cfg.probe.timeout,
        runtime: tokio::runtime::Handle::current(),
    };
    let (ready, first_read) = match cfg.source {
        Source::Sitemaps(_) => {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        }
        _ => (None, None),
    };
    let (mut rx, reader) = spawn_reader(cfg, done, fetch, ready)?;
    if let Some(first_read) = first_read {
        match first_read.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(read_error(&cfg.source, e)),
            // Gone without a word: it panicked.
            Err(_) => {
                let cause = match reader.join() {
                    Err(panic) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default(),
                    Ok(_) => String::new(),
                };
                return Err(Error::io("the sitemap reader failed", io::Error::other(cause)));
            }
        }
    }
    let targets = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed();
    Ok((targets, Some(reader)))
}

/// Read the targets of a file or stdin on a thread of their own, through the shard and resume
/// filters, into a bounded channel. The thread ends at the end of input, on a read error
/// (returned), or when the pipeline drops the receiver. With `ready`, it first reads one entry
/// and says whether that failed.
fn spawn_reader(
    cfg: &CheckConfig,
    done: Option<HashSet<String>>,
    fetch: Fetch,
    ready: Option<oneshot::Sender<io::Result<()>>>,
) -> Result<(mpsc::Receiver<Target>, Reader)> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let scheme = cfg.scheme;
    let shard = cfg.shard;
    let open = cfg.source.open(Some(fetch))?;
    let job = move || -> io::Result<()> {
        let mut entries = open();
        if let Some(ready) = ready {
            let first = match entries.next() {
                Some(Err(e)) => {
                    let _ = ready.send(Err(e));
                    return Ok(());
                }
                first => first,
            };
            let _ = ready.send(Ok(()));
            entries = Box::new(first.into_iter().chain(entries));
        }
        let targets = entries.map(|entry| entry.map(|entry| Target::from_entry(entry, scheme)));
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
