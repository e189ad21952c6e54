//! `--shard K/N` (or `auto`, see `shard_env`) and `--resume` as one filter over the entries of a
//! run, in input order.

use std::collections::HashSet;
use std::io;
use std::str::FromStr;

use super::targets::Target;

/// `--shard K/N`: keep the entries whose position modulo N is K. Interleaved, so each shard gets
/// a fair share of any region of the input (slow hosts often cluster). With `--shard-by host`,
/// the host's hash modulo N instead: every URL of a host lands in the same shard, so per-host
/// politeness holds across machines, at the price of uneven shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
    pub by: ShardBy,
    /// Where K and N came from, for the summary.
    pub from: ShardFrom,
}

/// Where a shard's K and N came from: `--shard K/N`, or `--shard auto` and an engine's variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardFrom {
    #[default]
    Flag,
    /// A Slurm job array: `SLURM_ARRAY_TASK_*`.
    Slurm,
    /// A Kubernetes Indexed Job: `JOB_COMPLETION_INDEX`.
    Kubernetes,
}

/// `--shard`: K/N as given, or `auto`, resolved from the environment once flags are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    Given(Shard),
    Auto,
}

impl ShardArg {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(ShardArg::Auto);
        }
        Shard::parse(s).map(ShardArg::Given)
    }
}

/// What `--shard` splits on (`--shard-by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardBy {
    /// The entry's position: even shares.
    #[default]
    Position,
    /// The URL's host name: each host in one shard.
    Host,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not `auto` or K/N with 0 <= K < N");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index = k.trim().parse::<u64>().map_err(|_| bad())?;
        let count = n.trim().parse::<u64>().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard {
            index,
            count,
            by: ShardBy::Position,
            from: ShardFrom::Flag,
        })
    }

    /// Whether this shard keeps the entry at `position` whose host (or, without one, whose
    /// text) is `host`.
    pub fn keeps(&self, position: u64, host: &str) -> bool {
        let n = match self.by {
            ShardBy::Position => position,
            // Fixed and case-folded: every machine of the run puts a host in the same shard.
            ShardBy::Host => crate::hash::name_hash(host, 0),
        };
        n % self.count == self.index
    }

    /// How many of `total` entries this shard keeps; unknown when split by host.
    pub fn share_of(&self, total: u64) -> Option<u64> {
        match self.by {
            ShardBy::Position => Some(total / self.count + u64::from(total % self.count > self.index)),
            ShardBy::Host => None,
        }
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Shard::parse(s)
    }
}

impl Target {
    /// What `--shard-by host` hashes: the host name, or the line of an invalid target.
    pub fn shard_key(&self) -> &str {
        match self {
            Target::Valid { url, .. } => url.host_str().unwrap_or(""),
            Target::Invalid { line, .. } => line,
        }
    }
}

/// Apply `--shard` and `--resume` to a stream of entries; positions count from 0 over all
/// entries, so every shard sees the same numbering. `key` is what `--resume` matches, `host` what
/// `--shard-by host` hashes.
pub fn select<I, T>(
    entries: I,
    shard: Option<Shard>,
    done: Option<HashSet<String>>,
    key: impl Fn(&T) -> &str,
    host: impl Fn(&T) -> &str,
) -> impl Iterator<Item = I::Item>
where
    I: Iterator<Item = io::Result<T>>,
{
    entries.enumerate().filter_map(move |(i, entry)| {
        let entry = match entry {
            Err(e) => return Some(Err(e)),
            Ok(entry) => entry,
        };
        if shard.is_some_and(|s| !s.keeps(i as u64, host(&entry))) {
            return None;
        }
        if done.as_ref().is_some_and(|d| d.contains(key(&entry))) {
            return None;
        }
        Some(Ok(entry))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::targets::Scheme;

    fn shard(index: u64, count: u64, by: ShardBy) -> Shard {
        Shard {
            index,
            count,
            by,
            from: ShardFrom::Flag,
        }
    }

    #[test]
    fn shards_partition_the_positions() {
        let shards: Vec<Shard> = (0..3).map(|k| shard(k, 3, ShardBy::Position)).collect();
        for pos in 0..100 {
            assert_eq!(shards.iter().filter(|s| s.keeps(pos, "a.com")).count(), 1);
        }
        let total = 10;
        assert_eq!(
            shards.iter().map(|s| s.share_of(total)).collect::<Vec<_>>(),
            [Some(4), Some(3), Some(3)]
        );
        assert_eq!(Shard::parse("1/4"), Ok(shard(1, 4, ShardBy::Position)));
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2", "auto"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ShardArg::parse("Auto"), Ok(ShardArg::Auto));
        assert_eq!(
            ShardArg::parse("1/4"),
            Ok(ShardArg::Given(shard(1, 4, ShardBy::Position)))
        );
        assert!(ShardArg::parse("auto/4").unwrap_err().contains("`auto` or K/N"));
    }

    #[test]
    fn select_applies_shard_then_resume() {
        let items = (0..6).map(|i| Ok(format!("u{i}")));
        let done: HashSet<String> = ["u2".to_string()].into();
        let kept: Vec<String> = select(
            items,
            Some(shard(0, 2, ShardBy::Position)),
            Some(done),
            |s: &String| s.as_str(),
            |s: &String| s.as_str(),
        )
        .map(Result::unwrap)
        .collect();
        assert_eq!(kept, ["u0", "u4"]);
    }

    #[test]
    fn sharding_by_host_keeps_each_host_in_one_shard_and_uses_every_shard() {
        let shards: Vec<Shard> = (0..4).map(|k| shard(k, 4, ShardBy::Host)).collect();
        let mut used = [0; 4];
        for site in 0..40 {
            for (position, page) in (0..5).enumerate() {
                let target = Target::parse(&format!("https://S{site}.test/{page}"), Scheme::Https);
                let keeping: Vec<usize> = (0..4)
                    .filter(|&k| shards[k].keeps(position as u64 + site, target.shard_key()))
                    .collect();
                assert_eq!(keeping.len(), 1);
                let lower = Target::parse(&format!("http://s{site}.test:8080/"), Scheme::Https);
                assert!(
                    shards[keeping[0]].keeps(0, lower.shard_key()),
                    "case and port aside"
                );
                used[keeping[0]] += 1;
            }
        }
        assert!(used.iter().all(|&n| n > 0), "{used:?}");
        assert_eq!(shards[0].share_of(10), None);
    }
}
