//! What changed between two runs over the same targets, joined on `url`: the join behind `diff`
//! and `report --since`. The older run is held in memory, keyed by URL and cut down to what a
//! change is told by; the newer run streams past it, so rows may come in any order (a check
//! writes them in completion order) and two files of a million rows need one run's worth of
//! memory. Exception kinds are compared as values, never by name, so a kind added to
//! `ErrorKind` later is a change like any other. Pure: `commands::diff` reads and writes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};
use serde::Serialize;

use crate::record::{ErrorKind, OwnedRow, SuccessCodes};

/// What changed about one URL. A URL gets the first kind that applies, in this order, which is
/// also the order of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Successful before, not now.
    Broke,
    /// Unsuccessful before, successful now.
    Recovered,
    /// As successful as before, with another status code or exception kind.
    Status,
    /// As before, but the redirects end somewhere else.
    Moved,
    /// As before, but the certificate's days left crossed `--cert-days`, or its issuer changed.
    Cert,
    /// Only in the newer run.
    Added,
    /// Only in the older run.
    Removed,
}

impl Change {
    pub const ALL: [Change; 7] = [
        Change::Broke,
        Change::Recovered,
        Change::Status,
        Change::Moved,
        Change::Cert,
        Change::Added,
        Change::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Change::Broke => "broke",
            Change::Recovered => "recovered",
            Change::Status => "status",
            Change::Moved => "moved",
            Change::Cert => "cert",
            Change::Added => "added",
            Change::Removed => "removed",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The days-left line of `cert` changes unless `--cert-days` says otherwise.
pub const CERT_DAYS: u32 = 14;

/// How two outcomes are compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Status codes that count as success; `None` keeps each row's own `success` column.
    pub success: Option<SuccessCodes>,
    /// A certificate with fewer days left than this is on the near side of the line.
    pub cert_days: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            success: None,
            cert_days: CERT_DAYS.into(),
        }
    }
}

impl Rules {
    /// What changed from `old` to `new`: the first kind that applies, or `None`.
    pub fn change(&self, old: &Side, new: &Side) -> Option<Change> {
        match (old.success, new.success) {
            (true, false) => Some(Change::Broke),
            (false, true) => Some(Change::Recovered),
            _ if (old.status, old.exception) != (new.status, new.exception) => Some(Change::Status),
            // A file without `final_url` (four columns) has nothing to compare.
            _ if old.final_url != Landing::Nowhere
                && new.final_url != Landing::Nowhere
                && old.final_url != new.final_url =>
            {
                Some(Change::Moved)
            }
            _ if self.cert_changed(old, new) => Some(Change::Cert),
            _ => None,
        }
    }

    fn cert_changed(&self, old: &Side, new: &Side) -> bool {
        let near = |days: i32| i64::from(days) < self.cert_days;
        match (old.cert_days_left, new.cert_days_left) {
            (Some(was), Some(is)) if near(was) != near(is) => true,
            _ => matches!((&old.cert_issuer, &new.cert_issuer), (Some(was), Some(is)) if was != is),
        }
    }

    fn success(&self, row: &OwnedRow) -> bool {
        match &self.success {
            None => row.success,
            // A row with an exception is unsuccessful whatever its status (a content check's
            // failure has both).
            Some(codes) => row.exception.is_none() && row.status_code.is_some_and(|s| codes.contains(s)),
        }
    }
}

/// One run's outcome for one URL: the columns a change is told by. A million of these are held
/// for the older run, so strings are boxed (no spare capacity) and issuers shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    pub success: bool,
    pub status: Option<u16>,
    pub exception: Option<ErrorKind>,
    pub final_url: Landing,
    /// Clamped to `i32`: only a file that is not ours has certificates of a million years.
    pub cert_days_left: Option<i32>,
    pub cert_issuer: Option<Arc<str>>,
}

/// Where the redirects of a URL ended (`final_url`), relative to the URL when it is the URL
/// itself or the URL and a slash, as it is for most rows: those cost no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// No answer, or a file without `final_url`.
    Nowhere,
    Url,
    UrlSlash,
    Elsewhere(Box<str>),
}

