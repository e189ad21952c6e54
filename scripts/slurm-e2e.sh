#!/usr/bin/env bash
# End-to-end test of sharded runs on a real Slurm (Debian's slurm-wlm 22.05), as root:
#  1. installs slurm-wlm and munge if missing (services are not started by the install);
#  2. starts munged, slurmctld and slurmd for a one-node cluster whose every file (munge key,
#     slurm.conf, state, spool, logs) is in a temp dir: no cgroups (proctrack/linuxproc,
#     task/none), no accounting, nothing in /etc;
#  3. runs deploy/slurm-array.sh (docs/usage.md's recipe) as a job array of 4 shards against
#     `healthcheck serve`, merges the shards as docs/usage.md does, and checks that every target
#     has exactly one row, equal to that of a single run on one machine, and that every task's
#     exit code reached Slurm; then cancels one task mid-run (Slurm must wait for healthcheck and
#     record its exit code, 130) and submits it again alone, which completes the shard;
#  4. runs one shard with the recipe's line *without* `exec` (a plain job script), cancels it
#     mid-run twice, each time submitting it again at once while the cancelled healthcheck still
#     finishes its checks in flight, and checks that the file ends complete, with no row twice;
#  5. stops every process it started (found by its temp dir, never by name) and removes the dir.
# At most 5 minutes (HEALTHCHECK_E2E_BUDGET seconds). HEALTHCHECK_BIN: the binary to test
# (default: target/release/healthcheck, built if missing). KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
START=$SECONDS
BUDGET=${HEALTHCHECK_E2E_BUDGET:-300}
SHARDS=4

say() { printf 'slurm-e2e [%3ds]: %s\n' $((SECONDS - START)) "$*" >&2; }
fail() {
    say "FAILED: $*"
    exit 1
}
# Wait until `$2...` succeeds, checking every 0.2 s, at most $1 seconds (and within the budget).
wait_for() {
    local limit=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < limit && SECONDS - START < BUDGET)) || return 1
        sleep 0.2
    done
}

if [[ $(id -u) != 0 ]]; then
    fail "runs as root (slurmd starts jobs as their user; CI is root)"
fi

# 1. Packages. A policy-rc.d (only if none exists, removed right after) keeps the package
#    scripts from starting munge and slurm with the system-wide configuration.
missing=
for tool in slurmctld slurmd sbatch scancel squeue scontrol sinfo munged mungekey python3; do
    command -v "$tool" >/dev/null || missing+=" $tool"
done
if [[ -n $missing ]]; then
    say "missing:$missing; installing slurm-wlm, munge and python3"
    policy=/usr/sbin/policy-rc.d
    added_policy=
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
    fi
    log=$(mktemp)
    install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge python3 >>"$log" 2>&1; }
    install || { apt-get update -qq >>"$log" 2>&1 && install; } || status=$?
    [[ -n $added_policy ]] && rm -f "$policy"
    [[ -z ${status:-} ]] || fail "apt-get install slurm-wlm munge python3 failed: $(tail -n 5 "$log")"
    rm -f "$log"
fi

BIN=${HEALTHCHECK_BIN:-$REPO/target/release/healthcheck}
if [[ ! -x $BIN ]]; then
    say "building $BIN"
    cargo build --release --locked --bin healthcheck
fi

W=$(mktemp -d /tmp/healthcheck-slurm-e2e.XXXXXX)
chmod 755 "$W" # munged wants every directory above its socket searchable
export SLURM_CONF=$W/slurm.conf

