//! `--timings`: the phases of each request, measured inside reqwest through its public API and
//! handed back to the probe that sent it. Without `--timings` none of this is installed: the
//! client is built without these hooks and the probe never calls [`measure`].
//!
//! - DNS: [`TimedResolver`] around our resolver.
//! - TCP and TLS: [`ConnectTimer`], a tower layer around reqwest's connector, sees one call per
//!   new connection (resolve, TCP connect and TLS handshake, in that order; a kept connection never
//!   reaches it). The handshake starts when rustls builds the ClientHello, which is when it asks
//!   its session store for a ticket to resume with: [`stamp_hellos`] installs a store that notes
//!   the time. TCP is the layer's time up to then, less DNS; TLS the rest.
//! - First byte: the rest of the request's time, from the request written to the head read.
//!
//! The figures reach the probe through a task-local that [`measure`] sets around one request.
//! That holds because hyper-util polls a new connection's set-up inside the future of the request
//! that needs it, in the probe's task; the one exception is a set-up that loses the race against a
//! pooled connection coming back (the pooled client races the two), which hyper-util finishes in a
//! task of its own, where nothing is counted: the request did not use that connection.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use reqwest::dns::{Name, Resolve, Resolving};
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;

use crate::record::Timings;

tokio::task_local! {
    /// What the request being measured has spent so far.
    static METER: RefCell<Meter>;
}

/// One request's phases, as the hooks report them.
#[derive(Debug, Default)]
struct Meter {
    dns: Duration,
    connect: Duration,
    tls: Duration,
    new_connections: u32,
    /// When rustls built the ClientHello of the connection being set up.
    hello: Option<Instant>,
}

/// Run one request (a future that sends it and reads the head, or gives up) and add its phases
/// to `sums`. The request is dropped inside the measurement too, so a connection set-up cut short
/// by a timeout still reports the time it ran.
pub async fn measure<F: Future>(sums: &mut Timings, request: F) -> F::Output {
    let started = Instant::now();
    let (output, spent) = METER
        .scope(RefCell::new(Meter::default()), async {
            // `.await` drops the request when it ends, before the meter is read.
            let output = request.await;
            (output, METER.with(RefCell::take))
        })
        .await;
    let set_up = spent.dns + spent.connect + spent.tls;
    sums.dns += spent.dns;
    sums.connect += spent.connect;
    sums.tls += spent.tls;
    sums.ttfb += started.elapsed().saturating_sub(set_up);
    sums.new_connections += spent.new_connections;
    output
}

/// Note something about the request being measured; nothing when there is none (no
/// `--timings`, or a connection set-up that hyper-util finishes in a task of its own).
fn note(f: impl FnOnce(&mut Meter)) {
    let _ = METER.try_with(|meter| f(&mut meter.borrow_mut()));
}

/// The client's resolver, with the time of every look-up noted.
#[derive(Clone)]
pub struct TimedResolver<R>(pub R);

impl<R: Resolve> Resolve for TimedResolver<R> {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.0.resolve(name);
        Box::pin(async move {
            // Dropped when the look-up ends or is given up (a connect timeout).
            let _stamp = DnsStamp(Instant::now());
            lookup.await
        })
    }
}

struct DnsStamp(Instant);

impl Drop for DnsStamp {
    fn drop(&mut self) {
        let spent = self.0.elapsed();
        note(|meter| meter.dns += spent);
    }
}

/// The tower layer around reqwest's connector: times every new connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectTimer;

impl<S> tower_layer::Layer<S> for ConnectTimer {
    type Service = TimedConnector<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimedConnector(inner)
    }
}

#[derive(Debug, Clone)]
pub struct TimedConnector<S>(S);

impl<S, R> tower_service::Service<R> for TimedConnector<S>
where
    S: tower_service::Service<R>,
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TimedConnect<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, target: R) -> Self::Future {
        let stamp = ConnectStamp::start();
        TimedConnect {
            inner: self.0.call(target),
            stamp,
        }
    }
}

/// One connection being set up. `inner` is declared first so that it is dropped first: a look-up
/// cut short inside it has noted its time before `stamp` reads it.
pub struct TimedConnect<F> {
    inner: F,
    stamp: ConnectStamp,
}

impl<F, T, E> Future for TimedConnect<F>
where
    F: Future<Output = Result<T, E>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let result = ready!(Pin::new(&mut this.inner).poll(cx));
        this.stamp.finish(result.is_ok());
        Poll::Ready(result)
    }
}

struct ConnectStamp {
    started: Instant,
    /// The request's DNS time when this connection's set-up started: what it adds is its own.
    dns_before: Duration,
    done: bool,
}

