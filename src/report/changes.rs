//! A diff in words: the summary `diff` prints on stderr and writes with `--summary-json` (counts
//! per kind, the broken URLs by host, repeated URLs), and the "Changes" section that
//! `report --since` adds. Pure, like `aggregate`: the callers print.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use super::diff::{Change, ChangeRow, Changed, Diff, RunFigures, Side, REPEATS_NAMED};
use super::terminal::bars;

/// Hosts named under "broke" in the summary, and changes listed in the report's section.
pub const SHOWN: usize = 10;

/// What `--summary-json` holds, and what the summary on stderr says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub old: Run,
    pub new: Run,
    pub changed: u64,
    pub unchanged: u64,
    /// Every kind, with 0 for kinds not seen, in `Change` order.
    pub by_change: BTreeMap<Change, u64>,
    /// The hosts with the most `broke` URLs, most first, at most `SHOWN`.
    pub broke_by_host: Vec<HostBroke>,
    /// How many hosts had a `broke` URL.
    pub broke_hosts: u64,
}

/// One of the two files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub path: String,
    #[serde(flatten)]
    pub figures: RunFigures,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostBroke {
    pub host: String,
    pub urls: u64,
    /// The first of them, by URL.
    pub first: String,
}

impl Summary {
    pub fn of(diff: &Diff, old: &str, new: &str) -> Self {
        let f = &diff.figures;
        let (broke_by_host, broke_hosts) = broke_by_host(diff);
        Summary {
            old: Run {
                path: old.to_owned(),
                figures: f.old.clone(),
            },
            new: Run {
                path: new.to_owned(),
                figures: f.new.clone(),
            },
            changed: f.changed(),
            unchanged: f.unchanged,
            by_change: f.every_kind(),
            broke_by_host,
            broke_hosts,
        }
    }

    /// The summary for stderr.
    pub fn render(&self) -> String {
        let mut s = format!(
            "Compared {} rows of {} with {} rows of {}: {} URLs changed, {} unchanged\n",
            self.old.figures.rows,
            self.old.path,
            self.new.figures.rows,
            self.new.path,
            self.changed,
            self.unchanged
        );
        let _ = writeln!(s, "  {}", counts(&self.by_change));
        for h in &self.broke_by_host {
            let more = match h.urls {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            let _ = writeln!(s, "  broke on {}: {}{more}", h.host, h.first);
        }
        if self.broke_hosts > self.broke_by_host.len() as u64 {
            let _ = writeln!(
                s,
                "  broke on {} more hosts (--changes broke lists them)",
                self.broke_hosts - self.broke_by_host.len() as u64
            );
        }
        s
    }

    /// Warnings about the input, one line each: repeated URLs, rows about the run.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for run in [&self.old, &self.new] {
            let f = &run.figures;
            if f.repeated_rows > 0 {
                let more = if f.repeated_urls.len() >= REPEATS_NAMED {
                    ", ..."
                } else {
                    ""
                };
                out.push(format!(
                    "{}: {} rows repeat the URL of an earlier row (an overlap of merged shards?); the first row of each URL is compared: {}{more}",
                    run.path,
                    f.repeated_rows,
                    f.repeated_urls.join(", ")
                ));
            }
            if f.about_the_run > 0 {
                out.push(format!(
                    "{}: {} rows say the run failed, not the URL (`local`, `cancelled`); finish that run with --resume before comparing",
                    run.path, f.about_the_run
                ));
            }
        }
        out
    }
}

/// `broke: 2, recovered: 0, ...`
fn counts(by_change: &BTreeMap<Change, u64>) -> String {
    let parts: Vec<String> = by_change.iter().map(|(c, n)| format!("{c}: {n}")).collect();
    parts.join(", ")
}

/// The `SHOWN` hosts with the most `broke` URLs (most first, then by name), and how many hosts
/// had one. When every URL broke, every host is counted: the counts borrow the hosts from the
/// URLs, so they cost a table entry per host and no strings.
fn broke_by_host(diff: &Diff) -> (Vec<HostBroke>, u64) {
    // Changes come by kind, `broke` first, then in URL order.
    let broke = || diff.changes().take_while(|c| c.change == Change::Broke);
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for c in broke() {
        *counts.entry(host(c.url)).or_insert(0) += 1;
    }
    let mut top: Vec<(&str, u64)> = Vec::with_capacity(SHOWN + 1);
    for (&host, &n) in &counts {
        let at = top.partition_point(|&(h, m)| (m, std::cmp::Reverse(h)) > (n, std::cmp::Reverse(host)));
        if at < SHOWN {
            top.insert(at, (host, n));
            top.truncate(SHOWN);
        }
    }
    let mut hosts: Vec<HostBroke> = top
        .into_iter()
        .map(|(host, urls)| HostBroke {
            host: host.to_owned(),
            urls,
            first: String::new(),
        })
        .collect();
    // The first of a host's changes is its first URL.
    for c in broke() {
        if let Some(h) = hosts
            .iter_mut()
            .find(|h| h.first.is_empty() && h.host == host(c.url))
        {
            h.first = c.url.to_owned();
        }
    }
    (hosts, counts.len() as u64)
}

