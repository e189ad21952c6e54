//! What the server does with one request, as a pure function of the request and the options.
//! The server carries the plan out; `truth` replays it the way the checker would, request by
//! request, so the two cannot drift apart.

use std::net::Ipv4Addr;

use super::profile::{Category, Profile, SimOptions};
use super::site::Site;

/// How long a hanging name holds a connection before resetting it.
pub(crate) const HANG_MS: u64 = 120_000;
/// How long a slow name waits before its 200.
pub(crate) const SLOW_MS: u64 = 30_000;
/// The most a redirect loop waits (on its first request): the ten redirects a client follows
/// are ten more connections (and handshakes), which must fit in its timeout with room to spare
/// even on a loaded machine, or the loop would look like a timeout.
pub(crate) const LOOP_LATENCY_CAP_MS: u64 = 1_000;

/// The parts of a request that decide its answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub head: bool,
    /// The host without its port: a domain name or an IP literal (`[..]` for IPv6).
    pub host: &'a str,
    pub path: &'a str,
    /// The query without `?`, empty when there is none.
    pub query: &'a str,
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Wait `delay_ms`, then answer `status` (with a `Location` when it is a redirect).
    Respond {
        status: u16,
        location: Option<Location>,
        delay_ms: u64,
    },
    /// Never answer; reset the connection after `HANG_MS`.
    Hang,
    /// Wait `delay_ms`, then reset the connection.
    Reset { delay_ms: u64 },
    /// Wait `delay_ms`, then write bytes that are not HTTP and close.
    Garbage { delay_ms: u64 },
}

/// A relative redirect target: the request's own path with a counter in the query, so it works
/// whatever host and port the client used and keeps an IP-literal URL's name segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    /// The next hop of a redirect chain.
    Hop(u32),
    /// One of the two ends of a redirect loop.
    Loop(u32),
}

impl Location {
    pub fn render(self, path: &str) -> String {
        match self {
            Location::Hop(n) => format!("{path}?hop={n}"),
            Location::Loop(n) => format!("{path}?loop={n}"),
        }
    }
}

/// How an answer is delivered, beside what it says. Real servers send kilobytes of headers
/// (Content-Security-Policy, several Set-Cookie), and some reset the connection right after a
/// complete answer (SO_LINGER 0, load balancers). Neither changes what a check must report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Manner {
    /// Padding headers, in bytes, added to the head.
    pub head_bytes: usize,
    /// Close with a reset (RST) right after the answer.
    pub reset_after: bool,
}

/// The largest head `/_/big-head/BYTES` pads to.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The manner of the answer to `req`: a name's own (the `all-ok` throughput profile has none),
/// or what a `/_/big-head/BYTES` or `/_/reset-after` route asks for.
pub(crate) fn manner(req: &Request<'_>, opts: &SimOptions) -> Manner {
    if let Some(route) = req.path.strip_prefix("/_/") {
        return match route.split_once('/').unwrap_or((route, "")) {
            ("big-head", bytes) => Manner {
                head_bytes: bytes.parse().unwrap_or(0).min(MAX_HEAD_BYTES),
                reset_after: false,
            },
            ("reset-after", "") => Manner {
                head_bytes: 0,
                reset_after: true,
            },
            _ => Manner::default(),
        };
    }
    if opts.profile == Profile::AllOk {
        return Manner::default();
    }
    let site = site_of(req, opts);
    Manner {
        head_bytes: site.head_bytes,
        reset_after: site.reset_after,
    }
}

/// Whether a host (as in a URL or a Host header, without port) is an IP literal.
pub(crate) fn is_ip_literal(host: &str) -> bool {
    host.starts_with('[') || host.parse::<Ipv4Addr>().is_ok()
}

/// The name a request is judged by: the host, or for an IP literal (the benchmark's
/// `http://127.A.B.C:PORT/label`) the first path segment.
pub(crate) fn name_of<'a>(host: &'a str, path: &'a str) -> &'a str {
    if is_ip_literal(host) {
        path.trim_start_matches('/').split('/').next().unwrap_or("")
    } else {
        host
    }
}

/// What answers a request: its name, or in the `site` profile its page.
fn site_of(req: &Request<'_>, opts: &SimOptions) -> Site {
    if opts.profile == Profile::Site {
        Site::of_page(req.host, req.path, opts)
    } else {
        Site::of(name_of(req.host, req.path), opts)
    }
}

/// The category a request's answer comes from: its name's (page's), or `Route` under `/_/`.
pub(crate) fn category_of(req: &Request<'_>, opts: &SimOptions) -> Category {
    if req.path.starts_with("/_/") {
        Category::Route
    } else {
        site_of(req, opts).category
    }
}

