//! `--timings`: the phases of each request, measured inside reqwest through its public API and
//! handed back to the probe that sent it. Without `--timings` none of this is installed: the
//! client is built without these hooks and the probe never calls [`measure`].
//!
//! Each request leaves time stamps, and its phases are cut from them when it ends:
//! - it begins when the client hands it to reqwest (`Watch`);
//! - DNS: [`TimedResolver`] around our resolver notes each look-up's start and end;
//! - TLS starts when rustls builds the ClientHello, which is when it asks its session store for
//!   a ticket to resume with: [`stamp_hellos`] installs a store that notes the time;
//! - the request is written when hyper writes its head, which is when it asks the request's
//!   body whether it has ended ([`Watch::body`]): set-up is over;
//! - it ends when the answer's head is read, or the request fails or is given up.
//!
//! So TCP is the time from the start to the ClientHello (to the write over plain HTTP), less the
//! look-up; TLS from the ClientHello to the write; first byte from the write to the end. A phase
//! cut short counts until the end. Over the client without a pool every written request opened
//! a connection; through the pool, [`ConnectionCounter`], a tower layer around reqwest's
//! connector, counts the connections a request opened (a kept one never reaches it).
//!
//! The stamps reach the request's meter through a task-local that [`measure`] sets around the
//! request. The resolver, the connector and rustls run inside the request's future, in the
//! probe's task: hyper-util polls a new connection's set-up there. The one exception is a set-up
//! that loses the race against a pooled connection coming back (the pooled client races the two),
//! which hyper-util finishes in a task of its own, where nothing is noted: the request did not
//! use that connection. The write happens in hyper's connection task, so the body carries its
//! stamp itself.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Frame, SizeHint};
use reqwest::dns::{Name, Resolve, Resolving};
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;

use crate::record::Timings;

tokio::task_local! {
    /// The stamps of the request being measured (boxed: the task-local swaps it in and out at
    /// every poll).
    static METER: Box<RefCell<Meter>>;
}

/// What one measurement has seen: the requests that ended (a reset kept connection is sent
/// again), and the one under way. Times are kept as offsets from `started`.
#[derive(Debug)]
struct Meter {
    started: Instant,
    /// When the request under way was written (an offset in nanoseconds, 0 while it is not):
    /// set by its body, in hyper's connection task.
    written: Arc<AtomicU64>,
    ended: Timings,
    current: Option<Stamps>,
}

/// The time stamps of one request, as offsets from the start of the measurement.
#[derive(Debug)]
struct Stamps {
    begun: Duration,
    /// Look-ups that ended, and the start of one under way.
    dns: Duration,
    dns_since: Option<Duration>,
    hello: Option<Duration>,
    /// Whether the request went through the client without a pool, where every written request
    /// opened a connection; through the pool, the connector layer counts them in `opened`.
    fresh: bool,
    opened: u32,
}

impl Meter {
    fn new() -> Self {
        Meter {
            started: Instant::now(),
            written: Arc::new(AtomicU64::new(0)),
            ended: Timings::default(),
            current: None,
        }
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// The request under way ended at `end`: add its phases to `ended`. They add up to the
    /// request's time, `end - begun`.
    fn end_request(&mut self, end: Duration) {
        let Some(stamps) = self.current.take() else {
            return;
        };
        let written = match self.written.swap(0, Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos).min(end)),
        };
        let set_up_end = written.unwrap_or(end);
        // A look-up still under way counts until the set-up ended: until the end when it hung,
        // until the write when a pooled connection came back before it finished.
        let unfinished = stamps
            .dns_since
            .map_or(Duration::ZERO, |at| set_up_end.saturating_sub(at));
        let dns = (stamps.dns + unfinished).min(set_up_end.saturating_sub(stamps.begun));
        let hello = stamps.hello.filter(|&at| at <= set_up_end);
        let sums = &mut self.ended;
        sums.dns += dns;
        sums.connect += hello.unwrap_or(set_up_end).saturating_sub(stamps.begun + dns);
        sums.tls += hello.map_or(Duration::ZERO, |at| set_up_end - at);
        sums.ttfb += written.map_or(Duration::ZERO, |at| end - at);
        sums.new_connections += match stamps.fresh {
            true => u32::from(written.is_some()),
            false => stamps.opened,
        };
    }
}

