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
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use document::{Document, Kind};

use super::probe::redirect_target;
use super::targets::{redact, Entry};
use crate::error::{Error, Result};
use crate::net::client::{Client, Credentials, Hop};
use crate::record::Method;

/// Indexes within indexes (the protocol allows none; some sites nest them).
const MOST_DEPTH: usize = 4;
/// Redirects followed to a sitemap.
const MOST_REDIRECTS: u32 = 10;
const BUFFER: usize = 64 * 1024;

mod document;

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
                busy_host: false,
                reuse: false,
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
