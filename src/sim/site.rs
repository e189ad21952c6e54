//! Who a name is: its category and latency, drawn from a fixed hash of the name and the seed
//! (`crate::hash`), so the server, `--truth` and every rerun agree without any shared state.

use super::profile::{Category, Profile, SimOptions};
use crate::hash::{name_hash, splitmix64};

/// Median of the latency draw, before scaling.
pub const LATENCY_MEDIAN_MS: f64 = 150.0;
/// Spread of the log-normal draw: about 1 name in 100 takes over 1.5 s, 1 in 1000 over 3 s.
const LATENCY_SIGMA: f64 = 1.0;
/// The slowest normal answer, before scaling: below the checker's default 5 s timeout with a
/// second to spare, so a drawn latency alone never turns an answer into a timeout.
pub const LATENCY_CAP_MS: f64 = 4000.0;

/// The site behind one name: everything the server needs to answer for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site {
    pub category: Category,
    /// The first status it answers with (the redirect code for `Redirect`, 200 for faults that
    /// have none).
    pub status: u16,
    /// Redirects before the 200 (`Redirect` only, else 0).
    pub hops: u32,
    /// The scaled latency of the name's whole answer, in milliseconds.
    pub latency_ms: u64,
    /// Bytes of extra headers in its answers (about 15% of names: 3 to 16 KB, as real sites
    /// send), else 0.
    pub head_bytes: usize,
    /// Whether it resets the connection right after a complete answer (about 10% of names).
    pub reset_after: bool,
    /// Whole days left on the name's certificate when the server started: negative for
    /// `CertExpired`, else from 0 (2% under a week, 7% under a month) to 397.
    pub cert_days: i64,
    /// Which of `ISSUERS` signed the name's certificate.
    pub issuer: usize,
    /// Whether its HTTPS offers HTTP/2 in ALPN (besides HTTP/1.1): `HTTP2_PERMILLE` of names,
    /// never a `garbage` one (its fault is HTTP/1.1's kind), every site of the `site` profile,
    /// never `localhost` (tests of HTTP/1.1's faults reach the server by that name).
    pub http2: bool,
}

/// The share of names whose HTTPS offers HTTP/2, in permille: about what a crawl of the most
/// visited sites finds, more than of all sites.
pub const HTTP2_PERMILLE: u64 = 400;

/// The common names of the simulated internet's CAs, the first the most common.
pub const ISSUERS: [&str; 3] = ["Sim Encrypt R3", "Sim Trust DV CA", "Sim Global G2"];

/// The certificate lifetime of a name, from its own draw `x`: mostly months, some days.
fn cert_days(category: Category, x: u64) -> i64 {
    let pick = |from: u64, to: u64| (from + (x >> 10) % (to - from)) as i64;
    match (category, x % 1000) {
        (Category::CertExpired, _) => -pick(1, 401),
        (_, r) if r < 20 => pick(0, 7),
        (_, r) if r < 70 => pick(7, 30),
        (_, r) if r < 200 => pick(30, 90),
        _ => pick(90, 398),
    }
}

impl Site {
    /// The site for `name` (case-insensitive). `localhost` is always `Ok`, so tests that reach
    /// the server by that name get a valid certificate whatever the seed.
    pub fn of(name: &str, opts: &SimOptions) -> Site {
        let h = name_hash(name, opts.seed);
        if name.eq_ignore_ascii_case("localhost") {
            return Site {
                http2: false,
                ..Site::drawn(Category::Ok, h, opts)
            };
        }
        Site::drawn(pick(opts.profile.weights(), h % 1000), h, opts)
    }

    /// The page `path` of the site `host` (profile `site`): hashed from both, so each page of a
    /// site has its own answer and every host the same mix.
    pub fn of_page(host: &str, path: &str, opts: &SimOptions) -> Site {
        let h = name_hash(path, name_hash(host, opts.seed));
        Site::drawn(pick(opts.profile.weights(), h % 1000), h, opts)
    }