# 5. Every process this script started carries SLURM_CONF=$W/... in its environment or runs in
#    $W (daemons, slurmstepd, jobs, a healthcheck that outlived its job): end those, by PID.
ours() {
    local p
    for p in /proc/[0-9]*; do
        [[ ${p#/proc/} == "$$" || ${p#/proc/} == "$BASHPID" ]] && continue
        if grep -qzxF "SLURM_CONF=$SLURM_CONF" "$p/environ" 2>/dev/null ||
            [[ $(readlink "$p/cwd" 2>/dev/null) == "$W"* ]]; then
            echo "${p#/proc/}"
        fi
    done
}
cleanup() {
    local status=$? pids
    trap - EXIT
    set +e
    [[ -n ${CLUSTER:-} ]] && scancel --quiet --user=root 2>/dev/null
    for signal in TERM KILL; do
        pids=$(ours)
        [[ -z $pids ]] && break
        # shellcheck disable=SC2086 # one PID a word
        kill -s "$signal" $pids 2>/dev/null
        wait_for 10 bash -c "! kill -0 ${pids//$'\n'/ } 2>/dev/null"
    done
    pids=$(ours)
    [[ -n $pids ]] && { say "still running: $pids"; status=1; }
    if [[ $status == 0 && -z ${KEEP:-} ]]; then
        rm -rf "$W"
    else
        say "logs and files kept in $W"
    fi
    say "took $((SECONDS - START)) s; $([[ $status == 0 ]] && echo passed || echo FAILED)"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 2. munge, with a key of its own; then a one-node cluster.
mkdir -p "$W/munge" "$W/run" "$W/state" "$W/spool" "$W/bin" "$W/single" "$W/array" "$W/plain"
chmod 700 "$W/munge"
mungekey --create --keyfile="$W/munge/munge.key" >/dev/null
munged --foreground --socket="$W/run/munge.socket" --key-file="$W/munge/munge.key" \
    --log-file="$W/munge/munged.log" --pid-file="$W/run/munged.pid" \
    --seed-file="$W/munge/munged.seed" >>"$W/munge/munged.out" 2>&1 &
wait_for 10 test -S "$W/run/munge.socket" || fail "munged did not start: $(cat "$W/munge/munged.out")"

# A port nothing listens on, below the ephemeral range (where the kernel hands out ports to
# every outgoing connection and `listen 0`, and so may take it before slurmd binds it).
free_port() {
    local low high from to port
    read -r low high </proc/sys/net/ipv4/ip_local_port_range
    if ((low > 11000)); then from=10000 to=$low; else from=$((high + 1)) to=65536; fi
    while :; do
        port=$((from + RANDOM % (to - from)))
        python3 -c 'import socket,sys; socket.socket().bind(("", int(sys.argv[1])))' "$port" 2>/dev/null &&
            { echo "$port"; return; }
    done
}
NODE=$(hostname -s)
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
while [[ $SLURMD_PORT == "$CTLD_PORT" ]]; do SLURMD_PORT=$(free_port); done
cat >"$SLURM_CONF" <<EOF
ClusterName=e2e
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
AuthInfo=socket=$W/run/munge.socket
CredType=cred/munge
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/run/slurmctld.pid
SlurmdPidFile=$W/run/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# The node says 8 CPUs whatever the machine has, so that the 4 shards run at once.
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=30
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=e2e Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
CLUSTER=1
slurmctld -D -i >"$W/slurmctld.out" 2>&1 &
slurmd -D >"$W/slurmd.out" 2>&1 &
wait_for 30 bash -c '[[ $(sinfo -h -o %t 2>/dev/null) == idle ]]' ||
    fail "the node did not come up: $(tail -n 5 "$W/slurmctld.out" "$W/slurmd.out")"
say "cluster up: $(sinfo -h -o '%P %D node(s) %t')"

# The simulated internet, and healthcheck on the PATH the jobs inherit.
ln -s "$BIN" "$W/bin/healthcheck"
export PATH=$W/bin:$PATH
(cd "$W" && exec healthcheck serve --listen 127.0.0.1:0 --latency-scale 0.5 2>"$W/serve.log") &
wait_for 10 grep -qs 'HTTP and HTTPS on' "$W/serve.log" || fail "serve did not start"
ADDR=$(grep -o 'on 127[0-9.:]*' "$W/serve.log" | head -1 | cut -c4-)
# 8,000 names (20 letters, 3 long), 11% of which hang until the 5 s timeout: ~20 s a shard.
FLAGS=(--scheme http --resolve "*:0:$ADDR" --alphabet abcdefghijklmnopqrst --length 3)
TOTAL=8000

# The reference: one run on one machine.
(cd "$W/single" && healthcheck "${FLAGS[@]}" -c 400 -q -o single.csv) || fail "the single run failed"
say "single run: $(($(wc -l <"$W/single/single.csv") - 1)) rows"

job_done() { [[ -z $(squeue -h -j "$1" 2>/dev/null) ]]; }
# The exit codes of a job's tasks, as Slurm reports them ("0:0" = exit 0, no signal).
exit_codes() { scontrol -o show job "$1" | grep -o ' ExitCode=[0-9:]*' | sort | uniq -c | tr -s ' \n' ' '; }
# Rows with the columns that do not depend on timing, sorted; exits 1 if a URL is there twice.
rows() {
    python3 - "$@" <<'EOF'
import csv, sys
seen = {}
for path in sys.argv[1:]:
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["url"] in seen:
                sys.exit(f"{path}: {r['url']} has two rows")
            seen[r["url"]] = (r["status_code"], r["success"], r["exception"], r["final_url"], r["redirects"], r["method"])
for url in sorted(seen):
    print(url, *seen[url], sep=",")
EOF
}

# 3. The recipe as a job array of 4 shards.
ARRAY=$(sbatch --parsable --array=0-$((SHARDS - 1)) --chdir="$W/array" "$REPO/deploy/slurm-array.sh" "${FLAGS[@]}" -c 100)
say "job array $ARRAY: $SHARDS tasks of deploy/slurm-array.sh"
wait_for 150 job_done "$ARRAY" || fail "job array $ARRAY did not finish: $(squeue)"
codes=$(exit_codes "$ARRAY")
say "job array $ARRAY done; exit codes:$codes"
[[ $codes == " $SHARDS ExitCode=0:0 " ]] || fail "every task must exit 0: $codes; $(tail -n 3 "$W"/array/*.log)"
MERGE=$(grep -m1 -F 'tail -q -n +2 shard-*.csv' "$REPO/docs/usage.md") || fail "docs/usage.md gives no merge command"
(cd "$W/array" && sh -c "$MERGE") || fail "docs/usage.md's merge failed: $MERGE"
rows "$W/array/output.csv" >"$W/array/rows.txt" || fail "the merged shards hold a URL twice"
rows "$W/single/single.csv" >"$W/single/rows.txt"
[[ $(wc -l <"$W/array/rows.txt") == "$TOTAL" ]] || fail "the shards hold $(wc -l <"$W/array/rows.txt") of $TOTAL targets"
diff -q "$W/single/rows.txt" "$W/array/rows.txt" >/dev/null ||
    fail "the shards differ from the single run: $(diff "$W/single/rows.txt" "$W/array/rows.txt" | head -5)"
say "the $SHARDS shards hold each of the $TOTAL targets once, as the single run has them"
for k in $(seq 0 $((SHARDS - 1))); do
    python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sh=s["shard"]
assert (sh["index"], sh["count"], sh["from"]) == (int(sys.argv[2]), int(sys.argv[3]), "slurm"), sh' \
        "$W/array/shard-$k.json" "$k" "$SHARDS" || fail "shard-$k.json does not name shard $k/$SHARDS"
done

# 3b. The recipe's task cancelled mid-run: Slurm waits for healthcheck to finish its checks in
#     flight and records its exit code; the task submitted again alone completes the file.
exec_task() {
    sbatch --parsable --array=1 --export=ALL,HEALTHCHECK_SHARD_COUNT=$SHARDS --chdir="$W/exec" \
        --output="attempt-$1.log" "$REPO/deploy/slurm-array.sh" "${FLAGS[@]}" -c 100
}
mkdir -p "$W/exec"
job=$(exec_task 1)
wait_for 60 bash -c "(( \$(cat '$W/exec/shard-1.csv' 2>/dev/null | wc -l) > 300 ))" || fail "job $job wrote no rows"
scancel "$job"
wait_for 30 job_done "$job" || fail "job $job did not end"
codes=$(exit_codes "$job")
say "cancelled the recipe's job $job at $(($(wc -l <"$W/exec/shard-1.csv") - 1)) rows; Slurm waited for healthcheck and has its exit code ($(awk '{print $2}' <<<"$codes"))"
[[ $codes == " 1 ExitCode=130:0 " ]] || fail "a cancelled healthcheck exits 130, and Slurm says so: $codes"
job=$(exec_task 2)
wait_for 60 job_done "$job" || fail "job $job did not finish"
[[ $(exit_codes "$job") == " 1 ExitCode=0:0 " ]] || fail "job $job: $(exit_codes "$job")"
rows "$W/exec/shard-1.csv" >"$W/exec/rows.txt" || fail "the resumed shard 1 holds a URL twice"
rows "$W/array/shard-1.csv" | diff -q - "$W/exec/rows.txt" >/dev/null || fail "the resumed shard 1 differs from the array's"
say "submitted again, it completed shard 1: each URL once, as in the array run"

# 4. A plain job script (the recipe without exec), cancelled mid-run and submitted again while
#    the cancelled healthcheck finishes its checks in flight.
K=2
sed 's/^exec healthcheck/healthcheck/' "$REPO/deploy/slurm-array.sh" >"$W/plain/plain.sh"
grep -q '^healthcheck --shard auto' "$W/plain/plain.sh" || fail "the recipe's exec line was not found"
SHARD_ROWS=$(($(wc -l <"$W/array/shard-$K.csv") - 1))
submit_plain() {
    sbatch --parsable --array=$K --export=ALL,HEALTHCHECK_SHARD_COUNT=$SHARDS --chdir="$W/plain" \
        --output="attempt-$1.log" "$W/plain/plain.sh" "${FLAGS[@]}" -c 50
}
# The healthcheck processes still running in the plain job's directory.
still_checking() {
    local pid
    for pid in $(ours); do
        if [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$BIN")" &&
            $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$W/plain" ]]; then
            printf '%s ' "$pid"
        fi
    done
}
rows_now() { echo $(($(wc -l <"$W/plain/shard-$K.csv") - 1)); }
job=$(submit_plain 1)
for attempt in 1 2; do
    target=$((SHARD_ROWS * attempt / 3))
    wait_for 60 bash -c "(( \$(cat '$W/plain/shard-$K.csv' 2>/dev/null | wc -l) > $target ))" ||
        fail "attempt $attempt wrote no $target rows: $(cat "$W/plain/attempt-$attempt.log")"
    scancel "$job"
    wait_for 20 job_done "$job" || fail "job $job was not cancelled"
    left=$(still_checking)
    say "cancelled job $job at $(rows_now) rows; Slurm says it ended ($(exit_codes "$job" | awk '{print $2}'): the shell's), healthcheck still running: ${left:-none}"
    job=$(submit_plain $((attempt + 1)))
done
wait_for 120 job_done "$job" || fail "the last attempt did not finish"
waited=$(grep -l 'is being written by another healthcheck' "$W"/plain/attempt-*.log | xargs -r -n1 basename | tr '\n' ' ' || true)
say "attempts that waited for a cancelled one's lock: ${waited:-none}"
rows "$W/plain/shard-$K.csv" >"$W/plain/rows.txt" || fail "the resumed shard holds a URL twice"
rows "$W/array/shard-$K.csv" >"$W/array/rows-$K.txt"
[[ $(wc -l <"$W/plain/rows.txt") == "$SHARD_ROWS" ]] ||
    fail "the resumed shard has $(wc -l <"$W/plain/rows.txt") rows, not $SHARD_ROWS"
diff -q "$W/array/rows-$K.txt" "$W/plain/rows.txt" >/dev/null || fail "the resumed shard differs from the array's"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))
assert s["total"] == int(sys.argv[2]) and s["earlier_rows"] > 0, (s["total"], s["earlier_rows"])' \
    "$W/plain/shard-$K.json" "$SHARD_ROWS" || fail "the last summary does not cover the whole file"
say "shard $K, cancelled twice with a plain job script: $SHARD_ROWS rows, each URL once, as in the array run"
if ((SECONDS - START > BUDGET)); then
    fail "took more than $BUDGET s"
fi
