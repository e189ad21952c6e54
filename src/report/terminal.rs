//! The report as text for a terminal: totals, then status codes, the 4xx/5xx codes alone and the
//! exception kinds as horizontal bars (the article's three plots, readable over ssh), then the
//! latency percentiles, and the phases and certificates of a file that has their columns. Pure:
//! the caller prints the string.

use std::fmt::Write as _;

use super::aggregate::Aggregate;
use super::certs::{CertStats, WINDOWS};
use super::latency::Percentiles;
use super::timings::{PhaseFigures, SlowHost};

/// Width of the longest bar, in characters.
const BAR_WIDTH: u64 = 40;

/// Partial blocks, in eighths of a character: a bar's end is drawn to 1/8 of a character.
const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

pub fn render(agg: &Aggregate) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "URLs: {}  successful: {} ({:.1}%)  failed: {}",
        agg.total,
        agg.successful,
        100.0 * agg.share_successful(),
        agg.failed
    );
    let codes = |items: Vec<(u16, u64)>| items.into_iter().map(|(c, n)| (c.to_string(), n)).collect();
    out.push('\n');
    out.push_str(&bars("Status codes", codes(agg.statuses_by_count())));
    out.push('\n');
    out.push_str(&bars(
        "4xx/5xx status codes",
        codes(agg.error_statuses_by_count()),
    ));
    out.push('\n');
    let kinds = agg
        .exceptions_by_count()
        .into_iter()
        .map(|(kind, n)| (kind.to_string(), n))
        .collect();
    out.push_str(&bars("Exceptions", kinds));
    out.push('\n');
    out.push_str(&latency(agg));
    if !agg.by_http_version.is_empty() {
        out.push('\n');
        let mut versions: Vec<(String, u64)> = agg
            .by_http_version
            .iter()
            .map(|(version, &n)| (version.to_string(), n))
            .collect();
        versions.sort_by_key(|&(_, n)| std::cmp::Reverse(n)); // stable: ties oldest first
        out.push_str(&bars("HTTP versions (of answers)", versions));
    }
    if agg.has_timings() {
        out.push('\n');
        out.push_str(&phases(agg));
    }
    if agg.certs.detailed_rows > 0 {
        out.push('\n');
        out.push_str(&certificates(&agg.certs));
    }
    out
}

/// A titled list of labelled bars, scaled so the largest count fills `BAR_WIDTH`.
pub fn bars(title: &str, items: Vec<(String, u64)>) -> String {
    if items.is_empty() {
        return format!("{title}: none\n");
    }
    let label_width = items.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let count_width = items.iter().map(|(_, n)| n.to_string().len()).max().unwrap_or(0);
    let largest = items.iter().map(|&(_, n)| n).max().unwrap_or(0);
    let mut out = format!("{title}\n");
    for (label, n) in &items {
        let _ = writeln!(
            out,
            "  {label:<label_width$}  {}  {n:>count_width$}",
            bar(*n, largest)
        );
    }
    out
}

/// `n` against `largest`, padded to the full width; any count above zero shows at least 1/8.
fn bar(n: u64, largest: u64) -> String {
    let eighths = (n * BAR_WIDTH * 8 + largest / 2)
        .checked_div(largest)
        .map_or(0, |e| e.max(u64::from(n > 0)));
    let mut s = "█".repeat((eighths / 8) as usize);
    if eighths % 8 > 0 {
        s.push(EIGHTHS[(eighths % 8) as usize]);
    }
    let drawn = eighths.div_ceil(8);
    s.push_str(&" ".repeat((BAR_WIDTH - drawn) as usize));
    s
}

fn latency(agg: &Aggregate) -> String {
    let mut lines: Vec<(String, Percentiles)> = Vec::new();
    if let Some(p) = agg.answered_ms.percentiles() {
        lines.push(("answered".into(), p));
    }
    for (group, dist) in &agg.outcome_ms {
        if let Some(p) = dist.percentiles() {
            lines.push((format!("  {}", group.label()), p));
        }
    }
    if lines.is_empty() {
        return "Latency (elapsed_ms): none recorded\n".into();
    }
    let label_width = lines.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let mut out = "Latency (elapsed_ms), by outcome\n".to_string();
    let _ = writeln!(
        out,
        "  {:<label_width$}  {:>7}  {:>6}  {:>6}  {:>6}  {:>6}",
        "", "count", "p50", "p90", "p99", "max"
    );
    for (label, p) in &lines {
        let _ = writeln!(
            out,
            "  {label:<label_width$}  {:>7}  {:>6}  {:>6}  {:>6}  {:>6}",
            p.count, p.p50, p.p90, p.p99, p.max
        );
    }
    out
}

