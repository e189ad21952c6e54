//! Shared by every integration test: the simulated internet started in-process on 127.0.0.1:0,
//! a loopback DNS server that says "no such host", the binary under test, and row parsing.
//! Everything stops by itself when its handle is dropped.

#![allow(dead_code, reason = "each test file uses its own part of the helpers")]

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

/// A loopback DNS server that answers every query with NXDOMAIN, until dropped.
pub struct NxDomain {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl NxDomain {
    pub fn start() -> NxDomain {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if n < 12 {
                    continue;
                }
                // Same id and question; flags: response, recursion desired+available, NXDOMAIN.
                let mut reply = buf[..n].to_vec();
                reply[2] = 0x81 | (buf[2] & 0x01);
                reply[3] = 0x83;
                reply[6..12].fill(0); // no answer, authority or additional records
                let _ = socket.send_to(&reply, peer);
            }
        });
        NxDomain {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for NxDomain {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The binary under test, quiet unless a test wants stderr, never looking at the user's proxy.
pub fn healthcheck() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("healthcheck").unwrap();
    cmd.env_remove("RUST_LOG").timeout(Duration::from_secs(120));
    cmd
}

/// Parse CSV output (header included) into rows.
pub fn rows(csv_text: &[u8]) -> Vec<OwnedRow> {
    csv::Reader::from_reader(csv_text)
        .deserialize()
        .map(|r| r.expect("a well-formed row"))
        .collect()
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