/// Decide the answer to one request.
pub(crate) fn decide(req: &Request<'_>, opts: &SimOptions) -> Action {
    if let Some(route) = req.path.strip_prefix("/_/") {
        return route_action(route, req);
    }
    let site = site_of(req, opts);
    let respond = |status, delay_ms| Action::Respond {
        status,
        location: None,
        delay_ms,
    };
    match site.category {
        Category::Ok
        | Category::Forbidden
        | Category::NotFound
        | Category::Gone
        | Category::ServerError
        | Category::OddStatus
        // A mismatched or expired name fails at the TLS handshake; whatever reaches it here
        // is plain HTTP (or an IP literal, which has no SNI), and gets a 200.
        | Category::TlsMismatch
        | Category::CertExpired
        | Category::Route => respond(site.status, site.latency_ms),
        Category::Redirect => chain(
            query_number(req.query, "hop").unwrap_or(0),
            site.hops,
            site.status,
            site.latency_ms,
        ),
        Category::HeadNotAllowed if req.head => respond(405, site.latency_ms),
        Category::HeadNotAllowed => respond(200, site.latency_ms),
        Category::Hang => Action::Hang,
        Category::Reset => Action::Reset {
            delay_ms: site.latency_ms,
        },
        Category::Slow => respond(200, SLOW_MS),
        Category::RedirectLoop => endless(req.query, site.latency_ms.min(LOOP_LATENCY_CAP_MS)),
        Category::Garbage => Action::Garbage {
            delay_ms: site.latency_ms,
        },
    }
}

/// The explicit test routes (documented in the module docs of `sim`); they answer at once.
fn route_action(route: &str, req: &Request<'_>) -> Action {
    let respond = |status| Action::Respond {
        status,
        location: None,
        delay_ms: 0,
    };
    let (verb, arg) = route.split_once('/').unwrap_or((route, ""));
    match (verb, arg) {
        ("status", code) => match code.parse::<u16>() {
            Ok(code) if (200..=999).contains(&code) => respond(code),
            _ => respond(400),
        },
        ("slow", ms) => match ms.parse::<u64>() {
            Ok(delay_ms) => Action::Respond {
                status: 200,
                location: None,
                delay_ms,
            },
            Err(_) => respond(400),
        },
        ("redirect", hops) => match hops.parse::<u32>() {
            Ok(hops) => chain(query_number(req.query, "hop").unwrap_or(0), hops, 302, 0),
            Err(_) => respond(400),
        },
        ("hang", "") => Action::Hang,
        ("reset", "") => Action::Reset { delay_ms: 0 },
        ("garbage", "") => Action::Garbage { delay_ms: 0 },
        ("loop", "") => endless(req.query, 0),
        ("head405", "") => respond(if req.head { 405 } else { 200 }),
        ("big-head", bytes) if bytes.parse::<usize>().is_ok() => respond(200),
        ("reset-after", "") => respond(200),
        ("head501", "") => respond(if req.head { 501 } else { 200 }),
        ("bytes", n) if n.parse::<u64>().is_ok() => respond(200),
        ("page", "normal" | "maintenance" | "parked") => respond(200),
        _ => respond(404),
    }
}

/// Hop `hop` of a chain of `hops` redirects ending in 200. The name's latency is spread over the
/// chain's requests, so the whole chain takes what a direct answer would.
fn chain(hop: u32, hops: u32, code: u16, latency_ms: u64) -> Action {
    let hop = hop.min(hops);
    let share = |k: u32| latency_ms * u64::from(k) / (u64::from(hops) + 1);
    let delay_ms = share(hop + 1) - share(hop);
    if hop < hops {
        Action::Respond {
            status: code,
            location: Some(Location::Hop(hop + 1)),
            delay_ms,
        }
    } else {
        Action::Respond {
            status: 200,
            location: None,
            delay_ms,
        }
    }
}

/// A loop between `?loop=1` and `?loop=2`; only the first request pays the latency, so a client
/// gives up on the loop, not on its timeout.
fn endless(query: &str, latency_ms: u64) -> Action {
    let (next, delay_ms) = match query_number(query, "loop") {
        None => (1, latency_ms),
        Some(1) => (2, 0),
        Some(_) => (1, 0),
    };
    Action::Respond {
        status: 302,
        location: Some(Location::Loop(next)),
        delay_ms,
    }
}

