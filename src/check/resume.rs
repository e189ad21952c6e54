//! `--resume FILE`: what an earlier run of the same targets already wrote, so the next run skips
//! those URLs and appends the rest, with no URL twice and none missing. FILE is read through the
//! handle that holds its lock (`lock`), so no other run writes it meanwhile, and it may end
//! anywhere a crash left it: mid-row, mid-field, just after a newline inside a quoted field.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

use crate::check::sink::Format;
use crate::check::summary::Tally;
use crate::error::{Error, Result};
use crate::record::{OwnedRow, COLUMNS, DETAIL_COLUMNS, TIMING_COLUMNS};

/// The URLs with a row in the file, whether the file already has content (then the new rows
/// are appended without a header), and what must change in it first.
#[derive(Debug, Default)]
pub struct Done {
    pub urls: HashSet<String>,
    pub has_content: bool,
    /// Made just before the run appends, once every input was validated.
    pub edit: Option<Edit>,
    /// Whether the CSV header has the `--details` columns; `None` for JSON lines, whose rows
    /// name their fields, so rows with and without details mix safely.
    pub has_details: Option<bool>,
    /// Whether the CSV header has the `--timings` columns; `None` for JSON lines.
    pub has_timings: Option<bool>,
    /// The rows that stay, counted as the writer counts its own: the summary covers the file.
    pub tally: Tally,
    /// Rows that go (about the run: `local`, `cancelled`), and whether a torn last row goes too.
    pub dropped: u64,
    pub torn: bool,
}

impl Done {
    /// A CSV must go on with the columns it has: rows of 14 fields under a header of 9 (or
    /// the reverse) would make the file unreadable.
    pub fn fits_details(self, path: &Path, details: bool) -> Result<Self> {
        let has = self.has_details;
        self.fits("--details", has, details, path)
    }

    /// As `fits_details`, for the `--timings` columns.
    pub fn fits_timings(self, path: &Path, timings: bool) -> Result<Self> {
        let has = self.has_timings;
        self.fits("--timings", has, timings, path)
    }

    fn fits(self, flag: &'static str, has: Option<bool>, wants: bool, path: &Path) -> Result<Self> {
        let Some(has) = has.filter(|&has| has != wants && self.has_content) else {
            return Ok(self);
        };
        let what = if has {
            format!("has the {flag} columns: give {flag} again")
        } else {
            format!("has no {flag} columns: run without {flag}, or resume into a new file")
        };
        Err(Error::usage(flag, format!("{} {what}", path.display())))
    }
}

/// The CSV headers this tool writes: the columns, then the optional ones in order, with
/// whether each set of optional columns is there (`--details`, `--timings`).
fn known_headers() -> impl Iterator<Item = (Vec<&'static str>, bool, bool)> {
    [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .map(|(details, timings)| {
            let details_columns: &[&str] = if details { &DETAIL_COLUMNS } else { &[] };
            let timing_columns: &[&str] = if timings { &TIMING_COLUMNS } else { &[] };
            let header = COLUMNS
                .iter()
                .chain(details_columns)
                .chain(timing_columns)
                .copied()
                .collect();
            (header, details, timings)
        })
}

/// From byte `at` on, the file's content becomes `tail`: a half-written last row is dropped,
/// and so are rows about the run rather than the URL (`local`, `cancelled`), whose URLs are
/// checked again, so that every URL keeps exactly one row.
#[derive(Debug, PartialEq, Eq)]
pub struct Edit {
    pub at: u64,
    pub tail: Vec<u8>,
}

/// Read the `bytes` of FILE (`path` names it in errors), refusing anything this tool did not
/// write, and change nothing yet.
pub fn load(path: &Path, bytes: &[u8], format: Format) -> Result<Done> {
    if bytes.is_empty() {
        return Ok(Done::default());
    }
    let bad = |line: u64, message: String| Error::InputContent {
        path: path.to_path_buf(),
        message: format!("line {line}: {message}"),
    };
    // A run killed mid-write may leave half a row: drop it, that URL is checked again.
    let complete = whole_rows(bytes, format);
    if complete == 0 {
        if !half_written_start(bytes, format) {
            return Err(bad(1, not_ours(format)));
        }
        return Ok(Done::default());
    }
    let text = &bytes[..complete];
    let mut kept = Kept::default();
    let (mut has_details, mut has_timings) = (None, None);
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().from_reader(text);
            let headers = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
            let Some((_, details, timings)) =
                known_headers().find(|(known, ..)| headers.iter().eq(known.iter().copied()))
            else {
                return Err(bad(1, not_ours(format)));
            };
            (has_details, has_timings) = (Some(details), Some(timings));
            let mut start = reader.position().clone();
            kept.ranges.push(0..start.byte() as usize);
            let mut record = csv::StringRecord::new();
            while reader
                .read_record(&mut record)
                .map_err(|e| bad(start.line(), e.to_string()))?
            {
                let row: OwnedRow = record
                    .deserialize(Some(&headers))
                    .map_err(|e| bad(start.line(), e.to_string()))?;
                let end = reader.position().clone();
                kept.row(row, start.byte() as usize..end.byte() as usize);
                start = end;
            }
        }
        Format::Jsonl => {
            let mut at = 0;
            for (i, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
                let range = at..at + line.len();
                at = range.end;
                if line.trim_ascii().is_empty() {
                    kept.ranges.push(range);
                    continue;
                }
                let number = i as u64 + 1;
                let foreign = |what: String| bad(number, format!("{what}; {}", not_ours(format)));
                let row: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(line).map_err(|e| foreign(e.to_string()))?;
                if let Some(missing) = COLUMNS.iter().find(|c| !row.contains_key(**c)) {
                    return Err(foreign(format!("no `{missing}` field")));
                }
                let (url, exception) = (&row["url"], &row["exception"]);
                if !url.is_string() || !(exception.is_string() || exception.is_null()) {
                    return Err(foreign("`url` or `exception` is not text".into()));
                }
                let row: OwnedRow = serde_json::from_value(serde_json::Value::Object(row))
                    .map_err(|e| bad(number, e.to_string()))?;
                kept.row(row, range);
            }
        }
    }
    Ok(Done {
        edit: edit(bytes, &kept.ranges),
        urls: kept.urls,
        has_content: true,
        has_details,
        has_timings,
        tally: kept.tally,
        dropped: kept.dropped,
        torn: complete < bytes.len(),
    })
}

