//! Which client, and so which connection, a request to an HTTPS origin takes, so that the URLs of
//! one host share one HTTP/2 connection where the server speaks it.
//!
//! reqwest's pool shares an HTTP/2 connection among every request that finds it in the pool, but
//! requests that start while the first connection to an origin is still being set up (its
//! protocol unknown until TLS has chosen one by ALPN) each open their own, and all but one are
//! thrown away once they turn out to be HTTP/2: one handshake per request in flight, wasted.
//! So, as browsers do, the first request to an origin whose host has others in flight or
//! waiting goes alone (the *opener*), and the others of its origin wait until its answer has come (by then its connection is in the
//! pool, and the server's `SETTINGS` have been read), at most `patience`. After that:
//! - an HTTP/2 origin: every request goes through the pooled client, the host's last URL too
//!   (over HTTP/1.1 it asks to close, on a connection its host kept); `--host-concurrency` caps the streams in flight, the server's
//!   `SETTINGS_MAX_CONCURRENT_STREAMS` is honoured by hyper (streams over it wait);
//! - an HTTP/1.1 origin: as before, keep-alive requests and the host's last URL through the
//!   pool (the last asks to close the connection it takes), a lone URL through the pool-less
//!   client.
//!
//! hyper-util forgets an HTTP/2 connection when no request has started on it for the pool's idle
//! time; a request that starts later opens the next one, and goes alone again. A `GOAWAY` makes
//! the next request an opener too.
//!
//! Only origins whose hosts had several requests at once are remembered (a run over distinct hosts keeps
//! nothing here and pays one atomic load per request), and the idle ones are swept out once
//! there are thousands.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::Version;
use tokio::sync::Notify;
use tokio::time::Instant;
use url::Url;

/// Origins remembered before the idle ones are swept out.
const SWEEP_FROM: usize = 4_096;

/// The per-origin state of a run's HTTPS requests.
pub struct Origins {
    state: Mutex<HashMap<Arc<str>, Origin>>,
    /// How many origins are remembered: read without the lock.
    len: AtomicUsize,
    /// How long the pool keeps an idle connection.
    pool_idle: Duration,
    /// The longest a request waits for its origin's opener.
    patience: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Unknown,
    Http1,
    Http2,
}

struct Origin {
    protocol: Protocol,
    /// Set while an opener is in flight; its waiters are woken when it ends.
    opening: Option<Arc<Notify>>,
    /// When the last request through the pool started: hyper-util counts an HTTP/2
    /// connection's idle time from the last request that took it from the pool.
    last_start: Option<Instant>,
}

/// Where one request goes.
pub struct Route {
    /// Through the pooled client (keep-alive, or a stream of the origin's HTTP/2 connection);
    /// otherwise through the pool-less one, asking to close.
    pub pooled: bool,
    opener: Option<Opener>,
}

impl Route {
    pub fn direct(keep_alive: bool) -> Route {
        Route {
            pooled: keep_alive,
            opener: None,
        }
    }

    /// The answer came with `version`: an opener settles its origin's protocol.
    pub fn answered(mut self, version: Version) {
        if let Some(opener) = self.opener.take() {
            opener.settle(version);
        }
    }
}

/// The request that sets up an origin's connection; dropping it unanswered (a failure, a
/// timeout) lets the next request of the origin try.
struct Opener {
    origins: Arc<Origins>,
    key: Arc<str>,
}

impl Opener {
    fn settle(self, version: Version) {
        let protocol = if version == Version::HTTP_2 {
            Protocol::Http2
        } else {
            Protocol::Http1
        };
        if let Some(origin) = self.origins.lock().get_mut(&self.key) {
            origin.protocol = protocol;
        }
        // `Drop` wakes the waiters.
    }
}

impl Drop for Opener {
    fn drop(&mut self) {
        let mut state = self.origins.lock();
        if let Some(notify) = state.get_mut(&self.key).and_then(|o| o.opening.take()) {
            notify.notify_waiters();
        }
    }
}