/// Send one request (a future that sends it and reads the head, or gives up) and add its
/// phases to `sums`.
pub async fn measure<F: Future>(sums: &mut Timings, request: Pin<&mut F>) -> F::Output {
    // The answer is put aside rather than returned through the task-local's future, which
    // would move it (a few hundred bytes) at every poll.
    let mut output = None;
    METER
        .scope(Box::new(RefCell::new(Meter::new())), async {
            output = Some(request.await);
            let ended = METER.with(|meter| {
                let mut meter = meter.borrow_mut();
                let end = meter.now();
                meter.end_request(end);
                meter.ended
            });
            sums.dns += ended.dns;
            sums.connect += ended.connect;
            sums.tls += ended.tls;
            sums.ttfb += ended.ttfb;
            sums.new_connections += ended.new_connections;
        })
        .await;
    output.expect("a measured request ends with its output")
}

/// Note something about the request being measured, given the time since the measurement
/// started; nothing when there is none (no `--timings`, or a connection set-up that hyper-util
/// finishes in a task of its own).
fn note(f: impl FnOnce(&mut Stamps, Duration)) {
    let _ = METER.try_with(|meter| {
        let mut meter = meter.borrow_mut();
        let now = meter.now();
        if let Some(stamps) = &mut meter.current {
            f(stamps, now);
        }
    });
}

/// A request about to be handed to reqwest, in a measured task.
pub struct Watch {
    started: Instant,
    written: Arc<AtomicU64>,
}

impl Watch {
    /// Start the stamps of a request (`pooled`: through the client with a pool); the one
    /// before it, if any, ends now. `None` outside a measurement.
    pub fn begin(pooled: bool) -> Option<Watch> {
        METER
            .try_with(|meter| {
                let mut meter = meter.borrow_mut();
                let now = meter.now();
                meter.end_request(now);
                meter.current = Some(Stamps {
                    begun: now,
                    dns: Duration::ZERO,
                    dns_since: None,
                    hello: None,
                    fresh: !pooled,
                    opened: 0,
                });
                Watch {
                    started: meter.started,
                    written: meter.written.clone(),
                }
            })
            .ok()
    }

    /// The request's body: `inner`, noting when hyper writes the request.
    pub fn body<B>(self, inner: B) -> WatchedBody<B> {
        WatchedBody { inner, watch: self }
    }
}

/// A request body that notes when hyper writes the request's head: hyper asks a body whether
/// it has ended just before it writes the head, and only then.
pub struct WatchedBody<B> {
    inner: B,
    watch: Watch,
}

impl<B: Body + Unpin> Body for WatchedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        let at = self.watch.started.elapsed().as_nanos();
        let at = u64::try_from(at).unwrap_or(u64::MAX).max(1);
        let _ = self
            .watch
            .written
            .compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed);
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client's resolver, with the start and end of every look-up noted.
#[derive(Clone)]
pub struct TimedResolver<R>(pub R);

impl<R: Resolve> Resolve for TimedResolver<R> {
    fn resolve(&self, name: Name) -> Resolving {
        note(|stamps, now| stamps.dns_since = Some(now));
        let lookup = self.0.resolve(name);
        Box::pin(async move {
            let found = lookup.await;
            note(|stamps, now| {
                if let Some(since) = stamps.dns_since.take() {
                    stamps.dns += now.saturating_sub(since);
                }
            });
            found
        })
    }
}

/// The tower layer around the pooled client's connector: counts the connections a request
/// opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectionCounter;

impl<S> tower_layer::Layer<S> for ConnectionCounter {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted(inner)
    }
}

#[derive(Debug, Clone)]
pub struct Counted<S>(S);

impl<S, R> tower_service::Service<R> for Counted<S>
where
    S: tower_service::Service<R>,
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = CountedConnect<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, target: R) -> Self::Future {
        CountedConnect(self.0.call(target))
    }
}

/// One connection being set up through the pool.
pub struct CountedConnect<F>(F);

impl<F, T, E> Future for CountedConnect<F>
where
    F: Future<Output = Result<T, E>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = ready!(Pin::new(&mut self.0).poll(cx));
        if result.is_ok() {
            note(|stamps, _| stamps.opened += 1);
        }
        Poll::Ready(result)
    }
}

/// Give `config` a session store that notes when each ClientHello is built (it behaves as the
/// default store otherwise: 256 names in memory).
pub fn stamp_hellos(config: &mut rustls::ClientConfig) {
    config.resumption = Resumption::store(Arc::new(StampedSessions(ClientSessionMemoryCache::new(256))));
}

/// rustls' in-memory session store, noting the time of the first ticket look-up of a handshake:
/// rustls makes it when it builds the ClientHello (`take_tls13_ticket`, then `tls12_session`).
#[derive(Debug)]
struct StampedSessions(ClientSessionMemoryCache);

