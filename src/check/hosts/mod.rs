//! Politeness per host, for lists with many URLs of one site (a sitemap, every link of a
//! documentation site): at most `--host-concurrency` requests in flight to a host, at least
//! `--host-interval` between their starts, a pause when the host answers 429 (or 503) with
//! `Retry-After`, and AIMD after it (the host's limit halves, then grows back one per answer).
//!
//! The [`Scheduler`] sits between the targets and `buffer_unordered(concurrency)`: it keeps a FIFO
//! queue per host and yields the next target whose host has room, with a [`HostPermit`] the probe
//! holds while it sends. A URL waiting for a busy host so never holds one of the global slots,
//! and a list sorted by site keeps every site busy at once. It reads ahead only when nothing it
//! holds can go (at most `LOOK_AHEAD` targets), so a list of distinct hosts flows through with
//! nothing buffered. A host is `scheme://host:port` as written in the URL (`--resolve` sends
//! names elsewhere but keeps them apart), and is forgotten once it has nothing queued or in
//! flight, so millions of distinct hosts cost no memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::sync::Notify;
use tokio::time::Instant;
use url::Url;

mod figures;
mod permit;
mod scheduler;
mod throttle;

pub use figures::{HostFigures, HostsSummary, NamedHost};
pub use permit::{Connection, HostNow, HostPermit};
pub use scheduler::{Scheduled, Scheduler};
pub use throttle::{after_throttle, parse_retry_after, Throttle};

/// Targets read ahead at most while looking for one whose host has room: enough for a list sorted
/// by site to keep a few hundred sites busy at once.
pub const LOOK_AHEAD: usize = 100_000;
/// The live host table is swept of idle hosts (paused or paced ones) when it doubles past this.
const SWEEP_FROM: usize = 1_024;

/// The per-host rules of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPolicy {
    /// `--host-concurrency`: requests in flight to one host, at least 1.
    pub concurrency: u32,
    /// `--host-interval`: the least time between two request starts to one host.
    pub interval: Duration,
    /// `--max-retry-wait`: the most one URL waits in total for 429s (and 503s) to pass.
    pub max_retry_wait: Duration,
    /// `--retries-429`: how often one URL is sent again after a 429 (or a 503 with Retry-After).
    pub retries_429: u32,
}

impl Default for HostPolicy {
    fn default() -> Self {
        HostPolicy {
            concurrency: 6,
            interval: Duration::ZERO,
            max_retry_wait: Duration::from_secs(60),
            retries_429: 3,
        }
    }
}

/// The host a URL counts against: `scheme://host:port`.
pub fn host_key(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// The per-host state a run shares between the scheduler and the probes.
#[derive(Clone)]
pub struct Hosts {
    pub(super) shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) policy: HostPolicy,
    pub(super) state: Mutex<State>,
    /// The scheduler's, woken when a host may have room again.
    pub(super) scheduler: AtomicWaker,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) live: HashMap<Arc<str>, Host>,
    /// Hosts that may have room again, for the scheduler to look at.
    pub(super) woken: Vec<Arc<str>>,
    /// Figures of hosts no longer live.
    pub(super) retired: HashMap<Arc<str>, HostFigures>,
    pub(super) others: HostFigures,
    pub(super) other_hosts: u64,
    pub(super) sweep_at: usize,
}

pub(super) struct Host {
    /// The current limit: `policy.concurrency`, less after a 429 (AIMD).
    pub(super) limit: u32,
    pub(super) in_flight: u32,
    /// Targets of the host waiting in the scheduler.
    pub(super) queued: usize,
    /// Retries waiting for a permit; they go before the queued targets.
    pub(super) waiting: u32,
    pub(super) paused_until: Option<Instant>,
    pub(super) next_start: Option<Instant>,
    /// Wakes waiting retries; made for the first one.
    pub(super) notify: Option<Arc<Notify>>,
    pub(super) figures: HostFigures,
}

/// Why a host cannot take a request now.
pub(super) enum Blocked {
    /// Until this instant (a pause or the interval).
    Until(Instant),
    /// Until a request ends or a retry goes (the scheduler is woken then).
    Busy,
}

impl Host {
    pub(super) fn new(policy: &HostPolicy) -> Host {
        Host {
            limit: policy.concurrency,
            in_flight: 0,
            queued: 0,
            waiting: 0,
            paused_until: None,
            next_start: None,
            notify: None,
            figures: HostFigures::default(),
        }
    }

    /// Whether a request may start now; `retry` ones do not wait behind other retries.
    pub(super) fn blocked(&self, now: Instant, retry: bool) -> Option<Blocked> {
        let until = self.paused_until.max(self.next_start).filter(|&t| t > now);
        if let Some(until) = until {
            return Some(Blocked::Until(until));
        }
        (self.in_flight >= self.limit || !retry && self.waiting > 0).then_some(Blocked::Busy)
    }

    pub(super) fn start(&mut self, now: Instant, interval: Duration) {
        self.in_flight += 1;
        self.figures.requests += 1;
        self.figures.max_in_flight = self.figures.max_in_flight.max(self.in_flight);
        if !interval.is_zero() {
            self.next_start = Some(now + interval);
        }
    }

    /// Nothing would be lost by forgetting it.
    pub(super) fn idle(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self.queued == 0
            && self.waiting == 0
            && self.paused_until.max(self.next_start).is_none_or(|t| t <= now)
    }
}

impl State {
    /// Forget the idle hosts that a pause or the interval kept.
    pub(super) fn sweep(&mut self, now: Instant) {
        let idle: Vec<Arc<str>> = self
            .live
            .iter()
            .filter(|(_, h)| h.idle(now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in idle {
            if let Some(host) = self.live.remove(&key) {
                self.retire(key, host.figures);
            }
        }
        self.sweep_at = (2 * self.live.len()).max(SWEEP_FROM);
    }
}

impl Hosts {
    pub fn new(policy: HostPolicy) -> Hosts {
        let policy = HostPolicy {
            concurrency: policy.concurrency.max(1),
            ..policy
        };
        Hosts {
            shared: Arc::new(Shared {
                policy,
                state: Mutex::new(State {
                    sweep_at: SWEEP_FROM,
                    ..State::default()
                }),
                scheduler: AtomicWaker::new(),
            }),
        }
    }

    pub fn policy(&self) -> &HostPolicy {
        &self.shared.policy
    }

    /// Hosts held in memory right now (for tests: distinct hosts must not pile up).
    pub fn live_hosts(&self) -> usize {
        self.shared.lock().live.len()
    }
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tell the scheduler that `key` may take a request again.
    pub(super) fn wake(&self, mut state: MutexGuard<'_, State>, key: Arc<str>) {
        state.woken.push(key);
        drop(state);
        self.scheduler.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_scheme_host_and_port() {
        let key = |u: &str| host_key(&Url::parse(u).expect("a URL"));
        assert_eq!(key("https://A.test/x"), "https://a.test:443");
        assert_eq!(key("http://a.test:8080/"), "http://a.test:8080");
        assert_ne!(key("http://a.test/"), key("https://a.test/"));
    }
}
