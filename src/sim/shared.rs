//! What every connection of the server shares: the options, the TLS set-up, and the counters of
//! connections, requests and hosts that `SimServer::stats` and `host_stats` read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hyper::server::conn::http1;

use super::profile::SimOptions;
use super::tls::Tls;

/// Counters of what the server has seen, for tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimStats {
    /// Connections open right now.
    pub connections_now: u64,
    /// The most connections that were open at once.
    pub connections_max: u64,
    pub connections_total: u64,
    pub requests_total: u64,
    /// Bytes of `/_/bytes/N` bodies handed to the connections (at most a piece ahead of the
    /// socket): how much of a huge body a client made the server send.
    pub body_bytes: u64,
}

/// What one host (a `Host` name, without port) has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct HostStats {
    /// Connections whose first request named this host.
    pub connections: u64,
    /// Those of them over TLS: one handshake each.
    pub tls_handshakes: u64,
    pub requests: u64,
    /// The most requests at once, counting those refused with 429.
    pub max_in_flight: u64,
    /// Requests refused with 429 because the host was at its limit.
    pub too_many_requests: u64,
    #[serde(skip)]
    pub(super) in_flight: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) now: AtomicU64,
    pub(super) max: AtomicU64,
    pub(super) total: AtomicU64,
    pub(super) requests: AtomicU64,
    pub(super) body_bytes: AtomicU64,
}

/// Counts one open connection for as long as it lives.
pub(super) struct Open(pub(super) Arc<Shared>);

impl Open {
    pub(super) fn new(shared: Arc<Shared>) -> Open {
        let c = &shared.counters;
        let now = c.now.fetch_add(1, Ordering::Relaxed) + 1;
        c.max.fetch_max(now, Ordering::Relaxed);
        c.total.fetch_add(1, Ordering::Relaxed);
        Open(shared)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.counters.now.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every connection task shares.
pub(super) struct Shared {
    pub(super) opts: SimOptions,
    pub(super) tls: Tls,
    pub(super) http: http1::Builder,
    pub(super) counters: Counters,
    pub(super) all_loopback: bool,
    /// Per host, lower case; `None` when nothing asks for it (the one-shot profiles keep no
    /// state per name, whatever the number of names).
    pub(super) hosts: Option<Mutex<HashMap<String, HostStats>>>,
}

impl Shared {
    pub(super) fn hosts(&self) -> Option<std::sync::MutexGuard<'_, HashMap<String, HostStats>>> {
        let hosts = self.hosts.as_ref()?;
        Some(hosts.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// One request counted in flight at its host until dropped.
pub(super) struct InFlight {
    pub(super) shared: Arc<Shared>,
    pub(super) host: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(stats) = self.shared.hosts().as_mut().and_then(|h| h.get_mut(&self.host)) {
            stats.in_flight -= 1;
        }
    }
}
