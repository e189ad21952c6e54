//! Name resolution for the client, plugged into reqwest as its `dns_resolver`: `--resolve`
//! overrides first, then the names looked up a moment ago, then hickory (async, no blocking
//! pool, both address families) behind a semaphore with its own timeout, so DNS failures are
//! typed and say what failed in words, and a thousand look-ups do not flood the upstream
//! resolver.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{ResolveError, TokioResolver};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::Semaphore;

/// One `--resolve HOST:PORT:ADDR[,ADDR...]` rule. The port of a plain ADDR is 0, meaning "the
/// URL's port".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRule {
    /// Lower-case host, or `*` for every host.
    pub host: String,
    /// In the order given: several addresses are tried as a resolver's answer would be.
    pub addrs: Vec<SocketAddr>,
}

impl ResolveRule {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not HOST:PORT:ADDR[,ADDR...] (ADDR an IP, or IP:PORT)");
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, addrs) = rest.split_once(':').ok_or_else(bad)?;
        if host.is_empty() || (port != "*" && port.parse::<u16>().is_err()) {
            return Err(bad());
        }
        let addrs = addrs
            .split(',')
            .map(|addr| parse_addr(addr).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ResolveRule {
            host: host.to_ascii_lowercase(),
            addrs,
        })
    }

    fn matches(&self, host: &str) -> bool {
        self.host == "*" || self.host.eq_ignore_ascii_case(host)
    }
}

/// An IP (port 0), or IP:PORT, IPv6 with or without brackets.
fn parse_addr(addr: &str) -> Option<SocketAddr> {
    let addr = addr.trim().trim_start_matches('[');
    if let Ok(ip) = addr.trim_end_matches(']').parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    let with_brackets = if addr.contains("]:") {
        format!("[{addr}")
    } else {
        addr.to_string()
    };
    with_brackets.parse().ok()
}

/// Whether `err` says this machine ran out of file descriptors (EMFILE: this process, 24;
/// ENFILE: the whole system, 23, the Linux and BSD numbers): a fact about the run, not the URL,
/// so its row is `local` and the probe waits and tries again.
pub fn is_local(err: &io::Error) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    matches!(err.raw_os_error(), Some(EMFILE | ENFILE))
}

/// Why a name has no address, in words (the `error_detail` of a `dns` row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsFailure {
    #[error("no such host: {0}")]
    NoSuchHost(String),
    #[error("no address records for {0}")]
    NoAddress(String),
    #[error("resolver timed out looking up {0}")]
    TimedOut(String),
    #[error("no resolver configured for {0} (no /etc/resolv.conf; use --dns-server or --resolve)")]
    NoResolver(String),
    #[error("resolver failed for {host}: {reason}")]
    Failed { host: String, reason: String },
    /// Not a fact about the name: this machine ran out of file descriptors for the query.
    #[error("no file descriptor left to look up {0}")]
    OutOfDescriptors(String),
}

impl DnsFailure {
    fn of(host: &str, e: &ResolveError) -> Self {
        let host = host.to_string();
        if e.is_nx_domain() {
            DnsFailure::NoSuchHost(host)
        } else if e.is_no_records_found() {
            DnsFailure::NoAddress(host)
        } else if e
            .proto()
            .is_some_and(|p| matches!(p.kind(), ProtoErrorKind::Timeout))
        {
            DnsFailure::TimedOut(host)
        } else {
            let reason = match e.proto().map(|p| p.kind()) {
                Some(ProtoErrorKind::Io(io)) if is_local(io) => return DnsFailure::OutOfDescriptors(host),
                Some(ProtoErrorKind::Io(io)) => io.to_string(),
                _ => e.kind().to_string(),
            };
            DnsFailure::Failed { host, reason }
        }
    }
}

/// The client's resolver, shared by every connection of the one `reqwest::Client`.
#[derive(Clone)]
pub struct Resolver(Arc<Inner>);

struct Inner {
    rules: Vec<ResolveRule>,
    system: Option<TokioResolver>,
    permits: Semaphore,
    timeout: Duration,
    recent: Recent,
}

/// How long an answer is used again at most, within its TTL: about as long as browsers keep one.
const REMEMBER_AT_MOST: Duration = Duration::from_secs(60);
/// Names per generation of `Recent`: it holds the last one to two of these.
const GENERATION: usize = 2_048;

/// The answers of the last few thousand look-ups, within their TTL. Every new connection asks
/// the resolver again, and the hops of a redirect chain, a GET fallback or a retry each open
/// one to a name just looked up. Without this they queued for a permit behind the first
/// look-ups of every other probe in flight (hickory caches only 32 records, and its cache sits
/// behind the permit): at `-c 1000` with 64 look-ups of 170 ms in flight, every new connection
/// waited 2 s, and a same-host redirect loop, which opens three, ran into its 5 s timeout.
#[derive(Default)]
struct Recent(Mutex<Generations>);

