//! The one integration test binary: each module tests one feature over the real binary.

// Shared helpers: the simulated internet in-process, a loopback DNS server, row parsing.
mod support;

// The check itself (issue 2): faults, limits, input, output, signals, resume.
mod check;

// `demo`: the main job against the built-in simulated internet (issue 4).
mod demo;

// `hello` and `counter`: the concurrency lessons of issue 3.
mod counter;
// `serve` and the simulated internet (issue 4), in-process and through the binary.
mod sim;
// `report` and `sweep`: looking at the data (issue 5).
mod report;

// Real servers' habits: big heads, resets, credentials, proxies, IPv6, TLS hang-ups (issue 10).
mod real;
// At the edges of input, output and the machine's limits: nothing lost, nothing silent (issue 11).
mod edges;
// `--details`: address, protocol and certificate columns, the report's certificate section (issue 13).
mod details;
// Many URLs per host: limits, scheduling, 429s, reuse, `--shard-by host` (issue 12).
mod hosts;
// `diff` and `report --since`: what changed between two runs (issue 20).
mod diff;
// Where curl is right: empty and repeated Location, long heads, pinned certificates, TLS errors
// in words, resets of reused connections, loops under load (issue 18).
mod curl_parity;
// Content expectations and sitemaps as input (issue 21).
mod content;
mod sitemap;
// Sharded runs under job engines (issue 23): one writer per file, `--shard auto`, summaries of
// resumed runs, resuming a file cut at any byte, the Slurm and Kubernetes recipes.
mod engines;
// HTTP/2 by ALPN, one connection per host, refused streams and GOAWAY (issue 22).
mod http2;
// `--timings`: where each check's time went, phase by phase, in the rows and the report (issue 19).
mod timings;
