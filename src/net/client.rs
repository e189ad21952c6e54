//! The HTTP client: one shared `reqwest::Client`, built once from the check's options (trust
//! roots, `--insecure`, timeouts, headers, proxies, the resolver), and the one call a probe makes
//! through it: send one request, read the answer's head, and never its body unless asked to
//! keep it (`Hop::keep_body`, read by `body`).
//!
//! Redirects are not reqwest's to follow: the probe follows them itself, so that they are
//! counted, bounded and run under one deadline, and it decides per hop which of the user's
//! headers go along (`Credentials`), as reqwest's own redirect policy and curl do.
//!
//! HTTPS offers HTTP/2 and HTTP/1.1 in ALPN (unless `--http1`); which connection a request to
//! an HTTPS origin takes is `origins`' to say, and what HTTP/2's errors mean is `http2`'s.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, SizeHint};

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONNECTION, COOKIE, HOST, LOCATION,
    PROXY_AUTHORIZATION, RETRY_AFTER,
};
use reqwest::{NoProxy, Proxy, StatusCode, Version};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use url::Url;

use crate::error::{Error, Result};
use crate::net::body;
use crate::net::classify::{classify, head_too_large, Failure};
use crate::net::http2;
use crate::net::insecure::AnyCertificate;
use crate::net::location::Location;
use crate::net::origins::{Origins, Route};
use crate::net::pinned::PinnedOrWebPki;
use crate::net::resolve::{ResolveRule, Resolver};
use crate::net::timing::{self, ConnectionCounter, TimedResolver, Watch};
use crate::record::{ErrorKind, Method};

/// The most header lines an answer's head may have. hyper's default of 100 refused real heads
/// that curl and browsers read (120 lines of `Set-Cookie` and friends). Raised, hyper fills two
/// buffers of that many entries for every head it parses, however short: 1,000 cost 10,500
/// instructions per answer, 12% more for the seed workload. So the clients keep hyper's 100,
/// and an answer refused for its head is asked for once more through a client that allows
/// 1,000 (`Client::roomy`), within the same byte limit of about 400 KB.
pub const MAX_HEADER_LINES: usize = 1_000;

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
    pub dns_servers: Vec<SocketAddr>,
    /// Bound on simultaneous DNS look-ups.
    pub dns_concurrency: usize,
    pub proxy: ProxyChoice,
    /// Keep the peer's certificate of every TLS answer (`--details`).
    pub tls_info: bool,
    /// How long a kept connection waits in the pool for its host's next request. Short: a
    /// connection is only kept when a request is about to follow (see `Hop::keep_alive`), and
    /// every idle one holds a socket and buffers.
    pub pool_idle: Duration,
    /// Offer HTTP/2 in ALPN on HTTPS (off with `--http1`). Never over plain HTTP (no h2c).
    pub http2: bool,
    /// Measure the phases of every request (`--timings`, see `net::timing`): without it the
    /// client has none of the hooks.
    pub timings: bool,
}

/// The largest head an HTTP/2 answer may have (its header list, as RFC 9113 counts it): about
/// what hyper's HTTP/1.1 reader allows (its buffer of 400 KiB), not h2's default of 16 KiB,
/// which real sites' heads of 3-16 KB of policies and cookies come close to.
const MAX_HTTP2_HEAD: u32 = 400 * 1024;

/// Which proxy the requests go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyChoice {
    /// `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`, in either case (the default).
    Environment,
    /// `--no-proxy`: always connect directly.
    Direct,
    /// `--proxy URL`: every request through this proxy, except hosts named in `NO_PROXY`.
    Url(Url),
}

/// Built once (it loads the trust roots) and cloned into every probe: `Arc`s inside.
///
/// Reqwest clients with the same settings: a lone URL's requests go through one without a pool,
/// so that a run over distinct hosts pays nothing for pooling; keep-alive requests (and a host's
/// last URL, and HTTP/2's streams) go through one with a pool, where the next request to the
/// origin finds their connection; a third, without
/// a pool, takes the few requests whose answer has more than 100 header lines (see `send`).
#[derive(Clone)]
pub struct Client {
    fresh: reqwest::Client,
    pooled: reqwest::Client,
    /// Like `fresh`, for heads of up to `MAX_HEADER_LINES` lines.
    roomy: reqwest::Client,
    /// The user's headers that only go to the origin the user named (see `Credentials`).
    sensitive: Arc<HeaderMap>,
    /// Requests through the pool sent again on a new connection (see `send`).
    stale_retries: Arc<AtomicU64>,
    /// Which client an HTTPS request takes, when HTTP/2 is on.
    origins: Option<Arc<Origins>>,
    /// Stamp every request for `--timings` (see `net::timing`).
    timings: bool,
}