/// How many bytes of whole rows `bytes` starts with: up to the last newline that ends a row.
/// In a CSV, that is the last newline outside quotes, because a quoted field may hold newlines
/// and a crash may cut the file just after one. (The writer quotes every field holding a `"`
/// and doubles the quotes in it, so an odd count of quotes means a field is still open.) JSON
/// escapes newlines in strings: there, any newline ends a row.
fn whole_rows(bytes: &[u8], format: Format) -> usize {
    match format {
        Format::Jsonl => bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1),
        Format::Csv => {
            let (mut quoted, mut end) = (false, 0);
            for (i, &b) in bytes.iter().enumerate() {
                match b {
                    b'"' => quoted = !quoted,
                    b'\n' if !quoted => end = i + 1,
                    _ => {}
                }
            }
            end
        }
    }
}

/// The rows that stay in the file: their URLs, their bytes (with the header's) and their
/// counts; and how many go.
#[derive(Default)]
struct Kept {
    urls: HashSet<String>,
    ranges: Vec<Range<usize>>,
    tally: Tally,
    dropped: u64,
}

impl Kept {
    fn row(&mut self, row: OwnedRow, bytes: Range<usize>) {
        if row.exception.is_some_and(|kind| kind.is_about_the_run()) {
            self.dropped += 1;
            return;
        }
        self.tally.add_row(&row);
        self.urls.insert(row.url);
        self.ranges.push(bytes);
    }
}

/// What a file that this tool did not write is told.
fn not_ours(format: Format) -> String {
    match format {
        Format::Csv => format!(
            "not a healthcheck CSV (expected the header `{}`); --resume only appends to a file this tool wrote",
            COLUMNS.join(",")
        ),
        Format::Jsonl => "not healthcheck JSON lines; --resume only appends to a file this tool wrote".into(),
    }
}

/// Whether a file without one whole line is the start of this tool's output, cut short.
fn half_written_start(bytes: &[u8], format: Format) -> bool {
    match format {
        Format::Csv => known_headers().any(|(header, ..)| header.join(",").as_bytes().starts_with(bytes)),
        Format::Jsonl => br#"{"url":"#.starts_with(bytes) || bytes.starts_with(br#"{"url":"#),
    }
}

/// The edit that leaves only the `keep` ranges (in order) of `bytes`; `None` when that is all.
fn edit(bytes: &[u8], keep: &[Range<usize>]) -> Option<Edit> {
    let unchanged = keep
        .iter()
        .scan(0, |end, r| {
            (r.start == *end).then(|| {
                *end = r.end;
                r.end
            })
        })
        .last()
        .unwrap_or(0);
    if unchanged == bytes.len() {
        return None;
    }
    let tail = keep
        .iter()
        .filter(|r| r.start >= unchanged)
        .flat_map(|r| &bytes[r.clone()])
        .copied()
        .collect();
    Some(Edit {
        at: unchanged as u64,
        tail,
    })
}