fn query_number(query: &str, key: &str) -> Option<u32> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(head: bool, host: &'a str, path: &'a str, query: &'a str) -> Request<'a> {
        Request {
            head,
            host,
            path,
            query,
        }
    }

    #[test]
    fn ip_literal_hosts_are_judged_by_their_first_path_segment() {
        assert_eq!(name_of("abc.com", "/x/y"), "abc.com");
        assert_eq!(name_of("127.0.3.4", "/abc/def"), "abc");
        assert_eq!(name_of("[::1]", "/abc"), "abc");
        assert_eq!(name_of("127.0.0.1", "/"), "");
    }

    #[test]
    fn big_heads_and_resets_after_answers_come_from_routes_and_some_names() {
        let opts = SimOptions::default();
        let at = |path: &str| manner(&req(true, "x.com", path, ""), &opts);
        assert_eq!(at("/_/big-head/16000").head_bytes, 16_000);
        assert_eq!(at("/_/big-head/999999").head_bytes, MAX_HEAD_BYTES);
        assert!(at("/_/reset-after").reset_after);
        assert_eq!(at("/_/status/200"), Manner::default());
        let names: Vec<String> = (0..2000).map(|i| format!("n{i}.com")).collect();
        let share = |f: &dyn Fn(Manner) -> bool| {
            names
                .iter()
                .filter(|n| f(manner(&req(true, n, "/", ""), &opts)))
                .count()
        };
        assert!(
            (200..400).contains(&share(&|m| m.head_bytes > 0)),
            "about 15% big heads"
        );
        assert!(
            (120..300).contains(&share(&|m| m.reset_after)),
            "about 10% resets"
        );
        let all_ok = SimOptions {
            profile: Profile::AllOk,
            ..SimOptions::default()
        };
        assert!(names
            .iter()
            .all(|n| manner(&req(true, n, "/", ""), &all_ok) == Manner::default()));
    }

    #[test]
    fn routes_answer_what_their_path_says() {
        let opts = SimOptions::default();
        let status = |path: &str, head| match decide(&req(head, "x.com", path, ""), &opts) {
            Action::Respond { status, .. } => status,
            other => panic!("{path}: {other:?}"),
        };
        assert_eq!(status("/_/status/418", true), 418);
        assert_eq!(status("/_/status/99", true), 400);
        assert_eq!(status("/_/head405", true), 405);
        assert_eq!(status("/_/head405", false), 200);
        assert_eq!(status("/_/head501", true), 501);
        assert_eq!(status("/_/nope", true), 404);
        let action = |path| decide(&req(true, "x.com", path, ""), &opts);
        assert_eq!(action("/_/hang"), Action::Hang);
        assert_eq!(action("/_/reset"), Action::Reset { delay_ms: 0 });
        assert_eq!(action("/_/garbage"), Action::Garbage { delay_ms: 0 });
        assert_eq!(
            action("/_/slow/250"),
            Action::Respond {
                status: 200,
                location: None,
                delay_ms: 250
            }
        );
    }

    #[test]
    fn a_chain_redirects_hop_by_hop_then_answers_200_within_the_latency() {
        let mut total = 0;
        for hop in 0..=3 {
            let Action::Respond {
                status,
                location,
                delay_ms,
            } = chain(hop, 3, 301, 1001)
            else {
                panic!("chains respond");
            };
            total += delay_ms;
            if hop < 3 {
                assert_eq!((status, location), (301, Some(Location::Hop(hop + 1))));
            } else {
                assert_eq!((status, location), (200, None));
            }
        }
        assert_eq!(total, 1001);
        assert_eq!(Location::Hop(2).render("/abc"), "/abc?hop=2");
    }

    #[test]
    fn a_loop_alternates_and_only_its_first_request_waits() {
        let first = endless("", 300);
        assert_eq!(
            first,
            Action::Respond {
                status: 302,
                location: Some(Location::Loop(1)),
                delay_ms: 300
            }
        );
        let second = endless("loop=1", 300);
        assert!(matches!(
            second,
            Action::Respond {
                location: Some(Location::Loop(2)),
                delay_ms: 0,
                ..
            }
        ));
        let third = endless("a=b&loop=2", 300);
        assert!(matches!(
            third,
            Action::Respond {
                location: Some(Location::Loop(1)),
                ..
            }
        ));
    }

    #[test]
    fn in_the_site_profile_each_page_has_its_own_answer_and_redirects_stay_on_it() {
        let opts = SimOptions {
            profile: Profile::Site,
            latency_scale: 0.0,
            ..SimOptions::default()
        };
        let pages: Vec<String> = (0..400).map(|i| format!("/page/{i}")).collect();
        let categories: std::collections::HashSet<Category> = pages
            .iter()
            .map(|p| category_of(&req(true, "a.test", p, ""), &opts))
            .collect();
        assert!(categories.contains(&Category::Ok) && categories.contains(&Category::Redirect));
        let moved = pages
            .iter()
            .filter(|p| {
                decide(&req(true, "a.test", p, ""), &opts) != decide(&req(true, "b.test", p, ""), &opts)
            })
            .count();
        assert!(moved > 0, "another host is another draw");
        let redirecting = pages
            .iter()
            .find(|p| category_of(&req(true, "a.test", p, ""), &opts) == Category::Redirect)
            .expect("5% of pages redirect");
        let Action::Respond {
            status: 301,
            location: Some(location),
            ..
        } = decide(&req(true, "a.test", redirecting, ""), &opts)
        else {
            panic!("a site's redirect is a 301");
        };
        assert_eq!(location.render(redirecting), format!("{redirecting}?hop=1"));
    }

    #[test]
    fn routes_override_the_name_and_count_as_route() {
        let opts = SimOptions::default();
        let r = req(true, "127.0.0.1", "/_/status/204", "");
        assert_eq!(category_of(&r, &opts), Category::Route);
        assert!(matches!(decide(&r, &opts), Action::Respond { status: 204, .. }));
    }
}
