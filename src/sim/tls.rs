//! HTTPS for the simulated internet: three CAs made at start (the user trusts them with
//! `--ca-cert`), and a leaf certificate per SNI name signed on first use and cached, all sharing
//! one leaf key so a new name costs one ECDSA signature, not a key generation. Each leaf has its
//! name's issuer and lifetime (`Site`), counted from the server's start, so `--details` has
//! expiries to report. A name of category `tls_mismatch` gets the certificate of another name,
//! which is how real sites fail verification most often; one of `cert_expired` gets an expired one.
//! ALPN offers HTTP/2 besides HTTP/1.1 to the names whose site does (`Site::http2`).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{Acceptor, ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::{CipherSuite, ServerConfig};
use time::{Duration as Span, OffsetDateTime};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

use super::profile::{Category, SimOptions};
use super::site::{Site, ISSUERS};

/// The name whose certificate a mismatched site presents (`.invalid` is reserved: RFC 2606).
const MISMATCH_NAME: &str = "mismatch.invalid";
/// Days left on the certificates of names that are not sites (IP addresses, `MISMATCH_NAME`).
const PLAIN_DAYS: i64 = 365;
/// Beyond this many cached leaves the cache starts over: a sweep over millions of names must not
/// keep millions of certificates (a re-signed leaf is as good as the old one).
const CACHE_LIMIT: usize = 100_000;

/// The CA and the certificates it signs.
pub(crate) struct Tls {
    ca_pem: String,
    /// For every client that sends SNI (all but IP-literal URLs): ALPN `http/1.1`...
    by_sni: Arc<ServerConfig>,
    /// ... or `h2` and `http/1.1`, for the names that offer HTTP/2.
    by_sni_h2: Arc<ServerConfig>,
    certs: Arc<Certs>,
    provider: Arc<CryptoProvider>,
}

impl Tls {
    pub fn new(opts: &SimOptions) -> io::Result<Tls> {
        let issuers = ISSUERS
            .iter()
            .map(|name| {
                let mut params = CertificateParams::default();
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.distinguished_name.push(DnType::CommonName, *name);
                params
                    .distinguished_name
                    .push(DnType::OrganizationName, "healthcheck simulated internet");
                params.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
                let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(io::Error::other)?;
                CertifiedIssuer::self_signed(params, ca_key).map_err(io::Error::other)
            })
            .collect::<io::Result<Vec<_>>>()?;
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(io::Error::other)?;
        let mut provider = rustls::crypto::ring::default_provider();
        // AES-256 with SHA-384 goes last: SHA-384 has no hardware help on most CPUs, and a run
        // of this server is nothing but handshakes. Many real servers prefer AES-128 too.
        provider
            .cipher_suites
            .sort_by_key(|s| s.suite() == CipherSuite::TLS13_AES_256_GCM_SHA384);
        let provider = Arc::new(provider);
        let signing_key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                leaf_key.serialize_der(),
            )))
            .map_err(io::Error::other)?;
        let ca_pem = issuers.iter().map(|issuer| issuer.pem()).collect();
        let certs = Arc::new(Certs {
            issuers,
            leaf_key,
            signing_key,
            leaves: Mutex::new(HashMap::new()),
            opts: opts.clone(),
            started: OffsetDateTime::now_utc(),
        });
        let by_sni = server_config(&provider, Arc::new(BySni(certs.clone())), HTTP1)?;
        let by_sni_h2 = server_config(&provider, Arc::new(BySni(certs.clone())), HTTP2_AND_1)?;
        Ok(Tls {
            ca_pem,
            by_sni,
            by_sni_h2,
            certs,
            provider,
        })
    }

    /// The three CA certificates, one PEM block each.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server side of a handshake. A client without SNI (an `https://127.0.0.5/...` URL)
    /// gets a certificate for the address it connected to, and HTTP/1.1.
    pub async fn accept(&self, tcp: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        let start = LazyConfigAcceptor::new(Acceptor::default(), tcp).await?;
        let config = match start.client_hello().server_name() {
            Some(name) if Site::of(name, &self.certs.opts).http2 => self.by_sni_h2.clone(),
            Some(_) => self.by_sni.clone(),
            None => {
                let ip = start.io.local_addr()?.ip();
                let leaf = self
                    .certs
                    .leaf(&ip.to_string())
                    .ok_or_else(|| io::Error::other(format!("cannot sign a certificate for {ip}")))?;
                server_config(&self.provider, Arc::new(Fixed(leaf)), HTTP1)?
            }
        };
        start.into_stream(config).await
    }
}

/// ALPN offers, in the server's order of preference.
const HTTP1: &[&[u8]] = &[b"http/1.1"];
const HTTP2_AND_1: &[&[u8]] = &[b"h2", b"http/1.1"];

