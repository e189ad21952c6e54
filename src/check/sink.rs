//! The one writer. Rows arrive over a bounded channel in completion order and are written by one
//! task on the runtime's blocking pool (`spawn_blocking`: csv and stdout are blocking I/O), and
//! flushed at most 100 ms after they arrive, so `| head` and `tail -f` see rows as they happen.
//! A closed pipe ends the run quietly; any other write error is the run's error.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::task::JoinHandle;

use crate::check::progress::Counters;
use crate::check::summary::Tally;
use crate::error::{Error, Result};
use crate::record::{Record, Row, COLUMNS, DETAIL_COLUMNS, TIMING_COLUMNS};

const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// How long the writer naps between looks at the channel while rows wait for a flush: the
/// channel (at least 1,024 rows) fills in that time only above 200,000 rows/s.
const NAP: Duration = Duration::from_millis(5);

/// `--format`: the rows as CSV with a header, or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// Where the rows go.
#[derive(Debug)]
pub struct SinkSpec {
    /// `None` for stdout.
    pub path: Option<PathBuf>,
    /// The output file, already opened, positioned and locked by the set-up (`check::lock`),
    /// which the writer holds until its last flush; without it, `path` is opened here (a
    /// device such as `/dev/null`, which is not locked).
    pub file: Option<File>,
    /// Append without a header (`--resume` onto a file that already has one).
    pub append: bool,
    pub format: Format,
    /// Write the `--details` columns too.
    pub details: bool,
    /// Write the `--timings` columns too.
    pub timings: bool,
}

impl SinkSpec {
    fn name(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| PathBuf::from("<stdout>"))
    }
}

/// How the writer ended.
#[derive(Debug, Default)]
pub struct SinkEnd {
    pub tally: Tally,
    /// The reader of stdout went away (`| head`): stop quietly, successfully.
    pub broken_pipe: bool,
}

pub struct Sink {
    handle: JoinHandle<Result<SinkEnd>>,
    counters: Arc<Counters>,
}

impl Sink {
    /// Open the output, write the header and start the writer task (on the runtime's blocking
    /// pool: call it inside the runtime). The channel holds `capacity` rows, so a slow reader
    /// slows the pipeline rather than filling memory.
    pub fn start(
        spec: SinkSpec,
        counters: Arc<Counters>,
        capacity: usize,
    ) -> Result<(mpsc::Sender<Record>, Sink)> {
        let name = spec.name();
        let out: Box<dyn Write + Send> = match (spec.file, &spec.path) {
            (Some(file), _) => Box::new(file),
            (None, None) => Box::new(io::stdout()),
            (None, Some(path)) => Box::new(
                OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(spec.append)
                    .truncate(!spec.append)
                    .open(path)
                    .map_err(|source| Error::Output {
                        path: path.clone(),
                        source,
                    })?,
            ),
        };
        let mut encoder = Encoder::new(spec.format, out);
        let columns = Columns {
            details: spec.details,
            timings: spec.timings,
        };
        let output_error = move |source| Error::Output { path: name, source };
        let header = match spec.append {
            true => Ok(()),
            false => encoder.header(columns).and_then(|()| encoder.flush()),
        };
        // A reader gone before the header (`| head -c0`) ends the run as quietly as one gone
        // later, so the writer reports it; any other error is reported now.
        let header = match header {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(output_error(e)),
            other => other,
        };
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let writer = Arc::clone(&counters);
        let handle = tokio::task::spawn_blocking(move || {
            write_all(header, rx, encoder, columns, &writer).map_err(output_error)
        });
        Ok((tx, Sink { handle, counters }))
    }

