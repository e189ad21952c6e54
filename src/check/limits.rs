//! Open-file limits. Every check in flight holds a socket; with the default soft limit of 1024 a
//! concurrency of 5,000 would fail mid-run with EMFILE and turn good URLs into errors. So raise the
//! soft limit toward the hard one at start, and if it still cannot fit, lower the concurrency with
//! a warning instead (the summary says what ran).

/// File descriptors kept for everything that is not a probe's: stdio, the input and output
/// files, the runtime's poller and wakers, the signal pipe.
const MARGIN: u64 = 32;

/// Simultaneous DNS look-ups (see `resolve`); each may hold two UDP sockets (A and AAAA). More
/// than this in flight only queue: a name server answers 64 look-ups at a time as fast as more.
pub const DNS_CONCURRENCY: usize = 64;

/// A probe holds one socket, and a second for a moment during a dual-stack race (Happy
/// Eyeballs). Room is kept for one probe in this many racing at once; past that, a socket that
/// cannot be opened is a `local` failure, which the probe waits out and tries again.
const RACING_ONE_IN: u64 = 4;

/// The concurrency that fits under the open-files limit, after trying to raise it.
pub fn fit_concurrency(requested: usize) -> usize {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or_else(|e| {
        tracing::debug!("cannot raise the open-files limit: {e}");
        rlimit::getrlimit(rlimit::Resource::NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(1024)
    });
    let fits = fitting(requested, limit);
    if fits < requested {
        tracing::warn!(
            "concurrency {requested} does not fit the open-files limit ({limit}); using {fits} (raise it with `ulimit -n`)"
        );
    }
    fits
}

/// The descriptors a run at `concurrency` may hold at once.
fn needed(concurrency: u64) -> u64 {
    let dns = 2 * concurrency.min(DNS_CONCURRENCY as u64);
    concurrency + concurrency.div_ceil(RACING_ONE_IN) + dns + MARGIN
}

/// The largest concurrency up to `requested` whose descriptors fit under `limit`, at least 1.
fn fitting(requested: usize, limit: u64) -> usize {
    let requested = requested.max(1) as u64;
    if needed(requested) <= limit {
        return requested as usize;
    }
    // `needed` grows with the concurrency: bisect for the largest that fits.
    let (mut fits, mut too_many) = (1, requested);
    while too_many - fits > 1 {
        let mid = fits + (too_many - fits) / 2;
        if needed(mid) <= limit {
            fits = mid;
        } else {
            too_many = mid;
        }
    }
    fits as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_lowered_to_fit_the_limit_and_no_further() {
        assert_eq!(fitting(100, 1024), 100);
        assert_eq!(fitting(500, 1024), 500, "the default fits the common limit");
        assert_eq!(fitting(10_000, 20_000), 10_000);
        assert_eq!(fitting(5000, 256), 76);
        assert!(needed(76) <= 256 && needed(77) > 256);
        assert_eq!(fitting(5000, 1024), 691);
        assert!(needed(691) <= 1024 && needed(692) > 1024);
        assert_eq!(fitting(5000, 10), 1);
        assert_eq!(fitting(5000, 1_048_576), 5000);
    }
}
