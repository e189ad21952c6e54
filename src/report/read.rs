//! Reading rows back: the CSV (with its header) or JSON lines that a check wrote, from a file or
//! stdin, one row at a time, so a report on millions of rows holds none of them. The format is
//! told by the first byte (`{` starts JSON lines). A file that is not ours fails on its first bad
//! line with an error naming that line and the column at fault; columns we do not know are
//! ignored, so files with extra columns (or columns in another order) still read.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::error::Category;

use crate::error::{Error, Result};
use crate::record::OwnedRow;

/// The columns a row cannot do without; the others have defaults.
pub const REQUIRED: [&str; 4] = ["url", "status_code", "success", "exception"];

/// What a file holds, told by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

/// What a file held besides its rows: its format, and whether it has the `--details` columns
/// (a CSV's header names them; JSON lines have them when a row does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub format: Format,
    pub details: bool,
}

/// A line of the input that is not a row; the caller names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub String);

/// Open `path` (`-` for stdin) and feed every row to `each`. The only function here doing I/O.
pub fn for_each_row_in(path: &Path, each: impl FnMut(OwnedRow)) -> Result<Shape> {
    let (name, input): (PathBuf, Box<dyn BufRead>) = if path.as_os_str() == "-" {
        let stdin = io::stdin();
        if stdin.is_terminal() {
            return Err(Error::usage(
                "FILE",
                "give the CSV or JSON-lines file of a check, or pipe it in (`healthcheck ... | healthcheck report`)",
            ));
        }
        ("<stdin>".into(), Box::new(stdin.lock()))
    } else {
        let file = File::open(path).map_err(|source| Error::Input {
            path: path.to_path_buf(),
            source,
        })?;
        (path.to_path_buf(), Box::new(BufReader::new(file)))
    };
    for_each_row(input, each).map_err(|e| match e {
        ReadError::Io(source) => Error::Input { path: name, source },
        ReadError::Content(BadInput(message)) => Error::InputContent { path: name, message },
    })
}

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    Content(BadInput),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn bad(message: String) -> ReadError {
    ReadError::Content(BadInput(message))
}

/// Tell the format and feed every row of `input` to `each`, stopping at the first bad line.
pub fn for_each_row(mut input: impl BufRead, each: impl FnMut(OwnedRow)) -> Result<Shape, ReadError> {
    match detect(&mut input)? {
        None => Err(bad(
            "line 1: empty input, expected a CSV header or a JSON line".into()
        )),
        Some(Format::Csv) => csv_rows(input, each),
        Some(Format::JsonLines) => json_rows(input, each),
    }
}

/// Peek at the first byte that is not white space, without consuming anything.
fn detect(input: &mut impl BufRead) -> io::Result<Option<Format>> {
    let buffer = input.fill_buf()?;
    Ok(buffer.iter().find(|b| !b.is_ascii_whitespace()).map(|&b| {
        if b == b'{' {
            Format::JsonLines
        } else {
            Format::Csv
        }
    }))
}

/// The column that tells a file written with `--details`.
const DETAIL_COLUMN: &str = "cert_days_left";

fn csv_rows(input: impl BufRead, mut each: impl FnMut(OwnedRow)) -> Result<Shape, ReadError> {
    let mut reader = csv::Reader::from_reader(input);
    let headers = reader.headers().map_err(csv_error)?.clone();
    if let Some(missing) = REQUIRED.iter().find(|c| !headers.iter().any(|h| h == **c)) {
        let found: Vec<&str> = headers.iter().collect();
        return Err(bad(format!(
            "line 1: missing column `{missing}` (the header is `{}`; expected a CSV written by healthcheck)",
            found.join(",")
        )));
    }
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |p| p.line());
        let row = record.deserialize::<OwnedRow>(Some(&headers)).map_err(|e| {
            let column = match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => err
                    .field()
                    .and_then(|i| headers.get(i as usize))
                    .map(|name| format!(", column `{name}`")),
                _ => None,
            };
            let message = match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => err.kind().to_string(),
                other => format!("{other:?}"),
            };
            bad(format!("line {line}{}: {message}", column.unwrap_or_default()))
        })?;
        each(row);
    }
    Ok(Shape {
        format: Format::Csv,
        details: headers.iter().any(|h| h == DETAIL_COLUMN),
    })
}

/// The CSV reader's own errors: I/O, bad UTF-8, a line with the wrong number of fields.
fn csv_error(e: csv::Error) -> ReadError {
    let line = |pos: &Option<csv::Position>| pos.as_ref().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(e) => ReadError::Io(e),
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => bad(format!(
            "line {}: {len} fields where the header has {expected_len}",
            line(&pos)
        )),
        csv::ErrorKind::Utf8 { pos, .. } => bad(format!("line {}: not UTF-8 text", line(&pos))),
        other => bad(format!("{other:?}")),
    }
}