impl Landing {
    fn of(url: &str, final_url: Option<String>) -> Self {
        match final_url {
            None => Landing::Nowhere,
            Some(f) if f.is_empty() => Landing::Nowhere,
            Some(f) if f == url => Landing::Url,
            Some(f) if f.strip_prefix(url) == Some("/") => Landing::UrlSlash,
            Some(f) => Landing::Elsewhere(f.into_boxed_str()),
        }
    }

    /// The `final_url` of `url`.
    pub fn of_url<'a>(&'a self, url: &'a str) -> Option<Cow<'a, str>> {
        match self {
            Landing::Nowhere => None,
            Landing::Url => Some(Cow::Borrowed(url)),
            Landing::UrlSlash => Some(Cow::Owned([url, "/"].concat())),
            Landing::Elsewhere(f) => Some(Cow::Borrowed(f)),
        }
    }
}

/// A URL of the older run: its outcome, and whether the newer run had it.
#[derive(Debug)]
struct Old {
    url: Box<str>,
    side: Side,
    seen: bool,
}

/// What a URL of both runs changed to.
#[derive(Debug)]
struct Found {
    /// Its position in `Join::old`.
    at: u32,
    change: Change,
    new: Side,
}

/// Rows read, per run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunFigures {
    pub rows: u64,
    /// Rows whose URL had a row before in the same file; only the first row of a URL is
    /// compared.
    pub repeated_rows: u64,
    /// The first few repeated URLs, for the message.
    pub repeated_urls: Vec<String>,
    /// Rows that say the run failed rather than the URL (`local`, `cancelled`): `--resume`
    /// checks them again.
    pub about_the_run: u64,
}

/// Repeated URLs named in the figures.
pub const REPEATS_NAMED: usize = 10;

impl RunFigures {
    fn count(&mut self, row: &OwnedRow) {
        self.rows += 1;
        self.about_the_run += u64::from(row.exception.is_some_and(ErrorKind::is_about_the_run));
    }

    fn repeated(&mut self, url: &str) {
        self.repeated_rows += 1;
        if self.repeated_urls.len() < REPEATS_NAMED && !self.repeated_urls.iter().any(|u| u == url) {
            self.repeated_urls.push(url.to_owned());
        }
    }

    /// Drop the later rows of a URL from `rows` sorted (stably) by URL, counting them.
    fn drop_repeats<T>(&mut self, rows: &mut Vec<T>, url: impl Fn(&T) -> &str) {
        rows.dedup_by(|later, first| {
            let repeated = url(later) == url(first);
            if repeated {
                self.repeated(url(later));
            }
            repeated
        });
    }
}

/// The rows as compared: each cut down to its URL and `Side`, issuers shared.
#[derive(Debug, Default)]
struct Cut {
    rules: Rules,
    issuers: HashSet<Arc<str>>,
}

impl Cut {
    fn side(&mut self, row: OwnedRow) -> (String, Side) {
        let success = self.rules.success(&row);
        let cert_issuer = row
            .cert_issuer
            .map(|issuer| match self.issuers.get(issuer.as_str()) {
                Some(shared) => Arc::clone(shared),
                None => {
                    let shared: Arc<str> = issuer.into();
                    self.issuers.insert(Arc::clone(&shared));
                    shared
                }
            });
        let side = Side {
            success,
            status: row.status_code,
            exception: row.exception,
            final_url: Landing::of(&row.url, row.final_url),
            cert_days_left: row
                .cert_days_left
                .map(|d| d.clamp(i32::MIN.into(), i32::MAX.into()) as i32),
            cert_issuer,
        };
        (row.url, side)
    }
}

/// The older run, read whole before the newer one: the side of the join held in memory, in
/// file order, with an index of 4 bytes a URL.
#[derive(Debug, Default)]
pub struct Older {
    cut: Cut,
    rows: Vec<Old>,
    /// URL -> position in `rows`, hashed and compared through `rows`, so no URL is held twice.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    figures: RunFigures,
}

impl Older {
    pub fn new(rules: Rules) -> Self {
        Older {
            cut: Cut {
                rules,
                ..Cut::default()
            },
            ..Older::default()
        }
    }

