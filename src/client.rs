//! The one shared reqwest `Client`. Built once (it loads trust roots) and cloned into every probe.
//! Tuned for many one-shot hosts: no idle pool (50,000 hosts must not leave 50,000 idle sockets),
//! no proxy from the environment, no automatic redirects (the probe follows them to count them),
//! HTTP/1 only, and our own resolver.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Certificate, Client};

use crate::error::{Error, Result};
use crate::resolve::{ResolveRule, Resolver};

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

pub fn build(cfg: &ClientConfig) -> Result<Client> {
    let mut headers = HeaderMap::new();
    for (name, value) in &cfg.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| Error::usage("--header", e.to_string()))?;
        let value = HeaderValue::from_str(value).map_err(|e| Error::usage("--header", e.to_string()))?;
        headers.append(name, value);
    }
    let resolver = Resolver::new(
        cfg.resolve.clone(),
        &cfg.dns_servers,
        cfg.dns_concurrency,
        cfg.connect_timeout,
    );
    let mut builder = Client::builder()
        .pool_max_idle_per_host(0)
        .connect_timeout(cfg.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        // One request per connection: TCP keep-alive probes would never fire, and setting them
        // up costs four setsockopt(2) calls per URL.
        .tcp_keepalive(None)
        .tcp_keepalive_interval(None)
        .tcp_keepalive_retries(None)
        .user_agent(cfg.user_agent.clone())
        .default_headers(headers)
        .danger_accept_invalid_certs(cfg.insecure)
        .dns_resolver(Arc::new(resolver));
    for (name, pem) in &cfg.ca_pems {
        let certs = Certificate::from_pem_bundle(pem).map_err(|e| Error::InputContent {
            path: name.into(),
            message: format!("not a PEM certificate bundle: {e}"),
        })?;
        if certs.is_empty() {
            return Err(Error::InputContent {
                path: name.into(),
                message: "holds no PEM certificate".into(),
            });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| Error::io("cannot build the HTTP client", std::io::Error::other(e)))
}
