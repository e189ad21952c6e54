#!/bin/bash
# Split one healthcheck run over a Slurm job array: array task K checks shard K/N (--shard auto
# reads SLURM_ARRAY_TASK_ID, _MIN and _COUNT), into shard-K.csv in the submit directory. The
# shards are disjoint and together hold every target once; merge them as docs/usage.md says.
#
#   sbatch deploy/slurm-array.sh                       # 8 tasks: the 17,576 three-letter .com names
#   sbatch --array=0-15 deploy/slurm-array.sh -i urls.txt   # 16 tasks over a list; flags go to healthcheck
#
# Every task resumes its own file, so a task that was cancelled, preempted, hit its time limit
# or lost its node finishes where it stopped when it runs again: `scontrol requeue JOBID_K`, or
# `sbatch --array=K --export=ALL,HEALTHCHECK_SHARD_COUNT=8 deploy/slurm-array.sh` (a task
# submitted on its own forms an array of one, so say N; its task ID is then K). While the task
# that was stopped still finishes its checks in flight, the new one waits for its lock on the
# file (at most --lock-wait, 30 s), so no row is written twice.
# scripts/slurm-e2e.sh runs this script on a one-node cluster.
#SBATCH --job-name=healthcheck
#SBATCH --array=0-7
#SBATCH --cpus-per-task=1
#SBATCH --output=shard-%a.log
set -euo pipefail
# exec: healthcheck takes the place of this shell, so Slurm's SIGTERM (scancel, a time limit, a
# preemption) reaches it, Slurm waits while it finishes its checks in flight and flushes, and the
# job's exit code is healthcheck's (0 done, 130 stopped, 2 bad input, 3 output failed). Without
# exec, the shell dies at once, the job counts as ended, and healthcheck may go on alone.
exec healthcheck --shard auto --resume "shard-${SLURM_ARRAY_TASK_ID}.csv" \
    --summary-json "shard-${SLURM_ARRAY_TASK_ID}.json" "$@"