    pub fn add(&mut self, row: OwnedRow) {
        self.figures.count(&row);
        let (url, side) = self.cut.side(row);
        let (rows, hasher) = (&self.rows, &self.hasher);
        let rehash = |&at: &u32| hasher.hash_one(&*rows[at as usize].url);
        let same = |&at: &u32| *rows[at as usize].url == *url;
        match self.index.entry(hasher.hash_one(url.as_str()), same, rehash) {
            hashbrown::hash_table::Entry::Occupied(_) => self.figures.repeated(&url),
            hashbrown::hash_table::Entry::Vacant(entry) => {
                entry.insert(position(rows.len()));
                self.rows.push(Old {
                    url: url.into_boxed_str(),
                    side,
                    seen: false,
                });
            }
        }
    }

    /// Ready for the newer run.
    pub fn join(self) -> Join {
        Join {
            cut: self.cut,
            index: self.index,
            hasher: self.hasher,
            old: self.rows,
            found: Vec::new(),
            added: Vec::new(),
            unchanged: 0,
            figures: [self.figures, RunFigures::default()],
        }
    }
}

/// The join of the older run with the newer one, fed row by row.
#[derive(Debug)]
pub struct Join {
    cut: Cut,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    old: Vec<Old>,
    found: Vec<Found>,
    /// URLs only in the newer run, in its order.
    added: Vec<(Box<str>, Side)>,
    unchanged: u64,
    figures: [RunFigures; 2],
}

impl Join {
    /// A row of the newer run.
    pub fn add(&mut self, row: OwnedRow) {
        self.figures[1].count(&row);
        let (url, new) = self.cut.side(row);
        let hash = self.hasher.hash_one(url.as_str());
        let Some(&at) = self.index.find(hash, |&at| *self.old[at as usize].url == *url) else {
            self.added.push((url.into_boxed_str(), new));
            return;
        };
        let old = &mut self.old[at as usize];
        if old.seen {
            self.figures[1].repeated(&url);
            return;
        }
        old.seen = true;
        match self.cut.rules.change(&old.side, &new) {
            None => self.unchanged += 1,
            Some(change) => self.found.push(Found { at, change, new }),
        }
    }

    /// The changes in output order: by kind, then by URL. Only the changes are sorted.
    pub fn finish(mut self) -> Diff {
        let old = &self.old;
        let url = |at: u32| &*old[at as usize].url;
        // Each URL of the older run changed at most once: no two keys are equal.
        self.found
            .sort_unstable_by(|a, b| (a.change, url(a.at)).cmp(&(b.change, url(b.at))));
        let mut removed: Vec<u32> = (0..old.len()).filter(|&at| !old[at].seen).map(position).collect();
        removed.sort_unstable_by(|&a, &b| url(a).cmp(url(b)));
        self.added.sort_by(|a, b| a.0.cmp(&b.0)); // stable: the first row of a URL is kept
        self.figures[1].drop_repeats(&mut self.added, |(url, _)| url);
        let mut by_change = BTreeMap::new();
        for found in &self.found {
            *by_change.entry(found.change).or_insert(0) += 1;
        }
        for (change, n) in [
            (Change::Added, self.added.len()),
            (Change::Removed, removed.len()),
        ] {
            if n > 0 {
                by_change.insert(change, n as u64);
            }
        }
        let [old_figures, new_figures] = self.figures;
        Diff {
            figures: DiffFigures {
                old: old_figures,
                new: new_figures,
                unchanged: self.unchanged,
                by_change,
            },
            old: self.old,
            found: self.found,
            added: self.added,
            removed,
        }
    }
}

/// A position in the older run's rows. A run of more than 4 billion rows would need hundreds of
/// GiB here before reaching it.
fn position(len: usize) -> u32 {
    u32::try_from(len).expect("fewer than 2^32 rows in a run")
}

/// The counts of a diff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffFigures {
    pub old: RunFigures,
    pub new: RunFigures,
    /// URLs in both runs with nothing changed.
    pub unchanged: u64,
    /// Changed URLs per kind; kinds with none are absent.
    pub by_change: BTreeMap<Change, u64>,
}

impl DiffFigures {
    pub fn changed(&self) -> u64 {
        self.by_change.values().sum()
    }

