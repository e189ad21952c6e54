//! One target in, one `Record` out: HEAD (or GET), redirects followed by hand (so they can be
//! counted and bounded under one deadline), the GET fallback, retries with backoff, and the
//! manners its host asks for (keep-alive while more of its URLs wait, a pause and a retry after
//! 429), and the content expectations of a successful answer (`expect`). Never returns an
//! error: a URL that fails is data.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::HeaderValue;
use url::Url;

use crate::check::expect::Expectations;
use crate::check::hosts::{after_throttle, parse_retry_after, Connection, HostNow, HostPermit, Throttle};
use crate::check::targets::{redact, Target};
use crate::net::classify::Failure;
use crate::net::client::{same_origin, Answer, Client, Credentials, Hop};
use crate::net::location::Location;
use crate::net::timing;
use crate::record::cert::{days_left, CertInfo, UtcSecs};
use crate::record::{Details, ErrorKind, HttpVersion, Method, Outcome, Record, SuccessCodes, Timings};

/// `--get-fallback`: when a HEAD is tried again as a GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GetFallback {
    /// Never retry with GET.
    Never,
    /// Retry with GET when HEAD gets 405 or 501 (servers that do not implement HEAD).
    #[value(name = "405")]
    Status405,
    /// Also retry on any other error status or a reset connection (never on a timeout).
    AnyError,
}

#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub method: Method,
    pub get_fallback: GetFallback,
    /// For one request including its redirects; a fallback GET or a retry gets a new one.
    pub timeout: Duration,
    pub max_redirects: u32,
    pub retries: u32,
    pub success: SuccessCodes,
    /// Collect the `--details` of every answer.
    pub details: bool,
    /// What a successful answer must hold besides its status; `None` when nothing is expected,
    /// and then no answer is kept past its head.
    pub expect: Option<Arc<Expectations>>,
    /// Measure where the time of every request went (`--timings`).
    pub timings: bool,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            method: Method::Head,
            get_fallback: GetFallback::Status405,
            timeout: Duration::from_secs(5),
            max_redirects: 10,
            retries: 0,
            success: SuccessCodes::default(),
            details: false,
            expect: None,
            timings: false,
        }
    }
}

/// How often a probe that found the machine out of descriptors (`local`) tries again, and how
/// long it waits first: over a second in all, enough for the probes in flight to finish and
/// close theirs. Independent of `--retries`, which is about the URL.
const LOCAL_RETRIES: u32 = 5;
const LOCAL_WAIT: Duration = Duration::from_millis(250);

/// Where one request (with its redirects) ended.
struct Attempt {
    result: Result<u16, Failure>,
    method: Method,
    final_url: Url,
    redirects: u32,
    /// The `Retry-After` of the last answer.
    retry_after: Option<HeaderValue>,
    /// The content expectation a successful answer broke.
    broken: Option<String>,
    details: Option<Box<Details>>,
}

