//! `--sitemap PATH_OR_URL`: the `<loc>` URLs of sitemaps (sitemaps.org protocol) as the entries
//! of a target list, read on the pipeline's reader thread like a file, through the same
//! `--shard` and `--resume` filters.
//!
//! Streamed: `quick-xml`'s pull reader over a buffered reader (gunzipped by `flate2` when the
//! bytes start as gzip does, whatever the name says), one `<loc>` at a time, so checks start at
//! the first and memory does not grow with the sitemap. A sitemap index's sitemaps are fetched
//! in turn, as they are reached, through the check's own client (`--ca-cert`, `--resolve`,
//! proxies), waiting on the runtime from this thread. A broken sitemap ends the entries with an
//! error naming the sitemap, the line and the column.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Duration;

use quick_xml::events::{BytesRef, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;
use url::Url;

use super::probe::redirect_target;
use super::targets::{redact, Entry};
use crate::error::{Error, Result};
use crate::net::client::{Client, Credentials, Hop};
use crate::record::Method;

/// The namespace of sitemaps and sitemap indexes; elements without one are taken as well.
const SITEMAP_NS: &[u8] = b"http://www.sitemaps.org/schemas/sitemap/0.9";
/// The longest element or text accepted: a `<loc>` is at most 2,048 characters by the
/// protocol, and without a bound one endless text (a gzip bomb, say) would fill memory.
const MOST_EVENT: u64 = 1 << 20;
/// Indexes within indexes (the protocol allows none; some sites nest them).
const MOST_DEPTH: usize = 4;
/// Redirects followed to a sitemap.
const MOST_REDIRECTS: u32 = 10;
const BUFFER: usize = 64 * 1024;

/// Where a sitemap is: an http(s) URL, or else a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Url(Url),
    File(PathBuf),
}

impl Location {
    pub fn parse(text: &str) -> Location {
        let lower = text.to_ascii_lowercase();
        match Url::parse(text) {
            Ok(url) if lower.starts_with("http://") || lower.starts_with("https://") => Location::Url(url),
            _ => Location::File(PathBuf::from(text)),
        }
    }

    /// As error messages name it.
    pub fn name(&self) -> String {
        match self {
            Location::Url(url) => redact(url),
            Location::File(path) => path.display().to_string(),
        }
    }
}

/// A sitemap that cannot be read: which one, and why (with the line and column of the XML).
#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct SitemapError {
    pub name: String,
    pub message: String,
}

