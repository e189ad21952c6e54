//! `--resume FILE`: what an earlier run of the same targets already wrote, so the next run skips
//! those URLs and appends the rest, with no URL twice and none missing.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

use crate::check::sink::Format;
use crate::error::{Error, Result};
use crate::record::{ErrorKind, COLUMNS, DETAIL_COLUMNS, TIMING_COLUMNS};

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
fn headers() -> impl Iterator<Item = (Vec<&'static str>, bool, bool)> {
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

/// Read FILE, refusing anything this tool did not write, and change nothing yet.
pub fn load(path: &Path, format: Format) -> Result<Done> {
    let bytes = match fs::read(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Done::default()),
        Err(source) => {
            return Err(Error::Input {
                path: path.to_path_buf(),
                source,
            })
        }
        Ok(bytes) => bytes,
    };
    let bad = |line: u64, message: String| Error::InputContent {
        path: path.to_path_buf(),
        message: format!("line {line}: {message}"),
    };
    // A run killed mid-write may leave half a row: drop it, that URL is checked again.
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete == 0 {
        if !half_written_start(&bytes, format) {
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
            let header = reader.headers().map_err(|e| bad(1, e.to_string()))?;
            let Some((_, details, timings)) =
                headers().find(|(known, ..)| header.iter().eq(known.iter().copied()))
            else {
                return Err(bad(1, not_ours(format)));
            };
            (has_details, has_timings) = (Some(details), Some(timings));
            let column = |name| COLUMNS.iter().position(|c| *c == name).expect("a column");
            let (url, exception) = (column("url"), column("exception"));
            let mut start = reader.position().clone();
            kept.ranges.push(0..start.byte() as usize);
            let mut record = csv::StringRecord::new();
            while reader
                .read_record(&mut record)
                .map_err(|e| bad(start.line(), e.to_string()))?
            {
                let kind = parse_kind(&record[exception]).map_err(|e| bad(start.line(), e))?;
                let end = reader.position().clone();
                kept.row(&record[url], kind, start.byte() as usize..end.byte() as usize);
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
                let url = row["url"].as_str();
                let exception = match &row["exception"] {
                    serde_json::Value::Null => Some(""),
                    other => other.as_str(),
                };
                let (Some(url), Some(exception)) = (url, exception) else {
                    return Err(foreign("`url` or `exception` is not text".into()));
                };
                let kind = parse_kind(exception).map_err(|e| bad(number, e))?;
                kept.row(url, kind, range);
            }
        }
    }
    Ok(Done {
        edit: edit(&bytes, &kept.ranges),
        urls: kept.urls,
        has_content: true,
        has_details,
        has_timings,
    })
}

/// The rows that stay in the file: their URLs, and their bytes (with the header's).
#[derive(Default)]
struct Kept {
    urls: HashSet<String>,
    ranges: Vec<Range<usize>>,
}

impl Kept {
    fn row(&mut self, url: &str, exception: Option<ErrorKind>, bytes: Range<usize>) {
        if !exception.is_some_and(ErrorKind::is_about_the_run) {
            self.urls.insert(url.to_string());
            self.ranges.push(bytes);
        }
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
        Format::Csv => headers().any(|(header, ..)| header.join(",").as_bytes().starts_with(bytes)),
        Format::Jsonl => br#"{"url":"#.starts_with(bytes) || bytes.starts_with(br#"{"url":"#),
    }
}

/// The `exception` field: empty, or one of the kinds.
fn parse_kind(field: &str) -> Result<Option<ErrorKind>, String> {
    (!field.is_empty()).then(|| field.parse()).transpose()
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

/// Make `edit` to FILE in place (the file keeps its inode, owner and links).
pub fn apply(path: &Path, edit: &Edit) -> Result<()> {
    let failed = |source| Error::Output {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new().write(true).open(path).map_err(failed)?;
    file.seek(SeekFrom::Start(edit.at)).map_err(failed)?;
    file.write_all(&edit.tail).map_err(failed)?;
    file.set_len(edit.at + edit.tail.len() as u64).map_err(failed)?;
    file.sync_data().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms\n";

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
        let done = load(&path, Format::Csv).unwrap();
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
        apply(&path, &edit).unwrap();
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
        let done = load(&path, Format::Csv).unwrap();
        let urls: HashSet<String> = ["https://a.com", "https://c.com"].map(String::from).into();
        assert_eq!(done.urls, urls);
        apply(&path, &done.edit.unwrap()).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{HEADER}{a}{c}"));
        let again = load(&path, Format::Csv).unwrap();
        assert!(again.edit.is_none() && again.urls.len() == 2);
    }

    #[test]
    fn a_missing_file_is_a_fresh_start_and_a_foreign_file_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let done = load(&dir.path().join("none.csv"), Format::Csv).unwrap();
        assert!(!done.has_content && done.urls.is_empty());
        for (text, format) in [
            ("name,age\nx,1\n", Format::Csv),
            ("url,note\nhttps://a.com,mine\n", Format::Csv),
            ("notes without a newline", Format::Csv),
            ("{\"url\":\"https://a.com\"}\n", Format::Jsonl),
            ("plain text\n", Format::Jsonl),
        ] {
            let path = file(&dir, "foreign", text);
            let err = load(&path, format).unwrap_err().to_string();
            assert!(err.contains("line 1") && err.contains("healthcheck"), "{err}");
        }
        let half_header = file(&dir, "half.csv", "url,status_co");
        assert!(!load(&half_header, Format::Csv).unwrap().has_content);
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
        let done = load(&path, Format::Jsonl).unwrap();
        assert_eq!(done.urls.len(), 2);
        apply(&path, &done.edit.unwrap()).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), kept);
    }

    #[test]
    fn a_csv_goes_on_with_the_columns_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.csv");
        let row = "https://a.com,200,true,,,https://a.com/,0,HEAD,12";
        fs::write(&plain, format!("{}\n{row}\n", COLUMNS.join(","))).unwrap();
        assert!(load(&plain, Format::Csv)
            .unwrap()
            .fits_details(&plain, false)
            .is_ok());
        let err = load(&plain, Format::Csv)
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
        assert!(load(&detailed, Format::Csv)
            .unwrap()
            .fits_details(&detailed, false)
            .is_err());
        assert!(load(&detailed, Format::Csv)
            .unwrap()
            .fits_details(&detailed, true)
            .is_ok());
        let fresh = dir.path().join("fresh.csv");
        assert!(load(&fresh, Format::Csv)
            .unwrap()
            .fits_details(&fresh, true)
            .is_ok());
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
                load(&path, Format::Csv)
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
            assert!(!load(&half, Format::Csv).unwrap().has_content, "{details}");
        }
        let plain = dir.path().join("plain.csv");
        fs::write(&plain, format!("{}\n{row}\n", COLUMNS.join(","))).unwrap();
        let err = load(&plain, Format::Csv)
            .unwrap()
            .fits_timings(&plain, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no --timings columns"), "{err}");
    }
}
