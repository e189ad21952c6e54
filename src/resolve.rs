//! Name resolution for the client: `--resolve` overrides first, then hickory (async, no
//! blocking pool) behind a semaphore with its own timeout, so DNS failures are typed and a
//! thousand look-ups do not flood the upstream resolver.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;
use tokio::sync::Semaphore;

/// One `--resolve HOST:PORT:ADDR` rule. The port of a plain ADDR is 0, meaning "the URL's port".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRule {
    /// Lower-case host, or `*` for every host.
    pub host: String,
    pub addr: SocketAddr,
}

impl ResolveRule {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not HOST:PORT:ADDR (ADDR an IP, or IP:PORT)");
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        if host.is_empty() || (port != "*" && port.parse::<u16>().is_err()) {
            return Err(bad());
        }
        let addr = addr.trim_start_matches('[');
        let addr = if let Ok(ip) = addr.trim_end_matches(']').parse::<IpAddr>() {
            SocketAddr::new(ip, 0)
        } else {
            let with_brackets = if addr.contains("]:") {
                format!("[{addr}")
            } else {
                addr.to_string()
            };
            with_brackets.parse::<SocketAddr>().map_err(|_| bad())?
        };
        Ok(ResolveRule {
            host: host.to_ascii_lowercase(),
            addr,
        })
    }

    fn matches(&self, host: &str) -> bool {
        self.host == "*" || self.host.eq_ignore_ascii_case(host)
    }
}

/// Why a name has no address.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DnsFailure(pub String);

/// The client's resolver.
pub struct Resolver {
    rules: Vec<ResolveRule>,
    system: Option<TokioResolver>,
    permits: Semaphore,
    timeout: Duration,
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
        let system = if servers.is_empty() {
            TokioResolver::builder_tokio().ok().map(|b| b.build())
        } else {
            let mut config = ResolverConfig::new();
            for server in servers {
                config.add_name_server(NameServerConfig::new(*server, Protocol::Udp));
            }
            Some(TokioResolver::builder_with_config(config, TokioConnectionProvider::default()).build())
        };
        Resolver {
            rules,
            system,
            permits: Semaphore::new(max_in_flight.max(1)),
            timeout,
        }
    }

    fn lookup_override(&self, host: &str) -> Option<SocketAddr> {
        self.rules.iter().find(|r| r.matches(host)).map(|r| r.addr)
    }
}

impl Resolver {
    /// The addresses to try for `host` (a name, not an IP literal), in order, with `port` where
    /// a `--resolve` rule gives none.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, DnsFailure> {
        let with_port = |addr: SocketAddr| match addr.port() {
            0 => SocketAddr::new(addr.ip(), port),
            _ => addr,
        };
        if let Some(addr) = self.lookup_override(host) {
            return Ok(vec![with_port(addr)]);
        }
        let Some(system) = &self.system else {
            return Err(DnsFailure(format!("no resolver configured for {host}")));
        };
        let lookup = async {
            let _permit = self.permits.acquire().await;
            system.lookup_ip(host).await
        };
        match tokio::time::timeout(self.timeout, lookup).await {
            Err(_) => Err(DnsFailure(format!("DNS look-up of {host} timed out"))),
            Ok(Err(e)) => Err(DnsFailure(e.to_string())),
            Ok(Ok(ips)) => {
                let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(ip, port)).collect();
                if addrs.is_empty() {
                    return Err(DnsFailure(format!("no address for {host}")));
                }
                Ok(addrs)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_take_an_ip_or_an_ip_and_port() {
        let r = ResolveRule::parse("Example.com:443:127.0.0.1").unwrap();
        assert_eq!(r.host, "example.com");
        assert_eq!(r.addr, "127.0.0.1:0".parse().unwrap());
        let r = ResolveRule::parse("*:443:127.0.0.2:8443").unwrap();
        assert_eq!(r.host, "*");
        assert_eq!(r.addr, "127.0.0.2:8443".parse().unwrap());
        let r = ResolveRule::parse("a.com:80:[::1]:8080").unwrap();
        assert_eq!(r.addr, "[::1]:8080".parse().unwrap());
        let r = ResolveRule::parse("a.com:80:::1").unwrap();
        assert_eq!(r.addr, "[::1]:0".parse().unwrap());
        for bad in [
            "a.com",
            "a.com:80",
            ":80:127.0.0.1",
            "a.com:x:127.0.0.1",
            "a.com:80:nohost",
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
        assert_eq!(
            resolver.lookup_override("A.com"),
            Some("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            resolver.lookup_override("b.com"),
            Some("127.0.0.9:0".parse().unwrap())
        );
    }
}
