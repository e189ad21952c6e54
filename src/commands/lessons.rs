//! `healthcheck hello` and `healthcheck counter`: the flags, handed to the lessons in `lessons`.

use crate::cli::{CounterArgs, HelloArgs};
use crate::error::Result;
use crate::exit_code::Exit;
use crate::lessons::counter::{self, Replay};
use crate::lessons::hello;

pub fn hello(args: HelloArgs) -> Result<Exit> {
    hello::run(args.tasks)
}

pub fn counter(args: CounterArgs) -> Result<Exit> {
    counter::run(Replay {
        tasks: args.tasks,
        lock: args.lock,
        wait: args.wait,
        sleep: args.sleep,
        threads: args.threads.map(usize::from),
    })
}