impl ConnectStamp {
    fn start() -> Self {
        let mut dns_before = Duration::ZERO;
        note(|meter| {
            meter.hello = None;
            dns_before = meter.dns;
        });
        ConnectStamp {
            started: Instant::now(),
            dns_before,
            done: false,
        }
    }

    /// The set-up ended (`connected`) or was given up: split its time into TCP and TLS at the
    /// ClientHello (all TCP without one), less the look-up inside it.
    fn finish(&mut self, connected: bool) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let now = Instant::now();
        let started = self.started;
        let dns_before = self.dns_before;
        note(|meter| {
            let dns = meter.dns.saturating_sub(dns_before);
            let hello = meter.hello.take().filter(|&at| at >= started).unwrap_or(now);
            meter.connect += hello.saturating_duration_since(started).saturating_sub(dns);
            meter.tls += now.saturating_duration_since(hello);
            meter.new_connections += u32::from(connected);
        });
    }
}

impl Drop for ConnectStamp {
    fn drop(&mut self) {
        self.finish(false);
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
    note(|meter| {
        meter.hello.get_or_insert_with(Instant::now);
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
    use tower_service::Service;

    /// A connector whose set-up takes `tcp`, then builds a ClientHello and takes `tls`; it
    /// resolves first, through a resolver that takes `dns`.
    #[derive(Clone)]
    struct Slow {
        dns: Duration,
        tcp: Duration,
        tls: Duration,
    }

    struct SlowResolver(Duration);

    impl Resolve for SlowResolver {
        fn resolve(&self, _: Name) -> Resolving {
            let wait = self.0;
            Box::pin(async move {
                tokio::time::sleep(wait).await;
                let addrs: Vec<SocketAddr> = vec!["127.0.0.1:0".parse().unwrap()];
                Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
            })
        }
    }

    impl Service<()> for Slow {
        type Response = ();
        type Error = ();
        type Future = Pin<Box<dyn Future<Output = Result<(), ()>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, (): ()) -> Self::Future {
            let this = self.clone();
            Box::pin(async move {
                let resolver = TimedResolver(SlowResolver(this.dns));
                let _ = resolver.resolve("a.test".parse().unwrap()).await;
                tokio::time::sleep(this.tcp).await;
                hello_now();
                tokio::time::sleep(this.tls).await;
                Ok(())
            })
        }
    }

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[tokio::test]
    async fn a_set_up_splits_into_dns_tcp_and_tls_and_the_rest_is_first_byte() {
        let mut connector = TimedConnector(Slow {
            dns: Duration::from_millis(30),
            tcp: Duration::from_millis(40),
            tls: Duration::from_millis(50),
        });
        let mut sums = Timings::default();
        let request = async {
            connector.call(()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(60)).await;
        };
        measure(&mut sums, request).await;
        // Sleeps end no earlier than asked, and a loaded machine may add to any of them.
        assert!((30..120).contains(&ms(sums.dns)), "{sums:?}");
        assert!((40..130).contains(&ms(sums.connect)), "{sums:?}");
        assert!((50..140).contains(&ms(sums.tls)), "{sums:?}");
        assert!((60..150).contains(&ms(sums.ttfb)), "{sums:?}");
        assert_eq!(sums.new_connections, 1);
    }

    #[tokio::test]
    async fn a_set_up_cut_short_counts_the_time_it_ran_and_opens_nothing() {
        let mut connector = TimedConnector(Slow {
            dns: Duration::ZERO,
            tcp: Duration::from_secs(5),
            tls: Duration::ZERO,
        });
        let mut sums = Timings::default();
        let request = tokio::time::timeout(Duration::from_millis(50), connector.call(()));
        assert!(measure(&mut sums, request).await.is_err(), "timed out");
        assert!((50..140).contains(&ms(sums.connect)), "{sums:?}");
        assert_eq!((sums.tls, sums.new_connections), (Duration::ZERO, 0), "{sums:?}");
        assert!(ms(sums.ttfb) < 20, "{sums:?}");
    }

    #[tokio::test]
    async fn nothing_is_noted_outside_a_measured_request() {
        let mut connector = TimedConnector(Slow {
            dns: Duration::from_millis(1),
            tcp: Duration::from_millis(1),
            tls: Duration::from_millis(1),
        });
        // A set-up hyper-util finishes in a task of its own reaches no meter: no panic, no count.
        let mut sums = Timings::default();
        let elsewhere = tokio::spawn(connector.call(()));
        measure(&mut sums, async { elsewhere.await.unwrap().unwrap() }).await;
        assert_eq!(
            (sums.dns, sums.connect, sums.tls, sums.new_connections),
            Default::default()
        );
    }
}
