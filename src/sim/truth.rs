//! What a check of a URL against the simulated internet must yield, computed without any network:
//! the server's own plan (`plan::decide`) replayed the way the checker works with its defaults
//! (HEAD; redirects followed up to 10 under one deadline; one GET retry, with a fresh deadline,
//! after 405 or 501; success = 200). A real check must agree with it on status, success and
//! exception for every URL; `serve --truth` writes it as CSV for scoring and for the benchmark's
//! ideal-scheduler model.

use std::time::Duration;

use serde::Serialize;
use url::Url;

use super::page::Page;
use super::plan::{self, Action, Request, HANG_MS};
use super::profile::{Category, SimOptions};
use super::site::{Site, ISSUERS};
use crate::record::{ErrorKind, Method};

/// The checker's default `--max-redirects`.
const MAX_REDIRECTS: u32 = 10;

/// The expected row for one URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Truth {
    /// The URL as given (`Url` serialisation; `serve --truth` puts the target as the checker
    /// shows it here instead, so the two files join on this column).
    pub url: String,
    pub status_code: Option<u16>,
    pub success: bool,
    pub exception: Option<ErrorKind>,
    /// The method of the last request.
    pub method: Method,
    pub redirects: u32,
    /// What the client waits in total, in milliseconds: the latencies of every request it sends
    /// (a redirect chain spreads one latency over its hops; a GET retry pays it again); the
    /// timeout itself for a request that is not answered in time; 0 for a TLS mismatch.
    pub latency_ms: u64,
    pub category: Category,
    /// What `--details` reads of the certificate of a named host over HTTPS: days left (as of
    /// the server's start) and issuer. An expired one is known only from the handshake's
    /// error, which names no issuer; a mismatched one is not read at all.
    pub cert_days_left: Option<i64>,
    pub cert_issuer: Option<&'static str>,
    /// The page a GET of a 200 reads (what content expectations see); none for other answers.
    pub page: Option<Page>,
}

/// What a check of `url` (with `timeout` per request, as the checker's `--timeout`) yields.
///
/// Exact as long as no latency lies within the client's own overhead of the timeout: with the
/// default 5 s and `latency_scale` at most 1, the slowest normal answer (4 s) leaves a second.
pub fn truth(url: &Url, opts: &SimOptions, timeout: Duration) -> Truth {
    let host = url.host_str().unwrap_or("");
    let first = Request {
        head: true,
        host,
        path: url.path(),
        query: url.query().unwrap_or(""),
    };
    let mut row = Truth {
        url: url.to_string(),
        status_code: None,
        success: false,
        exception: None,
        method: Method::Head,
        redirects: 0,
        latency_ms: 0,
        category: plan::category_of(&first, opts),
        cert_days_left: None,
        cert_issuer: None,
        page: None,
    };
    // The certificate is chosen from the SNI name before any path is seen, so a mismatched or
    // expired name fails whatever the path. IP literals send no SNI and always get a valid
    // certificate.
    if url.scheme() == "https" && !plan::is_ip_literal(host) {
        let site = Site::of(host, opts);
        match site.category {
            Category::TlsMismatch | Category::CertExpired => {
                row.category = site.category;
                row.exception = Some(ErrorKind::Tls);
                row.cert_days_left = (site.category == Category::CertExpired).then_some(site.cert_days);
                return row;
            }
            _ => {
                row.cert_days_left = Some(site.cert_days);
                row.cert_issuer = Some(ISSUERS[site.issuer]);
            }
        }
    }
    let limit_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let mut phase = follow(url, true, opts, limit_ms);
    if matches!(phase.result, Ok(405 | 501)) {
        let waited = phase.elapsed_ms;
        phase = follow(url, false, opts, limit_ms);
        phase.elapsed_ms += waited;
        row.method = Method::Get;
    }
    row.redirects = phase.redirects;
    row.latency_ms = phase.elapsed_ms;
    row.page = phase.page;
    match phase.result {
        Ok(status) => {
            row.status_code = Some(status);
            row.success = status == 200;
        }
        Err(kind) => row.exception = Some(kind),
    }
    row
}

/// One request and its redirects under one deadline, as the checker's probe runs it.
struct Phase {
    result: Result<u16, ErrorKind>,
    redirects: u32,
    elapsed_ms: u64,
    page: Option<Page>,
}

/// Where one request leaves the client.
enum Step {
    Done(Result<u16, ErrorKind>),
    Redirect(String),
}