/// Check one target. `permit` is its host's slot (`hosts::Scheduler`), held while it is sent:
/// it says whether to keep the connection for the host's next URL, and takes the host's pause
/// and AIMD step after a 429.
pub async fn probe(
    client: &Client,
    cfg: &ProbeConfig,
    target: Target,
    mut permit: Option<HostPermit>,
) -> Record {
    let (display, url) = match target {
        Target::Valid { display, url } => (display, url),
        Target::Invalid { line, reason } => return Record::unsent(line, ErrorKind::InvalidUrl, reason),
    };
    let start = Instant::now();
    let mut tries = Tries::default();
    let (mut throttled, mut waited, mut kept_because) = (0, Duration::ZERO, None);
    // Summed over every request of the check: hops, the GET fallback, retries.
    let mut timings = cfg.timings.then(Timings::default);
    let attempt = loop {
        let host = permit.as_ref().map_or(HostNow::ALONE, HostPermit::now);
        let mut attempt = follow(client, cfg, &url, cfg.method, host, timings.as_mut()).await;
        if cfg.method == Method::Head && wants_get(cfg.get_fallback, &attempt.result) {
            attempt = follow(client, cfg, &url, Method::Get, host, timings.as_mut()).await;
        }
        let decision = match (&permit, &attempt.result) {
            (Some(host), Ok(status)) => {
                let retry_after = attempt
                    .retry_after
                    .as_ref()
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                after_throttle(host.policy(), *status, retry_after, throttled, waited)
            }
            _ => None,
        };
        match (decision, permit.take()) {
            (Some(Throttle::Retry(pause)), Some(host)) => {
                host.throttled(pause);
                (throttled, waited) = (throttled + 1, waited + pause);
                permit = Some(host.retry().await);
                continue;
            }
            (Some(Throttle::GiveUp { pause, detail }), Some(host)) => {
                host.throttled(pause);
                kept_because = Some(detail);
                break attempt;
            }
            (_, host) => permit = host,
        }
        match &attempt.result {
            Err(failure) => match tries.next(failure.kind, cfg.retries) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => break attempt,
            },
            Ok(_) => break attempt,
        }
    };
    if let Some(host) = permit {
        host.answered(attempt.result.is_err());
    }
    let outcome = match (attempt.result, attempt.broken) {
        (Ok(status), None) => Outcome::Response { status },
        (Ok(status), Some(detail)) => Outcome::Content { status, detail },
        (Err(Failure { kind, detail, .. }), _) => Outcome::Failed { kind, detail },
    };
    Record {
        url: display,
        success: matches!(outcome, Outcome::Response { status } if cfg.success.contains(status)),
        outcome,
        final_url: Some(redact(&attempt.final_url)),
        redirects: attempt.redirects,
        method: Some(attempt.method),
        elapsed: start.elapsed(),
        note: kept_because,
        details: attempt.details,
        timings: timings.map(|t| t.in_ms()),
    }
}

/// Whether a HEAD result calls for one more try with GET (`--get-fallback`). Never after a
/// timeout: a host that did not answer HEAD in time will not answer GET either, and the retry
/// would double the cost of every dead host.
fn wants_get(policy: GetFallback, result: &Result<u16, Failure>) -> bool {
    match (policy, result) {
        (GetFallback::Never, _) => false,
        (_, Ok(405 | 501)) => true,
        // A 429 asks for less, not for another request at once.
        (GetFallback::AnyError, Ok(status)) => *status >= 400 && *status != 429,
        (GetFallback::AnyError, Err(failure)) => {
            matches!(failure.kind, ErrorKind::Reset | ErrorKind::Protocol)
        }
        (GetFallback::Status405, _) => false,
    }
}

/// The retries a probe has made so far, of each sort.
#[derive(Debug, Default)]
struct Tries {
    /// After a timeout or a refused connection (`--retries`).
    url: u32,
    /// After running out of descriptors (`local`).
    local: u32,
}

impl Tries {
    /// After a failure of `kind`: how long to wait before trying again, or `None` to write it.
    fn next(&mut self, kind: ErrorKind, retries: u32) -> Option<Duration> {
        match kind {
            // Descriptors free up as other probes finish: wait for that, whatever --retries says.
            ErrorKind::Local if self.local < LOCAL_RETRIES => {
                self.local += 1;
                Some(LOCAL_WAIT)
            }
            ErrorKind::Timeout | ErrorKind::Connect if self.url < retries => {
                self.url += 1;
                Some(backoff(self.url - 1))
            }
            _ => None,
        }
    }
}

/// 250 ms, 500 ms, 1 s, ... capped at 8 s.
fn backoff(retry: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << retry.min(5)))
}