/// Two maps, so that forgetting is cheap and never forgets what was just learnt: when the
/// current one is full it becomes the previous one, and the previous one is dropped.
#[derive(Default)]
struct Generations {
    current: HashMap<Box<str>, Remembered>,
    previous: HashMap<Box<str>, Remembered>,
}

struct Remembered {
    addrs: Vec<SocketAddr>,
    until: Instant,
}

impl Recent {
    fn get(&self, host: &str, now: Instant) -> Option<Vec<SocketAddr>> {
        let generations = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Generations { current, previous } = &*generations;
        current
            .get(host)
            .or_else(|| previous.get(host))
            .filter(|r| r.until > now)
            .map(|r| r.addrs.clone())
    }

    fn remember(&self, host: &str, addrs: &[SocketAddr], until: Instant) {
        let mut generations = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if generations.current.len() >= GENERATION {
            generations.previous = std::mem::take(&mut generations.current);
        }
        let addrs = addrs.to_vec();
        generations
            .current
            .insert(host.into(), Remembered { addrs, until });
    }
}

impl Resolver {
    /// `servers` replaces the system's name servers when not empty; `max_in_flight` bounds
    /// simultaneous look-ups; `timeout` bounds one look-up including its wait for a permit.
    pub fn new(
        rules: Vec<ResolveRule>,
        servers: &[SocketAddr],
        max_in_flight: usize,
        timeout: Duration,
    ) -> Self {
        // Without /etc/resolv.conf (a bare container) every look-up fails as `dns`, which is the
        // truth about that machine; overrides still work.
        let builder = if servers.is_empty() {
            TokioResolver::builder_tokio().ok()
        } else {
            let mut config = ResolverConfig::new();
            for server in servers {
                config.add_name_server(NameServerConfig::new(*server, Protocol::Udp));
            }
            Some(TokioResolver::builder_with_config(
                config,
                TokioConnectionProvider::default(),
            ))
        };
        let system = builder.map(|mut b| {
            // Both families, asked at once: the default asks AAAA only when there is no A record,
            // so a host whose A address is dead but whose AAAA works would never answer.
            b.options_mut().ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
            b.build()
        });
        Resolver(Arc::new(Inner {
            rules,
            system,
            permits: Semaphore::new(max_in_flight.max(1)),
            timeout,
            recent: Recent::default(),
        }))
    }

    fn lookup_override(&self, host: &str) -> Option<&[SocketAddr]> {
        self.0
            .rules
            .iter()
            .find(|r| r.matches(host))
            .map(|r| r.addrs.as_slice())
    }