/// The authority of a URL without its user info (`host` or `host:port`), borrowed from it; the
/// whole text for a line that is not a URL.
fn host(url: &str) -> &str {
    let Some((_, rest)) = url.split_once("://") else {
        return url;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, host)| host)
}

/// The "Changes" section of `report --since OLD FILE`: counts per kind as bars, then the first
/// changes in output order.
pub fn section(diff: &Diff, since: &str, file: &str) -> String {
    let f = &diff.figures;
    let changed = f.changed();
    let title = format!(
        "Changes since {since}: {changed} URLs changed, {} unchanged",
        f.unchanged
    );
    let items = f
        .every_kind()
        .into_iter()
        .map(|(c, n)| (c.to_string(), n))
        .collect();
    let mut out = bars(&title, items);
    if changed == 0 {
        return out;
    }
    let first: Vec<Changed<'_>> = diff.changes().take(SHOWN).collect();
    let url_width = first.iter().map(|c| c.url.chars().count()).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "First {} of {changed} (healthcheck diff {since} {file} lists them all)",
        first.len()
    );
    for c in &first {
        let _ = writeln!(
            out,
            "  {:<9}  {:<url_width$}  {}",
            c.change.as_str(),
            c.url,
            describe(c)
        );
    }
    out
}

/// What changed, in a few words: `200 -> timeout`, `https://a/ -> https://b/`, `20 -> 13 days left`.
pub fn describe<'a>(c: &Changed<'a>) -> String {
    let (old, new) = (c.old, c.new);
    match c.change {
        Change::Moved => {
            let landing =
                |s: Option<&'a Side>| s.and_then(|s| s.final_url.of_url(c.url)).unwrap_or("-".into());
            format!("{} -> {}", landing(old), landing(new))
        }
        Change::Cert => {
            let days = |s: Option<&Side>| {
                s.and_then(|s| s.cert_days_left)
                    .map_or("-".into(), |d| d.to_string())
            };
            fn issuer(side: Option<&Side>) -> &str {
                side.and_then(|s| s.cert_issuer.as_deref()).unwrap_or("-")
            }
            let mut text = format!("{} -> {} days left", days(old), days(new));
            if issuer(old) != issuer(new) {
                let _ = write!(text, ", issuer {} -> {}", issuer(old), issuer(new));
            }
            text
        }
        _ => format!("{} -> {}", outcome(old), outcome(new)),
    }
}

/// A side's status or exception (both, for a status whose content failed); `-` for no row.
fn outcome(side: Option<&Side>) -> String {
    let Some(side) = side else { return "-".into() };
    match (side.status, side.exception) {
        (Some(status), Some(kind)) => format!("{status} {kind}"),
        (Some(status), None) => status.to_string(),
        (None, Some(kind)) => kind.to_string(),
        (None, None) => "no status".into(),
    }
}

/// The section as `report --format json` prints it.
#[derive(Debug, Serialize)]
pub struct SectionFigures<'a> {
    pub since: &'a str,
    pub changed: u64,
    pub unchanged: u64,
    pub by_change: BTreeMap<Change, u64>,
    /// The first `SHOWN` changes, as `diff` writes them.
    pub first: Vec<ChangeRow<'a>>,
}