/// One request and its redirects, all under one deadline. With `timings`, each request's phases
/// are added to them.
async fn follow(
    client: &Client,
    cfg: &ProbeConfig,
    start_url: &Url,
    method: Method,
    host: HostNow,
    mut timings: Option<&mut Timings>,
) -> Attempt {
    let keep_alive = host.connection == Connection::Keep;
    let deadline = tokio::time::Instant::now() + cfg.timeout;
    let mut url = start_url.clone();
    let mut redirects = 0;
    let mut retry_after = None;
    let mut broken = None;
    let mut how = Hop {
        method,
        credentials: Credentials::Send,
        keep_alive,
        busy_host: host.busy,
        keep_body: cfg.expect.is_some(),
        reuse: host.connection == Connection::Last,
    };
    let mut details = cfg.details.then(Box::<Details>::default);
    let result = loop {
        let sent = {
            let send = std::pin::pin!(tokio::time::timeout_at(deadline, client.send(&url, how)));
            match timings.as_deref_mut() {
                // Boxed (the request stays where it is): a probe without `--timings` carries
                // no room for the measurement's state.
                Some(sums) => Box::pin(timing::measure(sums, send)).await,
                None => send.await,
            }
        };
        let answer = match sent {
            Err(_) => {
                break Err(Failure::new(
                    ErrorKind::Timeout,
                    format!("no answer within {:?}", cfg.timeout),
                ))
            }
            Ok(Err(failure)) => {
                if let (Some(d), Some(not_after), 0) =
                    (details.as_deref_mut(), failure.cert_expired, redirects)
                {
                    d.cert = Some(expired_cert(not_after));
                }
                break Err(failure);
            }
            Ok(Ok(answer)) => answer,
        };
        if let Some(d) = details.as_deref_mut() {
            note(d, &answer, redirects == 0);
        }
        let Some(next) = redirect_target(&url, &answer) else {
            retry_after = answer.retry_after;
            let status = answer.status.as_u16();
            let expected = cfg.expect.as_deref().zip(answer.body);
            if let Some((expect, body)) = expected.filter(|_| cfg.success.contains(status)) {
                // Boxed: a probe without expectations carries none of its state.
                match Box::pin(tokio::time::timeout_at(deadline, expect.judge(body))).await {
                    Err(_) => {
                        break Err(Failure::new(
                            ErrorKind::Timeout,
                            format!("body not read within {:?}", cfg.timeout),
                        ))
                    }
                    Ok(Err(failure)) => break Err(failure),
                    Ok(Ok(verdict)) => broken = verdict,
                }
            }
            break Ok(status);
        };
        match next {
            Err(detail) => break Err(Failure::new(ErrorKind::Protocol, detail)),
            Ok(_) if redirects == cfg.max_redirects => {
                break Err(Failure::new(
                    ErrorKind::TooManyRedirects,
                    format!(
                        "more than {} redirects, the last from {}",
                        cfg.max_redirects,
                        redact(&url)
                    ),
                ))
            }
            Ok(next) => {
                redirects += 1;
                // Two redirects within one origin are likely followed by more (a loop, a chain
                // of moves): from the second on, the connection stays open for them. A single
                // one mostly ends the chain, and a connection kept for it would sit idle unless
                // more URLs of the host wait.
                how.keep_alive = same_origin(&url, &next) && (keep_alive || redirects >= 2);
                // The first hop took the kept connection, if there was one.
                how.reuse = false;
                if !same_origin(start_url, &next) {
                    how.credentials = Credentials::Withhold;
                }
                url = next;
            }
        }
    };
    Attempt {
        result,
        method,
        final_url: url,
        redirects,
        retry_after,
        broken,
        details,
    }
}

/// What `--details` keeps of an answer: the address and protocol of the last one, and the
/// certificate of the first, the host the user listed.
fn note(details: &mut Details, answer: &Answer, first_hop: bool) {
    details.ip = answer.remote.map(|addr| addr.ip());
    details.http_version = HttpVersion::of(answer.version);
    if first_hop {
        details.cert = answer.peer_cert.as_deref().and_then(|der| {
            CertInfo::from_der(der, UtcSecs::now())
                .inspect_err(|e| tracing::debug!("certificate not read: {e}"))
                .ok()
        });
    }
}

/// A certificate the handshake refused as expired: its date is known from the error, its
/// issuer is not.
fn expired_cert(not_after: UtcSecs) -> CertInfo {
    CertInfo {
        not_after,
        days_left: days_left(not_after, UtcSecs::now()),
        issuer: None,
    }
}