    /// The addresses to try for `host`, in the order RFC 8305 gives (families alternating, IPv6
    /// first). A port of 0 means "the URL's port"; a rule's own port is kept unless the URL names
    /// one.
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, DnsFailure> {
        if let Some(addrs) = self.lookup_override(host) {
            return Ok(addrs.to_vec());
        }
        let inner = &*self.0;
        if let Some(addrs) = inner.recent.get(host, Instant::now()) {
            return Ok(addrs);
        }
        let Some(system) = &inner.system else {
            return Err(DnsFailure::NoResolver(host.to_string()));
        };
        let lookup = async {
            let _permit = inner.permits.acquire().await;
            system.lookup_ip(host).await
        };
        match tokio::time::timeout(inner.timeout, lookup).await {
            Err(_) => Err(DnsFailure::TimedOut(host.to_string())),
            Ok(Err(e)) => Err(DnsFailure::of(host, &e)),
            Ok(Ok(ips)) => {
                let addrs = interleave(ips.iter().map(|ip| SocketAddr::new(ip, 0)));
                if addrs.is_empty() {
                    return Err(DnsFailure::NoAddress(host.to_string()));
                }
                let until = ips.valid_until().min(Instant::now() + REMEMBER_AT_MOST);
                inner.recent.remember(host, &addrs, until);
                Ok(addrs)
            }
        }
    }
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = Resolver::resolve(&this, name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// IPv6 first, then the families alternate (RFC 8305, section 4), so that the connector's race
/// between the families (the second starts 300 ms after the first) has both to work with.
fn interleave(addrs: impl Iterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    let (v6, v4): (Vec<_>, Vec<_>) = addrs.partition(SocketAddr::is_ipv6);
    let mut out = Vec::with_capacity(v6.len() + v4.len());
    let (mut v6, mut v4) = (v6.into_iter(), v4.into_iter());
    loop {
        match (v6.next(), v4.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_running_out_of_descriptors_is_local() {
        assert!(is_local(&io::Error::from_raw_os_error(24)));
        assert!(is_local(&io::Error::from_raw_os_error(23)));
        assert!(!is_local(&io::Error::from_raw_os_error(111))); // ECONNREFUSED
        assert!(!is_local(&io::Error::other("too many open files")));
    }

    #[test]
    fn rules_take_an_ip_or_an_ip_and_port() {
        let addrs = |s: &str| ResolveRule::parse(s).unwrap().addrs;
        let r = ResolveRule::parse("Example.com:443:127.0.0.1").unwrap();
        assert_eq!(r.host, "example.com");
        assert_eq!(r.addrs, ["127.0.0.1:0".parse().unwrap()]);
        let r = ResolveRule::parse("*:443:127.0.0.2:8443").unwrap();
        assert_eq!(r.host, "*");
        assert_eq!(r.addrs, ["127.0.0.2:8443".parse().unwrap()]);
        assert_eq!(addrs("a.com:80:[::1]:8080"), ["[::1]:8080".parse().unwrap()]);
        assert_eq!(addrs("a.com:80:::1"), ["[::1]:0".parse().unwrap()]);
        assert_eq!(
            addrs("a.com:0:127.0.0.1:81,[::1]:82"),
            ["127.0.0.1:81".parse().unwrap(), "[::1]:82".parse().unwrap()]
        );
        for bad in [
            "a.com",
            "a.com:80",
            ":80:127.0.0.1",
            "a.com:x:127.0.0.1",
            "a.com:80:nohost",
            "a.com:80:127.0.0.1,",
        ] {
            assert!(ResolveRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_star_matches_all() {
        let resolver = Resolver::new(
            vec![
                ResolveRule::parse("a.com:443:127.0.0.1").unwrap(),
                ResolveRule::parse("*:443:127.0.0.9").unwrap(),
            ],
            &[],
            1,
            Duration::from_secs(1),
        );
        let one = |s: &str| vec![s.parse::<SocketAddr>().unwrap()];
        assert_eq!(resolver.lookup_override("A.com"), Some(&one("127.0.0.1:0")[..]));
        assert_eq!(resolver.lookup_override("b.com"), Some(&one("127.0.0.9:0")[..]));
    }

    #[test]
    fn recent_answers_are_kept_within_their_time_and_two_generations() {
        let recent = Recent::default();
        let now = Instant::now();
        let addr = vec!["127.0.0.1:0".parse::<SocketAddr>().unwrap()];
        recent.remember("a.test", &addr, now + Duration::from_secs(5));
        recent.remember("gone.test", &addr, now);
        assert_eq!(recent.get("a.test", now), Some(addr.clone()));
        assert_eq!(
            recent.get("a.test", now + Duration::from_secs(6)),
            None,
            "past its TTL"
        );
        assert_eq!(recent.get("gone.test", now), None, "a TTL of 0 is not kept");
        assert_eq!(recent.get("b.test", now), None);
        for i in 0..GENERATION {
            recent.remember(&format!("h{i}.test"), &addr, now + Duration::from_secs(5));
        }
        assert!(recent.get("a.test", now).is_some(), "in the previous generation");
        for i in 0..GENERATION {
            recent.remember(&format!("k{i}.test"), &addr, now + Duration::from_secs(5));
        }
        assert_eq!(recent.get("a.test", now), None, "two generations on");
        let last = format!("h{}.test", GENERATION - 1);
        assert!(
            recent.get(&last, now).is_some(),
            "the newest of the previous generation"
        );
    }

    #[test]
    fn families_alternate_ipv6_first() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let got = interleave([a("1.1.1.1:0"), a("2.2.2.2:0"), a("3.3.3.3:0"), a("[::1]:0")].into_iter());
        assert_eq!(
            got,
            [a("[::1]:0"), a("1.1.1.1:0"), a("2.2.2.2:0"), a("3.3.3.3:0")]
        );
    }

    #[test]
    fn dns_failures_say_what_failed_in_words() {
        let text = DnsFailure::NoSuchHost("nope.example".into()).to_string();
        assert_eq!(text, "no such host: nope.example");
        assert!(!text.contains("Query"), "{text}");
        assert_eq!(
            DnsFailure::NoAddress("a.com".into()).to_string(),
            "no address records for a.com"
        );
        assert_eq!(
            DnsFailure::TimedOut("a.com".into()).to_string(),
            "resolver timed out looking up a.com"
        );
    }
}