/// Make `edit` to FILE (open as `file`) in place: it keeps its inode, owner and links. Cut
/// first, then write the rows that stay: a crash in between leaves whole rows and at most one
/// torn one, never a kept row twice; a row lost that way is only a URL checked again.
pub fn apply(path: &Path, mut file: &File, edit: &Edit) -> Result<()> {
    let failed = |source| Error::Output {
        path: path.to_path_buf(),
        source,
    };
    file.set_len(edit.at).map_err(failed)?;
    file.seek(SeekFrom::Start(edit.at)).map_err(failed)?;
    file.write_all(&edit.tail).map_err(failed)?;
    file.sync_data().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, Method, Outcome, Record};
    use std::fs;

    const HEADER: &str =
        "url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms\n";

    /// `load` over the file at `path`, as the set-up reads it (missing: empty).
    fn read(path: &Path, format: Format) -> Result<Done> {
        load(path, &fs::read(path).unwrap_or_default(), format)
    }

    fn edit_file(path: &Path, edit: &Edit) -> Result<()> {
        apply(
            path,
            &fs::OpenOptions::new().write(true).open(path).unwrap(),
            edit,
        )
    }

    fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_half_written_last_row_is_cut_off_and_checked_again() {
        let dir = tempfile::tempdir().unwrap();
        let whole = format!("{HEADER}https://a.com,200,true,,,https://a.com/,0,HEAD,3\n");
        let path = file(&dir, "out.csv", &format!("{whole}https://b.c"));
        let done = read(&path, Format::Csv).unwrap();
        assert_eq!(done.urls, HashSet::from(["https://a.com".to_string()]));
        assert!(done.has_content);
        let edit = done.edit.expect("the half row goes");
        assert_eq!(
            edit,
            Edit {
                at: whole.len() as u64,
                tail: Vec::new()
            }
        );
        assert!(
            fs::read_to_string(&path).unwrap().ends_with("https://b.c"),
            "nothing changed yet"
        );
        edit_file(&path, &edit).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), whole);
    }

    #[test]
    fn rows_about_the_run_are_dropped_and_their_urls_checked_again() {
        let dir = tempfile::tempdir().unwrap();
        let a = "https://a.com,200,true,,,https://a.com/,0,HEAD,3\n";
        let local = "https://b.com,,false,local,Too many open files,,0,HEAD,0\n";
        let c = "https://c.com,,false,connect,refused,,0,HEAD,1\n";
        let cancelled = "\"https://d.com/?x=1,2\",,false,cancelled,\"panicked\nat x\",,0,,0\n";
        let path = file(&dir, "out.csv", &format!("{HEADER}{a}{local}{c}{cancelled}"));
        let done = read(&path, Format::Csv).unwrap();
        let urls: HashSet<String> = ["https://a.com", "https://c.com"].map(String::from).into();
        assert_eq!(done.urls, urls);
        edit_file(&path, &done.edit.unwrap()).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{HEADER}{a}{c}"));
        let again = read(&path, Format::Csv).unwrap();
        assert!(again.edit.is_none() && again.urls.len() == 2);
    }

    #[test]
    fn a_missing_file_is_a_fresh_start_and_a_foreign_file_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let done = read(&dir.path().join("none.csv"), Format::Csv).unwrap();
        assert!(!done.has_content && done.urls.is_empty());
        for (text, format) in [
            ("name,age\nx,1\n", Format::Csv),
            ("url,note\nhttps://a.com,mine\n", Format::Csv),
            ("notes without a newline", Format::Csv),
            ("{\"url\":\"https://a.com\"}\n", Format::Jsonl),
            ("plain text\n", Format::Jsonl),
        ] {
            let path = file(&dir, "foreign", text);
            let err = read(&path, format).unwrap_err().to_string();
            assert!(err.contains("line 1") && err.contains("healthcheck"), "{err}");
        }
        let half_header = file(&dir, "half.csv", "url,status_co");
        assert!(!read(&half_header, Format::Csv).unwrap().has_content);
    }

    #[test]
    fn json_lines_are_read_too() {
        let dir = tempfile::tempdir().unwrap();
        let row = |url: &str, exception: &str| {
            format!(
                "{{\"url\":\"{url}\",\"status_code\":null,\"success\":false,\"exception\":{exception},\
                 \"error_detail\":\"\",\"final_url\":\"\",\"redirects\":0,\"method\":null,\"elapsed_ms\":0}}\n"
            )
        };
        let kept = row("https://a.com", "\"timeout\"") + &row("https://c.com", "null");
        let path = file(
            &dir,
            "out.jsonl",
            &(kept.clone() + &row("https://b.com", "\"local\"")),
        );
        let done = read(&path, Format::Jsonl).unwrap();
        assert_eq!(done.urls.len(), 2);
        edit_file(&path, &done.edit.unwrap()).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), kept);
    }

    #[test]
    fn a_csv_goes_on_with_its_timing_columns_after_or_without_the_details() {
        let dir = tempfile::tempdir().unwrap();
        let row = "https://a.com,200,true,,,https://a.com/,0,HEAD,12";
        for details in [false, true] {
            let detail_columns: &[&str] = if details { &DETAIL_COLUMNS } else { &[] };
            let header: Vec<&str> = COLUMNS
                .iter()
                .chain(detail_columns)
                .chain(TIMING_COLUMNS.iter())
                .copied()
                .collect();
            let detail_fields = if details { ",::1,HTTP/1.1,,," } else { "" };
            let path = dir.path().join(format!("timed-{details}.csv"));
            fs::write(
                &path,
                format!("{}\n{row}{detail_fields},0,1,2,9,1\n", header.join(",")),
            )
            .unwrap();
            let fits = |d, t| {
                read(&path, Format::Csv)
                    .unwrap()
                    .fits_details(&path, d)
                    .and_then(|done| done.fits_timings(&path, t))
            };
            assert!(fits(details, true).is_ok());
            let err = fits(details, false).unwrap_err().to_string();
            assert!(err.starts_with("--timings: "), "{err}");
            assert!(
                err.contains("has the --timings columns: give --timings again"),
                "{err}"
            );
            assert!(fits(!details, true).is_err());
            let half = dir.path().join("half.csv");
            fs::write(&half, &header.join(",")[..header.join(",").len() - 3]).unwrap();
            assert!(!read(&half, Format::Csv).unwrap().has_content, "{details}");
        }
        let plain = dir.path().join("plain.csv");
        fs::write(&plain, format!("{}\n{row}\n", COLUMNS.join(","))).unwrap();
        let err = read(&plain, Format::Csv)
            .unwrap()
            .fits_timings(&plain, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no --timings columns"), "{err}");
    }

    #[test]
    fn a_csv_goes_on_with_the_columns_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.csv");
        let row = "https://a.com,200,true,,,https://a.com/,0,HEAD,12";
        fs::write(&plain, format!("{}\n{row}\n", COLUMNS.join(","))).unwrap();
        assert!(read(&plain, Format::Csv)
            .unwrap()
            .fits_details(&plain, false)
            .is_ok());
        let err = read(&plain, Format::Csv)
            .unwrap()
            .fits_details(&plain, true)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--details: "), "{err}");
        assert!(err.contains("plain.csv has no --details columns"), "{err}");
        let detailed = dir.path().join("detailed.csv");
        let header = COLUMNS
            .iter()
            .chain(DETAIL_COLUMNS.iter())
            .copied()
            .collect::<Vec<_>>();
        fs::write(
            &detailed,
            format!("{}\n{row},::1,HTTP/1.1,,,\n", header.join(",")),
        )
        .unwrap();
        assert!(read(&detailed, Format::Csv)
            .unwrap()
            .fits_details(&detailed, false)
            .is_err());
        assert!(read(&detailed, Format::Csv)
            .unwrap()
            .fits_details(&detailed, true)
            .is_ok());
        let fresh = dir.path().join("fresh.csv");
        assert!(read(&fresh, Format::Csv)
            .unwrap()
            .fits_details(&fresh, true)
            .is_ok());
    }

    /// Rows as the writer writes them, with what a crash can cut badly: quotes, commas, a
    /// newline inside a field, multi-byte text, a row about the run.
    fn written(format: Format) -> (Vec<u8>, Vec<Record>) {
        let ok = |url: &str| Record {
            outcome: Outcome::Response { status: 200 },
            success: true,
            method: Some(Method::Head),
            final_url: Some(format!("{url}/")),
            ..Record::unsent(url.into(), ErrorKind::Other, String::new())
        };
        let records = vec![
            ok("https://a.com"),
            Record::unsent(
                "https://b.com/\"q\",x".into(),
                ErrorKind::Reset,
                "reset, \"hard\"".into(),
            ),
            Record::unsent(
                "https://c.com".into(),
                ErrorKind::Other,
                "line one\nline two, ünïcode".into(),
            ),
            Record::unsent(
                "https://d.com".into(),
                ErrorKind::Local,
                "Too many open files".into(),
            ),
            ok("https://e.com/päth"),
        ];
        let mut out = Vec::new();
        if format == Format::Csv {
            out.extend_from_slice(HEADER.as_bytes());
        }
        for record in &records {
            match format {
                Format::Csv => {
                    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(&mut out);
                    w.serialize(record.row(false, false)).unwrap();
                    w.flush().unwrap();
                }
                Format::Jsonl => {
                    serde_json::to_writer(&mut out, &record.row(false, false)).unwrap();
                    out.push(b'\n');
                }
            }
        }
        (out, records)
    }

    /// After the edit, what the run appends: the header if the file has none, then a row for
    /// every URL without one (a URL about which the row was about the run now answers).
    fn finish(path: &Path, done: &Done, format: Format, records: &[Record]) {
        let mut file = fs::OpenOptions::new().append(true).open(path).unwrap();
        if !done.has_content && format == Format::Csv {
            file.write_all(HEADER.as_bytes()).unwrap();
        }
        for record in records.iter().filter(|r| !done.urls.contains(&r.url)) {
            let record = Record {
                outcome: Outcome::Response { status: 200 },
                ..record.clone()
            };
            match format {
                Format::Csv => csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(&mut file)
                    .serialize(record.row(false, false))
                    .unwrap(),
                Format::Jsonl => {
                    serde_json::to_writer(&mut file, &record.row(false, false)).unwrap();
                    file.write_all(b"\n").unwrap();
                }
            }
        }
    }

    /// The URLs of every row of a whole file, which must parse.
    fn urls_in(path: &Path, format: Format) -> Vec<String> {
        let text = fs::read(path).unwrap();
        match format {
            Format::Csv => csv::Reader::from_reader(&text[..])
                .deserialize::<OwnedRow>()
                .map(|r| r.expect("a whole row").url)
                .collect(),
            Format::Jsonl => text
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice::<OwnedRow>(l).expect("a whole row").url)
                .collect(),
        }
    }

    #[test]
    fn a_file_cut_at_any_byte_resumes_to_one_row_per_url() {
        // A thousand edits, each synced: in memory where the machine has it.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let path = dir.path().join("out");
        for format in [Format::Csv, Format::Jsonl] {
            let (full, records) = written(format);
            let mut all: Vec<String> = records.iter().map(|r| r.url.clone()).collect();
            all.sort();
            for cut in 0..=full.len() {
                fs::write(&path, &full[..cut]).unwrap();
                let done = read(&path, format).unwrap_or_else(|e| panic!("{format:?} cut at {cut}: {e}"));
                assert_eq!(
                    done.tally.total,
                    done.urls.len() as u64,
                    "{format:?} cut at {cut}"
                );
                if let Some(edit) = &done.edit {
                    edit_file(&path, edit).unwrap();
                } else if !done.has_content {
                    fs::write(&path, "").unwrap(); // the writer truncates
                }
                finish(&path, &done, format, &records);
                let mut urls = urls_in(&path, format);
                urls.sort();
                assert_eq!(
                    urls,
                    all,
                    "{format:?} cut at {cut}: {:?}",
                    String::from_utf8_lossy(&full[..cut])
                );
            }
        }
    }

    #[test]
    fn a_cut_just_after_a_newline_inside_a_quoted_field_drops_that_row() {
        let (full, _) = written(Format::Csv);
        let inside = full.windows(9).position(|w| w == b"line one\n").unwrap() + 9;
        let row_start = full[..inside - 1].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        assert_eq!(whole_rows(&full[..inside], Format::Csv), row_start);
        assert_eq!(whole_rows(&full, Format::Csv), full.len());
    }

    #[test]
    fn the_kept_rows_are_counted_and_the_dropped_ones_said() {
        let dir = tempfile::tempdir().unwrap();
        let (full, _) = written(Format::Csv);
        let path = dir.path().join("out.csv");
        fs::write(&path, &full[..full.len() - 3]).unwrap();
        let done = read(&path, Format::Csv).unwrap();
        assert_eq!((done.tally.total, done.tally.successful), (3, 1));
        assert_eq!(done.tally.by_exception.get(&ErrorKind::Reset), Some(&1));
        assert_eq!(done.tally.by_status.get(&200), Some(&1));
        assert_eq!((done.dropped, done.torn), (1, true));
    }
}