    fn drawn(category: Category, h: u64, opts: &SimOptions) -> Site {
        let variant = splitmix64(h ^ 0x5EED);
        // A site's pages redirect permanently, and its errors are plain 500s (a 503 would read as
        // "overloaded, retry").
        let site = opts.profile == Profile::Site;
        let (status, hops) = match category {
            Category::Redirect if site => (301, 1 + (variant >> 8) as u32 % 3),
            Category::ServerError if site => (500, 0),
            Category::Redirect => ([301, 302][(variant % 2) as usize], 1 + (variant >> 8) as u32 % 3),
            Category::Forbidden => (403, 0),
            Category::NotFound => (404, 0),
            Category::HeadNotAllowed => (405, 0),
            Category::Gone => (410, 0),
            Category::ServerError => ([500, 502, 503][(variant % 3) as usize], 0),
            Category::OddStatus => ([418, 999][(variant % 2) as usize], 0),
            Category::RedirectLoop => (302, 0),
            _ => (200, 0),
        };
        let manner = splitmix64(h ^ 0x4EAD);
        let issuer = match splitmix64(h ^ 0x155E) % 20 {
            0..=11 => 0,
            12..=16 => 1,
            _ => 2,
        };
        Site {
            category,
            status,
            hops,
            latency_ms: scaled(base_latency_ms(h), opts.latency_scale),
            head_bytes: if manner % 100 < 15 {
                3_000 + (manner >> 8) as usize % 13_000
            } else {
                0
            },
            // Not a site's pages: their connections are kept for the next page.
            reset_after: !site && (manner >> 32) % 100 < 10,
            cert_days: cert_days(category, splitmix64(h ^ 0xCE27)),
            issuer,
            http2: site || (category != Category::Garbage && splitmix64(h ^ 0x4802) % 1000 < HTTP2_PERMILLE),
        }
    }
}

fn pick(weights: &[(Category, u16)], roll: u64) -> Category {
    let mut below = 0u64;
    for &(category, weight) in weights {
        below += u64::from(weight);
        if roll < below {
            return category;
        }
    }
    // The tables sum to 1000 and `roll` is below 1000 (checked by a test).
    weights[weights.len() - 1].0
}

/// The unscaled latency of a name: log-normal around `LATENCY_MEDIAN_MS`, capped.
fn base_latency_ms(h: u64) -> f64 {
    let u1 = unit(splitmix64(h ^ 0x1A7E));
    let u2 = unit(splitmix64(h ^ 0x2A7E));
    // Box-Muller: one standard normal draw from two uniform ones.
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (LATENCY_MEDIAN_MS * (LATENCY_SIGMA * z).exp()).min(LATENCY_CAP_MS)
}

fn scaled(ms: f64, scale: f64) -> u64 {
    // A negative or NaN scale saturates to 0 in the cast: "instant".
    (ms * scale).round() as u64
}

