//! One sitemap document as it is read: quick-xml's pull reader over a buffered reader (gunzipped
//! when the bytes start as gzip does), the `<loc>` of each entry one at a time, and where the
//! reader is (line and column) for an error.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};

use quick_xml::events::{BytesRef, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

use super::{SitemapError, Source, BUFFER};

/// The namespace of sitemaps and sitemap indexes; elements without one are taken as well.
const SITEMAP_NS: &[u8] = b"http://www.sitemaps.org/schemas/sitemap/0.9";
/// The longest element or text accepted: a `<loc>` is at most 2,048 characters by the
/// protocol, and without a bound one endless text (a gzip bomb, say) would fill memory.
const MOST_EVENT: u64 = 1 << 20;

/// What a sitemap lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `<urlset>`: pages.
    Pages,
    /// `<sitemapindex>`: sitemaps.
    Index,
}

/// One sitemap being read.
pub(super) struct Document {
    pub(super) name: String,
    reader: NsReader<Tracked<Source>>,
    pub(super) kind: Option<Kind>,
    /// Open elements.
    depth: usize,
    /// Inside a `<url>` (`<sitemap>` of an index) at depth 2.
    in_entry: bool,
    /// The text of the `<loc>` being read.
    loc: Option<String>,
}

impl Document {
    /// Start reading `source`, gunzipping it if it is gzip.
    pub(super) fn new(name: String, mut source: Source) -> std::result::Result<Document, SitemapError> {
        let gzip = source
            .fill_buf()
            .map_err(|e| SitemapError {
                name: name.clone(),
                message: format!("cannot read: {e}"),
            })?
            .starts_with(&[0x1f, 0x8b]);
        if gzip {
            source = Box::new(BufReader::with_capacity(
                BUFFER,
                flate2::read::MultiGzDecoder::new(source),
            ));
        }
        let mut reader = NsReader::from_reader(Tracked::new(source));
        reader.config_mut().check_end_names = true;
        Ok(Document {
            name,
            reader,
            kind: None,
            depth: 0,
            in_entry: false,
            loc: None,
        })
    }

    /// Where the reader is, as `line L, column C`.
    pub(super) fn position(&self) -> String {
        self.reader.get_ref().line_column(self.reader.buffer_position())
    }

    fn error(&self, at: u64, message: impl std::fmt::Display) -> SitemapError {
        SitemapError {
            name: self.name.clone(),
            message: format!("{}: {message}", self.reader.get_ref().line_column(at)),
        }
    }

    /// The text of the next `<loc>` of an entry, `None` at the end of the document.
    pub(super) fn next_loc(&mut self) -> std::result::Result<Option<String>, SitemapError> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let start = self.reader.buffer_position();
            let (ns, event) = match self.reader.read_resolved_event_into(&mut buf) {
                Ok(read) => read,
                Err(e) => {
                    let at = self.reader.error_position();
                    return Err(self.error(at, format!("not a well-formed sitemap: {e}")));
                }
            };
            let ours = matches!(ns, ResolveResult::Unbound)
                || matches!(ns, ResolveResult::Bound(Namespace(ns)) if ns == SITEMAP_NS);
            let found = match event {
                Event::Start(e) => {
                    let local = e.local_name().as_ref().to_vec();
                    self.open_element(ours, &local, start)?;
                    None
                }
                Event::Empty(e) => {
                    let local = e.local_name().as_ref().to_vec();
                    self.open_element(ours, &local, start)?;
                    self.close_element()
                }
                Event::End(_) => self.close_element(),
                // Text outside a `<loc>` (whitespace, `<lastmod>`) is not even decoded.
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) if self.loc.is_none() => None,
                Event::Text(text) => {
                    let text = text.decode().map_err(|e| self.error(start, e))?.into_owned();
                    self.push_text(&text, start)?;
                    None
                }
                Event::CData(text) => {
                    let text = text.decode().map_err(|e| self.error(start, e))?.into_owned();
                    self.push_text(&text, start)?;
                    None
                }
                Event::GeneralRef(reference) => {
                    let text = resolve(&reference).ok_or_else(|| {
                        self.error(
                            start,
                            format!("unknown entity &{};", String::from_utf8_lossy(&reference)),
                        )
                    })?;
                    self.push_text(&text.to_string(), start)?;
                    None
                }
                Event::Eof => {
                    return match (self.kind, self.depth) {
                        (None, _) => Err(self.error(start, "no <urlset> or <sitemapindex>: not a sitemap")),
                        (Some(_), 0) => Ok(None),
                        (Some(_), _) => {
                            Err(self.error(start, "the sitemap ends before its last element is closed"))
                        }
                    };
                }
                // Declarations, comments, processing instructions.
                _ => None,
            };
            self.reader.get_mut().event_read();
            if found.is_some() {
                return Ok(found);
            }
        }
    }

    fn open_element(&mut self, ours: bool, local: &[u8], at: u64) -> std::result::Result<(), SitemapError> {
        self.depth += 1;
        match self.depth {
            1 => {
                self.kind = match local {
                    b"urlset" if ours => Some(Kind::Pages),
                    b"sitemapindex" if ours => Some(Kind::Index),
                    _ => {
                        return Err(self.error(
                            at,
                            format!(
                                "not a sitemap: the root element is <{}>, not <urlset> or <sitemapindex>",
                                String::from_utf8_lossy(local)
                            ),
                        ))
                    }
                }
            }
            2 => {
                let entry: &[u8] = match self.kind {
                    Some(Kind::Index) => b"sitemap",
                    _ => b"url",
                };
                self.in_entry = ours && local == entry;
            }
            3 if self.in_entry && ours && local == b"loc" => self.loc = Some(String::new()),
            _ => {}
        }
        Ok(())
    }

    /// Close the innermost element; the `<loc>` text when it was one.
    fn close_element(&mut self) -> Option<String> {
        self.depth = self.depth.saturating_sub(1);
        match self.depth {
            2 => self.loc.take().map(|loc| loc.trim().to_string()),
            1 => {
                self.in_entry = false;
                None
            }
            _ => None,
        }
    }

    fn push_text(&mut self, text: &str, at: u64) -> std::result::Result<(), SitemapError> {
        if let Some(loc) = &mut self.loc {
            loc.push_str(text);
            if loc.len() as u64 > MOST_EVENT {
                return Err(self.error(at, "a <loc> of over 1 MiB"));
            }
        }
        Ok(())
    }
}

