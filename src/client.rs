//! The HTTP client: one fresh connection per request, spoken through hyper's `client::conn`
//! inside the probe's own task.
//!
//! A bulk check never sends two requests to one host over one connection (every redirect is a
//! new connection too, like a browser that was told `Connection: close`), so a general client's
//! machinery is pure cost here: reqwest's connection pool, its tower connector stack, and the
//! task it spawns per connection to drive hyper, woken across threads for every response. This
//! client resolves, connects, shakes hands and reads one response head, all in the caller's
//! task, then closes. On the seed-like benchmark that cut the user CPU per URL by roughly 30%
//! (README, "Performance").

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, HOST, LOCATION, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use url::{Position, Url};

use crate::classify::classify;
use crate::error::{Error, Result};
use crate::record::{ErrorKind, Method};
use crate::resolve::{ResolveRule, Resolver};

/// How long a connection attempt runs alone before the host's next address is tried too
/// (RFC 8305 recommends 250 ms).
const STAGGER: Duration = Duration::from_millis(250);
/// Bytes read from a connection at a time.
const READ_CHUNK: usize = 2048;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    pub user_agent: String,
    pub headers: Vec<(String, String)>,
    pub insecure: bool,
    /// Extra trust roots, as PEM text (one or more certificates each).
    pub ca_pems: Vec<(String, Vec<u8>)>,
    pub resolve: Vec<ResolveRule>,
    /// Name servers to ask instead of the system's (`--dns-server`).
    pub dns_servers: Vec<std::net::SocketAddr>,
    /// Bound on simultaneous DNS look-ups.
    pub dns_concurrency: usize,
}

/// Built once (it loads the trust roots) and shared by every probe.
#[derive(Clone)]
pub struct Client(Arc<Inner>);

struct Inner {
    resolver: Resolver,
    tls: TlsConnector,
    connect_timeout: Duration,
    /// Sent with every request: `Accept`, `User-Agent`, then the user's `--header`s.
    headers: HeaderMap,
}

/// The head of an answer: all a probe reads of it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub location: Option<HeaderValue>,
}

/// Why a request got no answer: the `exception` column and the innermost error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Failure {
            kind,
            detail: detail.into(),
        }
    }
}

pub fn build(cfg: &ClientConfig) -> Result<Client> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    let agent =
        HeaderValue::from_str(&cfg.user_agent).map_err(|e| Error::usage("--user-agent", e.to_string()))?;
    headers.insert(USER_AGENT, agent);
    for (i, (name, value)) in cfg.headers.iter().enumerate() {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| Error::usage("--header", e.to_string()))?;
        let value = HeaderValue::from_str(value).map_err(|e| Error::usage("--header", e.to_string()))?;
        // A user's header replaces a default of the same name; repeated ones accumulate.
        if cfg.headers[..i]
            .iter()
            .any(|(n, _)| name.as_str().eq_ignore_ascii_case(n))
        {
            headers.append(name, value);
        } else {
            headers.insert(name, value);
        }
    }
    Ok(Client(Arc::new(Inner {
        resolver: Resolver::new(
            cfg.resolve.clone(),
            &cfg.dns_servers,
            cfg.dns_concurrency,
            cfg.connect_timeout,
        ),
        tls: TlsConnector::from(Arc::new(tls_config(cfg)?)),
        connect_timeout: cfg.connect_timeout,
        headers,
    })))
}