    /// Changed URLs per kind, every kind (0 for none), in `Change` order.
    pub fn every_kind(&self) -> BTreeMap<Change, u64> {
        Change::ALL
            .into_iter()
            .map(|c| (c, self.by_change.get(&c).copied().unwrap_or(0)))
            .collect()
    }
}

/// The changes between two runs.
#[derive(Debug)]
pub struct Diff {
    pub figures: DiffFigures,
    old: Vec<Old>,
    /// In output order, as are `added` and `removed` (positions in `old`).
    found: Vec<Found>,
    added: Vec<(Box<str>, Side)>,
    removed: Vec<u32>,
}

/// One changed URL, as the output shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed<'a> {
    pub url: &'a str,
    pub change: Change,
    pub old: Option<&'a Side>,
    pub new: Option<&'a Side>,
}

impl Diff {
    /// Every change, by kind in `Change` order, then by URL.
    pub fn changes(&self) -> impl Iterator<Item = Changed<'_>> {
        let old = |at: u32| &self.old[at as usize];
        let both = self.found.iter().map(move |f| Changed {
            url: &old(f.at).url,
            change: f.change,
            old: Some(&old(f.at).side),
            new: Some(&f.new),
        });
        let added = self.added.iter().map(|(url, side)| Changed {
            url,
            change: Change::Added,
            old: None,
            new: Some(side),
        });
        let removed = self.removed.iter().map(move |&at| Changed {
            url: &old(at).url,
            change: Change::Removed,
            old: Some(&old(at).side),
            new: None,
        });
        both.chain(added).chain(removed)
    }

    /// Whether any change is of one of `kinds`.
    pub fn has_any(&self, kinds: &[Change]) -> bool {
        kinds.iter().any(|k| self.figures.by_change.contains_key(k))
    }
}

/// A change as a row of the output: the columns of `diff`, with the certificate's when both
/// runs had them.
#[derive(Debug, Serialize)]
pub struct ChangeRow<'a> {
    pub url: &'a str,
    pub change: Change,
    pub old_status: Option<u16>,
    pub new_status: Option<u16>,
    pub old_exception: Option<ErrorKind>,
    pub new_exception: Option<ErrorKind>,
    pub old_final_url: Option<Cow<'a, str>>,
    pub new_final_url: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_cert_days_left: Option<Option<i32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_cert_days_left: Option<Option<i32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_cert_issuer: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_cert_issuer: Option<Option<&'a str>>,
}

/// The columns of a `ChangeRow`, in order; the last four only when both runs had `--details`.
pub const CHANGE_COLUMNS: [&str; 12] = [
    "url",
    "change",
    "old_status",
    "new_status",
    "old_exception",
    "new_exception",
    "old_final_url",
    "new_final_url",
    "old_cert_days_left",
    "new_cert_days_left",
    "old_cert_issuer",
    "new_cert_issuer",
];

/// How many of `CHANGE_COLUMNS` a row has without the certificate's.
pub const PLAIN_CHANGE_COLUMNS: usize = 8;

