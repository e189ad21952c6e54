//! What an answer's `Location` lines say, all of them: servers send an empty one (`Location: `,
//! httpbin's `/redirect-to?url=`), or two (nginx's `return 301;` before an `add_header Location
//! ...`). curl and browsers ignore an empty `Location` (RFC 9110 10.2.2 makes it a reference to
//! the same resource, which nobody follows), follow the one that is not empty, and browsers
//! refuse to choose between two that differ.

use reqwest::header::HeaderValue;

/// The `Location` of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// No `Location`, or only empty ones: the answer is final.
    Absent,
    /// One value that is not empty (perhaps sent more than once).
    At(HeaderValue),
    /// The first two non-empty values that differ.
    Conflicting(HeaderValue, HeaderValue),
}

impl Location {
    /// From every `Location` line of an answer, in order.
    pub fn of<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> Location {
        let mut found = Location::Absent;
        for value in values {
            if value.as_bytes().trim_ascii().is_empty() {
                continue;
            }
            match &found {
                Location::Absent => found = Location::At(value.clone()),
                Location::At(first) if first != value => {
                    return Location::Conflicting(first.clone(), value.clone())
                }
                _ => {}
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[&'static str]) -> Location {
        let values: Vec<HeaderValue> = values.iter().map(|v| HeaderValue::from_static(v)).collect();
        Location::of(&values)
    }

    #[test]
    fn empty_values_are_skipped_and_equal_ones_agree() {
        let at = |v| Location::At(HeaderValue::from_static(v));
        assert_eq!(of(&[]), Location::Absent);
        assert_eq!(of(&[""]), Location::Absent);
        assert_eq!(of(&["", " "]), Location::Absent);
        assert_eq!(of(&["", "/next"]), at("/next"));
        assert_eq!(of(&["/next", ""]), at("/next"));
        assert_eq!(of(&["/next", "/next"]), at("/next"));
    }

    #[test]
    fn two_different_values_conflict() {
        assert_eq!(
            of(&["", "/a", "/a", "/b", "/c"]),
            Location::Conflicting(HeaderValue::from_static("/a"), HeaderValue::from_static("/b"))
        );
    }
}