fn json_rows(input: impl BufRead, mut each: impl FnMut(OwnedRow)) -> Result<Shape, ReadError> {
    let mut details = false;
    for (i, text) in input.lines().enumerate() {
        let text = text?;
        let n = i + 1;
        if text.trim().is_empty() {
            continue;
        }
        // Which columns the line names, then the row itself: two typed passes over the line
        // cost less than building a `serde_json::Value` and converting it (a diff of two JSON
        // files of a million rows: 3.8 s of CPU, against 5.2 s).
        let not_an_object = || bad(format!("line {n}: not a JSON object"));
        if !text.trim_start().starts_with('{') {
            return Err(not_an_object());
        }
        let named: Named = serde_json::from_str(&text).map_err(|e| match e.classify() {
            Category::Syntax | Category::Eof => {
                bad(format!("line {n}, column {}: not a JSON object", e.column()))
            }
            _ => not_an_object(),
        })?;
        if let Some(missing) = named.missing() {
            return Err(bad(format!("line {n}: missing column `{missing}`")));
        }
        details |= named.cert_days_left.0;
        let row = serde_json::from_str::<OwnedRow>(&text).map_err(|e| {
            // What is wrong and where in the row; the line number is ours.
            let e = e.to_string();
            bad(format!(
                "line {n}: {}",
                e.rsplit_once(" at line ").map_or(e.as_str(), |(m, _)| m)
            ))
        })?;
        each(row);
    }
    Ok(Shape {
        format: Format::JsonLines,
        details,
    })
}

/// The columns a JSON line names, whatever their values (`null` too).
#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    url: Seen,
    #[serde(default)]
    status_code: Seen,
    #[serde(default)]
    success: Seen,
    #[serde(default)]
    exception: Seen,
    #[serde(default)]
    cert_days_left: Seen,
}

impl Named {
    fn missing(&self) -> Option<&'static str> {
        let seen = [&self.url, &self.status_code, &self.success, &self.exception];
        REQUIRED
            .into_iter()
            .zip(seen)
            .find(|(_, seen)| !seen.0)
            .map(|(name, _)| name)
    }
}

/// Whether a field was there: its value is skipped, not read.
#[derive(Default)]
struct Seen(bool);

