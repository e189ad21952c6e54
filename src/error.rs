//! Fatal errors: problems with the user's own flags, input or output. A URL that fails to answer
//! is never an `Error`; it is a row (see `record`).

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::exit_code::Exit;

#[derive(Debug, Error)]
pub enum Error {
    /// A flag or flag combination that cannot work.
    #[error("{flag}: {message}")]
    Usage { flag: &'static str, message: String },
    /// An input file that cannot be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Input { path: PathBuf, source: io::Error },
    /// A file whose content is not what the flag expects (resume file, CA bundle, ...).
    #[error("{}: {message}", path.display())]
    InputContent { path: PathBuf, message: String },
    /// The output could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Output { path: PathBuf, source: io::Error },
    /// The runtime, a socket or the TLS set-up failed for reasons outside the user's input.
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    /// Another process held the output file's lock for all of `--lock-wait`; nothing changed.
    #[error(
        "{} is being written by another healthcheck ({}); gave up after {} s (--lock-wait)",
        path.display(),
        holder.map_or("pid unknown: on another machine or in another container".to_string(), |pid| format!("pid {pid}")),
        waited.as_secs_f64()
    )]
    Locked {
        path: PathBuf,
        holder: Option<u32>,
        waited: std::time::Duration,
    },
    /// Ctrl-C or SIGTERM before the run began (while waiting for the output's lock).
    #[error("interrupted while waiting for {}; nothing was changed", path.display())]
    Interrupted { path: PathBuf },
}

impl Error {
    pub fn usage(flag: &'static str, message: impl Into<String>) -> Self {
        Error::Usage {
            flag,
            message: message.into(),
        }
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage { .. } | Error::Input { .. } | Error::InputContent { .. } | Error::Locked { .. } => {
                Exit::Usage
            }
            Error::Output { .. } => Exit::Output,
            Error::Io { .. } => Exit::Internal,
            Error::Interrupted { .. } => Exit::Interrupted,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The outcome of writing to stdout: a reader that went away (`| head`) is a quiet, successful
/// end, not an error; anything else is an output error.
pub fn stdout_written(result: io::Result<()>) -> Result<()> {
    match result {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::Output {
            path: "<stdout>".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}
