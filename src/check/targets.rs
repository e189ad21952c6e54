//! Where the URLs come from: the generated label set (lazily, in lexicographic order) or lines of
//! a file or stdin (the `--shard` and `--resume` filters are `shard`'s). All of it is plain
//! iterators: the pipeline pulls the generated set on its own task and reads a file or stdin on a
//! thread of its own, so a slow stdin never stalls the checks.

use std::collections::HashSet;
use std::io::{self, BufRead};

use url::Url;

/// `--scheme`: what bare domains and generated names are checked over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// One line of input, or one generated name, ready for the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `display` is what the row's `url` column shows (the line, with the scheme for a bare
    /// domain); `url` is what gets requested.
    Valid { display: String, url: Url },
    /// A line that cannot be checked; it still becomes a row (`invalid_url`).
    Invalid { line: String, reason: String },
}

impl Target {
    pub fn display(&self) -> &str {
        match self {
            Target::Valid { display, .. } => display,
            Target::Invalid { line, .. } => line,
        }
    }

    /// The target of one entry of a list.
    pub fn from_entry(entry: Entry, scheme: Scheme) -> Target {
        match entry {
            Entry::Text(line) => Target::parse(&line, scheme),
            Entry::NotUtf8 { number, lossy } => Target::Invalid {
                line: lossy,
                reason: format!("line {number} is not valid UTF-8"),
            },
        }
    }

    /// Parse one trimmed, non-comment line; bare domains (`a.com`, `a.com:8080/x`) get `scheme`.
    /// A password in the line never reaches `display` (it shows as `***`); `url` keeps it.
    pub fn parse(line: &str, scheme: Scheme) -> Target {
        let shown = mask_password(line);
        let invalid = |reason: String| Target::Invalid {
            line: shown.to_string(),
            reason,
        };
        if let Some(other) = foreign_scheme(line) {
            return invalid(format!("scheme `{other}` is not http or https"));
        }
        let with_scheme = |line: &str| {
            if line.contains("://") {
                line.to_string()
            } else {
                format!("{}://{line}", scheme.as_str())
            }
        };
        match Url::parse(&with_scheme(line)) {
            Err(e) => invalid(format!("cannot parse URL: {e}")),
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                invalid(format!("scheme `{}` is not http or https", url.scheme()))
            }
            Ok(url) if url.host_str().is_none_or(str::is_empty) => invalid("URL has no host".into()),
            Ok(url) => Target::Valid {
                display: with_scheme(&shown),
                url,
            },
        }
    }
}

/// `url` as text for the output, its password (if any) shown as `***`.
pub fn redact(url: &Url) -> String {
    if url.password().is_none() {
        return url.as_str().to_string();
    }
    let mut shown = url.clone();
    let _ = shown.set_password(Some("***"));
    shown.into()
}

/// The line with the password of its `user:password@` (if any) replaced by `***`, so that a
/// row's `url` never holds it and `--resume` still matches the same line.
fn mask_password(line: &str) -> std::borrow::Cow<'_, str> {
    // Without `//` there is no authority (`mailto:ann@b.com`), so no password either.
    let Some(start) = line.find("://").map(|i| i + 3) else {
        return line.into();
    };
    let authority_end = line[start..]
        .find(['/', '?', '#'])
        .map_or(line.len(), |i| start + i);
    let Some(at) = line[start..authority_end].rfind('@').map(|i| start + i) else {
        return line.into();
    };
    match line[start..at].find(':').map(|i| start + i) {
        Some(colon) if line[colon + 1..at] != *"***" => {
            format!("{}***{}", &line[..=colon], &line[at..]).into()
        }
        _ => line.into(),
    }
}

/// The scheme of a line like `mailto:x@y.z` that is no bare domain, even though it has no `//`.
/// `host:8080` is a bare domain with a port, not a scheme.
fn foreign_scheme(line: &str) -> Option<&str> {
    let (scheme, rest) = line.split_once(':')?;
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    let http = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    (is_scheme && !http && !rest.starts_with(|c: char| c.is_ascii_digit())).then_some(scheme)
}