impl<'de> Deserialize<'de> for Seen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(Seen(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorKind;

    fn read(text: &str) -> Result<Vec<OwnedRow>, String> {
        let mut rows = Vec::new();
        for_each_row(text.as_bytes(), |row| rows.push(row)).map_err(|e| match e {
            ReadError::Content(BadInput(m)) => m,
            ReadError::Io(e) => panic!("no I/O error from a slice: {e}"),
        })?;
        Ok(rows)
    }

    const CSV: &str = "\
url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms
https://a.com,200,true,,,https://a.com/,0,HEAD,12
https://b.com,,false,timeout,deadline,,0,HEAD,5000
";

    #[test]
    fn a_csv_of_ours_reads_back() {
        let rows = read(CSV).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].status_code, rows[0].success, rows[0].elapsed_ms),
            (Some(200), true, Some(12))
        );
        assert_eq!(
            (rows[1].status_code, rows[1].exception),
            (None, Some(ErrorKind::Timeout))
        );
    }

    #[test]
    fn extra_and_reordered_columns_are_fine_and_only_four_are_needed() {
        let rows = read("exception,note,success,url,status_code\n,hi,true,https://a.com,200\n").unwrap();
        assert_eq!((rows[0].status_code, rows[0].elapsed_ms), (Some(200), None));
    }

    #[test]
    fn the_detail_columns_read_back_and_empty_ones_are_none() {
        let text = "\
url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms,ip,http_version,cert_not_after,cert_days_left,cert_issuer
https://a.com,200,true,,,https://a.com/,0,HEAD,12,::1,HTTP/1.1,2026-12-26T00:00:00Z,-3,\"Sim, R1\"
http://b.com,200,true,,,http://b.com/,0,HEAD,5,127.0.0.1,HTTP/1.1,,,
";
        let rows = read(text).unwrap();
        assert_eq!(rows[0].ip, Some("::1".parse().unwrap()));
        assert_eq!(rows[0].http_version, Some(crate::record::HttpVersion::Http11));
        assert_eq!(rows[0].cert_not_after.as_deref(), Some("2026-12-26T00:00:00Z"));
        assert_eq!(
            (rows[0].cert_days_left, rows[0].cert_issuer.as_deref()),
            (Some(-3), Some("Sim, R1"))
        );
        assert_eq!(
            (rows[1].cert_days_left, rows[1].cert_issuer.as_deref()),
            (None, None)
        );
        let bad = text.replace("::1", "nowhere");
        assert_eq!(read(&bad).unwrap_err(), "line 2: invalid IP address syntax");
    }

    #[test]
    fn json_lines_are_detected_and_read() {
        let text = concat!(
            r#"{"url":"https://a.com","status_code":404,"success":false,"exception":null,"elapsed_ms":7}"#,
            "\n\n",
            r#"{"url":"x","status_code":null,"success":false,"exception":"invalid_url","extra":1}"#,
            "\n"
        );
        let rows = read(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].status_code, rows[0].elapsed_ms), (Some(404), Some(7)));
        assert_eq!(rows[1].exception, Some(ErrorKind::InvalidUrl));
    }

    #[test]
    fn a_missing_column_is_named_with_its_line() {
        assert_eq!(
            read("url,success,exception\nhttps://a.com,true,\n").unwrap_err(),
            "line 1: missing column `status_code` (the header is `url,success,exception`; \
             expected a CSV written by healthcheck)"
        );
        assert_eq!(
            read("{\"url\":\"a\",\"success\":true,\"exception\":null}\n").unwrap_err(),
            "line 1: missing column `status_code`"
        );
    }

    #[test]
    fn a_malformed_line_is_named() {
        let text = format!("{CSV}https://c.com,abc,false,,,,0,HEAD,1\n");
        assert_eq!(
            read(&text).unwrap_err(),
            "line 4, column `status_code`: invalid digit found in string"
        );
        let text = format!("{CSV}https://c.com,200\n");
        assert_eq!(
            read(&text).unwrap_err(),
            "line 4: 2 fields where the header has 9"
        );
        let text = format!("{CSV}https://c.com,,false,meltdown,,,0,HEAD,1\n");
        let err = read(&text).unwrap_err();
        assert!(
            err.starts_with("line 4: unknown variant `meltdown`, expected one of `timeout`"),
            "{err}"
        );
        let err = read("{\"url\":\"a\"}\n{oops\n").unwrap_err();
        assert_eq!(err, "line 1: missing column `status_code`");
        let err = read("{\"url\":\"a\",\"status_code\":200,\"success\":true,\"exception\":null}\n{oops\n")
            .unwrap_err();
        assert_eq!(err, "line 2, column 2: not a JSON object");
    }

    #[test]
    fn a_json_line_of_the_wrong_shape_or_type_is_named() {
        let wrong = r#"{"url":"a","status_code":"x","success":true,"exception":null}"#;
        assert_eq!(
            read(wrong).unwrap_err(),
            "line 1: invalid type: string \"x\", expected u16"
        );
        let five = "[1, 2, 3, 4, 5]\n";
        assert_eq!(
            read(&format!("{{\"x\":1}}\n{five}")).unwrap_err(),
            "line 1: missing column `url`"
        );
        let ok = r#"{"url":"a","status_code":null,"success":false,"exception":"dns"}"#;
        assert_eq!(
            read(&format!("{ok}\n{five}")).unwrap_err(),
            "line 2: not a JSON object"
        );
        assert_eq!(
            read(&format!("{ok}\n\"text\"\n")).unwrap_err(),
            "line 2: not a JSON object"
        );
    }

    #[test]
    fn the_shape_says_whether_the_file_has_the_detail_columns() {
        let shape = |text: &str| for_each_row(text.as_bytes(), |_| {}).unwrap();
        assert!(!shape(CSV).details);
        let detailed = "url,status_code,success,exception,ip,cert_days_left\nhttps://a.com,,false,dns,,\n";
        assert_eq!(
            shape(detailed),
            Shape {
                format: Format::Csv,
                details: true
            }
        );
        let json = r#"{"url":"a","status_code":null,"success":false,"exception":"dns"}"#;
        assert!(!shape(json).details);
        let json =
            r#"{"url":"a","status_code":null,"success":false,"exception":"dns","cert_days_left":null}"#;
        assert_eq!(
            shape(json),
            Shape {
                format: Format::JsonLines,
                details: true
            }
        );
    }

    #[test]
    fn empty_input_is_an_error_and_a_bare_header_is_no_rows() {
        assert!(read("").unwrap_err().contains("empty input"));
        assert_eq!(read("url,status_code,success,exception\n").unwrap(), []);
    }
}