/// The head of an answer: all a probe reads of it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub location: Location,
    pub retry_after: Option<HeaderValue>,
    /// The address the answer came from (the proxy's, through a proxy).
    pub remote: Option<SocketAddr>,
    pub version: Version,
    /// The server's certificate (DER), when the client keeps TLS info and the answer came over TLS.
    pub peer_cert: Option<Vec<u8>>,
    /// The whole answer, body unread, when the request asked to keep it.
    pub body: Option<body::Body>,
}

/// Whether the user's credentials (`Authorization`, `Cookie`, `Proxy-Authorization`, a `Host`
/// of their own, and a URL's `user:password@`) go with a request: only while every hop stayed
/// on the origin of the URL the user listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    Send,
    Withhold,
}

/// How one request is sent.
#[derive(Debug, Clone, Copy)]
pub struct Hop {
    pub method: Method,
    pub credentials: Credentials,
    /// Leave the connection open for another request to the same origin; otherwise ask the
    /// server to close it (`Connection: close`), so nothing idles in the pool.
    pub keep_alive: bool,
    /// Other requests of the host are in flight or waiting: where the host speaks HTTP/2, they
    /// all go as streams of one connection, this one too (`origins`).
    pub busy_host: bool,
    /// Keep the answer for its body (`Answer::body`); otherwise it is dropped after the head.
    pub keep_body: bool,
    /// An earlier request may have left a connection to the origin idle in the pool: send on it
    /// even when asking to close (a host's last URL after its others), rather than open a new one.
    pub reuse: bool,
}

pub fn build(cfg: &ClientConfig) -> Result<Client> {
    let (shared, sensitive) = headers(cfg)?;
    let resolver = Resolver::new(
        cfg.resolve.clone(),
        &cfg.dns_servers,
        cfg.dns_concurrency,
        cfg.connect_timeout,
    );
    let mut tls = tls_config(cfg)?;
    if cfg.timings {
        timing::stamp_hellos(&mut tls);
    }
    let proxy = match &cfg.proxy {
        ProxyChoice::Url(url) => Some(
            Proxy::all(url.as_str())
                .map_err(|e| Error::usage("--proxy", e.to_string()))?
                .no_proxy(NoProxy::from_env()),
        ),
        _ => None,
    };
    // reqwest reads the proxy variables when a client is built, and, when it was told to, looks
    // at them again for every request; with none set, that work is skipped altogether.
    let direct = cfg.proxy == ProxyChoice::Direct
        || (cfg.proxy == ProxyChoice::Environment && !environment_names_a_proxy());
    let client = |pool: bool, max_headers: Option<usize>| {
        let mut defaults = shared.clone();
        if !pool {
            // Every request of this client asks the server to close; as a default header it
            // costs less than added to each request.
            defaults.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.clone())
            .tls_info(cfg.tls_info)
            .default_headers(defaults)
            .redirect(reqwest::redirect::Policy::none())
            // `never()` alone still clones every request (headers, URI, extensions) in case it
            // is retried; with no retries allowed, nothing is cloned.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .referer(false)
            .connect_timeout(cfg.connect_timeout)
            .tcp_nodelay(true)
            // A check's connection lives for one answer or a few: TCP keep-alive probes would
            // never fire, and setting them up is four system calls per connection.
            .tcp_keepalive(None)
            .tcp_keepalive_interval(None)
            .tcp_keepalive_retries(None)
            .tcp_user_timeout(None);
        builder = if cfg.http2 {
            builder.http2_max_header_list_size(MAX_HTTP2_HEAD)
        } else {
            builder.http1_only()
        };
        if let Some(max) = max_headers {
            builder = builder.http1_max_headers(max);
        }
        builder = match (cfg.timings, pool) {
            (false, _) => builder.dns_resolver(resolver.clone()),
            (true, false) => builder.dns_resolver(TimedResolver(resolver.clone())),
            // Only through the pool can a request get a connection it did not open; reqwest's
            // connector with a layer costs more per request (it clones the layers), so the
            // clients without a pool have none.
            (true, true) => builder
                .dns_resolver(TimedResolver(resolver.clone()))
                .connector_layer(ConnectionCounter),
        };
        builder = if pool {
            builder.pool_idle_timeout(cfg.pool_idle)
        } else {
            // No pool at all: no checkout, no bookkeeping, the connection closes with its answer.
            builder.pool_max_idle_per_host(0)
        };
        if direct || proxy.is_some() {
            builder = builder.no_proxy();
        }
        if let Some(proxy) = &proxy {
            builder = builder.proxy(proxy.clone());
        }
        builder
            .build()
            .map_err(|e| Error::io("cannot set up the HTTP client", std::io::Error::other(e)))
    };
    Ok(Client {
        fresh: client(false, None)?,
        pooled: client(true, None)?,
        roomy: client(false, Some(MAX_HEADER_LINES))?,
        sensitive: Arc::new(sensitive),
        stale_retries: Arc::default(),
        origins: cfg
            .http2
            .then(|| Origins::new(cfg.pool_idle, cfg.connect_timeout)),
        timings: cfg.timings,
    })
}

