//! Content expectations (`--expect-body`, `--reject-body`, `--expect-header`): what a healthy
//! answer holds beyond a successful status. A maintenance page, a parked domain or a login wall
//! all answer 200; a user who says what the page must (or must not) contain gets `content`
//! instead of a false success.
//!
//! Patterns are `regex` byte patterns: linear time whatever the pattern, matched on the body as
//! sent (no decoding, so a page in Latin-1 matches its ASCII words), never on more than
//! `--max-body` bytes. The body is read only as far as the answer needs: a header that fails
//! reads none of it, a rejected pattern stops at its match, and expected patterns stop at the
//! last one found when nothing is to be rejected.

use std::fmt;

use regex::bytes::Regex;
use reqwest::header::{HeaderMap, HeaderName};

use crate::net::body::{Body, Ended};
use crate::net::classify::Failure;

/// `--max-body`'s default: a page's opening megabyte holds what a check looks for.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// A user's pattern, shown as they wrote it between slashes.
#[derive(Debug, Clone)]
pub struct Pattern(Regex);

impl Pattern {
    /// Compile `text`; the error is one line (regex's own spans several).
    pub fn parse(text: &str) -> Result<Self, String> {
        Regex::new(text).map(Pattern).map_err(|e| {
            let text_of_error = e.to_string();
            let reason = text_of_error
                .lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("error: "))
                .unwrap_or(text_of_error.lines().next().unwrap_or("invalid"))
                .to_string();
            format!("`{text}` is not a valid regex: {reason}")
        })
    }

    /// The leftmost match in `haystack`, as a range.
    fn find(&self, haystack: &[u8]) -> Option<std::ops::Range<usize>> {
        self.0.find(haystack).map(|m| m.range())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.0.as_str())
    }
}

/// `--expect-header 'NAME: REGEX'`: the header must be there, and one of its values match.
#[derive(Debug, Clone)]
pub struct HeaderRule {
    pub name: HeaderName,
    pub pattern: Pattern,
}

impl HeaderRule {
    /// `NAME: REGEX`, split at the first colon; an empty REGEX asks only that the header exist.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, pattern) = text
            .split_once(':')
            .ok_or_else(|| format!("`{text}` is not NAME: REGEX"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("`{}` is not a valid header name", name.trim()))?;
        Ok(HeaderRule {
            name,
            pattern: Pattern::parse(pattern.trim_start())?,
        })
    }
}

/// Every expectation of a check; all must hold.
#[derive(Debug, Clone)]
pub struct Expectations {
    pub expect_body: Vec<Pattern>,
    pub reject_body: Vec<Pattern>,
    pub headers: Vec<HeaderRule>,
    /// The most of a body that is read (`--max-body`).
    pub max_body: usize,
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations {
            expect_body: Vec::new(),
            reject_body: Vec::new(),
            headers: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

impl Expectations {
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && !self.reads_body()
    }

    /// Whether the body is needed: then the checks send GET.
    pub fn reads_body(&self) -> bool {
        !(self.expect_body.is_empty() && self.reject_body.is_empty())
    }

    /// Judge a successful answer: `Ok(None)` when it holds every expectation, `Ok(Some(why))`
    /// naming the first it broke, `Err` when its body could not be read.
    pub async fn judge(&self, body: Body) -> Result<Option<String>, Failure> {
        if let Some(broken) = self.broken_header(body.headers()) {
            return Ok(Some(broken));
        }
        if !self.reads_body() {
            return Ok(None);
        }
        let mut judge = BodyJudge::new(self);
        let mut buf = Vec::new();
        let ended = body
            .read(self.max_body, &mut buf, |so_far| {
                judge.look(so_far, false).is_some()
            })
            .await?;
        Ok(match ended {
            Ended::Enough => judge.verdict.take().flatten(),
            Ended::Complete | Ended::Limit => judge.finish(&buf, ended == Ended::Limit),
        })
    }

    /// The body expectation a whole body at hand breaks (what `judge` says of an answer with
    /// this body, for the demo's scoring).
    pub fn broken_body(&self, body: &[u8]) -> Option<String> {
        let cut = body.len() > self.max_body;
        BodyJudge::new(self).finish(&body[..body.len().min(self.max_body)], cut)
    }

    /// The first header expectation `headers` break, in words.
    pub fn broken_header(&self, headers: &HeaderMap) -> Option<String> {
        self.headers.iter().find_map(|rule| {
            let values = headers.get_all(&rule.name);
            let Some(first) = values.iter().next() else {
                return Some(format!("header {} missing", rule.name));
            };
            let matches = values.iter().any(|v| rule.pattern.find(v.as_bytes()).is_some());
            (!matches).then(|| {
                format!(
                    "header {} does not match {}: {}",
                    rule.name,
                    rule.pattern,
                    quoted(first.as_bytes())
                )
            })
        })
    }
}

/// The verdict on a body read piece by piece. Patterns are tried again only when the body has
/// doubled since the last try, so a body is searched about twice in all, however it arrives;
/// a match ending near the edge of what was read may still depend on what follows (`$`,
/// `\b`), so it counts only once a few more bytes are in.
struct BodyJudge<'a> {
    expect: &'a Expectations,
    /// Which expected patterns matched already.
    found: Vec<bool>,
    /// Look again from this length on.
    next_look: usize,
    /// Set once the answer is known: `Some(None)` healthy, `Some(Some(why))` broken.
    verdict: Option<Option<String>>,
}

