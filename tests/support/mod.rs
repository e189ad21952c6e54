//! Shared by every integration test: the simulated internet started in-process on 127.0.0.1:0,
//! raw loopback HTTP and DNS servers that behave as real ones do, the binary under test, and row
//! parsing.
//! Everything stops by itself when its handle is dropped.

#![allow(dead_code, reason = "each test file uses its own part of the helpers")]

pub mod http2;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use healthcheck::record::OwnedRow;
use healthcheck::sim::{HostStats, Profile, SimOptions, SimServer, SimStats};

/// The simulated internet on its own runtime, for tests that run the binary.
pub struct Sim {
    server: Option<SimServer>,
    runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

impl Sim {
    pub fn start(profile: Profile, latency_scale: f64) -> Sim {
        Sim::with(SimOptions {
            seed: 0,
            profile,
            latency_scale,
            host_limit: None,
        })
    }

    /// The simulated internet with any options (a host limit, the site profile).
    pub fn with(opts: SimOptions) -> Sim {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime");
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = runtime
            .block_on(SimServer::start(listen, false, opts))
            .expect("start the simulated internet");
        Sim {
            server: Some(server),
            runtime,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Instant answers for every name.
    pub fn all_ok() -> Sim {
        Sim::start(Profile::AllOk, 0.0)
    }

    fn server(&self) -> &SimServer {
        self.server.as_ref().expect("running until dropped")
    }

    pub fn addr(&self) -> SocketAddr {
        self.server().addr()
    }

    /// `http://127.0.0.1:PORT{path}`: an explicit route such as `/_/status/404`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// The `--resolve` rule that sends every host to this server, on whatever port.
    pub fn resolve_all(&self) -> String {
        format!("*:0:{}", self.addr())
    }

    /// The server's CA, written to a file for `--ca-cert`.
    pub fn ca_file(&self) -> PathBuf {
        let path = self.dir.path().join("ca.pem");
        std::fs::write(&path, self.server().ca_pem()).unwrap();
        path
    }

    pub fn stats(&self) -> SimStats {
        self.server().stats()
    }

    /// Per host: connections, TLS handshakes, requests, most in flight, 429s.
    pub fn host_stats(&self) -> BTreeMap<String, HostStats> {
        self.server().host_stats()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

/// The proxy variables the binary honours, in both cases.
pub const PROXY_VARS: [&str; 8] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
];

/// The job engines' variables that `--shard auto` reads: a test sets the ones it means.
pub const ENGINE_VARS: [&str; 8] = [
    "SLURM_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_STEP",
    "JOB_COMPLETION_INDEX",
    "HEALTHCHECK_SHARD_COUNT",
];

/// The binary under test, quiet unless a test wants stderr, never looking at the user's proxy
/// or at a job engine the tests happen to run under.
pub fn healthcheck() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("healthcheck").unwrap();
    cmd.env_remove("RUST_LOG").timeout(Duration::from_secs(120));
    for var in PROXY_VARS.iter().chain(&ENGINE_VARS) {
        cmd.env_remove(var);
    }
    cmd
}

/// The binary checking the 17,576 generated `http://xyz.com` names against `sim`, 50 at a
/// time, its stdout a pipe for the test to read, or not.
pub fn spawn_generated(sim: &Sim, stderr: std::process::Stdio) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("healthcheck"))
        .args([
            "--scheme",
            "http",
            "--length",
            "3",
            "-c",
            "50",
            "--resolve",
            &sim.resolve_all(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Parse CSV output (header included) into rows.
pub fn rows(csv_text: &[u8]) -> Vec<OwnedRow> {
    csv::Reader::from_reader(csv_text)
        .deserialize()
        .map(|r| r.expect("a well-formed row"))
        .collect()
}

/// The rows of a CSV (header included) as JSON lines, as `--format jsonl` writes them: empty
/// fields are null, numbers are numbers, `success` is a boolean.
pub fn as_json_lines(csv_text: &str) -> String {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let mut out = String::new();
    for record in reader.records() {
        let record = record.unwrap();
        let object: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .zip(record.iter())
            .map(|(name, value)| {
                let value = match (name, value.parse::<i64>()) {
                    (_, _) if value.is_empty() => serde_json::Value::Null,
                    ("success", _) => (value == "true").into(),
                    ("url" | "cert_issuer" | "error_detail" | "final_url", _) => value.into(),
                    (_, Ok(n)) => n.into(),
                    (_, Err(_)) => value.into(),
                };
                (name.to_string(), value)
            })
            .collect();
        out.push_str(&serde_json::Value::Object(object).to_string());
        out.push('\n');
    }
    out
}

/// Run a command that must exit 0 (stderr is shown when it does not) and return its stdout.
pub fn ok_stdout(cmd: &mut assert_cmd::Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Run a check that must exit 0 and parse its CSV rows.
pub fn ok_rows(cmd: &mut assert_cmd::Command) -> Vec<OwnedRow> {
    rows(&ok_stdout(cmd))
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn refused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Write lines to a file in `dir` and return its path.
pub fn write_lines(dir: &tempfile::TempDir, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// A one-shot HTTP server on 127.0.0.1 that answers 200 to the first request and hands back the
/// request's head, so tests can see what the checker sent. It gives up after 10 s.
pub fn capture_one_request() -> (String, thread::JoinHandle<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/captured", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let handle = thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if std::time::Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("no request within 10 s: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the client closed before a whole request");
            head.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&head).into_owned()
    });
    (url, handle)
}

/// What a `Raw` server does after writing its answer to one request.
#[derive(Debug, Clone, Copy)]
pub enum Then {
    /// Wait for the next request on the connection (unless the client asked to close).
    KeepOpen,
    /// Close the connection (FIN).
    Close,
    /// Reset the connection (RST), as servers that close with SO_LINGER 0 and load balancers do.
    Reset,
    /// The same a moment after the answer, as the RST arrives over a real network: by then the
    /// client may have sent its next request on the connection.
    ResetAfter(Duration),
    /// Keep the connection, then reset it when the next request arrives, unanswered: a server
    /// that closed an idle connection just as the client sent its next request on it.
    ResetOnNextRequest,
}

/// A loopback HTTP/1.1 server that answers with raw bytes, so a test can send what real servers
/// send and a well-behaved one would not: huge heads, a reset right after the answer, bodies on
/// HEAD, raw UTF-8 in headers. It records every request head and counts connections, and stops
/// when dropped (or after 60 s).
pub struct Raw {
    addr: SocketAddr,
    accepts: Arc<std::sync::atomic::AtomicUsize>,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

type Respond = dyn Fn(&str) -> (Vec<u8>, Then) + Send + Sync;

impl Raw {
    /// On 127.0.0.1; `respond` gets each request head and returns the answer's bytes.
    pub fn start(respond: impl Fn(&str) -> (Vec<u8>, Then) + Send + Sync + 'static) -> Raw {
        Raw::start_on("127.0.0.1:0", respond)
    }

    pub fn start_on(listen: &str, respond: impl Fn(&str) -> (Vec<u8>, Then) + Send + Sync + 'static) -> Raw {
        Raw::serve(listen, None, respond)
    }

    /// Over TLS on 127.0.0.1: `chain` (the leaf first) and its key, whatever name is asked for.
    pub fn start_tls(
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
        respond: impl Fn(&str) -> (Vec<u8>, Then) + Send + Sync + 'static,
    ) -> Raw {
        Raw::start_tls_stalled(chain, key, Duration::ZERO, respond)
    }

    /// The same, with every handshake waiting `stall` before the server reads the ClientHello,
    /// as a far or busy server's does.
    pub fn start_tls_stalled(
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
        stall: Duration,
        respond: impl Fn(&str) -> (Vec<u8>, Then) + Send + Sync + 'static,
    ) -> Raw {
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
        Raw::serve("127.0.0.1:0", Some((Arc::new(config), stall)), respond)
    }

    fn serve(
        listen: &str,
        tls: Option<(Arc<rustls::ServerConfig>, Duration)>,
        respond: impl Fn(&str) -> (Vec<u8>, Then) + Send + Sync + 'static,
    ) -> Raw {
        let listener = std::net::TcpListener::bind(listen).unwrap();
        // Accepts at once (a server that polled would space out the client's connections and
        // hide races), and looks at the stop flag at least every 20 ms.
        socket2::SockRef::from(&listener)
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let accepts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let respond: Arc<Respond> = Arc::new(respond);
        let (a, h, flag) = (accepts.clone(), heads.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !flag.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                // An error is the 20 ms timeout passing with no connection.
                if let Ok((stream, _)) = listener.accept() {
                    a.fetch_add(1, Ordering::SeqCst);
                    let (respond, heads, tls) = (respond.clone(), h.clone(), tls.clone());
                    thread::spawn(move || serve_raw(stream, tls, &*respond, &heads));
                }
            }
        });
        Raw {
            addr,
            accepts,
            heads,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// Every request head received so far, lower-cased.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn serve_raw(
    stream: std::net::TcpStream,
    tls: Option<(Arc<rustls::ServerConfig>, Duration)>,
    respond: &Respond,
    heads: &std::sync::Mutex<Vec<String>>,
) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let Ok(io) = stream.try_clone() else { return };
    match tls {
        None => serve_io(io, &stream, respond, heads),
        Some((config, stall)) => {
            thread::sleep(stall);
            let Ok(server) = rustls::ServerConnection::new(config) else {
                return;
            };
            // The handshake happens on the first read; a client that refuses it ends the read.
            serve_io(rustls::StreamOwned::new(server, io), &stream, respond, heads);
        }
    }
}

/// Requests in, `respond`'s answers out, over `io` (TCP or TLS on `tcp`).
fn serve_io(
    mut stream: impl std::io::Read + std::io::Write,
    tcp: &std::net::TcpStream,
    respond: &Respond,
    heads: &std::sync::Mutex<Vec<String>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut dead = false;
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end + 4);
        heads.lock().unwrap().push(head.clone());
        if dead {
            let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
            return;
        }
        let (answer, then) = respond(&head);
        if stream.write_all(&answer).and_then(|()| stream.flush()).is_err() {
            return;
        }
        let close = head.contains("connection: close");
        match then {
            Then::KeepOpen if !close => continue,
            Then::ResetOnNextRequest if !close => dead = true,
            Then::KeepOpen | Then::Close | Then::ResetOnNextRequest => return,
            Then::Reset | Then::ResetAfter(_) => {
                if let Then::ResetAfter(pause) = then {
                    thread::sleep(pause);
                }
                let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
                return;
            }
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An answer with `status`, the given extra header lines and no body.
pub fn answer(status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A loopback DNS server that answers A and AAAA questions from a table (`*` stands for every
/// name) and NXDOMAIN for names it does not know, until dropped.
pub struct FakeDns {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl FakeDns {
    pub fn start(table: &[(&str, std::net::IpAddr)]) -> FakeDns {
        FakeDns::slow(table, Duration::ZERO)
    }

    /// Every answer `delay` after its question, as a recursive resolver's for names it has not
    /// cached; questions are answered concurrently.
    pub fn slow(table: &[(&str, std::net::IpAddr)], delay: Duration) -> FakeDns {
        let table: Vec<(String, std::net::IpAddr)> = table
            .iter()
            .map(|(n, ip)| (n.to_ascii_lowercase(), *ip))
            .collect();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // The delay is the same for every answer: a queue in arrival order is in order of due time.
        let (due, replies) = std::sync::mpsc::channel::<(std::time::Instant, Vec<u8>, SocketAddr)>();
        let sender = socket.try_clone().unwrap();
        let answering = thread::spawn(move || {
            while let Ok((at, reply, peer)) = replies.recv() {
                thread::sleep(at.saturating_duration_since(std::time::Instant::now()));
                let _ = sender.send_to(&reply, peer);
            }
        });
        let flag = stop.clone();
        let listening = thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(reply) = dns_reply(&buf[..n], &table) {
                    let _ = due.send((std::time::Instant::now() + delay, reply, peer));
                }
            }
        });
        FakeDns {
            addr,
            stop,
            threads: vec![listening, answering],
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        // The listener stops, which ends the answering thread's queue.
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The answer to one query: the question echoed, then the table's records of the asked type.
fn dns_reply(query: &[u8], table: &[(String, std::net::IpAddr)]) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    while *query.get(at)? != 0 {
        let len = usize::from(query[at]);
        labels.push(String::from_utf8_lossy(query.get(at + 1..at + 1 + len)?).to_ascii_lowercase());
        at += 1 + len;
    }
    let question_end = at + 5;
    let qtype = u16::from_be_bytes([*query.get(at + 1)?, *query.get(at + 2)?]);
    let name = labels.join(".");
    let known = table.iter().any(|(n, _)| *n == name || n == "*");
    let records: Vec<&std::net::IpAddr> = table
        .iter()
        .filter(|(n, ip)| {
            (*n == name || n == "*")
                && matches!(
                    (qtype, ip),
                    (1, std::net::IpAddr::V4(_)) | (28, std::net::IpAddr::V6(_))
                )
        })
        .map(|(_, ip)| ip)
        .collect();
    let mut reply = query.get(..question_end)?.to_vec();
    reply[2] = 0x81 | (query[2] & 0x01);
    reply[3] = if known { 0x80 } else { 0x83 };
    reply[6..12].fill(0);
    reply[7] = u8::try_from(records.len()).ok()?;
    for ip in records {
        reply.extend_from_slice(&[0xc0, 0x0c]); // the name, by pointer to the question
        let (rtype, data) = match ip {
            std::net::IpAddr::V4(v4) => (1u16, v4.octets().to_vec()),
            std::net::IpAddr::V6(v6) => (28u16, v6.octets().to_vec()),
        };
        reply.extend_from_slice(&rtype.to_be_bytes());
        reply.extend_from_slice(&[0, 1, 0, 0, 0, 60]); // class IN, TTL 60 s
        reply.extend_from_slice(&u16::try_from(data.len()).ok()?.to_be_bytes());
        reply.extend_from_slice(&data);
    }
    Some(reply)
}