/// The `--timings` section: p50/p90/p99 of each phase, for the answered rows and by outcome as
/// the latency's, then the slowest hosts with their phases.
fn phases(agg: &Aggregate) -> String {
    let mut groups: Vec<(String, PhaseFigures)> = Vec::new();
    if let Some(f) = PhaseFigures::of(&agg.answered_phases) {
        groups.push(("answered".into(), f));
    }
    for (group, stats) in &agg.outcome_phases {
        if let Some(f) = PhaseFigures::of(stats) {
            groups.push((format!("  {}", group.label()), f));
        }
    }
    let cell = |p: &Percentiles| format!("{}/{}/{}", p.p50, p.p90, p.p99);
    let mut rows = vec![["", "count", "dns", "connect", "tls", "ttfb", "conns/URL"]
        .map(String::from)
        .to_vec()];
    for (label, f) in &groups {
        let mut row = vec![label.clone(), f.count.to_string()];
        row.extend(f.phases().map(cell));
        row.push(format!("{:.2}", f.new_connections_per_url));
        rows.push(row);
    }
    let mut out = "Where the time went (ms, p50/p90/p99), by outcome\n".to_string();
    out.push_str(&table(&rows, "  ", |c| c == 0));
    out.push('\n');
    out.push_str(&slowest(agg.slowest.hosts()));
    out
}

/// The slowest hosts, slowest first, by their slowest answered check.
fn slowest(hosts: &[SlowHost]) -> String {
    if hosts.is_empty() {
        return "Slowest hosts: none answered\n".into();
    }
    let mut rows = vec![["elapsed", "dns", "connect", "tls", "ttfb", "conns", "host"]
        .map(String::from)
        .to_vec()];
    for h in hosts {
        let numbers = [h.elapsed_ms, h.dns_ms, h.connect_ms, h.tls_ms, h.ttfb_ms];
        let mut row: Vec<String> = numbers.iter().map(u64::to_string).collect();
        row.push(h.new_connections.to_string());
        row.push(h.host.clone());
        rows.push(row);
    }
    format!("Slowest hosts (ms)\n{}", table(&rows, "  ", |c| c == 6))
}