/// Whether any of the variables reqwest takes a proxy from is set (in either case).
fn environment_names_a_proxy() -> bool {
    ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]
        .iter()
        .flat_map(|v| [v.to_string(), v.to_ascii_lowercase()])
        .any(|v| std::env::var_os(v).is_some_and(|value| !value.is_empty()))
}

/// `Accept`, `User-Agent` and the user's `--header`s, split into those sent on every hop and
/// the credentials sent only to the user's origin. A user's header replaces a default of the
/// same name; repeated ones accumulate.
fn headers(cfg: &ClientConfig) -> Result<(HeaderMap, HeaderMap)> {
    let mut all = HeaderMap::new();
    all.insert(ACCEPT, HeaderValue::from_static("*/*"));
    let agent =
        HeaderValue::from_str(&cfg.user_agent).map_err(|e| Error::usage("--user-agent", e.to_string()))?;
    all.insert(reqwest::header::USER_AGENT, agent);
    for (i, (name, value)) in cfg.headers.iter().enumerate() {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| Error::usage("--header", e.to_string()))?;
        let value = HeaderValue::from_str(value).map_err(|e| Error::usage("--header", e.to_string()))?;
        if cfg.headers[..i]
            .iter()
            .any(|(n, _)| name.as_str().eq_ignore_ascii_case(n))
        {
            all.append(name, value);
        } else {
            all.insert(name, value);
        }
    }
    let mut sensitive = HeaderMap::new();
    for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, HOST] {
        if let reqwest::header::Entry::Occupied(entry) = all.entry(name) {
            let (name, values) = entry.remove_entry_mult();
            for value in values {
                sensitive.append(name.clone(), value);
            }
        }
    }
    Ok((all, sensitive))
}

fn tls_config(cfg: &ClientConfig) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::io("cannot set up TLS", std::io::Error::other(e)))?;
    let mut config = if cfg.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut pinned = Vec::new();
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
                    .add(cert.clone())
                    .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
                pinned.push(cert);
            }
        }
        if pinned.is_empty() {
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            // A `--ca-cert` certificate may be the server's own (see `pinned`).
            let webpki =
                rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| Error::io("cannot set up TLS", std::io::Error::other(e)))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedOrWebPki { pinned, webpki }))
                .with_no_client_auth()
        }
    };
    config.alpn_protocols = if cfg.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

