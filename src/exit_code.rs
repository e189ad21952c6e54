//! The process exit codes, in one place so the README, `main` and the tests agree.

/// Why the process ended. The numbers are part of the interface: scripts test them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The run completed, whatever the URLs answered.
    Ok,
    /// `--fail-on-unhealthy` was given and at least one URL was unhealthy.
    Unhealthy,
    /// `--fail-on-cert-expiring DAYS` was given and a certificate has fewer than DAYS days
    /// left. The same code as `Unhealthy`: both say "look at the rows".
    CertExpiring,
    /// `diff --fail-on KINDS` was given and a change of one of those kinds was found.
    Changed,
    /// Bad flags or unreadable input; nothing (or only the header) was checked.
    Usage,
    /// The output could not be written (disk full, permission, ...).
    Output,
    /// The tool itself could not run: the async runtime, a thread or the TLS set-up failed to
    /// start. Not the user's input, so not `Usage`: retrying, or raising a limit, may help.
    Internal,
    /// SIGINT or SIGTERM stopped the run; finished rows were written and flushed.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Unhealthy | Exit::CertExpiring | Exit::Changed => 1,
            Exit::Usage => 2,
            Exit::Output => 3,
            Exit::Internal => 4,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let all = [
            Exit::Ok,
            Exit::Unhealthy,
            Exit::CertExpiring,
            Exit::Changed,
            Exit::Usage,
            Exit::Output,
            Exit::Internal,
            Exit::Interrupted,
        ];
        let codes: Vec<u8> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 1, 1, 2, 3, 4, 130]);
    }
}
