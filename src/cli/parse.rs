//! The value parsers the flags share: a bad value is a usage error that names its flag, because
//! clap puts the flag in front of the message these return.

use std::time::Duration;

/// The longest duration any flag takes: a day.
const MAX_SECS: f64 = 86_400.0;

/// A timeout: more than 0 and at most a day, fractions allowed.
pub(crate) fn parse_secs(s: &str) -> Result<Duration, String> {
    parse_secs_in(s, false, MAX_SECS)
}

/// Seconds up to `max`, fractions allowed; 0 only when `zero` allows it.
pub(crate) fn parse_secs_in(s: &str, zero: bool, max: f64) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    let low_ok = if zero { secs >= 0.0 } else { secs > 0.0 };
    if !(low_ok && secs <= max) {
        let range = if zero {
            format!("from 0 to {max}")
        } else {
            format!("more than 0 and at most {max}")
        };
        return Err(format!("`{s}` must be {range} seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A wait: 0 to a day, fractions allowed.
pub(crate) fn parse_wait(s: &str) -> Result<Duration, String> {
    parse_secs_in(s, true, MAX_SECS)
}

/// A count from `lo` to `hi`. Parsed as signed, so that with `allow_negative_numbers` a value
/// such as `-1` is told the range rather than taken for an unknown flag.
pub(crate) fn count(lo: i64, hi: i64) -> clap::builder::RangedI64ValueParser<u64> {
    clap::builder::RangedI64ValueParser::new().range(lo..=hi)
}

/// A latency factor for the simulated internet: 0 (instant) to 1000.
pub(crate) fn parse_scale(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..=1000.0).contains(&x) => Ok(x),
        _ => Err(format!("`{s}` is not a factor from 0 to 1000")),
    }
}

/// The largest `--max-body`: a gibibyte per check in flight is already more than a machine has.
const MAX_SIZE: u64 = 1 << 30;

/// A size in bytes: a number, optionally followed by K, M or G (1024-based; `KiB`, `MB` and a
/// trailing `B` are read the same way), from 1 byte to 1 GiB.
pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    let bad = || format!("`{s}` is not a size such as 65536, 512K or 1M (at most 1G)");
    let text = s.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let number: u64 = text[..digits].parse().map_err(|_| bad())?;
    let unit = text[digits..].trim().to_ascii_lowercase();
    let shift = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return Err(bad()),
    };
    let bytes = number.checked_mul(1 << shift).ok_or_else(bad)?;
    if bytes == 0 || bytes > MAX_SIZE {
        return Err(bad());
    }
    usize::try_from(bytes).map_err(|_| bad())
}

pub(crate) fn parse_proxy(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not a proxy URL: {e}"))?;
    match url.scheme() {
        "http" | "https" | "socks5" | "socks5h" => Ok(url),
        other => Err(format!(
            "proxy scheme `{other}` is not http, https, socks5 or socks5h"
        )),
    }
}

pub(crate) fn parse_dns_server(s: &str) -> Result<std::net::SocketAddr, String> {
    let bad = || format!("`{s}` is not an IP or IP:PORT");
    match s.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(std::net::SocketAddr::new(ip, 53)),
        Err(_) => s.parse().map_err(|_| bad()),
    }
}

pub(crate) fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not NAME:VALUE"))?;
    let name = name.trim();
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid header name"))?;
    let value = value.trim();
    reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| format!("`{value}` is not a valid header value"))?;
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_must_be_positive_numbers() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
    }

    #[test]
    fn sizes_take_binary_suffixes_and_a_range() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2mb"), Ok(2 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        for bad in ["0", "2G", "-1", "1T", "M", "1.5M", ""] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_split_at_the_first_colon() {
        assert_eq!(parse_header("X-Trace: a:b"), Ok(("X-Trace".into(), "a:b".into())));
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
    }
}
