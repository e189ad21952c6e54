//! `--shard auto`: K and N from the variables of the job engine that started the process, so
//! that one job script or manifest serves every task and a retried task keeps its shard.
//!
//! - Slurm job arrays set `SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_MIN`, `_MAX`, `_COUNT` and
//!   `_STEP`. Users write `--array=1-16` as often as `--array=0-15`, so K counts from the
//!   array's first task: K = (ID - MIN) / STEP, N = COUNT (or the range's length).
//! - Kubernetes Indexed Jobs set `JOB_COMPLETION_INDEX` (0 to completions - 1) but nothing says
//!   how many there are: N is `--shard-count` (or `HEALTHCHECK_SHARD_COUNT`, which a manifest
//!   sets beside `completions`).
//!
//! With `--shard-count N`, a Slurm task's ID is K as it is (an array numbered from 0): a task
//! submitted again on its own (`sbatch --array=5`) forms an array of one, whose MIN and COUNT
//! would otherwise make it shard 0/1, every target, appended to shard 5's file.

use super::shard::{Shard, ShardArg, ShardBy, ShardFrom};
use crate::error::{Error, Result};

/// The flag every error here names.
const FLAG: &str = "--shard auto";

/// The shard a run checks: `--shard K/N` as given, `--shard auto` from the environment (read
/// through `var`), or none. `count` is `--shard-count`; given with K/N, it must agree.
pub fn resolve(
    arg: Option<ShardArg>,
    count: Option<u64>,
    by: ShardBy,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Shard>> {
    let shard = match arg {
        None => return Ok(None),
        Some(ShardArg::Given(shard)) => {
            if let Some(count) = count.filter(|&c| c != shard.count) {
                return Err(Error::usage(
                    "--shard-count",
                    format!(
                        "{count} (or HEALTHCHECK_SHARD_COUNT) disagrees with --shard {}/{}",
                        shard.index, shard.count
                    ),
                ));
            }
            shard
        }
        Some(ShardArg::Auto) => from_env(var, count).map_err(|m| Error::usage(FLAG, m))?,
    };
    Ok(Some(Shard { by, ..shard }))
}

/// K/N from the engine's variables; the message says what is missing or wrong.
fn from_env(var: impl Fn(&str) -> Option<String>, count: Option<u64>) -> Result<Shard, String> {
    let number = |name: &str| -> Result<Option<u64>, String> {
        var(name)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{name}=`{v}` is not a number"))
            })
            .transpose()
    };
    let slurm = number("SLURM_ARRAY_TASK_ID")?;
    let kubernetes = number("JOB_COMPLETION_INDEX")?;
    let (index, count, from) = match (slurm, kubernetes) {
        (Some(_), Some(_)) => {
            return Err("both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are set: \
                        give --shard K/N"
                .into())
        }
        (Some(id), None) => {
            let (index, count) = slurm_shard(id, count, number)?;
            (index, count, ShardFrom::Slurm)
        }
        (None, Some(index)) => {
            let count = count.ok_or(
                "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but not the number of \
                 shards: give --shard-count N, or set HEALTHCHECK_SHARD_COUNT to the Job's completions",
            )?;
            (index, count, ShardFrom::Kubernetes)
        }
        (None, None) if var("SLURM_JOB_ID").is_some() => {
            return Err(
                "this Slurm job is not a job array (no SLURM_ARRAY_TASK_ID): submit it \
                        with sbatch --array=0-N, or give --shard K/N"
                    .into(),
            )
        }
        (None, None) => {
            return Err(
                "no shard in the environment: neither SLURM_ARRAY_TASK_ID (a Slurm job \
                        array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; \
                        give --shard K/N"
                    .into(),
            )
        }
    };
    if index >= count {
        return Err(format!(
            "shard {index} of {count} is out of range: {}",
            match (from, count) {
                (ShardFrom::Slurm, _) => "with --shard-count N, number the array from 0 (--array=0-{N-1})",
                _ => "--shard-count (or HEALTHCHECK_SHARD_COUNT) must be the Job's completions",
            }
        ));
    }
    Ok(Shard {
        index,
        count,
        by: ShardBy::default(),
        from,
    })
}

