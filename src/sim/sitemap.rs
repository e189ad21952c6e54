//! The sitemaps every simulated host serves (sitemaps.org protocol), whatever its name and
//! profile, at once: `/sitemap.xml` (its pages `/page/0`, `/page/1`, ...), the same gzipped at
//! `/sitemap.xml.gz`, and `/sitemap_index.xml`, an index of such sitemaps, every other one
//! gzipped. The query says how many: `pages=N` (default 100, at most 50,000) from `from=F`,
//! and for the index `sitemaps=K` (default 3) of `pages` each. Entries carry a `<lastmod>`, and
//! the first an image extension (`<image:loc>`), which a reader must not take for a page.

use std::fmt::Write as _;
use std::io::Write as _;

/// The protocol's most URLs per sitemap, and sitemaps per index.
const MOST: u64 = 50_000;
const DEFAULT_PAGES: u64 = 100;
const DEFAULT_SITEMAPS: u64 = 3;

/// A sitemap document: its content type and bytes.
pub(crate) struct Document {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The sitemap at `path` (`None` if the path is not one), its URLs under `base`
/// (`scheme://authority`, as the request reached the host).
pub(crate) fn document(path: &str, query: &str, base: &str) -> Option<Document> {
    let number = |key: &str, default: u64| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(default)
            .min(MOST)
    };
    let (pages, from) = (number("pages", DEFAULT_PAGES), number("from", 0));
    let xml = |text: String| Document {
        content_type: "application/xml",
        bytes: text.into_bytes(),
    };
    match path {
        "/sitemap.xml" => Some(xml(urlset(base, from, pages))),
        "/sitemap.xml.gz" => Some(Document {
            content_type: "application/gzip",
            bytes: gzip(urlset(base, from, pages).as_bytes()),
        }),
        "/sitemap_index.xml" => Some(xml(index(base, number("sitemaps", DEFAULT_SITEMAPS), pages))),
        _ => None,
    }
}

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

fn urlset(base: &str, from: u64, pages: u64) -> String {
    let mut out = String::with_capacity(100 + pages as usize * 90);
    out.push_str(HEAD);
    out.push_str(
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" \
         xmlns:image=\"http://www.google.com/schemas/sitemap-image/1.1\">\n",
    );
    for i in from..from + pages {
        let _ = write!(
            out,
            "  <url>\n    <loc>{base}/page/{i}</loc>\n    <lastmod>2026-11-01</lastmod>\n"
        );
        if i == from {
            let _ = writeln!(
                out,
                "    <image:image><image:loc>{base}/logo.png</image:loc></image:image>"
            );
        }
        out.push_str("  </url>\n");
    }
    out.push_str("</urlset>\n");
    out
}

fn index(base: &str, sitemaps: u64, pages: u64) -> String {
    let mut out = String::from(HEAD);
    out.push_str("<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for i in 0..sitemaps {
        let gz = if i % 2 == 1 { ".gz" } else { "" };
        let _ = writeln!(
            out,
            "  <sitemap><loc>{base}/sitemap.xml{gz}?from={}&amp;pages={pages}</loc></sitemap>",
            i * pages
        );
    }
    out.push_str("</sitemapindex>\n");
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sitemaps_list_the_pages_asked_for_and_indexes_their_sitemaps() {
        let doc = document("/sitemap.xml", "pages=3&from=10", "https://a.test").unwrap();
        let text = String::from_utf8(doc.bytes).unwrap();
        assert_eq!(text.matches("<loc>").count(), 3);
        assert!(text.contains("<loc>https://a.test/page/12</loc>"));
        let doc = document("/sitemap_index.xml", "sitemaps=4&pages=5", "http://b.test:8080").unwrap();
        let text = String::from_utf8(doc.bytes).unwrap();
        assert!(text.contains("<loc>http://b.test:8080/sitemap.xml.gz?from=15&amp;pages=5</loc>"));
        let gz = document("/sitemap.xml.gz", "", "https://a.test").unwrap();
        assert_eq!(&gz.bytes[..2], [0x1f, 0x8b]);
        assert!(document("/page/1", "", "https://a.test").is_none());
    }
}