/// Every label of `length` symbols over `alphabet`, in lexicographic order (by alphabet order),
/// as `scheme://LABEL.tld`. Holds one label at a time: 11.9 M five-letter URLs cost nothing.
#[derive(Debug, Clone)]
pub struct Generated {
    alphabet: Vec<char>,
    digits: Vec<usize>,
    prefix: String,
    suffix: String,
    done: bool,
}

impl Generated {
    pub fn new(alphabet: &str, length: u32, scheme: Scheme, tld: &str) -> Result<Self, String> {
        let mut symbols: Vec<char> = alphabet.chars().collect();
        let count = symbols.len();
        symbols.dedup();
        if count == 0 || symbols.len() != count || symbols.iter().collect::<HashSet<_>>().len() != count {
            return Err(format!(
                "`{alphabet}` must be a non-empty set of distinct characters"
            ));
        }
        if let Some(c) = symbols
            .iter()
            .find(|c| !(c.is_ascii_alphanumeric() || **c == '-'))
        {
            return Err(format!("`{c}` cannot appear in a host name"));
        }
        let tld = tld.trim_start_matches('.');
        if tld.is_empty() || Url::parse(&format!("http://a.{tld}")).is_err() {
            return Err(format!("`{tld}` is not a valid top-level domain"));
        }
        Ok(Generated {
            alphabet: symbols,
            digits: vec![0; length as usize],
            prefix: format!("{}://", scheme.as_str()),
            suffix: format!(".{tld}"),
            done: length == 0,
        })
    }

    /// How many URLs the whole set holds (saturating for absurd sizes).
    pub fn total(&self) -> u64 {
        (self.alphabet.len() as u64).saturating_pow(self.digits.len() as u32)
    }

    fn current(&self) -> String {
        let mut s = String::with_capacity(self.prefix.len() + self.digits.len() + self.suffix.len());
        s.push_str(&self.prefix);
        s.extend(self.digits.iter().map(|&d| self.alphabet[d]));
        s.push_str(&self.suffix);
        s
    }
}

impl Iterator for Generated {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        let item = self.current();
        // Odometer increment, rightmost digit fastest.
        self.done = true;
        for d in self.digits.iter_mut().rev() {
            *d += 1;
            if *d < self.alphabet.len() {
                self.done = false;
                break;
            }
            *d = 0;
        }
        Some(item)
    }
}

/// One entry of a target list, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Text(String),
    /// A line that is not valid UTF-8: it becomes one `invalid_url` row showing the line decoded
    /// lossily, and the run goes on.
    NotUtf8 {
        number: u64,
        lossy: String,
    },
}