/// `certs`: both files have the `--details` columns.
pub fn section_figures<'a>(diff: &'a Diff, since: &'a str, certs: bool) -> SectionFigures<'a> {
    let f = &diff.figures;
    SectionFigures {
        since,
        changed: f.changed(),
        unchanged: f.unchanged,
        by_change: f.every_kind(),
        first: diff.changes().take(SHOWN).map(|c| c.row(certs)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, OwnedRow};
    use crate::report::diff::tests::row;
    use crate::report::diff::{Older, Rules};

    /// Twelve hosts break (one of them three times), one URL recovers.
    fn diff() -> Diff {
        let mut older = Older::new(Rules::default());
        let mut broken: Vec<String> = (0..11).map(|i| format!("https://h{i:02}.com/")).collect();
        broken.extend((0..3).map(|i| format!("https://big.org/p{i}")));
        for url in &broken {
            older.add(row(url, Some(200), None));
        }
        older.add(row("https://up.com", Some(500), None));
        let mut join = older.join();
        for url in &broken {
            join.add(row(url, None, Some(ErrorKind::Timeout)));
        }
        join.add(row("https://up.com", Some(200), None));
        join.finish()
    }

    #[test]
    fn the_summary_counts_every_kind_and_names_the_broken_hosts() {
        let summary = Summary::of(&diff(), "old.csv", "new.csv");
        assert_eq!(
            (summary.changed, summary.unchanged, summary.broke_hosts),
            (15, 0, 12)
        );
        assert_eq!(summary.by_change.len(), Change::ALL.len());
        assert_eq!(summary.by_change[&Change::Recovered], 1);
        assert_eq!(summary.broke_by_host.len(), SHOWN);
        assert_eq!(
            summary.broke_by_host[0],
            HostBroke {
                host: "big.org".into(),
                urls: 3,
                first: "https://big.org/p0".into()
            }
        );
        assert_eq!(summary.broke_by_host[1].host, "h00.com");
        let text = summary.render();
        assert!(
            text.starts_with(
                "Compared 15 rows of old.csv with 15 rows of new.csv: 15 URLs changed, 0 unchanged\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  broke: 14, recovered: 1, status: 0, moved: 0, cert: 0, added: 0, removed: 0\n"),
            "{text}"
        );
        assert!(
            text.contains("  broke on big.org: https://big.org/p0 and 2 more\n"),
            "{text}"
        );
        assert!(text.contains("  broke on h08.com: https://h08.com/\n"), "{text}");
        assert!(!text.contains("h09.com"), "{text}");
        assert!(text.contains("  broke on 2 more hosts"), "{text}");
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["by_change"]["broke"], 14);
        assert_eq!(json["by_change"]["removed"], 0);
        assert_eq!(json["old"]["path"], "old.csv");
        assert_eq!(json["new"]["rows"], 15);
        assert_eq!(json["broke_by_host"][0]["urls"], 3);
        assert!(summary.warnings().is_empty());
    }

    #[test]
    fn the_section_shows_counts_and_the_first_changes() {
        let diff = diff();
        let text = section(&diff, "old.csv", "new.csv");
        assert!(
            text.starts_with("Changes since old.csv: 15 URLs changed, 0 unchanged\n"),
            "{text}"
        );
        assert!(text.contains("First 10 of 15 (healthcheck diff old.csv new.csv lists them all)\n"));
        assert!(
            text.contains("  broke      https://big.org/p0  200 -> timeout\n"),
            "{text}"
        );
        let json = serde_json::to_value(section_figures(&diff, "old.csv", false)).unwrap();
        assert_eq!(json["first"].as_array().unwrap().len(), SHOWN);
        assert_eq!(json["first"][0]["new_exception"], "timeout");
        assert!(json["first"][0].get("old_cert_days_left").is_none());
    }

    #[test]
    fn a_host_is_the_authority_without_user_info() {
        assert_eq!(host("https://a.com"), "a.com");
        assert_eq!(host("http://u:p@a.com:8080/x?y#z"), "a.com:8080");
        assert_eq!(host("https://[::1]:443?q"), "[::1]:443");
        assert_eq!(host("not a url"), "not a url");
    }

    #[test]
    fn changes_are_described_by_kind() {
        let mut older = Older::new(Rules::default());
        let cert = |days, issuer: &str| OwnedRow {
            cert_days_left: Some(days),
            cert_issuer: Some(issuer.into()),
            ..row("https://c.com", Some(200), None)
        };
        older.add(cert(20, "R1"));
        older.add(row("https://m.com", Some(200), None));
        let mut join = older.join();
        join.add(cert(5, "E5"));
        join.add(OwnedRow {
            final_url: Some("https://n.com/".into()),
            ..row("https://m.com", Some(200), None)
        });
        let diff = join.finish();
        let words: Vec<String> = diff.changes().map(|c| describe(&c)).collect();
        assert_eq!(
            words,
            [
                "https://m.com/ -> https://n.com/",
                "20 -> 5 days left, issuer R1 -> E5"
            ]
        );
    }

    #[test]
    fn repeated_urls_and_rows_about_the_run_are_warned_of() {
        let mut older = Older::new(Rules::default());
        older.add(row("https://a.com", Some(200), None));
        let mut join = older.join();
        join.add(row("https://a.com", Some(200), None));
        join.add(row("https://a.com", None, Some(ErrorKind::Local)));
        let summary = Summary::of(&join.finish(), "old.csv", "new.csv");
        let warnings = summary.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("new.csv: 1 rows repeat the URL of an earlier row"));
        assert!(
            warnings[0].ends_with("compared: https://a.com"),
            "{}",
            warnings[0]
        );
        assert!(warnings[1].starts_with("new.csv: 1 rows say the run failed, not the URL"));
    }
}