/// The text of a character reference or one of XML's five named entities.
fn resolve(reference: &BytesRef<'_>) -> Option<char> {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        return Some(c);
    }
    match &**reference {
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        _ => None,
    }
}

/// The reader under the XML parser: counts lines as bytes are consumed, so an error can say its
/// line and column, and refuses to go on once one element or text passes `MOST_EVENT`.
struct Tracked<R> {
    inner: R,
    consumed: u64,
    /// Newlines consumed so far.
    lines: u64,
    /// Where the most recent newlines are, so an error a little behind the reader finds its line.
    recent: VecDeque<u64>,
    /// Where the last event ended.
    mark: u64,
}

/// Newline offsets kept for `Tracked::line_column`.
const RECENT_LINES: usize = 4096;

impl<R: BufRead> Tracked<R> {
    fn new(inner: R) -> Self {
        Tracked {
            inner,
            consumed: 0,
            lines: 0,
            recent: VecDeque::new(),
            mark: 0,
        }
    }

    fn event_read(&mut self) {
        self.mark = self.consumed;
    }

    /// `line L, column C` (from 1) of byte `at`, at most a few thousand lines behind the reader.
    fn line_column(&self, at: u64) -> String {
        let after = self.recent.iter().rev().take_while(|&&nl| nl >= at).count() as u64;
        let line = self.lines - after + 1;
        let line_start = self
            .recent
            .iter()
            .rev()
            .find(|&&nl| nl < at)
            .map_or(0, |nl| nl + 1);
        format!("line {line}, column {}", at.saturating_sub(line_start) + 1)
    }
}

impl<R: BufRead> Read for Tracked<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tracked<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.consumed - self.mark > MOST_EVENT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "an element or text of over 1 MiB",
            ));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if amt > 0 {
            // The bytes are still in the buffer: `consume` follows the `fill_buf` that gave them.
            if let Ok(buf) = self.inner.fill_buf() {
                for (i, _) in buf[..amt.min(buf.len())]
                    .iter()
                    .enumerate()
                    .filter(|(_, &b)| b == b'\n')
                {
                    self.lines += 1;
                    if self.recent.len() == RECENT_LINES {
                        self.recent.pop_front();
                    }
                    self.recent.push_back(self.consumed + i as u64);
                }
            }
        }
        self.consumed += amt as u64;
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locs(text: &str) -> Result<Vec<String>, String> {
        let mut doc = Document::new(
            "t.xml".into(),
            Box::new(io::Cursor::new(text.as_bytes().to_vec())),
        )
        .map_err(|e| e.to_string())?;
        let mut found = Vec::new();
        while let Some(loc) = doc.next_loc().map_err(|e| e.to_string())? {
            found.push(loc);
        }
        Ok(found)
    }

    #[test]
    fn only_the_locs_of_entries_count_decoded_and_trimmed() {
        let text = r#"<?xml version="1.0"?>
<!-- a comment -->
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url><loc>
    https://a.test/?x=1&amp;y=&#50;</loc><image:image><image:loc>https://a.test/i.png</image:loc></image:image></url>
  <url><lastmod>2026-01-01</lastmod><loc><![CDATA[https://a.test/b]]></loc></url>
  <loc>https://a.test/not-in-an-entry</loc>
</urlset>"#;
        assert_eq!(
            locs(text).unwrap(),
            ["https://a.test/?x=1&y=2", "https://a.test/b"]
        );
        let index = "<sitemapindex><sitemap><loc>https://a.test/s1.xml</loc></sitemap></sitemapindex>";
        assert_eq!(locs(index).unwrap(), ["https://a.test/s1.xml"]);
        assert_eq!(locs("<urlset/>").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn errors_say_the_line_and_column() {
        let err = locs("<urlset>\n  <url><loc>a</loc></url>\n  <url><loc>b</loc></urx>\n").unwrap_err();
        assert!(
            err.starts_with("t.xml: line 3, column 20: not a well-formed sitemap"),
            "{err}"
        );
        let err = locs("\n\n<html></html>").unwrap_err();
        assert!(
            err.starts_with("t.xml: line 3, column 1: not a sitemap: the root element is <html>"),
            "{err}"
        );
        let err = locs("<urlset><url><loc>a</loc></url>").unwrap_err();
        assert!(err.contains("ends before its last element is closed"), "{err}");
        assert!(locs("<urlset><url><loc>&nbsp;</loc></url></urlset>")
            .unwrap_err()
            .contains("unknown entity &nbsp;"));
    }

    #[test]
    fn one_endless_text_is_refused_not_buffered() {
        let text = format!("<urlset><url><loc>{}</loc></url></urlset>", "a".repeat(3 << 20));
        assert!(locs(&text).unwrap_err().contains("over 1 MiB"));
    }
}
