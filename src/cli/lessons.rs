//! The flags of the two lessons (`lessons::hello`, `lessons::counter`).

use std::time::Duration;

use clap::Args;

use super::parse::parse_secs_in;

#[derive(Debug, Args)]
pub struct HelloArgs {
    /// Spawn N tasks and have each print its task id and the worker thread that ran it.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(0..=100_000)
    )]
    pub tasks: u32,
}

/// The most tasks `counter` accepts: each costs a few hundred bytes and one line of output.
const MAX_TASKS: i64 = 1_000_000;

/// The longest `--sleep`, in seconds.
const MAX_SLEEP_SECS: f64 = 3_600.0;

#[derive(Debug, Args)]
pub struct CounterArgs {
    /// How many tasks to spawn; each sleeps, adds one to the shared counter and prints it.
    #[arg(value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_TASKS))]
    pub tasks: u32,

    /// Read, increment and print under one lock guard: prints are 1..N in order, none lost.
    #[arg(long)]
    pub lock: bool,

    /// Await every task before printing `done`; without it `done` comes right after spawning.
    #[arg(long)]
    pub wait: bool,

    /// Seconds each task sleeps before it touches the counter (0 to 3600, fractions allowed).
    #[arg(
        long,
        value_name = "SECS",
        default_value = "1",
        value_parser = parse_sleep,
        allow_negative_numbers = true
    )]
    pub sleep: Duration,

    /// Worker threads of the runtime (default: one per CPU); 1 makes the interleaving easier to
    /// reason about.
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

fn parse_sleep(s: &str) -> Result<Duration, String> {
    parse_secs_in(s, true, MAX_SLEEP_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_takes_zero_to_an_hour_of_seconds() {
        assert_eq!(parse_sleep("0.2"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_sleep("0"), Ok(Duration::ZERO));
        assert!(parse_sleep("-1").is_err());
        assert!(parse_sleep("3601").is_err());
        assert!(parse_sleep("NaN").is_err());
        assert!(parse_sleep("soon").is_err());
    }
}