    /// Wait for the writer to drain the channel (every sender must be dropped first); with
    /// `patience`, for that long at most: a writer blocked on a stalled stdout cannot be
    /// interrupted, so it is left behind (the runtime's shutdown timeout lets it go), and the
    /// counts are those of the rows it wrote.
    pub async fn finish(self, patience: Option<Duration>) -> Result<SinkEnd> {
        let joined = match patience {
            None => self.handle.await,
            Some(patience) => match tokio::time::timeout(patience, self.handle).await {
                Ok(joined) => joined,
                Err(_) => {
                    return Ok(SinkEnd {
                        tally: Tally::counted(
                            self.counters.written.load(Ordering::Relaxed),
                            self.counters.successful.load(Ordering::Relaxed),
                        ),
                        broken_pipe: self.counters.broken_pipe.load(Ordering::Relaxed),
                    })
                }
            },
        };
        joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

/// Write every row after the header (whose outcome is `header`) and flush.
fn write_all(
    header: io::Result<()>,
    mut rx: mpsc::Receiver<Record>,
    mut encoder: Encoder,
    columns: Columns,
    counters: &Counters,
) -> io::Result<SinkEnd> {
    let mut end = SinkEnd::default();
    let mut last_flush = Instant::now();
    let result = header.and_then(|()| {
        // Unflushed rows wait at most FLUSH_EVERY. While some do, the thread naps instead of
        // blocking on the channel, so a steady stream of rows costs a few hundred wake-ups a
        // second rather than a wake-up, a flush and a write(2) per row. The naps are short
        // (NAP) because a full channel stalls the whole pipeline: with one long sleep the
        // channel's capacity per FLUSH_EVERY would cap the run's rate.
        let mut dirty = false;
        loop {
            let record = if dirty {
                match rx.try_recv() {
                    Ok(record) => record,
                    Err(TryRecvError::Disconnected) => break,
                    Err(TryRecvError::Empty) => {
                        match FLUSH_EVERY.checked_sub(last_flush.elapsed()) {
                            Some(wait) if !wait.is_zero() => thread::sleep(wait.min(NAP)),
                            _ => {
                                encoder.flush()?;
                                (dirty, last_flush) = (false, Instant::now());
                            }
                        }
                        continue;
                    }
                }
            } else {
                match rx.blocking_recv() {
                    Some(record) => record,
                    None => break,
                }
            };
            encoder.row(&record.row(columns.details, columns.timings))?;
            end.tally.add(&record);
            counters.record_written(record.success);
            dirty = true;
        }
        encoder.flush()
    });
    match result {
        Ok(()) => Ok(end),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            end.broken_pipe = true;
            counters.broken_pipe.store(true, Ordering::Relaxed);
            Ok(end)
        }
        Err(e) => Err(e),
    }
}

/// Which optional columns a run writes.
#[derive(Debug, Clone, Copy)]
struct Columns {
    details: bool,
    timings: bool,
}

/// CSV or JSON lines over one buffered output.
#[allow(clippy::large_enum_variant, reason = "one encoder per run")]
enum Encoder {
    Csv(csv::Writer<Box<dyn Write + Send>>),
    Jsonl(BufWriter<Box<dyn Write + Send>>),
}

impl Encoder {
    fn new(format: Format, out: Box<dyn Write + Send>) -> Self {
        match format {
            Format::Csv => Encoder::Csv(csv::WriterBuilder::new().has_headers(false).from_writer(out)),
            Format::Jsonl => Encoder::Jsonl(BufWriter::with_capacity(64 * 1024, out)),
        }
    }

    fn header(&mut self, columns: Columns) -> io::Result<()> {
        let details: &[&str] = if columns.details { &DETAIL_COLUMNS } else { &[] };
        let timings: &[&str] = if columns.timings { &TIMING_COLUMNS } else { &[] };
        match self {
            Encoder::Csv(w) => w
                .write_record(COLUMNS.iter().chain(details).chain(timings))
                .map_err(csv_io),
            Encoder::Jsonl(_) => Ok(()),
        }
    }

    fn row(&mut self, row: &Row<'_>) -> io::Result<()> {
        match self {
            Encoder::Csv(w) => w.serialize(row).map_err(csv_io),
            Encoder::Jsonl(w) => {
                serde_json::to_writer(&mut *w, row)?;
                w.write_all(b"\n")
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Csv(w) => w.flush(),
            Encoder::Jsonl(w) => w.flush(),
        }
    }
}

fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::cert::{CertInfo, UtcSecs};
    use crate::record::{Details, ErrorKind, HttpVersion, Method, Outcome, TimingsMs};

    fn records() -> Vec<Record> {
        vec![
            Record {
                url: "https://a.com".into(),
                outcome: Outcome::Response { status: 200 },
                success: true,
                final_url: Some("https://www.a.com/".into()),
                redirects: 1,
                method: Some(Method::Head),
                elapsed: Duration::from_millis(12),
                note: None,
                details: Some(Box::new(Details {
                    ip: Some([127, 0, 0, 1].into()),
                    http_version: Some(HttpVersion::Http11),
                    cert: Some(CertInfo {
                        not_after: UtcSecs(1_798_243_200),
                        days_left: 30,
                        issuer: Some("Sim, R1".into()),
                    }),
                })),
                timings: Some(TimingsMs {
                    ms: [1, 0, 4, 5],
                    new_connections: 2,
                }),
            },
            Record::unsent("ftp://x, y".into(), ErrorKind::InvalidUrl, "scheme `ftp`".into()),
        ]
    }

