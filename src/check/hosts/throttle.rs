//! What a host's "slow down" means for one URL: how long `Retry-After` asks to wait, and whether
//! the URL is sent again within `--retries-429` and `--max-retry-wait`. Pure.

use std::time::{Duration, SystemTime};

use super::HostPolicy;

/// The wait a `Retry-After` value asks for (RFC 9110 10.2.3): delay-seconds, or an HTTP date
/// measured from `now` (a date in the past asks for none). `None` when it is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Only digits: too many of them is still "a very long time".
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What to do with a 429 (or a 503 that says when to come back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Throttle {
    /// Pause the host this long, then send the URL again.
    Retry(Duration),
    /// Keep the answer, with why as the row's `error_detail`; the host still pauses this long.
    GiveUp { pause: Duration, detail: String },
}

/// The decision after a throttling answer: `status` with its `retry_after`, for a URL that was
/// retried `retries` times and has waited `waited` for it already. Each URL may wait up to
/// `max_retry_wait` in all, and is never sent again before the time the server asked for: a
/// longer wait keeps the answer at once (and does not pause the host, whose other URLs would
/// only wait to be refused alike). `None` when the answer does not ask to slow down (a 503
/// without Retry-After is a plain server error).
pub fn after_throttle(
    policy: &HostPolicy,
    status: u16,
    retry_after: Option<Duration>,
    retries: u32,
    waited: Duration,
) -> Option<Throttle> {
    if !(status == 429 || status == 503 && retry_after.is_some()) {
        return None;
    }
    // Without Retry-After: 1 s, 2 s, 4 s, ...
    let asked = retry_after.unwrap_or(Duration::from_secs(1 << retries.min(16)));
    if waited + asked > policy.max_retry_wait {
        let detail = format!(
            "{status}: waiting {:.1} s more (Retry-After, or 1 s, 2 s, 4 s... without one) would pass \
             --max-retry-wait {:.1} s, {:.1} s waited; not sent again",
            asked.as_secs_f64(),
            policy.max_retry_wait.as_secs_f64(),
            waited.as_secs_f64()
        );
        return Some(Throttle::GiveUp {
            pause: Duration::ZERO,
            detail,
        });
    }
    if retries >= policy.retries_429 {
        let detail = format!(
            "{status} again after {retries} retries (--retries-429 {})",
            policy.retries_429
        );
        return Some(Throttle::GiveUp { pause: asked, detail });
    }
    Some(Throttle::Retry(asked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(90)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        // The obsolete forms RFC 9110 still asks recipients to accept.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "1.5", "soon", "Tue, 32 Nov 2023 00:00:00 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn throttling_answers_are_retried_within_the_budget_and_say_why_not() {
        let p = HostPolicy {
            max_retry_wait: Duration::from_secs(10),
            retries_429: 2,
            ..HostPolicy::default()
        };
        let secs = Duration::from_secs;
        assert_eq!(after_throttle(&p, 200, None, 0, secs(0)), None);
        assert_eq!(after_throttle(&p, 503, None, 0, secs(0)), None, "a plain 503");
        assert_eq!(
            after_throttle(&p, 503, Some(secs(2)), 0, secs(0)),
            Some(Throttle::Retry(secs(2)))
        );
        assert_eq!(
            after_throttle(&p, 429, None, 1, secs(0)),
            Some(Throttle::Retry(secs(2))),
            "no Retry-After: 1 s, 2 s, 4 s"
        );
        assert!(
            matches!(
                after_throttle(&p, 429, None, 1, secs(9)),
                Some(Throttle::GiveUp { .. })
            ),
            "the backoff, too, stays within the budget"
        );
        let Some(Throttle::GiveUp { pause, detail }) = after_throttle(&p, 429, Some(secs(8)), 1, secs(5))
        else {
            panic!("8 s asked, 5 s left");
        };
        assert_eq!(pause, Duration::ZERO);
        assert!(
            detail.contains("waiting 8.0 s more") && detail.contains("--max-retry-wait 10.0 s, 5.0 s waited"),
            "{detail}"
        );
        let Some(Throttle::GiveUp { pause, detail }) = after_throttle(&p, 429, Some(secs(1)), 2, secs(2))
        else {
            panic!("out of retries");
        };
        assert_eq!(pause, secs(1), "the host still gets its pause");
        assert!(detail.contains("after 2 retries (--retries-429 2)"), "{detail}");
        let none = HostPolicy {
            max_retry_wait: Duration::ZERO,
            ..p
        };
        assert!(matches!(
            after_throttle(&none, 429, None, 0, secs(0)),
            Some(Throttle::GiveUp { .. })
        ));
    }
}