/// Bytes after a match that settle it: a look-ahead (`$`, `\b`) reads at most one character.
const SETTLED_AFTER: usize = 4;

impl<'a> BodyJudge<'a> {
    fn new(expect: &'a Expectations) -> Self {
        BodyJudge {
            expect,
            found: vec![false; expect.expect_body.len()],
            next_look: 0,
            verdict: None,
        }
    }

    /// Look at the body read so far (all of it when `complete`); `Some` once the answer is known.
    fn look(&mut self, body: &[u8], complete: bool) -> Option<&Option<String>> {
        if !complete && body.len() < self.next_look {
            return None;
        }
        self.next_look = body.len().saturating_mul(2).max(1);
        let settled = |end: usize| complete || end + SETTLED_AFTER <= body.len();
        for pattern in &self.expect.reject_body {
            if let Some(m) = pattern.find(body).filter(|m| settled(m.end)) {
                let why = format!("body matches {pattern}: {}", quoted(&body[m]));
                return Some(self.verdict.insert(Some(why)));
            }
        }
        for (found, pattern) in self.found.iter_mut().zip(&self.expect.expect_body) {
            *found = *found || pattern.find(body).is_some_and(|m| settled(m.end));
        }
        let all_found = self.found.iter().all(|&f| f);
        // With nothing to reject, the last expected pattern found settles it.
        (all_found && self.expect.reject_body.is_empty()).then(|| &*self.verdict.insert(None))
    }

    /// The verdict on the whole body read (`cut`: the limit stopped it).
    fn finish(mut self, body: &[u8], cut: bool) -> Option<String> {
        if let Some(verdict) = self.look(body, true) {
            return verdict.clone();
        }
        let missing = self
            .found
            .iter()
            .zip(&self.expect.expect_body)
            .find_map(|(found, pattern)| (!found).then_some(pattern))?;
        Some(if cut {
            format!("body does not match {missing} in its first {} bytes", body.len())
        } else {
            format!("body does not match {missing}")
        })
    }
}

