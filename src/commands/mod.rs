//! One module per subcommand; each parses nothing itself and returns an `Exit`.

pub mod check;
pub mod counter;
pub mod demo;
pub mod hello;
pub mod serve;
