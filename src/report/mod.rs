//! Looking at the data after a run: `report` reads the rows back and `sweep` compares runs.
//! Counting is pure (`aggregate` with `latency`, `certs` and `timings`, `sweep`), reading is streamed
//! (`read`), and the two renderings, text for the terminal (`terminal`) and charts for files
//! (`charts` as data, `draw` to SVG and PNG), are separate so each can be tested on its own.
//! `diff` joins two runs on their URLs and `changes` puts what changed into words.

pub mod aggregate;
pub mod certs;
pub mod changes;
pub mod charts;
pub mod diff;
pub mod draw;
pub mod latency;
pub mod read;
pub mod sweep;
pub mod terminal;
pub mod timings;

use std::io::{self, Write};

use crate::error::{stdout_written, Result};

/// Print to stdout; a reader that went away (`| head`) is a quiet success, not an error.
pub fn write_stdout(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    stdout_written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}