/// A uniform draw in (0, 1), never 0 so that its logarithm is finite.
fn unit(x: u64) -> f64 {
    ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::targets::{Generated, Scheme};

    fn three_letter_names() -> Vec<String> {
        Generated::new("abcdefghijklmnopqrstuvwxyz", 3, Scheme::Https, "com")
            .expect("valid alphabet")
            .map(|url| url.trim_start_matches("https://").to_string())
            .collect()
    }

    #[test]
    fn category_shares_over_the_three_letter_set_follow_the_weights() {
        let names = three_letter_names();
        let opts = SimOptions::default();
        for &(category, weight) in Profile::Seed.weights() {
            let count = names
                .iter()
                .filter(|n| Site::of(n, &opts).category == category)
                .count();
            let share = count as f64 / names.len() as f64;
            let want = f64::from(weight) / 1000.0;
            assert!(
                (share - want).abs() < 0.012,
                "{category:?}: {share:.4} against {want}"
            );
        }
    }

    #[test]
    fn the_same_name_and_seed_always_give_the_same_site() {
        let opts = SimOptions::default();
        assert_eq!(Site::of("abc.com", &opts), Site::of("ABC.com", &opts));
        let other = SimOptions {
            seed: 1,
            ..SimOptions::default()
        };
        let names = three_letter_names();
        let moved = names
            .iter()
            .filter(|n| Site::of(n, &opts).category != Site::of(n, &other).category)
            .count();
        assert!(moved > names.len() / 2, "a new seed reshuffles the names");
    }

    #[test]
    fn latency_is_long_tailed_around_150_ms_and_capped() {
        let opts = SimOptions::default();
        let mut latencies: Vec<u64> = three_letter_names()
            .iter()
            .map(|n| Site::of(n, &opts).latency_ms)
            .collect();
        latencies.sort_unstable();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        assert!((135..=165).contains(&at(0.5)), "median {}", at(0.5));
        assert!(at(0.99) > 1000, "p99 {}", at(0.99));
        assert!(*latencies.last().expect("17,576 names") <= LATENCY_CAP_MS as u64);
    }

    #[test]
    fn the_latency_scale_multiplies_and_zero_is_instant() {
        let at = |scale| {
            Site::of(
                "abc.com",
                &SimOptions {
                    latency_scale: scale,
                    ..SimOptions::default()
                },
            )
            .latency_ms
        };
        assert_eq!(at(0.0), 0);
        assert!(at(2.0).abs_diff(2 * at(1.0)) <= 1);
    }

    #[test]
    fn all_ok_answers_200_and_localhost_is_always_ok() {
        let all_ok = SimOptions {
            profile: Profile::AllOk,
            ..SimOptions::default()
        };
        for name in three_letter_names().iter().take(2000) {
            assert_eq!(Site::of(name, &all_ok).category, Category::Ok);
        }
        for seed in 0..50 {
            let opts = SimOptions {
                seed,
                profile: Profile::Faults,
                ..SimOptions::default()
            };
            assert_eq!(Site::of("localhost", &opts).category, Category::Ok);
        }
    }

    #[test]
    fn certificate_lifetimes_vary_and_only_expired_names_have_expired_ones() {
        let opts = SimOptions::default();
        let sites: Vec<Site> = three_letter_names().iter().map(|n| Site::of(n, &opts)).collect();
        let count = |f: &dyn Fn(&Site) -> bool| sites.iter().filter(|s| f(s)).count();
        let expired = count(&|s| s.cert_days < 0);
        assert_eq!(expired, count(&|s| s.category == Category::CertExpired));
        assert!((150..=210).contains(&expired), "{expired} expired (1%)");
        let week = count(&|s| (0..7).contains(&s.cert_days));
        assert!((250..=450).contains(&week), "{week} within a week (2%)");
        let month = count(&|s| (0..30).contains(&s.cert_days));
        assert!((1000..=1500).contains(&month), "{month} within a month (7%)");
        assert!(sites.iter().all(|s| (-400..398).contains(&s.cert_days)));
        let by_issuer: Vec<usize> = (0..ISSUERS.len()).map(|i| count(&|s| s.issuer == i)).collect();
        assert!(
            by_issuer[0] > by_issuer[1] && by_issuer[1] > by_issuer[2],
            "{by_issuer:?}"
        );
    }

    #[test]
    fn a_share_of_names_offers_http2_and_every_site_of_the_site_profile() {
        let opts = SimOptions::default();
        let names = three_letter_names();
        let h2 = names.iter().filter(|n| Site::of(n, &opts).http2).count();
        let share = h2 as f64 / names.len() as f64;
        assert!((share - 0.4).abs() < 0.02, "{share}");
        let faults = SimOptions {
            profile: Profile::Faults,
            ..SimOptions::default()
        };
        assert!(names
            .iter()
            .map(|n| Site::of(n, &faults))
            .all(|s| !(s.http2 && s.category == Category::Garbage)));
        assert!(!Site::of("localhost", &opts).http2);
        let sites = SimOptions {
            profile: Profile::Site,
            ..SimOptions::default()
        };
        assert!((0..20).all(|i| Site::of(&format!("site{i}.internal"), &sites).http2));
    }

    #[test]
    fn drawn_statuses_and_hops_fit_their_category() {
        let opts = SimOptions::default();
        for name in three_letter_names() {
            let site = Site::of(&name, &opts);
            match site.category {
                Category::Redirect => {
                    assert!(matches!(site.status, 301 | 302));
                    assert!((1..=3).contains(&site.hops));
                }
                Category::ServerError => assert!(matches!(site.status, 500 | 502 | 503)),
                Category::OddStatus => assert!(matches!(site.status, 418 | 999)),
                _ => assert_eq!(site.hops, 0),
            }
        }
    }
}
