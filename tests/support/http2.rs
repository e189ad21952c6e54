//! A loopback HTTPS server that speaks HTTP/2 (on the `h2` crate's server, so a test controls its
//! frames: `SETTINGS_MAX_CONCURRENT_STREAMS`, `REFUSED_STREAM`, `GOAWAY`), HTTP/1.1 (hyper), or
//! both, as its ALPN offer says. It counts connections, the protocol each spoke, requests and the
//! most requests in flight at once, and stops when dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use h2::Reason;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the server offers in ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    H2Only,
    H1Only,
    Both,
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, after the server's delay; `Location` when given.
    Status(u16, Option<String>),
    /// HTTP/2: reset the stream with this code (`REFUSED_STREAM`: nothing was processed);
    /// HTTP/1.1: 503.
    Reset(Reason),
}

/// The reply to a path, given how often the path was asked before.
pub type ReplyTo = dyn Fn(&str, usize) -> Reply + Send + Sync;

/// How the server behaves.
pub struct Behaviour {
    pub offer: Offer,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`; h2 refuses streams over it by itself.
    pub max_streams: Option<u32>,
    /// How long each answer takes.
    pub delay: Duration,
    /// HTTP/2 only: on the first connection, when this many requests have arrived, go away at
    /// once, as a server that restarts does: `GOAWAY` (`NO_ERROR`) naming the last request
    /// received, those received left unanswered, the later ones refused by it; then the
    /// connection closes.
    pub go_away_after: Option<usize>,
    /// The reply to a path; the second argument is how often the path was asked before.
    pub reply: Arc<ReplyTo>,
}

impl Behaviour {
    /// 200 to everything, after `delay`.
    pub fn ok(offer: Offer, delay: Duration) -> Behaviour {
        Behaviour {
            offer,
            max_streams: None,
            delay,
            go_away_after: None,
            reply: Arc::new(|_, _| Reply::Status(200, None)),
        }
    }
}

/// What the server has seen.
#[derive(Debug, Default)]
pub struct Counts {
    pub connections: AtomicUsize,
    pub h2_connections: AtomicUsize,
    pub requests: AtomicUsize,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// Requests per path, refused ones included.
    asked: Mutex<HashMap<String, usize>>,
}

impl Counts {
    pub fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    /// How often a path was asked for (a path sent again after a refusal counts twice).
    pub fn asked(&self, path: &str) -> usize {
        self.asked.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Count a request; returns how often its path was asked before.
    fn arrived(&self, path: &str) -> usize {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let mut asked = self.asked.lock().unwrap();
        let n = asked.entry(path.to_owned()).or_default();
        *n += 1;
        *n - 1
    }

    fn started(self: &Arc<Self>) -> InFlight {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

struct InFlight(Arc<Counts>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The server, on its own runtime; `names` are the names its certificate holds.
pub struct TlsServer {
    addr: SocketAddr,
    pub counts: Arc<Counts>,
    ca: PathBuf,
    _dir: tempfile::TempDir,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TlsServer {
    pub fn start(names: &[&str], behaviour: Behaviour) -> TlsServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = rcgen::generate_simple_self_signed(names).expect("a certificate");
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .expect("a TLS config");
        config.alpn_protocols = match behaviour.offer {
            Offer::H2Only => vec![b"h2".to_vec()],
            Offer::H1Only => vec![b"http/1.1".to_vec()],
            Offer::Both => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        };
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let counts = Arc::new(Counts::default());
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("a port");
        let addr = listener.local_addr().unwrap();
        let behaviour = Arc::new(behaviour);
        let c = counts.clone();
        runtime.spawn(async move {
            // Every test ends well within a minute.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while let Ok(Ok((tcp, _))) = tokio::time::timeout_at(deadline, listener.accept()).await {
                let (acceptor, counts, behaviour) = (acceptor.clone(), c.clone(), behaviour.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let first = counts.connections.fetch_add(1, Ordering::SeqCst) == 0;
                    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                        counts.h2_connections.fetch_add(1, Ordering::SeqCst);
                        serve_h2(tls, counts, behaviour, first).await;
                    } else {
                        serve_h1(tls, counts, behaviour).await;
                    }
                });
            }
        });
        TlsServer {
            addr,
            counts,
            ca,
            _dir: dir,
            runtime: Some(runtime),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://NAME:PORT{path}`.
    pub fn url(&self, name: &str, path: &str) -> String {
        format!("https://{name}:{}{path}", self.addr.port())
    }

    /// The `--resolve` rule that sends every name on this server's port here.
    pub fn resolve(&self) -> String {
        format!("*:{}:127.0.0.1", self.addr.port())
    }

    /// The server's certificate (self-signed), for `--ca-cert`.
    pub fn ca_file(&self) -> PathBuf {
        self.ca.clone()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn serve_h2<T>(io: T, counts: Arc<Counts>, behaviour: Arc<Behaviour>, first: bool)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = h2::server::Builder::new();
    if let Some(max) = behaviour.max_streams {
        builder.max_concurrent_streams(max);
    }
    let Ok(mut conn) = builder.handshake::<_, hyper::body::Bytes>(io).await else {
        return;
    };
    let mut arrived = 0;
    while let Some(Ok((request, mut respond))) = conn.accept().await {
        arrived += 1;
        let path = request.uri().path().to_owned();
        let before = counts.arrived(&path);
        if behaviour.go_away_after == Some(arrived) && first {
            conn.abrupt_shutdown(Reason::NO_ERROR);
            continue;
        }
        let reply = (behaviour.reply)(&path, before);
        let (counts, delay) = (counts.clone(), behaviour.delay);
        tokio::spawn(async move {
            let _in_flight = counts.started();
            let (status, location) = match reply {
                Reply::Reset(reason) => {
                    respond.send_reset(reason);
                    return;
                }
                Reply::Status(status, location) => (status, location),
            };
            tokio::time::sleep(delay).await;
            let mut response = Response::builder().status(status);
            if let Some(location) = location {
                response = response.header("location", location);
            }
            let _ = respond.send_response(response.body(()).unwrap(), true);
        });
    }
    // Let the last frames (a GOAWAY) go out before the connection closes.
    let _ = std::future::poll_fn(|cx| conn.poll_closed(cx)).await;
}

async fn serve_h1<T>(io: T, counts: Arc<Counts>, behaviour: Arc<Behaviour>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let (counts, behaviour) = (counts.clone(), behaviour.clone());
        async move {
            let path = request.uri().path().to_owned();
            let before = counts.arrived(&path);
            let _in_flight = counts.started();
            tokio::time::sleep(behaviour.delay).await;
            let mut response = Response::new(http_body_util::Empty::<hyper::body::Bytes>::new());
            let (status, location) = match (behaviour.reply)(&path, before) {
                Reply::Status(status, location) => (status, location),
                Reply::Reset(_) => (503, None),
            };
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            if let Some(location) = location {
                response
                    .headers_mut()
                    .insert("location", location.parse().unwrap());
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}
