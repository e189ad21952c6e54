//! A host's slot, held by the probe while it sends: what the probe tells the host (answered,
//! throttled), its retries, and the slot given back on drop.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Blocked, Host, HostPolicy, Shared};

/// What a request does with its connection. While other URLs of the host wait in the queue it
/// keeps it for them; otherwise it asks the server to close it (`Connection: close`) rather than
/// leave it idle in the pool, on the connection an earlier URL of the host kept when there was
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// More URLs of the host wait: keep the connection open for them.
    Keep,
    /// The host's last URL after others: send on a connection they kept, asking to close it.
    Last,
    /// The host's only URL: a connection of its own, closed after the answer.
    Only,
}

/// What a URL's host has besides it when its request starts (see [`HostPermit::now`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostNow {
    pub connection: Connection,
    /// Another request of the host is in flight, queued or waiting: over HTTP/2 they share one
    /// connection (`net::origins`). The host's first requests are in flight together before
    /// any of them starts, so none is "last" for sharing's sake, though each may ask to close.
    pub busy: bool,
}

impl HostNow {
    /// A URL without a host slot (no per-host limits), or whose host is gone.
    pub const ALONE: HostNow = HostNow {
        connection: Connection::Only,
        busy: false,
    };
}

/// The right to have one URL of a host in flight; dropping it gives the slot back.
pub struct HostPermit {
    pub(super) shared: Arc<Shared>,
    pub(super) key: Arc<str>,
}

impl std::fmt::Debug for HostPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HostPermit").field(&self.key).finish()
    }
}

impl HostPermit {
    pub fn host(&self) -> &str {
        &self.key
    }

    pub fn policy(&self) -> &HostPolicy {
        &self.shared.policy
    }

    /// What the URL's host has besides it as its request starts (one look at the host).
    pub fn now(&self) -> HostNow {
        let state = self.shared.lock();
        let Some(h) = state.live.get(&self.key) else {
            return HostNow::ALONE;
        };
        let waiting = h.queued > 0 || h.waiting > 0;
        HostNow {
            connection: if waiting {
                Connection::Keep
            } else if h.figures.requests > 1 {
                // This request is counted: another went before it.
                Connection::Last
            } else {
                Connection::Only
            },
            busy: waiting || h.in_flight > 1,
        }
    }

    /// The host answered without asking to slow down: its limit grows back by one (AIMD); an
    /// `error` (no HTTP answer) is counted.
    pub fn answered(&self, error: bool) {
        let mut state = self.shared.lock();
        let Some(host) = state.live.get_mut(&self.key) else {
            return;
        };
        host.figures.errors += u64::from(error);
        if host.limit < self.shared.policy.concurrency {
            host.limit += 1;
            self.shared.wake(state, self.key.clone());
        }
    }

    /// The host asked to slow down: pause it for `pause`, and halve its limit, once per pause
    /// (the other requests in flight when it said so are answered alike; they are one signal).
    pub fn throttled(&self, pause: Duration) {
        let now = Instant::now();
        let mut state = self.shared.lock();
        let Some(host) = state.live.get_mut(&self.key) else {
            return;
        };
        host.figures.throttled += 1;
        if host.paused_until.is_none_or(|t| t <= now) {
            host.limit = (host.limit / 2).max(1);
        }
        host.paused_until = host.paused_until.max(Some(now + pause));
    }

    /// Give the slot back and wait for another, ahead of the host's queued targets: after a
    /// pause, the limit and the interval, as any request. The wait holds the caller's place in
    /// `--concurrency`, bounded by the URLs the host had in flight when it said 429.
    pub async fn retry(self) -> HostPermit {
        let (shared, key) = (self.shared.clone(), self.key.clone());
        {
            let mut state = shared.lock();
            if let Some(host) = state.live.get_mut(&key) {
                host.waiting += 1;
                host.figures.retries += 1;
            }
        }
        drop(self);
        loop {
            // Registered before the host is looked at, so a release in between is not missed.
            let notify = {
                let mut state = shared.lock();
                let host = state
                    .live
                    .entry(key.clone())
                    .or_insert_with(|| Host::new(&shared.policy));
                host.notify.get_or_insert_with(Arc::default).clone()
            };
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let until = {
                let now = Instant::now();
                let mut state = shared.lock();
                let host = state
                    .live
                    .get_mut(&key)
                    .expect("a waiting retry keeps its host live");
                match host.blocked(now, true) {
                    None => {
                        host.waiting = host.waiting.saturating_sub(1);
                        host.start(now, shared.policy.interval);
                        if host.waiting == 0 {
                            // The queued targets may go again.
                            shared.wake(state, key.clone());
                        } else {
                            drop(state);
                        }
                        return HostPermit { shared, key };
                    }
                    Some(Blocked::Until(at)) => Some(at),
                    Some(Blocked::Busy) => None,
                }
            };
            match until {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut state = self.shared.lock();
        let Some(host) = state.live.get_mut(&self.key) else {
            return;
        };
        host.in_flight = host.in_flight.saturating_sub(1);
        if host.waiting > 0 {
            if let Some(notify) = &host.notify {
                notify.notify_waiters();
            }
        }
        if host.idle(now) {
            if let Some(host) = state.live.remove(&self.key) {
                state.retire(self.key.clone(), host.figures);
            }
            return;
        }
        self.shared.wake(state, self.key.clone());
    }
}
