//! Open-file limits. Every check in flight holds a socket; with the default soft limit of 1024 a
//! concurrency of 5,000 would fail mid-run with EMFILE and turn good URLs into errors. So raise the
//! soft limit toward the hard one at start, and if it still cannot fit, lower the concurrency with
//! a warning instead.

/// File descriptors kept for everything that is not a probe socket: stdio, the output, the
/// runtime.
const RESERVED: u64 = 64;

/// Simultaneous DNS look-ups (see `resolve`); each may hold two UDP sockets (A and AAAA).
pub const DNS_CONCURRENCY: usize = 256;

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

fn fitting(requested: usize, limit: u64) -> usize {
    let room = limit.saturating_sub(RESERVED + 2 * DNS_CONCURRENCY as u64);
    requested.min(usize::try_from(room).unwrap_or(usize::MAX)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_lowered_to_fit_the_limit() {
        assert_eq!(fitting(100, 1024), 100);
        assert_eq!(fitting(10_000, 20_000), 10_000);
        assert_eq!(fitting(5000, 1024), 448);
        assert_eq!(fitting(5000, 10), 1);
        assert_eq!(fitting(5000, 1_048_576), 5000);
    }
}
