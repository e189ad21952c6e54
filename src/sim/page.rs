//! What a GET of a simulated site reads: a page whose body depends on the name. Most are the
//! site's own page, but some names answer 200 with a maintenance page or a parked domain's page,
//! as real ones do, so that content expectations have something to catch. The body is data
//! only: it changes no status, so no check without expectations sees a difference.

use serde::Serialize;

use super::profile::{Profile, SimOptions};
use crate::hash::{name_hash, splitmix64};

/// The page behind a 200 (the `page` column of `--truth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Page {
    /// The site's own page: `Welcome to NAME`.
    Normal,
    /// `Under maintenance`, with status 200 (about 4% of names).
    Maintenance,
    /// `This domain is parked` (about 4% of names).
    Parked,
}

impl Page {
    /// The page of `name` (in the `site` profile, of the page `path` of host `name`); `all-ok`
    /// answers its own page everywhere, for throughput runs and tests.
    pub fn of(name: &str, path: &str, opts: &SimOptions) -> Page {
        let h = match opts.profile {
            Profile::AllOk => return Page::Normal,
            Profile::Site => name_hash(path, name_hash(name, opts.seed)),
            Profile::Seed | Profile::Faults => name_hash(name, opts.seed),
        };
        match splitmix64(h ^ 0xB0D7) % 100 {
            0..=3 => Page::Maintenance,
            4..=7 => Page::Parked,
            _ => Page::Normal,
        }
    }

    /// The page a 200 of `path` on `host` shows: a `/_/page/KIND` route's, no page for the other
    /// routes, else the name's (`plan::name_of`).
    pub(crate) fn at(host: &str, path: &str, opts: &SimOptions) -> Option<Page> {
        match path.strip_prefix("/_/") {
            Some("page/normal") => Some(Page::Normal),
            Some("page/maintenance") => Some(Page::Maintenance),
            Some("page/parked") => Some(Page::Parked),
            Some(_) => None,
            None => Some(Page::of(super::plan::name_of(host, path), path, opts)),
        }
    }

    /// Whether the name's answers over TLS carry `Strict-Transport-Security` (four names in five).
    pub fn hsts(name: &str, opts: &SimOptions) -> bool {
        splitmix64(name_hash(name, opts.seed) ^ 0x4575) % 5 != 0
    }

    /// The HTML of the page for `name` at `path`.
    pub fn render(self, name: &str, path: &str) -> String {
        let (title, body) = match self {
            Page::Normal => (
                name.to_string(),
                format!("<h1>Welcome to {name}</h1>\n<p>This is {path} on {name}.</p>"),
            ),
            Page::Maintenance => (
                "Down for maintenance".to_string(),
                format!("<h1>Under maintenance</h1>\n<p>{name} is down for scheduled maintenance. We'll be back soon.</p>"),
            ),
            Page::Parked => (
                format!("{name} is parked"),
                format!("<h1>This domain is parked</h1>\n<p>{name} may be for sale. Inquire now.</p>"),
            ),
        };
        html(&title, &body)
    }
}

/// The page of an error status: its code and reason.
pub fn error_page(status: u16) -> String {
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    html(
        &format!("{status} {reason}"),
        &format!("<h1>{status} {reason}</h1>"),
    )
}

fn html(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n{body}\n</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_names_have_their_own_page_and_some_a_maintenance_or_parked_one() {
        let opts = SimOptions::default();
        let names: Vec<String> = (0..4000).map(|i| format!("n{i}.com")).collect();
        let share = |page| names.iter().filter(|n| Page::of(n, "/", &opts) == page).count();
        assert!((100..220).contains(&share(Page::Maintenance)), "about 4%");
        assert!((100..220).contains(&share(Page::Parked)), "about 4%");
        let all_ok = SimOptions {
            profile: Profile::AllOk,
            ..SimOptions::default()
        };
        assert!(names.iter().all(|n| Page::of(n, "/", &all_ok) == Page::Normal));
        assert!(Page::Normal.render("abc.com", "/").contains("Welcome to abc.com"));
        assert!(Page::Maintenance
            .render("abc.com", "/")
            .contains("Under maintenance"));
        assert!(Page::Parked
            .render("abc.com", "/")
            .contains("This domain is parked"));
        assert!(error_page(404).contains("404 Not Found"));
    }
}