impl Client {
    /// Send one request for `url` and return the answer's head; the body is never read. The
    /// caller bounds the whole exchange with its deadline; the connect timeout bounds DNS, TCP
    /// and TLS.
    pub async fn send(&self, url: &Url, how: Hop) -> std::result::Result<Answer, Failure> {
        let https = url.scheme() == "https";
        let mut route = self.route(url, how).await;
        let mut via = if route.pooled { Via::Pooled } else { Via::Fresh };
        let mut http2_again = true;
        // At most four tries: pooled or fresh, HTTP/2's one more, then fresh, then roomy.
        loop {
            let err = match self.send_on(via, url, how, route).await {
                Ok(answer) => return Ok(answer),
                Err(err) => err,
            };
            let failed = failure(&err, https);
            route = Route::direct(false);
            via = match via {
                // The HTTP/2 server refused the stream (`REFUSED_STREAM`) or went away
                // (`GOAWAY`): it did not process the request; or the HTTP/2 connection under it
                // broke. It is sent once more, on whichever connection can take it: after a
                // `GOAWAY` or a broken connection the host's next request sets up the next one.
                _ if http2_again && http2::send_again(&err) => {
                    http2_again = false;
                    if let (true, Some(origins)) = (http2::connection_lost(&err), &self.origins) {
                        origins.went_away(url);
                    }
                    let (host, path) = (url.host_str().unwrap_or(""), url.path());
                    tracing::debug!("{host}{path}: sent again after: {}", failed.detail);
                    route = self.route(url, how).await;
                    if route.pooled {
                        Via::Pooled
                    } else {
                        Via::Fresh
                    }
                }
                // A server may close an idle connection at any time (Apache after 5 s, load
                // balancers), and the pool can hand it out before the close is seen; the
                // request then never reached the server. As curl and browsers do, it is sent
                // once more (HEAD and GET are idempotent), on a connection that is surely new:
                // the pool could hand out another dead one, and both tries would fail within a
                // millisecond. An HTTP/2 stream the server reset is its answer, not a dead
                // connection.
                Via::Pooled if went_out_on_a_dead_connection(&err, &failed) && !http2::is_http2(&err) => {
                    self.stale_retries.fetch_add(1, Ordering::Relaxed);
                    Via::Fresh
                }
                // Refused for its head: perhaps only for hyper's 100 lines.
                Via::Fresh | Via::Pooled if head_too_large(&err) => Via::Roomy,
                _ => return Err(failed),
            };
        }
    }

    /// Which client a request takes first: for HTTPS with HTTP/2 on, as `origins` says; else
    /// the pool for keep-alive requests and a host's last URL, the pool-less client for the
    /// others.
    async fn route(&self, url: &Url, how: Hop) -> Route {
        match &self.origins {
            Some(origins) if url.scheme() == "https" => origins.route(url, how.pooled(), how.busy_host).await,
            _ => Route::direct(how.pooled()),
        }
    }

    /// Requests through the pool sent again on a new connection because the kept one they went out
    /// on turned out closed, for the summary.
    pub fn stale_retries(&self) -> u64 {
        self.stale_retries.load(Ordering::Relaxed)
    }

    async fn send_on(
        &self,
        via: Via,
        url: &Url,
        how: Hop,
        route: Route,
    ) -> std::result::Result<Answer, reqwest::Error> {
        let method = match how.method {
            Method::Head => reqwest::Method::HEAD,
            Method::Get => reqwest::Method::GET,
        };
        let http = match via {
            Via::Fresh => &self.fresh,
            Via::Pooled => &self.pooled,
            Via::Roomy => &self.roomy,
        };
        let mut request = match how.credentials {
            // reqwest turns a URL's `user:password@` into Basic auth.
            Credentials::Send if self.sensitive.is_empty() => http.request(method, url.clone()),
            Credentials::Send => http
                .request(method, url.clone())
                .headers((*self.sensitive).clone()),
            Credentials::Withhold => {
                let mut bare = url.clone();
                let _ = bare.set_username("");
                let _ = bare.set_password(None);
                http.request(method, bare)
            }
        };
        if route.pooled && !how.keep_alive {
            // The pooled client keeps connections open unless asked not to: a host's last URL
            // over HTTP/1.1 (over HTTP/2, hyper drops the header and the connection stays).
            request = request.header(CONNECTION, HeaderValue::from_static("close"));
        }
        // No body, as one that cannot be replayed (see `NoBody`).
        let watch = self
            .timings
            .then(|| Watch::begin(matches!(via, Via::Pooled)))
            .flatten();
        request = request.body(match watch {
            Some(watch) => reqwest::Body::wrap(watch.body(NoBody)),
            None => reqwest::Body::wrap(NoBody),
        });
        let response = request.send().await?;
        route.answered(response.version());
        let headers = response.headers();
        let mut answer = Answer {
            status: response.status(),
            location: Location::of(headers.get_all(LOCATION)),
            retry_after: headers.get(RETRY_AFTER).cloned(),
            remote: response.remote_addr(),
            version: response.version(),
            peer_cert: response
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|info| info.peer_certificate())
                .map(<[u8]>::to_vec),
            body: None,
        };
        if how.keep_body {
            answer.body = Some(body::Body::new(response));
        }
        Ok(answer)
    }
}

