//! The check itself, stage by stage: `targets` (what to check) -> `hosts` (the per-host
//! scheduler) -> `pipeline` (the one concurrent stage, a `probe` per target) -> `sink` (the one
//! writer), with `resume`, `lock`, `summary`, `progress` and `limits` around them. It takes a validated [`config::CheckConfig`] and knows
//! nothing of the command line; it reaches the network only through `net`.

pub mod config;
pub mod expect;
pub mod hosts;
pub mod limits;
pub mod lock;
pub mod pipeline;
pub mod probe;
pub mod progress;
pub mod resume;
pub mod shard;
pub mod shard_env;
pub mod sink;
pub mod sitemap;
pub mod summary;
pub mod targets;
