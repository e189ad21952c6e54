//! What the server answers one request: the plan's action for the name and path, carried out
//! after its delay, with the manners of real sites (padded heads, a reset after the answer) and
//! the body of the name's page (`page`), or 429 from a host at its limit, or a sitemap.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::header::{
    HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION, RETRY_AFTER,
    STRICT_TRANSPORT_SECURITY,
};
use hyper::service::Service;
use hyper::{Request, Response, StatusCode};

use super::page::{error_page, Page};
use super::plan::{self, Action, Manner, HANG_MS};
use super::profile::{HostLimit, Profile, RetryAfter};
use super::shared::{InFlight, Shared};
use super::sitemap;

/// A fault the handler asks the connection task to carry out.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub(super) enum Fault {
    #[error("simulated connection reset")]
    Reset,
    #[error("simulated garbage response")]
    Garbage,
}

/// The hyper service of one connection: plans the answer at once, then waits out its delay.
pub(super) struct Handler {
    pub(super) shared: Arc<Shared>,
    /// Set by an answer that resets the connection once it is written.
    pub(super) reset_after: Arc<AtomicBool>,
    pub(super) tls: bool,
    /// No request has been seen on this connection yet.
    pub(super) first: Cell<bool>,
}

impl Handler {
    /// Count the request at its host; `Err` when the host is over its limit (the guard still
    /// counts it until dropped).
    fn admit(&self, host: &str) -> Option<Result<InFlight, InFlight>> {
        let mut hosts = self.shared.hosts()?;
        let host = host.to_ascii_lowercase();
        let stats = hosts.entry(host.clone()).or_default();
        if self.first.replace(false) {
            stats.connections += 1;
            stats.tls_handshakes += u64::from(self.tls);
        }
        stats.requests += 1;
        stats.in_flight += 1;
        stats.max_in_flight = stats.max_in_flight.max(stats.in_flight);
        let over = self
            .shared
            .opts
            .host_limit
            .is_some_and(|limit| stats.in_flight > u64::from(limit.max_in_flight));
        stats.too_many_requests += u64::from(over);
        drop(hosts);
        let guard = InFlight {
            shared: self.shared.clone(),
            host,
        };
        Some(if over { Err(guard) } else { Ok(guard) })
    }
}

type Answer = Result<Response<SimBody>, Fault>;

impl Service<Request<Incoming>> for Handler {
    type Response = Response<SimBody>;
    type Error = Fault;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.shared.counters.requests.fetch_add(1, Ordering::Relaxed);
        let authority = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        let view = plan::Request {
            head: req.method() == hyper::Method::HEAD,
            host: host_of(authority),
            path: req.uri().path(),
            query: req.uri().query().unwrap_or(""),
        };
        let in_flight = match self.admit(view.host) {
            Some(Err(_refused)) => {
                let limit = self.shared.opts.host_limit.expect("only a limit refuses");
                return Box::pin(std::future::ready(Ok(too_many(limit))));
            }
            Some(Ok(guard)) => Some(guard),
            None => None,
        };
        let scheme = if self.tls { "https" } else { "http" };
        if let Some(doc) = sitemap::document(view.path, view.query, &format!("{scheme}://{authority}")) {
            let body = Content::Bytes(doc.content_type, doc.bytes.into());
            return Box::pin(std::future::ready(Ok(body.response(view.head, &self.shared))));
        }
        let action = plan::decide(&view, &self.shared.opts);
        let manner = plan::manner(&view, &self.shared.opts);
        let content = content(&view, &action, self.tls, &self.shared.opts);
        if manner.reset_after {
            self.reset_after.store(true, Ordering::Relaxed);
        }
        let location = match action {
            Action::Respond {
                location: Some(location),
                ..
            } => HeaderValue::try_from(location.render(view.path)).ok(),
            _ => None,
        };
        let (head, shared) = (view.head, self.shared.clone());
        Box::pin(async move {
            let answer = carry_out(action, location, manner, content, head, &shared).await;
            drop(in_flight);
            answer
        })
    }
}

