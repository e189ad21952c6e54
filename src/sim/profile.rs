//! The mixes the names are drawn from (`--profile`) and the options of a simulated internet;
//! `site` draws each name's site from them.

use clap::ValueEnum;
use serde::Serialize;

/// The mix of categories the names are drawn from (`serve --profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Profile {
    /// Like the article's real run over the three-letter .com names: ~38% plain 200, the rest
    /// redirects, error statuses and faults.
    #[default]
    Seed,
    /// Every name answers 200: for throughput benchmarks.
    AllOk,
    /// Mostly faults (hangs, resets, garbage, loops, TLS mismatches): for robustness tests.
    Faults,
    /// Many pages per host: every host is a site, every path a page with its own answer (~88%
    /// 200, the rest 301 chains within the site, 404, 410, 500, 405 to HEAD), over keep-alive
    /// connections; with --host-limit, too many requests in flight to one host get 429.
    Site,
}

/// What the site behind a name does. The names are the `category` column of `--truth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 200.
    Ok,
    /// 1-3 relative 301/302 redirects, then 200.
    Redirect,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 405 to HEAD, 200 to GET.
    HeadNotAllowed,
    /// 410.
    Gone,
    /// 500, 502 or 503.
    ServerError,
    /// 418 or 999.
    OddStatus,
    /// Reads the request and never answers (closes with a reset after 120 s).
    Hang,
    /// Reads the request, then resets the connection.
    Reset,
    /// Answers 200 only after 30 s.
    Slow,
    /// Redirects to itself forever (alternating between two relative locations).
    RedirectLoop,
    /// Over TLS, presents a certificate for `mismatch.invalid`; over plain HTTP answers 200.
    TlsMismatch,
    /// Over TLS, presents a certificate that expired 1 to 400 days ago; over plain HTTP
    /// answers 200.
    CertExpired,
    /// Reads the request, then writes bytes that are not HTTP and closes.
    Garbage,
    /// Not a name's category: an explicit `/_/` test route answered this request.
    Route,
}

/// Shares in permille; each table sums to 1000. `CertExpired` took its share from the end of
/// `TlsMismatch`'s range, so every other name kept its category and the shares of outcomes
/// (both fail with `tls`) did not move.
const SEED_WEIGHTS: [(Category, u16); 14] = [
    (Category::Ok, 380),
    (Category::Redirect, 120),
    (Category::Forbidden, 90),
    (Category::NotFound, 80),
    (Category::HeadNotAllowed, 50),
    (Category::Gone, 30),
    (Category::ServerError, 40),
    (Category::OddStatus, 20),
    (Category::Hang, 80),
    (Category::Reset, 30),
    (Category::Slow, 30),
    (Category::RedirectLoop, 20),
    (Category::TlsMismatch, 20),
    (Category::CertExpired, 10),
];

const SITE_WEIGHTS: [(Category, u16); 6] = [
    (Category::Ok, 880),
    (Category::Redirect, 50),
    (Category::NotFound, 25),
    (Category::HeadNotAllowed, 20),
    (Category::Gone, 15),
    (Category::ServerError, 10),
];

const ALL_OK_WEIGHTS: [(Category, u16); 1] = [(Category::Ok, 1000)];

const FAULTS_WEIGHTS: [(Category, u16); 10] = [
    (Category::Ok, 200),
    (Category::Redirect, 100),
    (Category::HeadNotAllowed, 100),
    (Category::Hang, 150),
    (Category::Reset, 150),
    (Category::Slow, 50),
    (Category::RedirectLoop, 100),
    (Category::TlsMismatch, 30),
    (Category::CertExpired, 20),
    (Category::Garbage, 100),
];

impl Profile {
    /// The permille share of each category this profile draws.
    pub fn weights(self) -> &'static [(Category, u16)] {
        match self {
            Profile::Seed => &SEED_WEIGHTS,
            Profile::AllOk => &ALL_OK_WEIGHTS,
            Profile::Faults => &FAULTS_WEIGHTS,
            Profile::Site => &SITE_WEIGHTS,
        }
    }
}

/// How the server and `--truth` are set up. Same options, same answers.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    pub seed: u64,
    pub profile: Profile,
    /// Multiplies every drawn latency; 0 answers at once.
    pub latency_scale: f64,
    /// The most requests one host serves at once; more get 429. It changes no answer of
    /// `--truth`, which is what a polite client sees.
    pub host_limit: Option<HostLimit>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 0,
            profile: Profile::Seed,
            latency_scale: 1.0,
            host_limit: None,
        }
    }
}

/// A per-host limit on requests in flight (`serve --host-limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLimit {
    pub max_in_flight: u32,
    pub retry_after: RetryAfter,
}

/// The `Retry-After` of a 429 (RFC 9110 10.2.3 allows both forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// No header: the client must find its own pace.
    None,
    /// `Retry-After: N`.
    Seconds(u32),
    /// `Retry-After: <HTTP date N seconds ahead>` (whole seconds, so up to one less).
    Date(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_weight_table_sums_to_one_thousand() {
        for profile in Profile::value_variants() {
            let sum: u32 = profile.weights().iter().map(|&(_, w)| u32::from(w)).sum();
            assert_eq!(sum, 1000, "{profile:?}");
            for (category, _) in profile.weights() {
                assert_ne!(*category, Category::Route);
            }
        }
    }
}