impl Hop {
    /// Whether the request goes through the client with a pool.
    fn pooled(&self) -> bool {
        self.keep_alive || self.reuse
    }
}

/// The empty body of every request, as reqwest sees one it could not send twice: its redirect
/// layer, though told to follow nothing, parses a 3xx's `Location` and the request's URL again
/// before asking, unless the body is known to be empty (then it can be replayed) or cannot be
/// replayed. hyper sends nothing for it, no `Content-Length` either: it has ended from the start.
struct NoBody;

impl Body for NoBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        true
    }

    fn size_hint(&self) -> SizeHint {
        // Not "exactly 0": that is what makes the redirect layer take a body as replayable.
        SizeHint::default()
    }
}

/// The row for a request that got no answer. reqwest says whether the connection was never
/// made (`is_connect`); which step of it failed comes from the typed errors inside.
fn failure(err: &reqwest::Error, https: bool) -> Failure {
    if err.is_connect() {
        if err.is_timeout() {
            return Failure::new(ErrorKind::Timeout, "no connection within the connect timeout");
        }
        let stage = if https {
            crate::net::classify::Stage::Handshake
        } else {
            crate::net::classify::Stage::Connect
        };
        return classify(err, stage);
    }
    classify(err, crate::net::classify::Stage::Exchange)
}

/// Which of the clients a request goes through.
#[derive(Debug, Clone, Copy)]
enum Via {
    Fresh,
    Pooled,
    Roomy,
}

/// Whether a request failed as one sent on a connection the server had already closed does: the
/// connection was made (or taken from the pool) and closed before any answer arrived. reqwest
/// does not say whether the connection was a reused one, nor whether a few bytes of a head came
/// first; only requests through the pool (keep-alive ones, and a host's last URL on the
/// connection its others kept) can have gone out on a reused one.
fn went_out_on_a_dead_connection(err: &reqwest::Error, failure: &Failure) -> bool {
    !err.is_connect() && failure.kind == ErrorKind::Reset
}

/// Whether `next` is on the same origin (scheme, host, port) as `first`.
pub fn same_origin(first: &Url, next: &Url) -> bool {
    first.origin() == next.origin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(headers: &[(&str, &str)]) -> ClientConfig {
        ClientConfig {
            connect_timeout: Duration::from_secs(1),
            user_agent: "test".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            insecure: false,
            ca_pems: Vec::new(),
            resolve: Vec::new(),
            dns_servers: Vec::new(),
            dns_concurrency: 1,
            proxy: ProxyChoice::Direct,
            tls_info: false,
            pool_idle: Duration::from_secs(1),
            http2: true,
            timings: false,
        }
    }

    #[test]
    fn credentials_are_kept_apart_from_the_headers_every_hop_gets() {
        let cfg = config(&[
            ("Authorization", "Bearer x"),
            ("cookie", "a=1"),
            ("Cookie", "b=2"),
            ("X-Trace", "1"),
            ("Accept", "text/html"),
            ("Host", "example.org"),
        ]);
        let (shared, sensitive) = headers(&cfg).unwrap();
        assert_eq!(
            shared.get(ACCEPT).unwrap(),
            "text/html",
            "the user's Accept replaces ours"
        );
        assert_eq!(shared.get("x-trace").unwrap(), "1");
        assert_eq!(shared.get(reqwest::header::USER_AGENT).unwrap(), "test");
        for name in [AUTHORIZATION, COOKIE, HOST] {
            assert!(!shared.contains_key(&name), "{name}");
        }
        assert_eq!(sensitive.get_all(COOKIE).iter().count(), 2);
        assert_eq!(sensitive.get(AUTHORIZATION).unwrap(), "Bearer x");
        assert_eq!(sensitive.get(HOST).unwrap(), "example.org");
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(&u("https://a.com/x"), &u("https://a.com:443/y?z")));
        assert!(!same_origin(&u("https://a.com/"), &u("http://a.com/")));
        assert!(!same_origin(&u("https://a.com/"), &u("https://www.a.com/")));
        assert!(!same_origin(&u("http://a.com/"), &u("http://a.com:8080/")));
    }
}
