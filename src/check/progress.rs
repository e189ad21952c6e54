//! Live counts for stderr: an indicatif bar ("Successful: X, Failed: Y", rate, ETA) when stderr is
//! a terminal, a log line every few seconds when it is not. The hot path only bumps atomics; a
//! ticker task reads them, so neither the probes nor the writer ever wait on the display.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const LOG_EVERY: Duration = Duration::from_secs(5);

/// Shared counters: written by the pipeline and the writer, read by the display and the summary.
#[derive(Debug, Default)]
pub struct Counters {
    pub written: AtomicU64,
    pub successful: AtomicU64,
    pub in_flight: AtomicU64,
    pub peak_in_flight: AtomicU64,
    pub broken_pipe: AtomicBool,
}

impl Counters {
    pub fn record_written(&self, success: bool) {
        self.written.fetch_add(1, Ordering::Relaxed);
        if success {
            self.successful.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn probe_started(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
    }

    pub fn probe_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    fn line(&self) -> (u64, String) {
        // The writer bumps `written` before `successful`, but the two loads may still see them
        // out of step (another row may land between them, and relaxed loads of two atomics
        // promise no order): saturate rather than underflow.
        let successful = self.successful.load(Ordering::Relaxed);
        let written = self.written.load(Ordering::Relaxed);
        let failed = written.saturating_sub(successful);
        (written, format!("Successful: {successful}, Failed: {failed}"))
    }
}

pub struct Progress {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Progress {
    /// `total` is the number of targets when known (generated sets), for the bar's length.
    pub fn start(counters: Arc<Counters>, total: Option<u64>, quiet: bool) -> Self {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            if quiet {
                return;
            }
            if std::io::stderr().is_terminal() {
                draw_bar(&counters, total, token).await;
            } else {
                log_lines(&counters, total, token).await;
            }
        });
        Progress { stop, task }
    }

    pub async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn draw_bar(counters: &Counters, total: Option<u64>, stop: CancellationToken) {
    let bar = match total {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = match total {
        Some(_) => "{bar:30} {pos}/{len} ETA {eta} {msg}",
        None => "{spinner} {pos} checked {msg}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        let (written, msg) = counters.line();
        bar.set_position(written);
        bar.set_message(format!(
            "{msg}, {:.0} URLs/s",
            written as f64 / start.elapsed().as_secs_f64()
        ));
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
    }
    bar.finish_and_clear();
}

async fn log_lines(counters: &Counters, total: Option<u64>, stop: CancellationToken) {
    let start = Instant::now();
    let mut tick = tokio::time::interval(LOG_EVERY);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let (written, msg) = counters.line();
        let rate = written as f64 / start.elapsed().as_secs_f64();
        let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
        tracing::info!("{msg} ({written}{of} checked, {rate:.0} URLs/s)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failed_count_never_underflows() {
        // What a read between the writer's two increments, in the other order, can see.
        let counters = Counters::default();
        counters.written.store(5, Ordering::Relaxed);
        counters.successful.store(6, Ordering::Relaxed);
        assert_eq!(counters.line(), (5, "Successful: 6, Failed: 0".to_string()));
        counters.record_written(false);
        counters.record_written(false);
        assert_eq!(counters.line(), (7, "Successful: 6, Failed: 1".to_string()));
    }
}