    /// Send `records()` through a writer for `spec` and wait for it, as the pipeline does.
    fn write_all_records(spec: SinkSpec, counters: &Arc<Counters>) -> Result<SinkEnd> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let (tx, sink) = Sink::start(spec, counters.clone(), 4).unwrap();
            for r in records() {
                // A writer that failed has dropped its receiver: its error comes from `finish`.
                let _ = tx.send(r).await;
            }
            drop(tx);
            sink.finish(None).await
        })
    }

    fn write_to_file(format: Format, details: bool, timings: bool) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let spec = SinkSpec {
            path: Some(path.clone()),
            file: None,
            append: false,
            format,
            details,
            timings,
        };
        let counters = Arc::new(Counters::default());
        let end = write_all_records(spec, &counters).unwrap();
        assert_eq!((end.tally.total, end.tally.successful), (2, 1));
        assert_eq!(counters.written.load(Ordering::Relaxed), 2);
        std::fs::read_to_string(path).unwrap()
    }

    fn json_rows(details: bool, timings: bool) -> Vec<serde_json::Value> {
        let text = write_to_file(Format::Jsonl, details, timings);
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn csv_rows_follow_the_header_and_quote_commas() {
        let text = write_to_file(Format::Csv, false, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms"
        );
        assert_eq!(lines[1], "https://a.com,200,true,,,https://www.a.com/,1,HEAD,12");
        assert_eq!(lines[2], "\"ftp://x, y\",,false,invalid_url,scheme `ftp`,,0,,0");
    }

    #[test]
    fn json_lines_hold_one_object_per_row() {
        let rows = json_rows(false, false);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["status_code"], 200);
        assert_eq!(rows[1]["exception"], "invalid_url");
        assert_eq!(rows[1]["status_code"], serde_json::Value::Null);
        assert!(rows[0].get("ip").is_none(), "no detail fields without --details");
    }

    #[test]
    fn details_add_five_columns_empty_where_unknown() {
        let text = write_to_file(Format::Csv, true, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms,\
             ip,http_version,cert_not_after,cert_days_left,cert_issuer"
        );
        assert_eq!(
            lines[1],
            "https://a.com,200,true,,,https://www.a.com/,1,HEAD,12,\
             127.0.0.1,HTTP/1.1,2026-12-26T00:00:00Z,30,\"Sim, R1\""
        );
        assert_eq!(
            lines[2],
            "\"ftp://x, y\",,false,invalid_url,scheme `ftp`,,0,,0,,,,,"
        );
        let rows = json_rows(true, false);
        assert_eq!(rows[0]["cert_not_after"], "2026-12-26T00:00:00Z");
        assert_eq!(rows[0]["cert_days_left"], 30);
        assert_eq!(rows[0]["http_version"], "HTTP/1.1");
        assert_eq!(rows[1]["ip"], serde_json::Value::Null);
        assert_eq!(rows[1].as_object().map(|o| o.len()), Some(14));
    }

    #[test]
    fn timings_add_five_columns_after_the_details_empty_where_unknown() {
        let text = write_to_file(Format::Csv, false, true);
        let expected = [
            "url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms,\
             dns_ms,connect_ms,tls_ms,ttfb_ms,new_connections",
            "https://a.com,200,true,,,https://www.a.com/,1,HEAD,12,1,0,4,5,2",
            "\"ftp://x, y\",,false,invalid_url,scheme `ftp`,,0,,0,,,,,",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
        let both = write_to_file(Format::Csv, true, true);
        let header = both.lines().next().unwrap();
        assert!(header.ends_with("cert_issuer,dns_ms,connect_ms,tls_ms,ttfb_ms,new_connections"));
        let rows = json_rows(false, true);
        assert_eq!((&rows[0]["dns_ms"], &rows[0]["tls_ms"]), (&1.into(), &4.into()));
        assert_eq!(rows[0]["new_connections"], 2);
        assert_eq!(rows[1]["ttfb_ms"], serde_json::Value::Null);
        assert!(rows[0].get("ip").is_none(), "no detail fields without --details");
    }

    #[test]
    fn a_full_disk_is_an_output_error() {
        if !std::path::Path::new("/dev/full").exists() {
            return;
        }
        let spec = SinkSpec {
            path: Some("/dev/full".into()),
            file: None,
            append: true,
            format: Format::Csv,
            details: false,
            timings: false,
        };
        let end = write_all_records(spec, &Arc::new(Counters::default()));
        assert!(matches!(end, Err(Error::Output { .. })));
    }
}
