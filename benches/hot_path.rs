//! Micro-benchmarks of the per-URL hot path: making a target, scheduling it by host, serialising
//! its row, classifying its error. The end-to-end benchmark is `scripts/bench.sh`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt;
use healthcheck::check::hosts::{HostPolicy, Hosts, Scheduler, LOOK_AHEAD};
use healthcheck::check::targets::{Generated, Scheme, Target};
use healthcheck::net::classify::{classify, Stage};
use healthcheck::record::cert::{CertInfo, UtcSecs};
use healthcheck::record::{ErrorKind, Method, Outcome, Record};

fn targets(c: &mut Criterion) {
    let mut group = c.benchmark_group("targets");
    group.throughput(Throughput::Elements(17_576));
    group.bench_function("generate 17,576 three-letter URLs", |b| {
        b.iter(|| {
            Generated::new("abcdefghijklmnopqrstuvwxyz", 3, Scheme::Https, "com")
                .unwrap()
                .count()
        })
    });
    group.bench_function("generate and parse 17,576 targets", |b| {
        b.iter(|| {
            Generated::new("abcdefghijklmnopqrstuvwxyz", 3, Scheme::Https, "com")
                .unwrap()
                .map(|u| Target::parse(&u, Scheme::Https))
                .filter(|t| matches!(t, Target::Valid { .. }))
                .count()
        })
    });
    group.finish();
}

/// What the host scheduler costs a list of distinct hosts (the three-letter names), where it only
/// ever passes targets through, and a list of 20 sites in sitemap order.
fn scheduling(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let distinct: Vec<Target> = Generated::new("abcdefghijklmnopqrstuvwxyz", 3, Scheme::Https, "com")
        .unwrap()
        .map(|u| Target::parse(&u, Scheme::Https))
        .collect();
    let sites: Vec<Target> = (0..20)
        .flat_map(|s| (0..879).map(move |p| format!("https://site{s}.test/page/{p}")))
        .map(|u| Target::parse(&u, Scheme::Https))
        .collect();
    let mut group = c.benchmark_group("scheduling");
    group.throughput(Throughput::Elements(17_576));
    for (name, targets) in [
        ("17,576 distinct hosts", distinct),
        ("20 sites x 879 pages", sites),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let hosts = Hosts::new(HostPolicy::default());
                    let input = futures::stream::iter(targets.clone());
                    let mut scheduled = Scheduler::new(input, hosts, LOOK_AHEAD);
                    let mut n = 0;
                    while let Some((target, permit)) = scheduled.next().await {
                        drop(permit);
                        n += usize::from(matches!(black_box(target), Target::Valid { .. }));
                    }
                    n
                })
            })
        });
    }
    group.finish();
}

fn rows(c: &mut Criterion) {
    let answered = Record {
        url: "https://abc.com".into(),
        outcome: Outcome::Response { status: 200 },
        success: true,
        final_url: Some("https://www.abc.com/".into()),
        redirects: 1,
        method: Some(Method::Head),
        elapsed: Duration::from_millis(153),
        note: None,
        details: None,
        timings: None,
    };
    let failed = Record {
        url: "https://abd.com".into(),
        outcome: Outcome::Failed {
            kind: ErrorKind::Tls,
            detail: "invalid peer certificate: UnknownIssuer".into(),
        },
        success: false,
        final_url: Some("https://abd.com/".into()),
        redirects: 0,
        method: Some(Method::Head),
        elapsed: Duration::from_millis(88),
        note: None,
        details: None,
        timings: None,
    };
    let mut group = c.benchmark_group("rows");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("serialise 1,000 CSV rows", |b| {
        let mut out = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(std::io::sink());
        b.iter(|| {
            for i in 0..1000 {
                let record = if i % 3 == 0 { &failed } else { &answered };
                out.serialize(black_box(record.row(false, false))).unwrap();
            }
            out.flush().unwrap();
        })
    });
    group.bench_function("serialise 1,000 JSON lines", |b| {
        let mut out = Vec::with_capacity(1 << 20);
        b.iter(|| {
            for i in 0..1000 {
                let record = if i % 3 == 0 { &failed } else { &answered };
                serde_json::to_writer(&mut out, &black_box(record.row(false, false))).unwrap();
                out.push(b'\n');
            }
            out.clear();
        })
    });
    group.finish();
}

fn classification(c: &mut Criterion) {
    // A real error from a real refused connection on loopback.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect_err("nothing listens on a released port");
    assert_eq!(classify(&err, Stage::Connect).kind, ErrorKind::Connect);
    c.bench_function("classify a refused connection", |b| {
        b.iter(|| classify(black_box(&err), Stage::Connect))
    });
}

/// What `--details` adds per TLS answer: reading the leaf's expiry and issuer.
fn certificates(c: &mut Criterion) {
    let key = rcgen::KeyPair::generate().expect("a key");
    let params = rcgen::CertificateParams::new(vec!["abc.com".into()]).expect("a name");
    let der = params.self_signed(&key).expect("a certificate").der().to_vec();
    let now = UtcSecs::now();
    let mut group = c.benchmark_group("certificates");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("read 1,000 leaf certificates", |b| {
        b.iter(|| {
            for _ in 0..1000 {
                black_box(CertInfo::from_der(black_box(&der), now).expect("readable"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, targets, scheduling, rows, classification, certificates);
criterion_main!(benches);
