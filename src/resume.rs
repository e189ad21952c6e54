//! `--resume FILE`: what an earlier run of the same targets already wrote, so the next run skips
//! those URLs and appends the rest, with no URL twice and none missing.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

use crate::cli::Format;
use crate::error::{Error, Result};
use crate::record::DETAIL_COLUMNS;

/// The URLs with a row in the file, and whether the file already has content (then the new rows
/// are appended without a header).
#[derive(Debug, Default)]
pub struct Done {
    pub urls: HashSet<String>,
    pub has_content: bool,
    /// Whether the CSV header has the `--details` columns; `None` for JSON lines, whose rows
    /// name their fields, so rows with and without details mix safely.
    pub has_details: Option<bool>,
}

impl Done {
    /// A CSV must go on with the columns it has: rows of 14 fields under a header of 9 (or
    /// the reverse) would make the file unreadable.
    pub fn fits_details(self, path: &Path, details: bool) -> Result<Self> {
        let Some(has_details) = self.has_details.filter(|&has| has != details && self.has_content) else {
            return Ok(self);
        };
        let what = if has_details {
            "has the --details columns: give --details again"
        } else {
            "has no --details columns: run without --details, or resume into a new file"
        };
        Err(Error::usage("--details", format!("{} {what}", path.display())))
    }
}

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
    // A run killed mid-write may leave half a row: drop it, that URL is checked again.
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete < bytes.len() {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|source| Error::Output {
                path: path.to_path_buf(),
                source,
            })?;
        file.set_len(complete as u64).map_err(|source| Error::Output {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let text = &bytes[..complete];
    let bad = |line: usize, message: String| Error::InputContent {
        path: path.to_path_buf(),
        message: format!("line {line}: {message}"),
    };
    let mut urls = HashSet::new();
    let mut has_details = None;
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text);
            let headers = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
            if text.is_empty() {
                return Ok(Done::default());
            }
            has_details = Some(headers.iter().any(|h| h == DETAIL_COLUMNS[0]));
            let column = headers
                .iter()
                .position(|h| h == "url")
                .ok_or_else(|| bad(1, "no `url` column: not a healthcheck CSV".into()))?;
            for (i, record) in reader.records().enumerate() {
                let record = record.map_err(|e| bad(i + 2, e.to_string()))?;
                let url = record
                    .get(column)
                    .ok_or_else(|| bad(i + 2, "no `url` field".into()))?;
                urls.insert(url.to_string());
            }
        }
        Format::Jsonl => {
            #[derive(serde::Deserialize)]
            struct UrlOnly {
                url: String,
            }
            for (i, line) in text
                .split(|&b| b == b'\n')
                .enumerate()
                .filter(|(_, l)| !l.is_empty())
            {
                let row: UrlOnly = serde_json::from_slice(line).map_err(|e| bad(i + 1, e.to_string()))?;
                urls.insert(row.url);
            }
        }
    }
    Ok(Done {
        urls,
        has_content: complete > 0,
        has_details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_written_last_row_is_cut_off_and_checked_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        fs::write(
            &path,
            "url,status_code,success,exception\nhttps://a.com,200,true,\nhttps://b.c",
        )
        .unwrap();
        let done = load(&path, Format::Csv).unwrap();
        assert_eq!(done.urls, HashSet::from(["https://a.com".to_string()]));
        assert!(done.has_content);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "url,status_code,success,exception\nhttps://a.com,200,true,\n"
        );
    }

    #[test]
    fn a_missing_file_is_a_fresh_start_and_a_foreign_file_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let done = load(&dir.path().join("none.csv"), Format::Csv).unwrap();
        assert!(!done.has_content && done.urls.is_empty());
        let foreign = dir.path().join("foreign.csv");
        fs::write(&foreign, "name,age\nx,1\n").unwrap();
        let err = load(&foreign, Format::Csv).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("url"), "{err}");
    }

    #[test]
    fn json_lines_are_read_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        fs::write(
            &path,
            "{\"url\":\"https://a.com\"}\n{\"url\":\"https://b.com\"}\n",
        )
        .unwrap();
        assert_eq!(load(&path, Format::Jsonl).unwrap().urls.len(), 2);
    }

    #[test]
    fn a_csv_goes_on_with_the_columns_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.csv");
        fs::write(
            &plain,
            "url,status_code,success,exception\nhttps://a.com,200,true,\n",
        )
        .unwrap();
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
        fs::write(
            &detailed,
            "url,status_code,success,exception,ip\nhttps://a.com,200,true,,::1\n",
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
}
