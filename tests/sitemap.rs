//! `--sitemap` over the real binary: files, gzip, indexes fetched over HTTPS with `--ca-cert`,
//! the shard and resume filters, broken sitemaps (before and after their first `<loc>`), and a
//! sitemap of 50,000 URLs that is checked while it is still arriving.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use crate::support::{healthcheck, ok_rows, rows, Sim};

/// A urlset of `urls`, as a sitemap file holds it.
fn urlset(urls: &[String]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for url in urls {
        out.push_str(&format!(
            "  <url><loc>{}</loc><priority>0.5</priority></url>\n",
            url.replace('&', "&amp;")
        ));
    }
    out.push_str("</urlset>\n");
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn url_set(rows: &[healthcheck::record::OwnedRow]) -> BTreeSet<String> {
    rows.iter().map(|r| r.url.clone()).collect()
}

#[test]
fn a_sitemap_file_gzipped_or_not_gives_one_row_per_loc() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..20)
        .map(|i| sim.url(&format!("/_/status/200?i={i}&x=y")))
        .collect();
    let plain = dir.path().join("sitemap.xml");
    std::fs::write(&plain, urlset(&urls)).unwrap();
    // Named as if plain: gzip is known by its bytes.
    let zipped = dir.path().join("sitemap-2.xml");
    std::fs::write(&zipped, gzip(urlset(&urls[..5]).as_bytes())).unwrap();
    let got = ok_rows(
        healthcheck()
            .arg("--sitemap")
            .arg(&plain)
            .arg("--sitemap")
            .arg(&zipped),
    );
    assert_eq!(got.len(), 25);
    assert_eq!(url_set(&got), urls.iter().cloned().collect(), "entities decoded");
    assert!(got.iter().all(|r| r.success));
}

#[test]
fn an_index_over_https_is_fetched_with_the_checks_client_and_trust() {
    let sim = Sim::all_ok();
    let ca = sim.ca_file();
    let index = "https://docs.test/sitemap_index.xml?sitemaps=3&pages=4";
    let got = ok_rows(
        healthcheck()
            .args(["--resolve", &sim.resolve_all(), "--ca-cert"])
            .arg(&ca)
            .args(["--sitemap", index]),
    );
    let want: BTreeSet<String> = (0..12).map(|i| format!("https://docs.test/page/{i}")).collect();
    assert_eq!(url_set(&got), want, "every page once, and no image <loc>");
    assert_eq!(got.len(), 12);
    // Without the CA, the index itself cannot be fetched: an input error, nothing checked.
    let out = healthcheck()
        .args(["--resolve", &sim.resolve_all(), "--sitemap", index])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(index) && stderr.contains("tls"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing written");
}

#[test]
fn a_sitemap_broken_before_its_first_loc_leaves_the_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.csv");
    std::fs::write(&output, "keep me\n").unwrap();
    for (name, text) in [
        (
            "html.xml",
            "<!doctype html>\n<html><body>Not here</body></html>\n",
        ),
        ("cut.xml", "<urlset>\n  <url><lo"),
        ("empty.xml", ""),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = healthcheck()
            .arg("--sitemap")
            .arg(&path)
            .arg("-o")
            .arg(&output)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(name) && stderr.contains("line "), "{stderr}");
        assert_eq!(std::fs::read_to_string(&output).unwrap(), "keep me\n", "{name}");
    }
}

#[test]
fn a_sitemap_broken_later_keeps_its_rows_and_says_where_it_stopped() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..3).map(|i| sim.url(&format!("/_/status/200?i={i}"))).collect();
    let text = urlset(&urls).replace(
        "</urlset>\n",
        "  <url><loc>http://x.test/</lo></url>\n</urlset>\n",
    );
    let path = dir.path().join("broken.xml");
    std::fs::write(&path, text).unwrap();
    let out = healthcheck().arg("--sitemap").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(url_set(&rows(&out.stdout)), urls.iter().cloned().collect());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Checked 3 URLs"), "{stderr}");
    assert!(
        stderr.contains("input stopped early") && stderr.contains("broken.xml: line 6, column"),
        "{stderr}"
    );
}

#[test]
fn sitemaps_combine_with_shard_and_resume_as_lists_do() {
    let sim = Sim::all_ok();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..30)
        .map(|i| sim.url(&format!("/_/status/200?i={i}")))
        .collect();
    let path = dir.path().join("sitemap.xml");
    std::fs::write(&path, urlset(&urls)).unwrap();
    let shard = ok_rows(healthcheck().arg("--sitemap").arg(&path).args(["--shard", "1/3"]));
    let want: BTreeSet<String> = urls.iter().skip(1).step_by(3).cloned().collect();
    assert_eq!(url_set(&shard), want);

    let out = dir.path().join("out.csv");
    healthcheck()
        .arg("--sitemap")
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    let kept: Vec<&str> = text.lines().take(11).collect();
    std::fs::write(&out, kept.join("\n") + "\n").unwrap();
    healthcheck()
        .arg("--sitemap")
        .arg(&path)
        .arg("--resume")
        .arg(&out)
        .assert()
        .success();
    let all = rows(&std::fs::read(&out).unwrap());
    assert_eq!(all.len(), 30, "no URL twice, none missing");
    assert_eq!(url_set(&all), urls.iter().cloned().collect());
}

/// A loopback server that sends one sitemap of `total` `<loc>`s: the first `first` at once, the
/// rest only when told (or after 20 s); `released` is set before the rest goes out.
fn slow_sitemap(
    urls: Vec<String>,
    first: usize,
) -> (String, mpsc::Sender<()>, Arc<AtomicBool>, thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sitemap.xml", listener.local_addr().unwrap());
    let (go, wait) = mpsc::channel();
    let released = Arc::new(AtomicBool::new(false));
    let flag = released.clone();
    let handle = thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let text = urlset(&urls);
        let split = text
            .match_indices("</url>\n")
            .nth(first - 1)
            .map(|(i, _)| i + 7)
            .unwrap();
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(&text.as_bytes()[..split]);
        let _ = stream.flush();
        let _ = wait.recv_timeout(Duration::from_secs(20));
        flag.store(true, Ordering::SeqCst);
        let _ = stream.write_all(&text.as_bytes()[split..]);
    });
    (url, go, released, handle)
}

#[test]
fn fifty_thousand_locs_are_checked_while_the_sitemap_still_arrives() {
    let sim = Sim::all_ok();
    let urls: Vec<String> = (0..50_000)
        .map(|i| sim.url(&format!("/_/status/200?i={i}")))
        .collect();
    let (sitemap, go, released, server) = slow_sitemap(urls.clone(), 100);
    // One in 100 is checked (shard 0/100): every <loc> is read, few requests are sent.
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("healthcheck"))
        .args(["-q", "--shard", "0/100", "--sitemap", &sitemap])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let header = lines.next().unwrap().unwrap();
    assert!(header.starts_with("url,"));
    // The server holds back 49,900 <loc>s until this row is here.
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with(&urls[0]), "{first}");
    assert!(
        !released.load(Ordering::SeqCst),
        "the first row came only once the whole sitemap was sent"
    );
    go.send(()).unwrap();
    let rest = lines.count();
    assert!(child.wait().unwrap().success());
    server.join().unwrap();
    assert_eq!(1 + rest, 500, "every 100th of 50,000");
}
