//! The thin binary: parse, set up logging, run, map the outcome to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use healthcheck::cli::Cli;
use tracing_subscriber::EnvFilter;

// Peak memory stays flat over hundreds of thousands of URLs with jemalloc; glibc's heap
// fragments slowly under connection buffers of mixed lifetimes (README, "Performance").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print and exit 0; a usage error is one line and exit 2.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.to_string();
            let line = text.lines().next().unwrap_or_default();
            eprintln!("healthcheck: {}", line.trim_start_matches("error: "));
            return healthcheck::exit_code::Exit::Usage.into();
        }
    };
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = cli.color.enabled(std::io::stderr().is_terminal(), no_color);
    // Logs go to stderr: stdout carries the rows.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .init();
    match healthcheck::run(cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("healthcheck: {e}");
            e.exit().into()
        }
    }
}
