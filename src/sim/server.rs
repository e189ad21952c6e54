//! The server: one listener for HTTP/1.1 and HTTPS (told apart by the first byte), one task per
//! connection, one request per connection (`Connection: close`, so TIME_WAIT lands on the server
//! side, as with real one-shot hosts), except in the `site` profile, whose connections stay open
//! for more requests as a real site's do. Per host (with the `site` profile or a host limit) it
//! counts connections, TLS handshakes and requests in flight. What each request gets is the
//! `handler`'s; faults that hyper cannot express (a reset, bytes that are not HTTP) it raises as
//! a `Fault` error, and the connection task here takes the socket back from hyper and carries
//! them out.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::handler::{Fault, Handler};
use super::profile::{Profile, SimOptions};
use super::shared::{Counters, HostStats, Open, Shared, SimStats};
use super::tls::Tls;

/// How long a client may take to send its first byte, its TLS handshake or its request head.
const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// Room for bursts of connections: at concurrency 1,000 a short backlog turns into SYN retries
/// (a second each) on the client side. The kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 4096;
/// What `/_/garbage` and garbage names write instead of a response.
const GARBAGE: &[u8] = b"NOT HTTP AT ALL\r\n\r\n";
/// The first byte of a TLS record carrying a handshake (the ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;

/// The simulated internet, running on the current tokio runtime.
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl SimServer {
    /// Bind `listen` (port 0 picks a free one) and serve HTTP/1.1 and HTTPS on that one port.
    ///
    /// With `all_loopback` the socket is bound to `0.0.0.0` on the port of `listen`, and any
    /// connection whose local address is not in 127.0.0.0/8 is dropped at once: every 127.x.y.z
    /// reaches the server, nothing else does.
    pub async fn start(listen: SocketAddr, all_loopback: bool, opts: SimOptions) -> io::Result<SimServer> {
        let tls = Tls::new(&opts)?;
        let bind = if all_loopback {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), listen.port())
        } else {
            listen
        };
        let listener = bind_listener(bind)?;
        let mut addr = listener.local_addr()?;
        if all_loopback {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let site = opts.profile == Profile::Site;
        let mut http = http1::Builder::new();
        http.keep_alive(site)
            .timer(TokioTimer::new())
            .header_read_timeout(IDLE_LIMIT);
        let hosts = (site || opts.host_limit.is_some()).then(Mutex::default);
        let shared = Arc::new(Shared {
            opts,
            tls,
            http,
            counters: Counters::default(),
            all_loopback,
            hosts,
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stopped));
        Ok(SimServer {
            addr,
            shared,
            stop: Some(stop),
            task,
        })
    }

    /// Where clients connect (with `all_loopback`, 127.0.0.1 and the bound port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA certificate (PEM) that signs every leaf; trust it with `--ca-cert`.
    pub fn ca_pem(&self) -> &str {
        self.shared.tls.ca_pem()
    }

    pub fn stats(&self) -> SimStats {
        let c = &self.shared.counters;
        SimStats {
            connections_now: c.now.load(Ordering::Relaxed),
            connections_max: c.max.load(Ordering::Relaxed),
            connections_total: c.total.load(Ordering::Relaxed),
            requests_total: c.requests.load(Ordering::Relaxed),
            body_bytes: c.body_bytes.load(Ordering::Relaxed),
        }
    }

    /// The figures of every host, by name; empty unless the profile is `site` or hosts have a
    /// limit.
    pub fn host_stats(&self) -> BTreeMap<String, HostStats> {
        self.shared
            .hosts()
            .map(|hosts| hosts.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// Stop accepting, abort every connection and wait until they are gone.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the accept loop has already ended.
            let _ = stop.send(());
        }
        // The task only ends by returning or by being aborted in `drop`; neither is an error
        // worth reporting to a caller that is shutting down.
        let _ = (&mut self.task).await;
    }
}

impl Drop for SimServer {
    /// Aborting the accept loop drops its `JoinSet`, which aborts every connection task: a test
    /// that forgets `shutdown` leaves nothing running.
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // A restarted `serve` must not wait for the last run's TIME_WAIT sockets to expire.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if shared.all_loopback && !reached_loopback(&stream) {
                        continue;
                    }
                    // Without Nagle the response leaves in one segment, at once.
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, Open::new(shared.clone())));
                    // Reap finished connections so the set holds (nearly) only live ones.
                    while connections.try_join_next().is_some() {}
                }
                Err(e) => {
                    // Out of file descriptors, usually: wait for some to be freed.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

fn reached_loopback(stream: &TcpStream) -> bool {
    match stream.local_addr().map(|a| a.ip()) {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => ip.to_ipv4_mapped().is_some_and(|ip| ip.is_loopback()),
        Err(_) => false,
    }
}

async fn serve_connection(stream: TcpStream, open: Open) {
    let mut first = [0u8; 1];
    match tokio::time::timeout(IDLE_LIMIT, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        // Silent, closed or failed before a byte: nothing to serve.
        _ => return,
    }
    let shared = open.0.clone();
    if first[0] == TLS_HANDSHAKE {
        // A failed handshake (the client refused a mismatched certificate) or a silent client
        // ends here.
        if let Ok(Ok(tls)) = tokio::time::timeout(IDLE_LIMIT, shared.tls.accept(stream)).await {
            serve_http(tls, true, shared, open).await;
        }
    } else {
        serve_http(stream, false, shared, open).await;
    }
}

/// A connection's transport, plain or TLS, with its socket at hand for a reset.
trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    fn tcp(&self) -> &TcpStream;
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// `open` is let go as soon as the exchange is over, before the closing handshake: by then the
/// client has (or may have) its answer and may open its next connection, which must not be
/// counted together with this one.
async fn serve_http<T: Transport>(io: T, tls: bool, shared: Arc<Shared>, open: Open) {
    let reset_after = Arc::new(AtomicBool::new(false));
    let handler = Handler {
        shared: shared.clone(),
        reset_after: reset_after.clone(),
        tls,
        first: Cell::new(true),
    };
    let mut conn = shared.http.serve_connection(TokioIo::new(io), handler);
    // Without shutdown, so that the socket can be taken back whatever happened.
    let result = poll_fn(|cx| conn.poll_without_shutdown(cx)).await;
    drop(open);
    let mut io = conn.into_parts().io.into_inner();
    let fault = result
        .err()
        .and_then(|e| std::error::Error::source(&e)?.downcast_ref::<Fault>().copied());
    match fault {
        None if reset_after.load(Ordering::Relaxed) => {
            let _ = socket2::SockRef::from(io.tcp()).set_linger(Some(Duration::ZERO));
        }
        Some(Fault::Reset) => {
            // SO_LINGER 0: closing sends RST instead of FIN, so the client reads ECONNRESET.
            let _ = socket2::SockRef::from(io.tcp()).set_linger(Some(Duration::ZERO));
        }
        Some(Fault::Garbage) => {
            let _ = io.write_all(GARBAGE).await;
            let _ = io.shutdown().await;
        }
        // Answered (or the client left): close politely; TLS sends its close_notify.
        None => {
            let _ = io.shutdown().await;
        }
    }
}