impl<'a> Changed<'a> {
    /// The row; with `certs`, the certificate columns too.
    pub fn row(&self, certs: bool) -> ChangeRow<'a> {
        let (old, new) = (self.old, self.new);
        let cert = |side: Option<&'a Side>| certs.then(|| side.and_then(|s| s.cert_days_left));
        let issuer = |side: Option<&'a Side>| certs.then(|| side.and_then(|s| s.cert_issuer.as_deref()));
        ChangeRow {
            url: self.url,
            change: self.change,
            old_status: old.and_then(|s| s.status),
            new_status: new.and_then(|s| s.status),
            old_exception: old.and_then(|s| s.exception),
            new_exception: new.and_then(|s| s.exception),
            old_final_url: old.and_then(|s| s.final_url.of_url(self.url)),
            new_final_url: new.and_then(|s| s.final_url.of_url(self.url)),
            old_cert_days_left: cert(old),
            new_cert_days_left: cert(new),
            old_cert_issuer: issuer(old),
            new_cert_issuer: issuer(new),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A row of a check: successful on a 200, landing on the URL with a slash when answered.
    pub(crate) fn row(url: &str, status: Option<u16>, exception: Option<ErrorKind>) -> OwnedRow {
        OwnedRow {
            url: url.into(),
            status_code: status,
            success: status == Some(200) && exception.is_none(),
            exception,
            final_url: status.map(|_| format!("{url}/")),
            ..OwnedRow::default()
        }
    }

    fn certified(mut row: OwnedRow, days: i64, issuer: &str) -> OwnedRow {
        row.cert_days_left = Some(days);
        row.cert_issuer = Some(issuer.into());
        row
    }

    fn moved(mut row: OwnedRow, to: &str) -> OwnedRow {
        row.final_url = Some(to.into());
        row
    }

    fn diff(rules: Rules, old: Vec<OwnedRow>, new: Vec<OwnedRow>) -> Diff {
        let mut older = Older::new(rules);
        old.into_iter().for_each(|r| older.add(r));
        let mut join = older.join();
        new.into_iter().for_each(|r| join.add(r));
        join.finish()
    }

    fn kinds(diff: &Diff) -> Vec<(String, Change)> {
        diff.changes().map(|c| (c.url.to_owned(), c.change)).collect()
    }

    use ErrorKind::{Dns, Timeout, Tls};

    /// One URL per kind of change, and two that stay the same.
    fn two_runs() -> (Vec<OwnedRow>, Vec<OwnedRow>) {
        let ok = |url| row(url, Some(200), None);
        let old = vec![
            ok("https://same.com"),
            row("https://same-fail.com", None, Some(Timeout)),
            ok("https://broke.com"),
            row("https://recovered.com", Some(503), None),
            row("https://status.com", Some(404), None),
            row("https://kind.com", None, Some(Timeout)),
            ok("https://moved.com"),
            certified(ok("https://cert.com"), 20, "R1"),
            certified(ok("https://issuer.com"), 60, "R1"),
            certified(ok("https://renewed.com"), 3, "R1"),
            certified(ok("https://aging.com"), 60, "R1"),
            ok("https://removed.com"),
        ];
        let new = vec![
            ok("https://added.com"),
            certified(ok("https://aging.com"), 30, "R1"),
            certified(ok("https://renewed.com"), 90, "R1"),
            certified(ok("https://issuer.com"), 60, "E5"),
            certified(ok("https://cert.com"), 13, "R1"),
            moved(ok("https://moved.com"), "https://moved.com/new"),
            row("https://kind.com", None, Some(Dns)),
            row("https://status.com", Some(410), None),
            ok("https://recovered.com"),
            row("https://broke.com", None, Some(Tls)),
            row("https://same-fail.com", None, Some(Timeout)),
            ok("https://same.com"),
        ];
        (old, new)
    }

    #[test]
    fn every_kind_of_change_is_found_in_output_order() {
        let (old, new) = two_runs();
        let diff = diff(Rules::default(), old, new);
        let expected = [
            ("https://broke.com", Change::Broke),
            ("https://recovered.com", Change::Recovered),
            ("https://kind.com", Change::Status),
            ("https://status.com", Change::Status),
            ("https://moved.com", Change::Moved),
            ("https://cert.com", Change::Cert),
            ("https://issuer.com", Change::Cert),
            ("https://renewed.com", Change::Cert),
            ("https://added.com", Change::Added),
            ("https://removed.com", Change::Removed),
        ];
        assert_eq!(kinds(&diff), expected.map(|(u, c)| (u.to_owned(), c)));
        assert_eq!(
            diff.figures.unchanged, 3,
            "same, same-fail and aging (60 -> 30 days)"
        );
        assert_eq!(diff.figures.by_change[&Change::Status], 2);
        assert_eq!((diff.figures.old.rows, diff.figures.new.rows), (12, 12));
        assert!(diff.has_any(&[Change::Moved, Change::Broke]));
    }

    #[test]
    fn the_order_of_the_rows_does_not_matter() {
        let (mut old, mut new) = two_runs();
        let first = kinds(&diff(Rules::default(), old.clone(), new.clone()));
        old.reverse();
        new.rotate_left(5);
        assert_eq!(kinds(&diff(Rules::default(), old, new)), first);
    }

    #[test]
    fn a_row_shows_both_sides_and_the_certificate_only_when_asked() {
        let (old, new) = two_runs();
        let diff = diff(Rules::default(), old, new);
        let rows: Vec<String> = diff
            .changes()
            .map(|c| {
                let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(vec![]);
                w.serialize(c.row(c.change == Change::Cert)).unwrap();
                String::from_utf8(w.into_inner().unwrap()).unwrap()
            })
            .collect();
        assert_eq!(rows[0], "https://broke.com,broke,200,,,tls,https://broke.com/,\n");
        assert_eq!(
            rows[5],
            "https://cert.com,cert,200,200,,,https://cert.com/,https://cert.com/,20,13,R1,R1\n"
        );
        assert_eq!(rows[8], "https://added.com,added,,200,,,,https://added.com/\n");
        assert_eq!(
            rows[9],
            "https://removed.com,removed,200,,,,https://removed.com/,\n"
        );
    }

    #[test]
    fn a_wider_success_turns_broke_into_status_and_exceptions_stay_failures() {
        let old = vec![
            row("https://a.com", Some(200), None),
            row("https://b.com", Some(200), None),
            row("https://c.com", Some(200), None),
        ];
        // A status that was fine with a body that was not: a content check's failure.
        let mut content = row("https://c.com", Some(200), Some(ErrorKind::Content));
        content.success = false;
        let new = vec![
            row("https://a.com", Some(204), None),
            row("https://b.com", Some(404), None),
            content,
        ];
        let wide = Rules {
            success: Some(SuccessCodes::parse("200-299").unwrap()),
            ..Rules::default()
        };
        let expected = |a| {
            vec![
                ("https://a.com".to_owned(), a),
                ("https://b.com".to_owned(), Change::Broke),
                ("https://c.com".to_owned(), Change::Broke),
            ]
        };
        let mut got = kinds(&diff(wide, old.clone(), new.clone()));
        got.sort();
        assert_eq!(got, expected(Change::Status));
        let mut got = kinds(&diff(Rules::default(), old, new));
        got.sort();
        assert_eq!(got, expected(Change::Broke));
    }

    #[test]
    fn repeated_urls_are_counted_and_the_first_row_is_compared() {
        let old = vec![
            row("https://a.com", Some(200), None),
            row("https://a.com", Some(500), None),
        ];
        let new = vec![
            row("https://a.com", Some(200), None),
            row("https://a.com", Some(503), None),
            row("https://n.com", Some(404), None),
            row("https://n.com", Some(200), None),
            row("https://n.com", None, Some(Timeout)),
        ];
        let diff = diff(Rules::default(), old, new);
        let changes: Vec<_> = diff.changes().collect();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].url, changes[0].change, changes[0].new.unwrap().status),
            ("https://n.com", Change::Added, Some(404))
        );
        let f = &diff.figures;
        assert_eq!((f.old.repeated_rows, f.new.repeated_rows), (1, 3));
        assert_eq!(f.old.repeated_urls, ["https://a.com"]);
        assert_eq!(f.new.repeated_urls, ["https://a.com", "https://n.com"]);
        assert_eq!(f.unchanged, 1);
    }

    #[test]
    fn rows_about_the_run_are_counted() {
        let old = vec![row("https://a.com", None, Some(ErrorKind::Cancelled))];
        let new = vec![row("https://a.com", None, Some(ErrorKind::Local))];
        let diff = diff(Rules::default(), old, new);
        assert_eq!(
            (diff.figures.old.about_the_run, diff.figures.new.about_the_run),
            (1, 1)
        );
        assert_eq!(kinds(&diff), [("https://a.com".to_owned(), Change::Status)]);
    }

    #[test]
    fn a_file_without_final_urls_never_moves() {
        let mut bare = row("https://a.com", Some(200), None);
        bare.final_url = None;
        let diff = diff(
            Rules::default(),
            vec![bare],
            vec![moved(row("https://a.com", Some(200), None), "https://b.com/")],
        );
        assert_eq!(diff.figures.unchanged, 1);
    }

    #[test]
    fn change_names_are_their_serde_and_clap_names() {
        use clap::ValueEnum;
        for change in Change::ALL {
            assert_eq!(serde_json::to_string(&change).unwrap(), format!("\"{change}\""));
            assert_eq!(Change::from_str(change.as_str(), false), Ok(change));
        }
    }
}