fn follow(start: &Url, head: bool, opts: &SimOptions, limit_ms: u64) -> Phase {
    let mut url = start.clone();
    let mut redirects = 0;
    let mut elapsed_ms = 0;
    loop {
        let req = Request {
            head,
            host: url.host_str().unwrap_or(""),
            path: url.path(),
            query: url.query().unwrap_or(""),
        };
        let (delay_ms, step) = match plan::decide(&req, opts) {
            Action::Respond {
                location: Some(location),
                delay_ms,
                ..
            } => (delay_ms, Step::Redirect(location.render(req.path))),
            Action::Respond { status, delay_ms, .. } => (delay_ms, Step::Done(Ok(status))),
            // The server gives up on a hanging request with a reset.
            Action::Hang => (HANG_MS, Step::Done(Err(ErrorKind::Reset))),
            Action::Reset { delay_ms } => (delay_ms, Step::Done(Err(ErrorKind::Reset))),
            Action::Garbage { delay_ms } => (delay_ms, Step::Done(Err(ErrorKind::Protocol))),
        };
        elapsed_ms += delay_ms;
        if elapsed_ms >= limit_ms {
            return Phase {
                result: Err(ErrorKind::Timeout),
                redirects,
                elapsed_ms: limit_ms,
                page: None,
            };
        }
        let location = match step {
            Step::Done(result) => {
                return Phase {
                    page: (result == Ok(200))
                        .then(|| Page::at(req.host, req.path, opts))
                        .flatten(),
                    result,
                    redirects,
                    elapsed_ms,
                }
            }
            Step::Redirect(_) if redirects == MAX_REDIRECTS => {
                return Phase {
                    result: Err(ErrorKind::TooManyRedirects),
                    redirects,
                    elapsed_ms,
                    page: None,
                };
            }
            Step::Redirect(location) => location,
        };
        redirects += 1;
        url = url
            .join(&location)
            .expect("a path-absolute location joins onto any http URL");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::profile::Profile;

    const FIVE_SECONDS: Duration = Duration::from_secs(5);

    /// The first three-letter .com name of `category` under `opts`.
    fn name_of(category: Category, opts: &SimOptions) -> String {
        let letters = b'a'..=b'z';
        letters
            .clone()
            .flat_map(|a| letters.clone().map(move |b| (a, b)))
            .flat_map(|(a, b)| (b'a'..=b'z').map(move |c| [a, b, c]))
            .map(|l| format!("{}.com", String::from_utf8_lossy(&l)))
            .find(|n| Site::of(n, opts).category == category)
            .expect("every category of the profile has a three-letter name")
    }

    fn check(category: Category, scheme: &str, opts: &SimOptions) -> (Truth, Site) {
        let name = name_of(category, opts);
        let url = Url::parse(&format!("{scheme}://{name}")).expect("a valid URL");
        let row = truth(&url, opts, FIVE_SECONDS);
        assert_eq!(row.category, category);
        (row, Site::of(&name, opts))
    }

    fn outcome(row: &Truth) -> (Option<u16>, bool, Option<ErrorKind>) {
        (row.status_code, row.success, row.exception)
    }

    #[test]
    fn answering_categories_give_their_status_after_their_latency() {
        let opts = SimOptions::default();
        for category in [
            Category::Ok,
            Category::Forbidden,
            Category::NotFound,
            Category::Gone,
            Category::ServerError,
            Category::OddStatus,
        ] {
            let (row, site) = check(category, "https", &opts);
            assert_eq!(outcome(&row), (Some(site.status), site.status == 200, None));
            assert_eq!((row.method, row.redirects), (Method::Head, 0));
            assert_eq!(row.latency_ms, site.latency_ms);
        }
    }

    #[test]
    fn a_redirect_chain_ends_in_200_within_one_latency() {
        let (row, site) = check(Category::Redirect, "https", &SimOptions::default());
        assert_eq!(outcome(&row), (Some(200), true, None));
        assert_eq!(row.redirects, site.hops);
        assert_eq!(row.latency_ms, site.latency_ms);
    }

    #[test]
    fn a_405_to_head_is_retried_with_get_which_pays_the_latency_again() {
        let (row, site) = check(Category::HeadNotAllowed, "https", &SimOptions::default());
        assert_eq!(outcome(&row), (Some(200), true, None));
        assert_eq!(row.method, Method::Get);
        assert_eq!(row.latency_ms, 2 * site.latency_ms);
    }

    #[test]
    fn faults_become_their_exception_kinds() {
        let opts = SimOptions::default();
        let expect = [
            (Category::Hang, ErrorKind::Timeout),
            (Category::Slow, ErrorKind::Timeout),
            (Category::Reset, ErrorKind::Reset),
            (Category::RedirectLoop, ErrorKind::TooManyRedirects),
            (Category::TlsMismatch, ErrorKind::Tls),
            (Category::CertExpired, ErrorKind::Tls),
        ];
        for (category, kind) in expect {
            let (row, _) = check(category, "https", &opts);
            assert_eq!(outcome(&row), (None, false, Some(kind)), "{category:?}");
        }
        let (hang, _) = check(Category::Hang, "https", &opts);
        assert_eq!(hang.latency_ms, 5000);
        let (in_loop, _) = check(Category::RedirectLoop, "https", &opts);
        assert_eq!(in_loop.redirects, MAX_REDIRECTS);
        assert!(in_loop.latency_ms <= plan::LOOP_LATENCY_CAP_MS);
        let faults = SimOptions {
            profile: Profile::Faults,
            ..SimOptions::default()
        };
        let (garbage, _) = check(Category::Garbage, "http", &faults);
        assert_eq!(outcome(&garbage), (None, false, Some(ErrorKind::Protocol)));
    }

    #[test]
    fn a_mismatched_or_expired_name_answers_200_over_plain_http() {
        for category in [Category::TlsMismatch, Category::CertExpired] {
            let (row, _) = check(category, "http", &SimOptions::default());
            assert_eq!(outcome(&row), (Some(200), true, None));
            assert_eq!((row.cert_days_left, row.cert_issuer), (None, None));
        }
    }

    #[test]
    fn the_certificate_is_that_of_the_named_host_over_https() {
        let opts = SimOptions::default();
        let (ok, site) = check(Category::Ok, "https", &opts);
        assert_eq!(ok.cert_days_left, Some(site.cert_days));
        assert_eq!(ok.cert_issuer, Some(ISSUERS[site.issuer]));
        let (expired, site) = check(Category::CertExpired, "https", &opts);
        assert!(site.cert_days < 0);
        assert_eq!(
            (expired.cert_days_left, expired.cert_issuer),
            (Some(site.cert_days), None)
        );
        let (mismatch, _) = check(Category::TlsMismatch, "https", &opts);
        assert_eq!(mismatch.cert_days_left, None);
    }

    #[test]
    fn long_timeouts_see_the_slow_answer_and_the_hang_reset() {
        let opts = SimOptions::default();
        let slow = Url::parse(&format!("http://{}", name_of(Category::Slow, &opts))).expect("a valid URL");
        let row = truth(&slow, &opts, Duration::from_secs(60));
        assert_eq!((row.status_code, row.latency_ms), (Some(200), 30_000));
        let hang = Url::parse(&format!("http://{}", name_of(Category::Hang, &opts))).expect("a valid URL");
        let row = truth(&hang, &opts, Duration::from_secs(600));
        assert_eq!(row.exception, Some(ErrorKind::Reset));
    }

    #[test]
    fn ip_literal_urls_are_judged_by_their_label_and_never_mismatch() {
        let opts = SimOptions::default();
        let name = name_of(Category::TlsMismatch, &opts);
        let url = Url::parse(&format!("https://127.0.4.2:8080/{name}")).expect("a valid URL");
        let row = truth(&url, &opts, FIVE_SECONDS);
        assert_eq!(row.category, Category::TlsMismatch);
        assert_eq!(outcome(&row), (Some(200), true, None));
        let forbidden = name_of(Category::Forbidden, &opts);
        let url = Url::parse(&format!("http://127.0.0.1:1/{forbidden}")).expect("a valid URL");
        assert_eq!(truth(&url, &opts, FIVE_SECONDS).status_code, Some(403));
    }

    #[test]
    fn explicit_routes_have_their_own_truth() {
        let opts = SimOptions::default();
        let at = |path: &str| {
            let url = Url::parse(&format!("http://localhost:1{path}")).expect("a valid URL");
            truth(&url, &opts, FIVE_SECONDS)
        };
        assert_eq!(at("/_/redirect/4").redirects, 4);
        assert_eq!(at("/_/head501").method, Method::Get);
        assert_eq!(at("/_/garbage").exception, Some(ErrorKind::Protocol));
        assert_eq!(at("/_/slow/6000").exception, Some(ErrorKind::Timeout));
        assert_eq!(at("/_/slow/100").latency_ms, 100);
        assert_eq!(at("/_/status/503").category, Category::Route);
    }

    #[test]
    fn truth_is_the_same_every_time() {
        let opts = SimOptions::default();
        let url = Url::parse("https://qzx.com").expect("a valid URL");
        assert_eq!(truth(&url, &opts, FIVE_SECONDS), truth(&url, &opts, FIVE_SECONDS));
    }
}