impl Origins {
    pub fn new(pool_idle: Duration, connect_timeout: Duration) -> Arc<Origins> {
        Arc::new(Origins {
            state: Mutex::new(HashMap::new()),
            len: AtomicUsize::new(0),
            pool_idle,
            // Long enough for a TLS handshake and a first answer; short enough that a first
            // URL that hangs holds its host's others up for a moment only.
            patience: Duration::from_secs(1).min(connect_timeout / 2),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Origin>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The route of a request to `url` (HTTPS). `keep_alive`: over HTTP/1.1 it would go through
    /// the pool (more requests of its host follow, or it is the last and takes the connection
    /// the others kept); `busy`: other requests of its host are in flight or waiting (over
    /// HTTP/2 they share a connection).
    pub async fn route(self: &Arc<Self>, url: &Url, keep_alive: bool, busy: bool) -> Route {
        let shared = keep_alive || busy;
        if !shared && self.len.load(Ordering::Relaxed) == 0 {
            return Route::direct(false);
        }
        // Boxed: a probe's future carries none of the waiting's state unless it routes here.
        Box::pin(self.route_remembered(url, keep_alive, shared)).await
    }

    async fn route_remembered(self: &Arc<Self>, url: &Url, keep_alive: bool, shared: bool) -> Route {
        let key = origin_key(url);
        let mut waited = false;
        loop {
            match self.decide(&key, keep_alive, shared, waited) {
                Ok(route) => return route,
                Err(opening) => {
                    // Made before looking again, so an opener that ends in between wakes it.
                    let notified = opening.notified();
                    if self.still_opening(&key, &opening) {
                        // A wait that ends at its patience is no failure: the request goes.
                        let _ = tokio::time::timeout(self.patience, notified).await;
                    }
                    waited = true;
                }
            }
        }
    }

    /// The route of a request to the origin `key`, or the opener to wait for (unless `waited`).
    /// `shared`: the host has other requests now or next.
    fn decide(
        self: &Arc<Self>,
        key: &str,
        keep_alive: bool,
        shared: bool,
        waited: bool,
    ) -> Result<Route, Arc<Notify>> {
        let now = Instant::now();
        let mut state = self.lock();
        let Some(origin) = state.get_mut(key) else {
            if !shared {
                return Ok(Route::direct(false));
            }
            let key: Arc<str> = key.into();
            state.insert(
                key.clone(),
                Origin {
                    protocol: Protocol::Unknown,
                    opening: Some(Arc::default()),
                    last_start: Some(now),
                },
            );
            self.inserted(&mut state, now);
            return Ok(self.opener(key));
        };
        if let (Some(notify), false) = (&origin.opening, waited) {
            return Err(notify.clone());
        }
        let opening = origin.opening.is_some();
        Ok(match origin.protocol {
            Protocol::Http2 => {
                let fresh = origin
                    .last_start
                    .is_some_and(|t| now.saturating_duration_since(t) < self.pool_idle / 2);
                origin.last_start = Some(now);
                if fresh || opening {
                    Route::direct(true)
                } else {
                    // The pool may have let the connection go: set up the next one alone.
                    origin.opening = Some(Arc::default());
                    return Ok(self.opener(key.into()));
                }
            }
            Protocol::Http1 => Route::direct(keep_alive),
            // The opener failed: the next request of a busy host tries.
            Protocol::Unknown if shared && !opening => {
                origin.opening = Some(Arc::default());
                origin.last_start = Some(now);
                return Ok(self.opener(key.into()));
            }
            Protocol::Unknown => Route::direct(keep_alive),
        })
    }

    /// Whether the opener that `opening` belongs to is still in flight.
    fn still_opening(&self, key: &str, opening: &Arc<Notify>) -> bool {
        self.lock()
            .get(key)
            .and_then(|o| o.opening.as_ref())
            .is_some_and(|current| Arc::ptr_eq(current, opening))
    }

    /// The connection of `url`'s origin went away (`GOAWAY`): its next request sets up another.
    pub fn went_away(&self, url: &Url) {
        if let Some(origin) = self.lock().get_mut(origin_key(url).as_str()) {
            origin.last_start = None;
        }
    }

    fn opener(self: &Arc<Self>, key: Arc<str>) -> Route {
        Route {
            pooled: true,
            opener: Some(Opener {
                origins: self.clone(),
                key,
            }),
        }
    }

    /// After an insertion: count, and sweep out idle origins once there are many.
    fn inserted(&self, state: &mut HashMap<Arc<str>, Origin>, now: Instant) {
        if state.len() >= SWEEP_FROM && state.len().is_power_of_two() {
            state.retain(|_, o| {
                o.opening.is_some()
                    || o.last_start
                        .is_some_and(|t| now.saturating_duration_since(t) < self.pool_idle)
            });
        }
        self.len.store(state.len(), Ordering::Relaxed);
    }
}

/// `host:port` of an HTTPS URL (the scheme is always https here).
fn origin_key(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("a URL")
    }

    /// A pool idle time of 400 ms; a patience of 50 ms.
    fn origins() -> Arc<Origins> {
        Origins::new(Duration::from_millis(400), Duration::from_millis(100))
    }

    #[tokio::test]
    async fn a_distinct_host_keeps_nothing_and_goes_without_the_pool() {
        let origins = origins();
        let route = origins.route(&url("https://a.test/"), false, false).await;
        assert!(!route.pooled);
        assert_eq!(origins.len.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn the_first_request_opens_and_the_others_wait_for_its_answer() {
        let origins = Origins::new(Duration::from_secs(10), Duration::from_secs(10));
        let a = url("https://a.test/1");
        let first = origins.route(&a, true, true).await;
        assert!(first.pooled && first.opener.is_some());
        let waiter = {
            let (origins, a) = (origins.clone(), a.clone());
            tokio::spawn(async move {
                let route = origins.route(&a, true, true).await;
                (route.pooled, route.opener.is_some())
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiter.is_finished(), "it waits for the opener");
        first.answered(Version::HTTP_2);
        let (pooled, opener) = waiter.await.unwrap();
        assert!(pooled && !opener, "a stream of the opener's connection");
        // The host's last URLs take the HTTP/2 connection too.
        for _ in 0..2 {
            assert!(origins.route(&a, false, false).await.pooled);
        }
        assert_eq!(origins.len.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_busy_host_opens_one_connection_even_from_requests_that_ask_to_close() {
        let origins = origins();
        let a = url("https://a.test/1");
        let first = origins.route(&a, false, true).await;
        assert!(first.pooled && first.opener.is_some());
        first.answered(Version::HTTP_2);
        let next = origins.route(&a, false, true).await;
        assert!(next.pooled && next.opener.is_none());
    }

    #[tokio::test]
    async fn an_http1_origin_keeps_its_last_url_off_the_pool() {
        let origins = origins();
        let a = url("https://a.test/1");
        origins.route(&a, true, true).await.answered(Version::HTTP_11);
        let next = origins.route(&a, true, true).await;
        assert!(next.pooled && next.opener.is_none());
        assert!(!origins.route(&a, false, false).await.pooled);
    }

    #[tokio::test]
    async fn a_hanging_opener_holds_the_others_up_for_its_patience_only() {
        let origins = origins();
        let a = url("https://a.test/1");
        let _hanging = origins.route(&a, true, true).await;
        let start = Instant::now();
        let route = origins.route(&a, true, true).await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert!(route.pooled && route.opener.is_none());
    }

    #[tokio::test]
    async fn a_failed_opener_lets_the_next_request_open() {
        let origins = origins();
        let a = url("https://a.test/1");
        drop(origins.route(&a, true, true).await);
        let next = origins.route(&a, true, true).await;
        assert!(next.opener.is_some());
    }

    #[tokio::test]
    async fn an_idle_or_gone_http2_connection_is_opened_again_by_one_request() {
        let origins = origins();
        let a = url("https://a.test/1");
        origins.route(&a, true, true).await.answered(Version::HTTP_2);
        assert!(origins.route(&a, true, true).await.opener.is_none());
        tokio::time::sleep(Duration::from_millis(250)).await;
        let reopen = origins.route(&a, true, true).await;
        assert!(reopen.opener.is_some(), "the pool may have dropped it");
        reopen.answered(Version::HTTP_2);
        assert!(origins.route(&a, true, true).await.opener.is_none());
        origins.went_away(&a);
        assert!(origins.route(&a, true, true).await.opener.is_some());
    }
}