fn tls_config(cfg: &ClientConfig) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::io("cannot set up TLS", io::Error::other(e)))?;
    let mut config = if cfg.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for (name, pem) in &cfg.ca_pems {
            let bad = |message: String| Error::InputContent {
                path: name.into(),
                message,
            };
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("not a PEM certificate bundle: {e}")))?;
            if certs.is_empty() {
                return Err(bad("holds no PEM certificate".into()));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

impl Client {
    /// Send one request for `url` on a new connection and return the answer's head. The caller
    /// bounds the whole exchange with its deadline; the connect timeout bounds DNS, TCP and TLS.
    pub async fn send(&self, method: Method, url: &Url) -> std::result::Result<Answer, Failure> {
        let inner = &*self.0;
        let (Some(host), Some(host_str)) = (url.host(), url.host_str()) else {
            return Err(Failure::new(
                ErrorKind::InvalidUrl,
                format!("`{url}` has no host"),
            ));
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Failure::new(ErrorKind::InvalidUrl, format!("`{url}` has no port")))?;
        let request = self.request(method, url, host_str)?;
        // One deadline for DNS, TCP and TLS together.
        let deadline = tokio::time::Instant::now() + inner.connect_timeout;
        let too_slow = |_| {
            Failure::new(
                ErrorKind::Timeout,
                format!("no connection within {:?}", inner.connect_timeout),
            )
        };
        let tcp = tokio::time::timeout_at(deadline, self.connect(host, port))
            .await
            .map_err(too_slow)??;
        if url.scheme() != "https" {
            return exchange(tcp, request).await;
        }
        // Boxed: a TLS session is kilobytes, and inline it would make every probe's future (and
        // so every spawned task) that much larger, plain HTTP ones included.
        let tls = tokio::time::timeout_at(deadline, Box::pin(inner.tls.connect(server_name(url)?, tcp)))
            .await
            .map_err(too_slow)?
            .map_err(|e| classify(&e, ErrorKind::Tls))?;
        Box::pin(exchange(tls, request)).await
    }

    fn request(
        &self,
        method: Method,
        url: &Url,
        host: &str,
    ) -> std::result::Result<Request<Empty<Bytes>>, Failure> {
        let invalid =
            |e: &dyn std::fmt::Display| Failure::new(ErrorKind::InvalidUrl, format!("`{url}`: {e}"));
        let target: Uri = url[Position::BeforePath..Position::AfterQuery]
            .parse()
            .map_err(|e| invalid(&e))?;
        let mut request = Request::new(Empty::new());
        *request.method_mut() = match method {
            Method::Head => hyper::Method::HEAD,
            Method::Get => hyper::Method::GET,
        };
        *request.uri_mut() = target;
        let headers = request.headers_mut();
        *headers = self.0.headers.clone();
        if !headers.contains_key(HOST) {
            let value = match url.port() {
                Some(port) => HeaderValue::from_str(&format!("{host}:{port}")),
                None => HeaderValue::from_str(host),
            };
            headers.insert(HOST, value.map_err(|e| invalid(&e))?);
        }
        Ok(request)
    }

    /// Connect to the first address of `host` that accepts.
    async fn connect(&self, host: url::Host<&str>, port: u16) -> std::result::Result<TcpStream, Failure> {
        let addrs = match host {
            url::Host::Ipv4(ip) => vec![SocketAddr::new(ip.into(), port)],
            url::Host::Ipv6(ip) => vec![SocketAddr::new(ip.into(), port)],
            url::Host::Domain(name) => self
                .0
                .resolver
                .resolve(name, port)
                .await
                .map_err(|e| Failure::new(ErrorKind::Dns, e.0))?,
        };
        connect_any(addrs)
            .await
            .map_err(|e| classify(&e, ErrorKind::Connect))
    }
}

/// Connect to the first of `addrs` that accepts. A host's first address may be dead (a
/// blackholed IPv6 route, a stale A record), so, as in Happy Eyeballs (RFC 8305), the next
/// address gets its own attempt whenever `STAGGER` passes without an answer, and the first
/// connection wins.
async fn connect_any(addrs: Vec<SocketAddr>) -> io::Result<TcpStream> {
    if let [addr] = addrs[..] {
        return connect_to(addr).await; // the usual case, without the timer
    }
    let mut next = addrs.into_iter();
    let mut attempts = FuturesUnordered::new();
    let mut last_error = None;
    loop {
        if attempts.is_empty() {
            match next.next() {
                Some(addr) => attempts.push(connect_to(addr)),
                None => {
                    return Err(last_error.unwrap_or_else(|| {
                        io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to connect to")
                    }))
                }
            }
        }
        tokio::select! {
            Some(result) = attempts.next() => match result {
                Ok(tcp) => return Ok(tcp),
                Err(e) => last_error = Some(e),
            },
            () = tokio::time::sleep(STAGGER), if next.len() > 0 => {
                attempts.extend(next.next().map(connect_to));
            }
        }
    }
}

async fn connect_to(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // The answer's head is all we read, so the connection ends with a reset rather than the
    // FIN handshake: no TIME_WAIT left behind per host, and half the packets at teardown.
    socket.set_zero_linger()?;
    socket.connect(addr).await
}

fn server_name(url: &Url) -> std::result::Result<ServerName<'static>, Failure> {
    let name = match url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(ServerName::IpAddress(std::net::IpAddr::from(ip).into())),
        Some(url::Host::Ipv6(ip)) => Ok(ServerName::IpAddress(std::net::IpAddr::from(ip).into())),
        Some(url::Host::Domain(name)) => ServerName::try_from(name.to_string()).map_err(|e| e.to_string()),
        None => Err("no host".to_string()),
    };
    name.map_err(|e| {
        Failure::new(
            ErrorKind::InvalidUrl,
            format!("`{url}` is no TLS server name: {e}"),
        )
    })
}