fn server_config(
    provider: &Arc<CryptoProvider>,
    resolver: Arc<dyn ResolvesServerCert>,
    alpn: &[&[u8]],
) -> io::Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.ignore_client_order = true;
    // Every check is a new connection that never resumes: tickets would be signing work per
    // handshake for nothing.
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// The CAs and the cache of leaves they have signed.
#[derive(Debug)]
struct Certs {
    /// In the order of `ISSUERS`.
    issuers: Vec<CertifiedIssuer<'static, KeyPair>>,
    leaf_key: KeyPair,
    /// `leaf_key` as rustls uses it, loaded once.
    signing_key: Arc<dyn SigningKey>,
    leaves: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    opts: SimOptions,
    /// What `Site::cert_days` counts from.
    started: OffsetDateTime,
}

impl Certs {
    /// The leaf for `name` (a DNS name or an IP address); `None` if it cannot be signed.
    fn leaf(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let cached = self
            .leaves
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned();
        if cached.is_some() {
            return cached;
        }
        // Signed outside the lock: two handshakes may sign the same name, which is harmless.
        let leaf = match self.sign(name) {
            Ok(leaf) => Arc::new(leaf),
            Err(e) => {
                tracing::debug!("cannot sign a certificate for {name:?}: {e}");
                return None;
            }
        };
        let mut leaves = self.leaves.lock().unwrap_or_else(PoisonError::into_inner);
        if leaves.len() >= CACHE_LIMIT {
            leaves.clear();
        }
        leaves.insert(name.to_owned(), leaf.clone());
        Some(leaf)
    }

    fn sign(&self, name: &str) -> Result<CertifiedKey, rcgen::Error> {
        let (days, issuer) = if name == MISMATCH_NAME || name.parse::<IpAddr>().is_ok() {
            (PLAIN_DAYS, 0)
        } else {
            let site = Site::of(name, &self.opts);
            (site.cert_days, site.issuer)
        };
        let mut params = CertificateParams::new(vec![name.to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        // Half a day past the whole days, so a check within 12 hours of the start reads
        // exactly `days` left (the checker rounds down).
        params.not_after = self.started + Span::days(days) + Span::hours(12);
        params.not_before = (self.started - Span::days(30)).min(params.not_after - Span::days(90));
        let cert = params.signed_by(&self.leaf_key, &self.issuers[issuer])?;
        Ok(CertifiedKey::new(
            vec![cert.der().clone()],
            self.signing_key.clone(),
        ))
    }
}

/// Picks the leaf from the SNI name, or another name's leaf for a mismatched site.
#[derive(Debug)]
struct BySni(Arc<Certs>);

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?;
        if Site::of(name, &self.0.opts).category == Category::TlsMismatch {
            self.0.leaf(MISMATCH_NAME)
        } else {
            self.0.leaf(name)
        }
    }
}

/// One leaf for every handshake of a config (the no-SNI case).
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf_is_signed_once_per_name_and_ip_addresses_get_one_too() {
        let tls = Tls::new(&SimOptions::default()).expect("a CA");
        assert!(tls.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let first = tls.certs.leaf("abc.com").expect("signed");
        let again = tls.certs.leaf("abc.com").expect("cached");
        assert!(Arc::ptr_eq(&first, &again));
        assert!(tls.certs.leaf("127.0.0.5").is_some());
        assert!(tls.certs.leaf("::1").is_some());
        assert!(tls.certs.leaf("ñandú.com").is_none(), "not ASCII: no DNS name");
    }

    #[test]
    fn a_leaf_has_its_names_lifetime_and_issuer() {
        use crate::record::cert::{CertInfo, UtcSecs};
        let tls = Tls::new(&SimOptions::default()).expect("CAs");
        assert_eq!(tls.ca_pem().matches("BEGIN CERTIFICATE").count(), ISSUERS.len());
        let now = UtcSecs(tls.certs.started.unix_timestamp());
        let read = |name: &str| {
            let leaf = tls.certs.leaf(name).expect("signed");
            CertInfo::from_der(&leaf.cert[0], now).expect("a certificate")
        };
        for name in ["abc.com", "xyz.com", "qqq.com"] {
            let site = Site::of(name, &SimOptions::default());
            let info = read(name);
            assert_eq!(info.days_left, site.cert_days, "{name}");
            assert_eq!(info.issuer.as_deref(), Some(ISSUERS[site.issuer]), "{name}");
        }
        let ip = read("127.0.0.5");
        assert_eq!(
            (ip.days_left, ip.issuer.as_deref()),
            (PLAIN_DAYS, Some(ISSUERS[0]))
        );
    }
}