/// A Slurm array task's (K, N): see the module's doc.
fn slurm_shard(
    id: u64,
    count: Option<u64>,
    number: impl Fn(&str) -> Result<Option<u64>, String>,
) -> Result<(u64, u64), String> {
    if let Some(count) = count {
        return Ok((id, count));
    }
    let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
    let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
    let max = number("SLURM_ARRAY_TASK_MAX")?;
    let tasks = number("SLURM_ARRAY_TASK_COUNT")?;
    let count = match (tasks, max) {
        (Some(tasks), _) => tasks,
        (None, Some(max)) if max >= min => (max - min) / step + 1,
        (None, _) => {
            return Err(
                "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor \
                 SLURM_ARRAY_TASK_MAX: give --shard-count N"
                    .into(),
            )
        }
    };
    let regular = max.is_none_or(|max| min + (count.saturating_sub(1)) * step == max);
    if !regular || id < min || (id - min) % step != 0 {
        return Err(format!(
            "the job array is not a range (tasks {min}..={}, {count} of them, step {step}): \
             give --shard-count N, and task IDs from 0 to N-1",
            max.map_or("?".to_string(), |m| m.to_string())
        ));
    }
    if count == 1 {
        return Err(format!(
            "the job array has one task ({id}), as when a task is submitted again on its own \
             (sbatch --array={id}): give --shard-count N (or HEALTHCHECK_SHARD_COUNT) so that \
             it checks shard {id}/N, not every target"
        ));
    }
    Ok(((id - min) / step, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    }

    fn auto(vars: &[(&str, &str)], count: Option<u64>) -> Result<(u64, u64, ShardFrom), String> {
        resolve(Some(ShardArg::Auto), count, ShardBy::Position, env(vars))
            .map(|s| {
                let s = s.expect("a shard");
                (s.index, s.count, s.from)
            })
            .map_err(|e| {
                assert_eq!(e.exit(), crate::exit_code::Exit::Usage);
                e.to_string()
            })
    }

    #[test]
    fn a_slurm_array_gives_k_from_its_first_task_and_n_from_its_count() {
        let array = |id: &'static str, min: &'static str, max: &'static str, count: &'static str| {
            [
                ("SLURM_JOB_ID", "17"),
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_MIN", min),
                ("SLURM_ARRAY_TASK_MAX", max),
                ("SLURM_ARRAY_TASK_COUNT", count),
                ("SLURM_ARRAY_TASK_STEP", "1"),
            ]
        };
        let slurm = ShardFrom::Slurm;
        assert_eq!(auto(&array("0", "0", "3", "4"), None), Ok((0, 4, slurm)));
        assert_eq!(auto(&array("3", "0", "3", "4"), None), Ok((3, 4, slurm)));
        assert_eq!(auto(&array("1", "1", "16", "16"), None), Ok((0, 16, slurm)));
        assert_eq!(auto(&array("16", "1", "16", "16"), None), Ok((15, 16, slurm)));
        // --array=0-30:10: tasks 0, 10, 20, 30.
        let stepped = |id| {
            [
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_MAX", "30"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
                ("SLURM_ARRAY_TASK_STEP", "10"),
            ]
        };
        assert_eq!(auto(&stepped("20"), None), Ok((2, 4, slurm)));
        // MIN and MAX alone (no COUNT): the range's length.
        let no_count = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "2"),
            ("SLURM_ARRAY_TASK_MAX", "9"),
        ];
        assert_eq!(auto(&no_count, None), Ok((3, 8, slurm)));
        // --shard-count: the ID is K as it is, whatever the array's range.
        assert_eq!(auto(&array("5", "5", "5", "1"), Some(8)), Ok((5, 8, slurm)));
        assert_eq!(auto(&array("2", "2", "3", "2"), Some(4)), Ok((2, 4, slurm)));
    }

    #[test]
    fn slurm_arrays_that_do_not_say_k_of_n_are_refused_with_the_way_out() {
        // A task submitted again on its own: an array of one.
        let alone = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
            ("SLURM_ARRAY_TASK_MAX", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "1"),
        ];
        let err = auto(&alone, None).unwrap_err();
        assert!(err.starts_with("--shard auto: "), "{err}");
        assert!(
            err.contains("--shard-count") && err.contains("sbatch --array=5"),
            "{err}"
        );
        // --array=1,4,5: not a range.
        let list = [
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert!(auto(&list, None).unwrap_err().contains("not a range"));
        let past = [("SLURM_ARRAY_TASK_ID", "8")];
        assert!(auto(&past, Some(8)).unwrap_err().contains("--array=0-"));
        let garbage = [("SLURM_ARRAY_TASK_ID", "x")];
        assert!(auto(&garbage, None)
            .unwrap_err()
            .contains("SLURM_ARRAY_TASK_ID=`x`"));
        let not_array = [("SLURM_JOB_ID", "12")];
        assert!(auto(&not_array, None).unwrap_err().contains("not a job array"));
    }

    #[test]
    fn a_kubernetes_indexed_job_gives_k_and_the_count_gives_n() {
        let pod = [("JOB_COMPLETION_INDEX", "7")];
        assert_eq!(auto(&pod, Some(8)), Ok((7, 8, ShardFrom::Kubernetes)));
        let err = auto(&pod, None).unwrap_err();
        assert!(
            err.contains("--shard-count") && err.contains("HEALTHCHECK_SHARD_COUNT"),
            "{err}"
        );
        assert!(auto(&pod, Some(7)).unwrap_err().contains("out of range"));
    }

    #[test]
    fn no_engine_or_two_engines_is_a_usage_error() {
        let err = auto(&[], Some(4)).unwrap_err();
        assert!(
            err.contains("no shard in the environment") && err.contains("--shard K/N"),
            "{err}"
        );
        let both = [("SLURM_ARRAY_TASK_ID", "1"), ("JOB_COMPLETION_INDEX", "1")];
        assert!(auto(&both, Some(4)).unwrap_err().contains("both"));
    }

    #[test]
    fn a_given_shard_keeps_its_k_and_n_and_takes_the_split() {
        let given = Shard::parse("1/4").unwrap();
        let got = resolve(Some(ShardArg::Given(given)), Some(4), ShardBy::Host, env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.index, got.count, got.by, got.from),
            (1, 4, ShardBy::Host, ShardFrom::Flag)
        );
        let err = resolve(Some(ShardArg::Given(given)), Some(8), ShardBy::Host, env(&[])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--shard-count: 8 (or HEALTHCHECK_SHARD_COUNT) disagrees"),
            "{err}"
        );
        assert_eq!(resolve(None, Some(8), ShardBy::Position, env(&[])).unwrap(), None);
    }
}