/// Write `request` and read the answer's head, driving the connection in this task. Dropping
/// the connection at the end closes it: the body, if any, is never read.
async fn exchange<T>(io: T, request: Request<Empty<Bytes>>) -> std::result::Result<Answer, Failure>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = |e: hyper::Error| classify(&e, ErrorKind::Other);
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        // Reads of 2 KiB rather than hyper's first 8 KiB: a response head is usually well under
        // 1 KiB (a longer one takes more reads), and at a concurrency of 1,000 the difference is
        // 6 MB of peak memory.
        .read_buf_exact_size(Some(READ_CHUNK))
        .handshake(TokioIo::new(NoShutdown(io)))
        .await
        .map_err(http)?;
    let mut conn = std::pin::pin!(conn);
    let send = sender.send_request(request);
    let mut send = std::pin::pin!(send);
    let response = tokio::select! {
        response = &mut send => response,
        ended = &mut conn => match ended {
            Err(e) => Err(e),
            // Closed before the answer: the request's own future now holds why.
            Ok(()) => send.await,
        },
    }
    .map_err(http)?;
    Ok(Answer {
        status: response.status(),
        location: response.headers().get(LOCATION).cloned(),
    })
}

/// Hyper shuts the write side down once an answer says `Connection: close`: a FIN, and the
/// packets that answer it, on a connection that the drop right after resets anyway.
struct NoShutdown<T>(T);

impl<T: AsyncRead + Unpin> AsyncRead for NoShutdown<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for NoShutdown<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// `--insecure`: any certificate for any name, though the handshake's signatures still have
/// to verify against the key it presents.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> (std::net::TcpListener, SocketAddr) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    /// An address whose SYNs are dropped: a listener with a full accept queue.
    fn dead() -> (socket2::Socket, std::net::TcpStream, SocketAddr) {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let filler = std::net::TcpStream::connect(addr).unwrap();
        (socket, filler, addr)
    }

    #[tokio::test]
    async fn a_dead_or_refusing_first_address_gives_way_to_a_live_one() {
        let (_listener, live) = live();
        let (_socket, _filler, dead) = dead();
        let refused = live_then_closed();
        for addrs in [vec![dead, live], vec![refused, live]] {
            let tcp = tokio::time::timeout(Duration::from_secs(10), connect_any(addrs.clone()))
                .await
                .expect("the live address answers long before this")
                .expect("a connection");
            assert_eq!(tcp.peer_addr().unwrap(), live, "{addrs:?}");
        }
    }

    #[tokio::test]
    async fn when_every_address_refuses_the_last_error_is_returned() {
        let addrs = vec![live_then_closed(), live_then_closed()];
        let err = connect_any(addrs).await.expect_err("nothing listens");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let err = connect_any(Vec::new()).await.expect_err("no address");
        assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable);
    }

    fn live_then_closed() -> SocketAddr {
        live().1
    }
}