/// The answer of a host at its limit.
fn too_many(limit: HostLimit) -> Response<SimBody> {
    let mut response = Response::new(SimBody::empty());
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let value = match limit.retry_after {
        RetryAfter::None => None,
        RetryAfter::Seconds(secs) => Some(secs.to_string()),
        RetryAfter::Date(secs) => Some(httpdate::fmt_http_date(
            SystemTime::now() + Duration::from_secs(secs.into()),
        )),
    };
    if let Some(value) = value.and_then(|v| HeaderValue::try_from(v).ok()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

async fn carry_out(
    action: Action,
    location: Option<HeaderValue>,
    manner: Manner,
    content: Content,
    head: bool,
    shared: &Arc<Shared>,
) -> Answer {
    let wait = |ms: u64| async move {
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    };
    match action {
        Action::Respond { status, delay_ms, .. } => {
            wait(delay_ms).await;
            // The length is said even to HEAD, as real servers do: some clients (aiohttp) do
            // not reuse a connection whose answer to HEAD has no length.
            let mut response = content.response(head, shared);
            *response.status_mut() =
                StatusCode::from_u16(status).expect("plans only hold codes in 200..=999");
            let headers = response.headers_mut();
            if let Some(location) = location {
                headers.insert(LOCATION, location);
            }
            pad_head(headers, manner.head_bytes);
            if manner.reset_after {
                // The connection ends after this answer (then with a reset), as such servers do.
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        }
        Action::Hang => {
            wait(HANG_MS).await;
            Err(Fault::Reset)
        }
        Action::Reset { delay_ms } => {
            wait(delay_ms).await;
            Err(Fault::Reset)
        }
        Action::Garbage { delay_ms } => {
            wait(delay_ms).await;
            Err(Fault::Garbage)
        }
    }
}

/// What the body of an answer holds.
pub(super) enum Content {
    /// Nothing (redirects, most test routes): `Content-Length: 0`.
    Empty,
    /// A page of the name, or an error page, as HTML; `hsts` adds `Strict-Transport-Security`.
    Html { text: String, hsts: bool },
    /// A document with its content type (a sitemap).
    Bytes(&'static str, Bytes),
    /// `/_/bytes/N`: N bytes, made as they are sent, so a huge body costs no memory.
    Filler(u64),
}

/// The body of the answer `action` gives to `req`: the name's page for a 200 (a maintenance or
/// parked one for some names), a short error page for an error status.
fn content(req: &plan::Request<'_>, action: &Action, tls: bool, opts: &super::SimOptions) -> Content {
    let Action::Respond {
        status,
        location: None,
        ..
    } = *action
    else {
        return Content::Empty;
    };
    if let Some(n) = req.path.strip_prefix("/_/bytes/") {
        return n.parse().map_or(Content::Empty, Content::Filler);
    }
    let name = plan::name_of(req.host, req.path);
    let text = match (status, Page::at(req.host, req.path, opts)) {
        (200, Some(page)) => page.render(name, req.path),
        (400.., _) => error_page(status),
        _ => return Content::Empty,
    };
    let hsts = tls
        && status == 200
        && opts.profile != Profile::AllOk
        && Page::hsts(name, opts)
        && !req.path.starts_with("/_/");
    Content::Html { text, hsts }
}

impl Content {
    /// A 200 with this content (to HEAD: its length, and no body).
    fn response(self, head: bool, shared: &Arc<Shared>) -> Response<SimBody> {
        let (content_type, length, body, hsts) = match self {
            Content::Empty => (None, 0, SimBody::empty(), false),
            Content::Html { text, hsts } => (
                Some("text/html; charset=utf-8"),
                text.len() as u64,
                SimBody::Bytes(Some(text.into())),
                hsts,
            ),
            Content::Bytes(content_type, bytes) => (
                Some(content_type),
                bytes.len() as u64,
                SimBody::Bytes(Some(bytes)),
                false,
            ),
            Content::Filler(n) => (
                Some("application/octet-stream"),
                n,
                SimBody::Filler {
                    left: n,
                    shared: shared.clone(),
                },
                false,
            ),
        };
        let mut response = Response::new(if head { SimBody::empty() } else { body });
        let headers = response.headers_mut();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        if let Some(content_type) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if hsts {
            headers.insert(
                STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000"),
            );
        }
        response
    }
}

/// The body of an answer: bytes at hand, or filler made piece by piece as hyper asks for it
/// (hyper asks only as the socket takes them), counted in the server's `body_bytes`.
pub(super) enum SimBody {
    Bytes(Option<Bytes>),
    Filler { left: u64, shared: Arc<Shared> },
}

/// One piece of filler.
static FILLER: [u8; 64 * 1024] = [b'x'; 64 * 1024];

impl SimBody {
    fn empty() -> Self {
        SimBody::Bytes(None)
    }
}

impl hyper::body::Body for SimBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let piece = match &mut *self {
            SimBody::Bytes(bytes) => bytes.take().filter(|b| !b.is_empty()),
            SimBody::Filler { left, shared } => {
                let n = (*left).min(FILLER.len() as u64) as usize;
                *left -= n as u64;
                shared.counters.body_bytes.fetch_add(n as u64, Ordering::Relaxed);
                (n > 0).then(|| Bytes::from_static(&FILLER[..n]))
            }
        };
        Poll::Ready(piece.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            SimBody::Bytes(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            SimBody::Filler { left, .. } => *left == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Bytes(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            SimBody::Filler { left, .. } => SizeHint::with_exact(*left),
        }
    }
}

/// About `bytes` of the headers real sites send, in lines of at most 4 KB (servers and clients
/// allow about 100 header lines).
fn pad_head(headers: &mut hyper::HeaderMap, bytes: usize) {
    const POLICY: &str = "default-src 'self'; script-src 'self' https://cdn.example.net; ";
    let mut left = bytes;
    let mut n = 0;
    while left > 0 {
        let len = left.min(4096);
        let value = POLICY.repeat(len / POLICY.len() + 1);
        let name = match n {
            0 => HeaderName::from_static("content-security-policy"),
            1 => HeaderName::from_static("report-to"),
            _ => HeaderName::from_static("set-cookie"),
        };
        headers.append(
            name,
            HeaderValue::from_str(&value[..len]).expect("the policy text is a valid header value"),
        );
        left -= len;
        n += 1;
    }
}

/// The host of a Host header (or URI authority), without the port; IPv6 keeps its brackets.
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |end| &authority[..=end]);
    }
    authority.rsplit_once(':').map_or(authority, |(host, _port)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_loses_its_port_but_ipv6_keeps_its_brackets() {
        assert_eq!(host_of("abc.com"), "abc.com");
        assert_eq!(host_of("abc.com:8080"), "abc.com");
        assert_eq!(host_of("127.0.0.9:80"), "127.0.0.9");
        assert_eq!(host_of("[::1]:8080"), "[::1]");
        assert_eq!(host_of("[::1]"), "[::1]");
    }
}
