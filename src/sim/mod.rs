//! The simulated internet behind `serve` and `demo`, the tests and the benchmarks: a local
//! HTTP/1.1 and HTTPS server whose answer depends on the name asked for, so that the article's
//! run over 17,576 real domains can be repeated anywhere, offline, with a known right answer.
//!
//! # Names
//! A request is judged by the host of its `Host` header, or, when that host is an IP literal,
//! by the first path segment (the benchmark gives every URL its own loopback address:
//! `http://127.A.B.C:PORT/label`). The name and the seed are hashed (FNV-1a, splitmix64: fixed,
//! unlike `std`'s hasher) into a category and a latency.
//!
//! # Categories of the `seed` profile (permille)
//! `ok` 380 (200), `redirect` 120 (1-3 relative 301/302 then 200), `forbidden` 90 (403),
//! `not_found` 80 (404), `head_not_allowed` 50 (405 to HEAD, 200 to GET), `gone` 30 (410),
//! `server_error` 40 (500/502/503), `odd_status` 20 (418/999), `hang` 80 (never answers; resets
//! after 120 s), `reset` 30 (reset after reading the request), `slow` 30 (200 after 30 s),
//! `redirect_loop` 20 (endless relative redirects), `tls_mismatch` 20 (a certificate for
//! `mismatch.invalid` over TLS; 200 over plain HTTP), `cert_expired` 10 (a certificate that
//! expired 1-400 days ago over TLS; 200 over plain HTTP). `all-ok` answers 200 for every name;
//! `faults` is mostly hangs, resets, garbage and loops. `localhost` is always `ok`.
//!
//! # Sites (`--profile site`)
//! Many pages per host, as a sitemap or a documentation site has: every host is a site and every
//! path a page, drawn from the host, the path and the seed (88% 200, 5% chains of 1-3 relative
//! 301s within the site, 2.5% 404, 2% 405 to HEAD, 1.5% 410, 1% 500). Connections stay open for
//! further requests (HTTP/1.1 keep-alive, over TLS too). With a host limit
//! (`serve --host-limit N`, any profile) a request that finds N others of its host in flight gets
//! `429 Too Many Requests` at once, with `Retry-After` in seconds, as an HTTP date, or absent.
//! Per host the server counts connections, TLS handshakes, requests, the most requests in flight
//! and the 429s ([`HostStats`]).
//!
//! # Manners
//! Besides its category, about 15% of names (not in `all-ok`) answer with 3 to 16 KB of extra
//! headers (Content-Security-Policy, Report-To, Set-Cookie), and about 10% reset the connection
//! right after a complete answer, as real servers do (in the `site` profile: big heads by page,
//! no resets, which would defeat keep-alive). Neither changes the right answer.
//!
//! # Latency
//! Log-normal per name, median 150 ms, capped at 4 s (below the checker's 5 s timeout), times
//! `latency_scale`. A redirect chain spreads it over its hops, a loop pays it (at most 1 s) on
//! its first request only, a GET after a 405 pays it again.
//!
//! # Explicit routes for tests
//! Whatever the name, a path under `/_/` answers at once, as it says:
//! - `/_/status/CODE`: CODE (200-999; anything else gives 400)
//! - `/_/hang`: reads the request, never answers
//! - `/_/reset`: reads the request, resets the connection
//! - `/_/garbage`: reads the request, writes bytes that are not HTTP, closes
//! - `/_/slow/MS`: 200 after MS milliseconds
//! - `/_/redirect/N`: N relative 302 redirects, then 200
//! - `/_/loop`: relative 302 redirects forever
//! - `/_/head405`, `/_/head501`: 405 (501) to HEAD, 200 to GET
//! - `/_/big-head/BYTES`: 200 with about BYTES (at most 64 KiB) of extra headers
//! - `/_/reset-after`: 200, then a reset (RST) of the connection
//! - `/_/page/normal`, `/_/page/maintenance`, `/_/page/parked`: 200 with that page
//! - `/_/bytes/N`: 200 with a body of N bytes (made as it is sent: 10 GB costs no memory)
//!
//! # Pages and sitemaps
//! A GET of a 200 reads the name's page (HTML, `Welcome to NAME`); about 4% of names (not in
//! `all-ok`) answer 200 with a maintenance page (`Under maintenance`) and 4% with a parked
//! domain's (`This domain is parked`), which only content expectations tell apart. Error
//! statuses have a short error page; answers over TLS of four names in five carry
//! `Strict-Transport-Security`. Every host serves `/sitemap.xml` (`?pages=N&from=F`, its
//! `/page/F` ...), `/sitemap.xml.gz`, and `/sitemap_index.xml` (`?sitemaps=K&pages=N`).
//!
//! Over HTTPS the certificate is chosen from the SNI name before the path is read, so a name of
//! category `tls_mismatch` or `cert_expired` fails the handshake whatever its path: tests use
//! `localhost`.
//!
//! # Certificates
//! Every name's leaf has its own lifetime, drawn like its category: whole days left when the
//! server started (`Site::cert_days`, 2% under a week, 7% under a month, the rest up to 397
//! days; negative for `cert_expired`), and one of three issuers (`ISSUERS`), each its own CA.
//! IP addresses and `mismatch.invalid` get a year.
//!
//! # Truth
//! [`truth`] replays the server's own plan the way the checker works with its defaults, so it
//! says exactly what a check of a URL yields ([`Truth`]).

mod handler;
mod page;
mod plan;
mod profile;
mod server;
mod shared;
mod site;
mod sitemap;
mod tls;
mod truth;

pub use page::Page;
pub use profile::{Category, HostLimit, Profile, RetryAfter, SimOptions};
pub use server::SimServer;
pub use shared::{HostStats, SimStats};
pub use site::{Site, ISSUERS};
pub use truth::{truth, Truth};