/// The entries of a target list: trimmed lines that are neither blank nor `#` comments, read
/// as bytes so that one line in another encoding cannot stop the run. An I/O error ends the
/// iteration with that error, naming its line.
pub fn entries(reader: impl BufRead) -> impl Iterator<Item = io::Result<Entry>> {
    reader.split(b'\n').zip(1u64..).filter_map(|(line, number)| {
        let line = match line {
            Err(e) => return Some(Err(io::Error::new(e.kind(), format!("line {number}: {e}")))),
            Ok(line) => line,
        };
        let entry = match std::str::from_utf8(&line) {
            Ok(text) => Entry::Text(text.trim().to_string()),
            Err(_) => Entry::NotUtf8 {
                number,
                lossy: String::from_utf8_lossy(line.trim_ascii()).into_owned(),
            },
        };
        let shown = match &entry {
            Entry::Text(t) | Entry::NotUtf8 { lossy: t, .. } => t,
        };
        (!shown.is_empty() && !shown.starts_with('#')).then_some(Ok(entry))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_masked_in_what_is_shown_and_kept_in_what_is_sent() {
        let Target::Valid { display, url } = Target::parse("http://ann:s3cret@a.com/x?y=1@2", Scheme::Https)
        else {
            panic!("valid");
        };
        assert_eq!(display, "http://ann:***@a.com/x?y=1@2");
        assert_eq!(url.password(), Some("s3cret"));
        assert_eq!(redact(&url), "http://ann:***@a.com/x?y=1@2");
        assert_eq!(
            Target::parse("mailto:ann@b.com", Scheme::Https).display(),
            "mailto:ann@b.com"
        );
        assert_eq!(
            Target::parse("ann@c.com", Scheme::Http).display(),
            "http://ann@c.com"
        );
        assert_eq!(
            Target::parse("ftp://u:pw@d.com", Scheme::Http).display(),
            "ftp://u:***@d.com"
        );
        assert_eq!(redact(&Url::parse("https://e.com/").unwrap()), "https://e.com/");
    }

    #[test]
    fn generated_labels_are_every_combination_in_order() {
        let urls: Vec<String> = Generated::new("ab", 2, Scheme::Https, "com").unwrap().collect();
        assert_eq!(
            urls,
            [
                "https://aa.com",
                "https://ab.com",
                "https://ba.com",
                "https://bb.com"
            ]
        );
        let g = Generated::new("abcdefghijklmnopqrstuvwxyz", 3, Scheme::Http, ".org").unwrap();
        assert_eq!(g.total(), 17_576);
        let all: Vec<String> = g.collect();
        assert_eq!(all.len(), 17_576);
        assert_eq!(all[0], "http://aaa.org");
        assert_eq!(all[17_575], "http://zzz.org");
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_huge_generated_set_is_lazy() {
        let mut g = Generated::new("abcdefghijklmnopqrstuvwxyz", 5, Scheme::Https, "com").unwrap();
        assert_eq!(g.total(), 11_881_376);
        assert_eq!(g.nth(27).as_deref(), Some("https://aaabb.com"));
    }

    #[test]
    fn bad_alphabets_and_tlds_are_refused() {
        assert!(Generated::new("", 3, Scheme::Https, "com").is_err());
        assert!(Generated::new("aab", 3, Scheme::Https, "com").is_err());
        assert!(Generated::new("a/b", 3, Scheme::Https, "com").is_err());
        assert!(Generated::new("ab", 3, Scheme::Https, "").is_err());
    }

    #[test]
    fn lines_are_trimmed_and_comments_skipped() {
        let input = "  a.com \r\n\n# comment\nhttp://b.com/x\n   \n";
        let got: Vec<Entry> = entries(input.as_bytes()).map(Result::unwrap).collect();
        let text = |s: &str| Entry::Text(s.to_string());
        assert_eq!(got, [text("a.com"), text("http://b.com/x")]);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_an_invalid_target_naming_its_line() {
        let input = b"a.com\n\xff\xfeb.com \nc.com\n";
        let got: Vec<Entry> = entries(&input[..]).map(Result::unwrap).collect();
        assert_eq!(got.len(), 3);
        let bad = Target::from_entry(got[1].clone(), Scheme::Https);
        assert_eq!(
            bad,
            Target::Invalid {
                line: "\u{fffd}\u{fffd}b.com".into(),
                reason: "line 2 is not valid UTF-8".into()
            }
        );
    }

    #[test]
    fn bare_domains_get_the_scheme_and_bad_lines_are_invalid() {
        match Target::parse("a.com", Scheme::Https) {
            Target::Valid { display, url } => {
                assert_eq!(display, "https://a.com");
                assert_eq!(url.host_str(), Some("a.com"));
            }
            other => panic!("{other:?}"),
        }
        let port = Target::parse("localhost:8080/x", Scheme::Http);
        assert!(matches!(port, Target::Valid { display, .. } if display == "http://localhost:8080/x"));
        for bad in [
            "ftp://a.com",
            "http://",
            "http://exa mple.com",
            "https://[::1",
            "mailto:x@y.z",
            "HTTPS:a",
        ] {
            assert!(
                matches!(Target::parse(bad, Scheme::Https), Target::Invalid { .. }),
                "{bad}"
            );
        }
    }
}