impl From<SitemapError> for io::Error {
    fn from(e: SitemapError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

impl From<SitemapError> for Error {
    fn from(e: SitemapError) -> Self {
        Error::InputContent {
            path: e.name.into(),
            message: e.message,
        }
    }
}

/// How sitemaps are fetched over HTTP: the check's client, with `timeout` for the answer's head
/// and for each wait on its body.
#[derive(Clone)]
pub struct Fetch {
    pub client: Client,
    pub timeout: Duration,
    pub runtime: tokio::runtime::Handle,
}

type Source = Box<dyn BufRead + Send>;

impl Fetch {
    /// GET `url` (redirects followed) and return its body as a reader; waits on the runtime, so
    /// call it from a thread outside it.
    fn get(&self, url: &Url) -> std::result::Result<Source, String> {
        let answer = self
            .runtime
            // Made inside `block_on`: a timer needs the runtime's context.
            .block_on(async { tokio::time::timeout(self.timeout, self.follow(url)).await })
            .map_err(|_| format!("no answer within {:?}", self.timeout))??;
        let body = answer.body.ok_or("the answer was not kept")?;
        Ok(Box::new(BufReader::with_capacity(
            BUFFER,
            body.blocking(self.runtime.clone(), self.timeout),
        )))
    }

    async fn follow(&self, url: &Url) -> std::result::Result<crate::net::client::Answer, String> {
        let mut url = url.clone();
        for _ in 0..=MOST_REDIRECTS {
            let hop = Hop {
                method: Method::Get,
                credentials: Credentials::Send,
                keep_alive: false,
                keep_body: true,
            };
            let answer = self
                .client
                .send(&url, hop)
                .await
                .map_err(|f| format!("cannot fetch ({}): {}", f.kind, f.detail))?;
            match redirect_target(&url, &answer) {
                Some(next) => url = next?,
                None if answer.status.is_success() => return Ok(answer),
                None => return Err(format!("cannot fetch: the answer is {}", answer.status)),
            }
        }
        Err(format!("cannot fetch: more than {MOST_REDIRECTS} redirects"))
    }
}

/// Open the sitemaps that are files now (a missing one is an error before anything is
/// written), and return what reads every sitemap's entries, on the reader thread.
pub fn open(
    locations: &[Location],
    fetch: Fetch,
) -> Result<impl FnOnce() -> Box<dyn Iterator<Item = io::Result<Entry>>> + Send> {
    let mut queue = VecDeque::new();
    for location in locations {
        let opened = match location {
            Location::File(path) => {
                let file = File::open(path).map_err(|source| Error::Input {
                    path: path.clone(),
                    source,
                })?;
                Some(Box::new(BufReader::with_capacity(BUFFER, file)) as Source)
            }
            Location::Url(_) => None,
        };
        queue.push_back((location.clone(), opened));
    }
    Ok(move || {
        Box::new(Sitemaps {
            queue,
            open: Vec::new(),
            fetch,
            failed: false,
        }) as Box<dyn Iterator<Item = io::Result<Entry>>>
    })
}

/// The pages of every sitemap in order, an index's sitemaps in place of the index.
struct Sitemaps {
    /// The sitemaps given, with the files already open.
    queue: VecDeque<(Location, Option<Source>)>,
    /// The sitemaps being read: an index below the sitemap it lists.
    open: Vec<Document>,
    fetch: Fetch,
    failed: bool,
}

impl Iterator for Sitemaps {
    type Item = io::Result<Entry>;

    fn next(&mut self) -> Option<io::Result<Entry>> {
        if self.failed {
            return None;
        }
        let result = self.advance().transpose()?;
        self.failed = result.is_err();
        Some(result.map(Entry::Text).map_err(io::Error::from))
    }
}

impl Sitemaps {
    /// The next page URL, `None` at the end of the last sitemap.
    fn advance(&mut self) -> std::result::Result<Option<String>, SitemapError> {
        loop {
            let Some(doc) = self.open.last_mut() else {
                let Some((location, opened)) = self.queue.pop_front() else {
                    return Ok(None);
                };
                let name = location.name();
                let source = match (location, opened) {
                    (_, Some(source)) => source,
                    (Location::Url(url), None) => self.fetch.get(&url).map_err(|message| SitemapError {
                        name: name.clone(),
                        message,
                    })?,
                    (Location::File(_), None) => unreachable!("files are opened by `open`"),
                };
                self.open.push(Document::new(name, source)?);
                continue;
            };
            match doc.next_loc()? {
                None => {
                    self.open.pop();
                }
                Some(loc) if doc.kind == Some(Kind::Index) => {
                    let child = self.child(&loc)?;
                    self.open.push(child);
                }
                Some(loc) => return Ok(Some(loc)),
            }
        }
    }

    /// Fetch the sitemap `loc` that the index on top lists.
    fn child(&self, loc: &str) -> std::result::Result<Document, SitemapError> {
        let index = self.open.last().expect("an index is open");
        let at = |message: String| SitemapError {
            name: index.name.clone(),
            message: format!("{}: {message}", index.position()),
        };
        if self.open.len() >= MOST_DEPTH {
            return Err(at(format!("indexes nested more than {MOST_DEPTH} deep")));
        }
        let url = Url::parse(loc)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| at(format!("the sitemap `{loc}` is not an http(s) URL")))?;
        let name = redact(&url);
        let source = self.fetch.get(&url).map_err(|message| SitemapError {
            name: name.clone(),
            message,
        })?;
        Document::new(name, source)
    }
}

/// What a sitemap lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `<urlset>`: pages.
    Pages,
    /// `<sitemapindex>`: sitemaps.
    Index,
}

/// One sitemap being read.
struct Document {
    name: String,
    reader: NsReader<Tracked<Source>>,
    kind: Option<Kind>,
    /// Open elements.
    depth: usize,
    /// Inside a `<url>` (`<sitemap>` of an index) at depth 2.
    in_entry: bool,
    /// The text of the `<loc>` being read.
    loc: Option<String>,
}

impl Document {
    /// Start reading `source`, gunzipping it if it is gzip.
    fn new(name: String, mut source: Source) -> std::result::Result<Document, SitemapError> {
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
    fn position(&self) -> String {
        self.reader.get_ref().line_column(self.reader.buffer_position())
    }

    fn error(&self, at: u64, message: impl std::fmt::Display) -> SitemapError {
        SitemapError {
            name: self.name.clone(),
            message: format!("{}: {message}", self.reader.get_ref().line_column(at)),
        }
    }

    /// The text of the next `<loc>` of an entry, `None` at the end of the document.
    fn next_loc(&mut self) -> std::result::Result<Option<String>, SitemapError> {
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