fn hello_now() {
    note(|stamps, now| {
        stamps.hello.get_or_insert(now);
    });
}

impl ClientSessionStore for StampedSessions {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.0.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.0.kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.0.set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<rustls::client::Tls12ClientSessionValue> {
        hello_now();
        self.0.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.0.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.0.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        hello_now();
        self.0.take_tls13_ticket(server_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::time::sleep;
    use tower_service::Service;

    /// A resolver that takes its time.
    struct SlowResolver(Duration);

    impl Resolve for SlowResolver {
        fn resolve(&self, _: Name) -> Resolving {
            let wait = self.0;
            Box::pin(async move {
                sleep(wait).await;
                let addrs: Vec<SocketAddr> = vec!["127.0.0.1:0".parse().unwrap()];
                Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
            })
        }
    }

    /// What a request through reqwest does, phase by phase: begin, look the name up, connect,
    /// build the ClientHello, finish the handshake, write, wait for the head.
    async fn request(pooled: bool, [dns, tcp, tls, head]: [u64; 4]) {
        let ms = Duration::from_millis;
        let watch = Watch::begin(pooled).expect("measured");
        let resolver = TimedResolver(SlowResolver(ms(dns)));
        let _ = resolver.resolve("a.test".parse().unwrap()).await;
        sleep(ms(tcp)).await;
        hello_now();
        sleep(ms(tls)).await;
        assert!(watch
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .is_end_stream());
        sleep(ms(head)).await;
    }

    /// A connector that connects at once.
    struct Connects;

    impl Service<()> for Connects {
        type Response = ();
        type Error = ();
        type Future = std::future::Ready<Result<(), ()>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, (): ()) -> Self::Future {
            std::future::ready(Ok(()))
        }
    }

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    /// Each phase is at least what it slept and, on a loaded machine, not much more.
    fn assert_about(sums: &Timings, [dns, connect, tls, ttfb]: [u128; 4]) {
        let near = |got: Duration, want: u128| (want..want + 90).contains(&ms(got));
        assert!(near(sums.dns, dns), "dns {sums:?}");
        assert!(near(sums.connect, connect), "connect {sums:?}");
        assert!(near(sums.tls, tls), "tls {sums:?}");
        assert!(near(sums.ttfb, ttfb), "ttfb {sums:?}");
    }

    #[tokio::test]
    async fn a_request_splits_into_dns_tcp_tls_and_first_byte() {
        let mut sums = Timings::default();
        measure(&mut sums, std::pin::pin!(request(false, [30, 40, 50, 60]))).await;
        assert_about(&sums, [30, 40, 50, 60]);
        assert_eq!(
            sums.new_connections, 1,
            "written without a pool: a new connection"
        );
    }

    #[tokio::test]
    async fn a_request_cut_short_counts_the_time_it_ran_in_its_phase() {
        let mut sums = Timings::default();
        let stuck = tokio::time::timeout(Duration::from_millis(50), request(false, [0, 5000, 0, 0]));
        assert!(measure(&mut sums, std::pin::pin!(stuck)).await.is_err());
        assert_about(&sums, [0, 50, 0, 0]);
        assert_eq!(sums.new_connections, 0, "never written: no connection");
        let mut sums = Timings::default();
        let hung = tokio::time::timeout(Duration::from_millis(50), request(false, [5000, 0, 0, 0]));
        assert!(measure(&mut sums, std::pin::pin!(hung)).await.is_err());
        assert_about(&sums, [50, 0, 0, 0]);
    }

    #[tokio::test]
    async fn requests_sent_again_add_up_and_through_the_pool_the_layer_counts_connections() {
        let mut sums = Timings::default();
        let twice = async {
            request(true, [0, 0, 0, 20]).await;
            let mut counted = Counted(Connects);
            let _ = Watch::begin(true);
            counted.call(()).await.unwrap();
            request(true, [10, 10, 10, 20]).await;
        };
        measure(&mut sums, std::pin::pin!(twice)).await;
        assert_about(&sums, [10, 10, 10, 40]);
        assert_eq!(
            sums.new_connections, 1,
            "the layer's one connection, not the writes"
        );
    }

    #[tokio::test]
    async fn nothing_is_noted_outside_a_measured_request() {
        assert!(Watch::begin(false).is_none());
        // A set-up hyper-util finishes in a task of its own reaches no meter.
        let mut sums = Timings::default();
        let elsewhere = tokio::spawn(async { hello_now() });
        measure(&mut sums, std::pin::pin!(async { elsewhere.await.unwrap() })).await;
        assert_eq!(sums, Timings::default());
    }
}