/// The next URL of a redirect, `None` when the response is not one to follow: not a redirect
/// status, or no `Location` but empty ones (as curl and browsers do, the 3xx is then the answer).
pub(crate) fn redirect_target(url: &Url, answer: &Answer) -> Option<Result<Url, String>> {
    if !matches!(answer.status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = match &answer.location {
        Location::Absent => return None,
        Location::At(value) => location_text(value.as_bytes()),
        Location::Conflicting(first, second) => {
            return Some(Err(format!(
                "{} with two different Location headers, `{}` and `{}`: browsers follow neither",
                answer.status.as_u16(),
                location_text(first.as_bytes()),
                location_text(second.as_bytes())
            )))
        }
    };
    let next = url
        .join(&location)
        .map_err(|e| format!("bad redirect Location `{location}`: {e}"))
        .and_then(|next| match next.scheme() {
            "http" | "https" => Ok(next),
            other => Err(format!("redirect to unsupported scheme `{other}`")),
        });
    Some(next)
}

/// A `Location` as URL text: raw bytes outside ASCII (a UTF-8 `/café`, as many servers send)
/// are percent-encoded, as browsers and curl do, rather than refused.
fn location_text(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii() {
            text.push(char::from(b));
        } else {
            text.push_str(&format!("%{b:02X}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_fallback_follows_the_policy() {
        use GetFallback::*;
        let status = |s| Ok(s);
        let err = |k| Err(Failure::new(k, ""));
        assert!(wants_get(Status405, &status(405)));
        assert!(wants_get(Status405, &status(501)));
        assert!(!wants_get(Status405, &status(404)));
        assert!(!wants_get(Never, &status(405)));
        assert!(wants_get(AnyError, &status(403)));
        assert!(!wants_get(AnyError, &status(200)));
        assert!(wants_get(AnyError, &err(ErrorKind::Reset)));
        assert!(!wants_get(AnyError, &err(ErrorKind::Timeout)));
        assert!(!wants_get(Status405, &err(ErrorKind::Reset)));
    }

    #[test]
    fn a_probe_stays_small_enough_for_a_thousand_in_flight() {
        // Every probe in flight is a spawned task holding this future; with the TLS session
        // inline it was 6 KB, and peak memory at C = 1,000 was a quarter higher. With the
        // `--timings` measurement inline rather than boxed it was 0.9 KB larger with or without
        // the flag: 2 MiB more at C = 1,000.
        let client = crate::net::client::build(&crate::net::client::ClientConfig {
            connect_timeout: Duration::from_secs(1),
            user_agent: "test".into(),
            headers: Vec::new(),
            insecure: false,
            ca_pems: Vec::new(),
            resolve: Vec::new(),
            dns_servers: Vec::new(),
            dns_concurrency: 1,
            proxy: crate::net::client::ProxyChoice::Direct,
            tls_info: false,
            pool_idle: Duration::from_secs(1),
            http2: true,
            timings: false,
        })
        .expect("a client");
        let target = Target::parse("https://a.com/", crate::check::targets::Scheme::Https);
        let cfg = ProbeConfig::default();
        let future = probe(&client, &cfg, target, None);
        assert!(
            std::mem::size_of_val(&future) <= 2560,
            "{} bytes",
            std::mem::size_of_val(&future)
        );
    }

    #[test]
    fn running_out_of_descriptors_is_retried_whatever_retries_says() {
        let mut tries = Tries::default();
        for _ in 0..LOCAL_RETRIES {
            assert_eq!(tries.next(ErrorKind::Local, 0), Some(LOCAL_WAIT));
        }
        assert_eq!(tries.next(ErrorKind::Local, 0), None, "then the row says `local`");
        assert_eq!(tries.next(ErrorKind::Timeout, 0), None);

        let mut tries = Tries::default();
        assert_eq!(tries.next(ErrorKind::Connect, 2), Some(backoff(0)));
        assert_eq!(
            tries.next(ErrorKind::Local, 2),
            Some(LOCAL_WAIT),
            "a budget of its own"
        );
        assert_eq!(tries.next(ErrorKind::Timeout, 2), Some(backoff(1)));
        assert_eq!(tries.next(ErrorKind::Timeout, 2), None);
        assert_eq!(Tries::default().next(ErrorKind::Dns, 5), None);
    }

    #[test]
    fn a_raw_utf8_location_is_percent_encoded() {
        assert_eq!(location_text("/café?q=ü".as_bytes()), "/caf%C3%A9?q=%C3%BC");
        assert_eq!(location_text(b"/plain?a=1"), "/plain?a=1");
        let base = Url::parse("https://a.com/x").unwrap();
        let next = base.join(&location_text("/café".as_bytes())).unwrap();
        assert_eq!(next.as_str(), "https://a.com/caf%C3%A9");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(250));
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(9), Duration::from_secs(8));
    }
}