/// Rows as columns two spaces apart after `indent`: the columns `left` names left-aligned
/// (labels, a host), the others right-aligned (numbers).
pub fn table(rows: &[Vec<String>], indent: &str, left: impl Fn(usize) -> bool) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| match left(c) {
                true => format!("{cell:<w$}"),
                false => format!("{cell:>w$}"),
            })
            .collect();
        out.push_str(indent);
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The `--details` section: counts by window, the soonest certificates, issuers, days left.
fn certificates(stats: &CertStats) -> String {
    if stats.certificates == 0 {
        return "Certificates: none read (plain HTTP, or no answer over TLS)\n".into();
    }
    let windows: Vec<String> = WINDOWS
        .iter()
        .zip(stats.within)
        .map(|(days, n)| format!("{days} days: {n}"))
        .collect();
    let mut out = format!(
        "Certificates: {} read, {} expired; expiring within {}\n",
        stats.certificates,
        stats.expired,
        windows.join(", ")
    );
    out.push_str("Soonest to expire\n");
    let host_width = stats
        .soonest
        .iter()
        .map(|e| e.host.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        out,
        "  {:>9}  {:<20}  {:<host_width$}  issuer",
        "days left", "not after", "host"
    );
    for e in &stats.soonest {
        let line = format!(
            "  {:>9}  {:<20}  {:<host_width$}  {}",
            e.days_left,
            e.not_after,
            e.host,
            e.issuer.as_deref().unwrap_or("")
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&bars("Issuers", stats.issuers_by_count()));
    out.push('\n');
    out.push_str(&bars("Days left", stats.days_left_bars()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, OwnedRow};

    fn row(status: Option<u16>, exception: Option<ErrorKind>, ms: u64) -> OwnedRow {
        OwnedRow::sample(status, exception, ms)
    }

    #[test]
    fn bars_scale_to_the_largest_count_in_eighths() {
        assert_eq!(bar(4, 4), "█".repeat(40));
        assert_eq!(bar(2, 4), format!("{}{}", "█".repeat(20), " ".repeat(20)));
        assert_eq!(bar(1, 3), format!("{}▍{}", "█".repeat(13), " ".repeat(26)));
        assert_eq!(bar(1, 1_000_000), format!("▏{}", " ".repeat(39)));
        assert_eq!(bar(0, 5), " ".repeat(40));
    }

    #[test]
    fn the_report_shows_totals_bars_and_percentiles() {
        let mut agg = Aggregate::default();
        for (status, exception, ms) in [
            (Some(200), None, 100),
            (Some(200), None, 120),
            (Some(200), None, 140),
            (Some(404), None, 60),
            (Some(503), None, 80),
            (None, Some(ErrorKind::Timeout), 5000),
        ] {
            agg.add(&row(status, exception, ms));
        }
        let full = "█".repeat(40);
        let third = format!("{}▍{}", "█".repeat(13), " ".repeat(26));
        let expected = format!(
            "URLs: 6  successful: 3 (50.0%)  failed: 3

Status codes
  200  {full}  3
  404  {third}  1
  503  {third}  1

4xx/5xx status codes
  404  {full}  1
  503  {full}  1

Exceptions
  timeout  {full}  1

Latency (elapsed_ms), by outcome
                           count     p50     p90     p99     max
  answered                     5     100     140     140     140
    successful                 3     120     140     140     140
    unsuccessful status        2      60      80      80      80
    timeout                    1    5000    5000    5000    5000
"
        );
        assert_eq!(render(&agg), expected);
    }

    #[test]
    fn a_file_with_details_gets_the_certificate_section() {
        let mut agg = Aggregate::default();
        agg.add(&OwnedRow::with_cert("a.com", 3, Some("R1")));
        agg.add(&OwnedRow::with_cert("bb.com", -1, None));
        agg.add(&OwnedRow::with_cert("c.com", 200, Some("R1")));
        let text = render(&agg);
        let section = &text[text.find("Certificates").expect("a section")..];
        let full = "█".repeat(40);
        let half = format!("{}{}", "█".repeat(20), " ".repeat(20));
        let empty = " ".repeat(40);
        let expected = format!(
            "Certificates: 3 read, 1 expired; expiring within 7 days: 1, 30 days: 1, 90 days: 1
Soonest to expire
  days left  not after             host    issuer
         -1  in -1 days            bb.com
          3  in 3 days             a.com   R1
        200  in 200 days           c.com   R1

Issuers
  R1         {full}  2
  (unknown)  {half}  1

Days left
  expired  {full}  1
  0-6      {full}  1
  7-29     {empty}  0
  30-89    {empty}  0
  90-179   {empty}  0
  180-364  {full}  1
  365+     {empty}  0
"
        );
        assert_eq!(section, expected);
        assert!(!render(&Aggregate::default()).contains("Certificates"));
        // with_cert rows came over HTTP/1.1.
        let versions =
            &text[text.find("HTTP versions").expect("a section")..text.find("Certificates").unwrap()];
        assert_eq!(
            versions,
            format!("HTTP versions (of answers)\n  HTTP/1.1  {full}  3\n\n")
        );
        assert!(!render(&Aggregate::default()).contains("HTTP versions"));
    }

    #[test]
    fn an_empty_report_says_none() {
        let text = render(&Aggregate::default());
        assert!(
            text.starts_with("URLs: 0  successful: 0 (0.0%)  failed: 0\n"),
            "{text}"
        );
        assert!(text.contains("Status codes: none\n"), "{text}");
        assert!(text.contains("Exceptions: none\n"), "{text}");
        assert!(text.ends_with("Latency (elapsed_ms): none recorded\n"), "{text}");
    }

    #[test]
    fn a_file_with_timings_gets_the_phases_by_outcome_and_the_slowest_hosts() {
        let mut agg = Aggregate::default();
        agg.add(&OwnedRow::timed("https://a.com/", [2, 1, 5, 100], 1));
        agg.add(&OwnedRow::timed("https://bb.com/x", [0, 0, 0, 40], 0));
        agg.add(&OwnedRow {
            status_code: Some(404),
            success: false,
            ..OwnedRow::timed("https://c.com/", [10, 3, 7, 60], 2)
        });
        agg.add(&OwnedRow {
            status_code: None,
            success: false,
            exception: Some(ErrorKind::Timeout),
            elapsed_ms: Some(5000),
            ..OwnedRow::timed("https://d.com/", [1, 4999, 0, 0], 0)
        });
        let text = render(&agg);
        let section = &text[text.find("Where the time went").expect("a section")..];
        assert_eq!(
            section,
            "\
Where the time went (ms, p50/p90/p99), by outcome
                         count       dns         connect    tls        ttfb  conns/URL
  answered                   3   2/10/10           1/3/3  5/7/7  60/100/100       1.00
    successful               2     0/2/2           0/1/1  0/5/5  40/100/100       0.50
    unsuccessful status      1  10/10/10           3/3/3  7/7/7    60/60/60       2.00
    timeout                  1     1/1/1  4999/4999/4999  0/0/0       0/0/0       0.00

Slowest hosts (ms)
  elapsed  dns  connect  tls  ttfb  conns  host
      109    2        1    5   100      1  a.com
       81   10        3    7    60      2  c.com
       41    0        0    0    40      0  bb.com
"
        );
        assert!(!render(&Aggregate::default()).contains("Where the time went"));
    }
}