/// Text found in an answer, for `error_detail`: quoted, on one line, at most 60 characters.
fn quoted(bytes: &[u8]) -> String {
    const MOST: usize = 60;
    let text = String::from_utf8_lossy(bytes);
    let mut shown: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MOST)
        .collect();
    if text.chars().count() > MOST {
        shown.push('…');
    }
    format!("\"{shown}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expectations(expect: &[&str], reject: &[&str]) -> Expectations {
        Expectations {
            expect_body: expect.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
            reject_body: reject.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
            ..Expectations::default()
        }
    }

    /// Feed `body` in pieces of `piece` bytes, as `Body::read` does; returns the verdict and
    /// how much was read.
    fn judge(expect: &Expectations, body: &[u8], piece: usize) -> (Option<String>, usize) {
        let mut judge = BodyJudge::new(expect);
        let mut buf = Vec::new();
        for chunk in body.chunks(piece) {
            let room = expect.max_body - buf.len();
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if judge.look(&buf, false).is_some() {
                return (judge.verdict.take().flatten(), buf.len());
            }
            if buf.len() >= expect.max_body {
                let len = buf.len();
                return (judge.finish(&buf, true), len);
            }
        }
        let len = buf.len();
        (judge.finish(&buf, false), len)
    }

    #[test]
    fn an_expected_pattern_found_early_stops_the_reading() {
        let body = format!("<h1>Welcome</h1>{}", "x".repeat(100_000));
        let (verdict, read) = judge(&expectations(&["Welcome"], &[]), body.as_bytes(), 1000);
        assert_eq!(verdict, None);
        assert_eq!(read, 1000, "the first piece settles it");
        let (verdict, read) = judge(&expectations(&["Goodbye"], &[]), body.as_bytes(), 1000);
        assert_eq!(verdict.as_deref(), Some("body does not match /Goodbye/"));
        assert_eq!(read, body.len());
    }

    #[test]
    fn a_rejected_pattern_stops_at_its_match_and_is_quoted() {
        let body = format!(
            "{}<p>Under Maintenance</p>{}",
            "y".repeat(5000),
            "z".repeat(50_000)
        );
        let expect = expectations(&["y"], &["(?i)under maintenance|index of /"]);
        let (verdict, read) = judge(&expect, body.as_bytes(), 1024);
        assert_eq!(
            verdict.as_deref(),
            Some("body matches /(?i)under maintenance|index of //: \"Under Maintenance\"")
        );
        assert!(read < 12_000, "read {read}");
        let (verdict, _) = judge(&expectations(&["y"], &["maintenance"]), b"yyy", 1);
        assert_eq!(verdict, None, "nothing rejected, everything expected");
    }

    #[test]
    fn the_limit_bounds_what_is_searched_and_says_so() {
        let body = format!("{}Welcome", "x".repeat(2000));
        let expect = Expectations {
            max_body: 1000,
            ..expectations(&["Welcome"], &[])
        };
        let (verdict, read) = judge(&expect, body.as_bytes(), 300);
        assert_eq!(read, 1000);
        assert_eq!(
            verdict.as_deref(),
            Some("body does not match /Welcome/ in its first 1000 bytes")
        );
    }

    #[test]
    fn a_match_at_the_edge_of_what_was_read_waits_for_what_follows() {
        // `Welcome$` matches the first piece alone, not the whole body.
        let expect = expectations(&["Welcome$"], &[]);
        let (verdict, _) = judge(&expect, b"Welcome, friend", 7);
        assert_eq!(verdict.as_deref(), Some("body does not match /Welcome$/"));
        let (verdict, _) = judge(&expect, b"Say Welcome", 7);
        assert_eq!(verdict, None);
        // Split inside a pattern: found once both halves are in.
        let (verdict, _) = judge(&expectations(&["Welcome"], &[]), b"xxWel|come to", 4);
        assert!(verdict.is_some(), "the bar is in the way");
        let (verdict, _) = judge(&expectations(&["Welcome"], &[]), b"xxWelcome to", 4);
        assert_eq!(verdict, None);
    }

    #[test]
    fn every_piece_size_gives_the_same_verdict() {
        let body = b"<title>Parked</title> This domain is for sale. Welcome!";
        for expect in [
            expectations(&["Welcome!$"], &[]),
            expectations(&["Welcome"], &["(?i)for sale"]),
            expectations(&["nowhere"], &[]),
            expectations(&["^<title>", "sale"], &["auction"]),
        ] {
            let whole = judge(&expect, body, body.len()).0;
            for piece in 1..body.len() {
                assert_eq!(judge(&expect, body, piece).0, whole, "{expect:?} by {piece}");
            }
        }
    }

    #[test]
    fn a_whole_body_gets_the_verdict_of_one_read_in_pieces() {
        let expect = Expectations {
            max_body: 10,
            ..expectations(&["Welcome"], &["parked"])
        };
        assert_eq!(expect.broken_body(b"Welcome!"), None);
        assert_eq!(
            expect.broken_body(b"Welcome, this is parked"),
            None,
            "what lies past the limit is never seen, rejected or not"
        );
        assert_eq!(
            expect.broken_body(b"Welcome parked"),
            None,
            "`parked` starts past byte 10"
        );
        assert_eq!(
            expect.broken_body(b"parked Welcome"),
            Some("body matches /parked/: \"parked\"".to_string())
        );
        assert_eq!(
            expect.broken_body(b"xxxxxxxxxxWelcome"),
            Some("body does not match /Welcome/ in its first 10 bytes".to_string())
        );
    }

    #[test]
    fn headers_must_exist_and_one_value_match() {
        let rule = |s: &str| HeaderRule::parse(s).unwrap();
        let expect = Expectations {
            headers: vec![
                rule("Content-Type: ^text/html"),
                rule("strict-transport-security:"),
            ],
            ..Expectations::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "text/plain".parse().unwrap());
        assert_eq!(
            expect.broken_header(&headers).as_deref(),
            Some("header content-type does not match /^text/html/: \"text/plain\"")
        );
        headers.append("content-type", "text/html; charset=utf-8".parse().unwrap());
        assert_eq!(
            expect.broken_header(&headers).as_deref(),
            Some("header strict-transport-security missing")
        );
        headers.insert("strict-transport-security", "max-age=1".parse().unwrap());
        assert_eq!(expect.broken_header(&headers), None);
        assert!(!expect.is_empty() && !expect.reads_body());
    }

    #[test]
    fn bad_patterns_and_rules_are_one_line_errors() {
        let err = Pattern::parse("(unclosed").unwrap_err();
        assert_eq!(err, "`(unclosed` is not a valid regex: unclosed group");
        assert!(HeaderRule::parse("no colon here").is_err());
        assert!(HeaderRule::parse("bad name: x").is_err());
        assert!(HeaderRule::parse("x-ok: (")
            .unwrap_err()
            .contains("not a valid regex"));
    }

    #[test]
    fn quoted_text_is_one_short_line() {
        assert_eq!(quoted(b"a\nb"), "\"a b\"");
        assert_eq!(quoted("é".repeat(70).as_bytes()).chars().count(), 63);
    }
}
