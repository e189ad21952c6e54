#!/usr/bin/env bash
# End-to-end benchmark of healthcheck against the simulated internet, on loopback only.
#
#   scripts/bench.sh [workload ...]     workloads: seed (1), details (1 with and without --details),
#                                       details-tls (the same over HTTPS), timings (1 with and without
#                                       --timings), timings-tls (the same over HTTPS), throughput (2),
#                                       scale (3), fds, sites (4: many pages per site, over HTTP/2 and
#                                       HTTP/1.1), diff (two runs of 1,000,000 rows); default: seed
#                                       throughput scale fds sites
#
# Environment: BASELINE=PATH runs that binary too, right after ours in every run (alternated, so
# both see the same noise; its rows are labelled WORKLOAD@baseline); REPEAT=N repeats every run
# N times (default 1); LEVELS="100 1000 5000" sets the seed workload's concurrency levels.
#
# Every target has its own loopback address (http://127.A.B.C:PORT/label), so, as on the real
# internet, no connection can be reused across targets. For each run it records wall time,
# user+sys CPU and peak RSS (/usr/bin/time), URLs/s, rows written against targets, and for the
# seed-like workload the efficiency: the makespan of an ideal FIFO scheduler with C slots fed the
# true per-target times (`healthcheck serve --truth`), divided by the measured wall time.
# Results: benches/results/e2e-<date>-<commit>.csv, plus a line per run on stdout. Workload 4
# (many pages per site, HTTPS, a per-site limit) has its own columns in sites-<date>-<commit>.csv.
set -euo pipefail
cd "$(dirname "$0")/.."

workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(seed throughput scale fds sites)
# HEALTHCHECK_BIN: a release binary built (and set aside) beforehand, for a shared target dir.
if [ -n "${HEALTHCHECK_BIN:-}" ]; then
    bin=$HEALTHCHECK_BIN
else
    cargo build --release --locked -q
    bin=${CARGO_TARGET_DIR:-target}/release/healthcheck
fi
work=$(mktemp -d)
results=benches/results/e2e-$(date +%Y-%m-%d)-$(git rev-parse --short HEAD).csv
mkdir -p benches/results
[ -f "$results" ] || echo "workload,targets,concurrency,wall_s,cpu_s,peak_rss_mib,urls_per_s,rows,ideal_s,efficiency" > "$results"
ulimit -n "$(ulimit -Hn)"
server_pid=
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# stop_server: stop the simulated internet (it writes its --stats-json as it goes).
stop_server() {
    [ -z "$server_pid" ] || { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; }
    server_pid=
}

# start_server ARGS...: (re)start the simulated internet on a free port and wait for it.
start_server() {
    stop_server
    port=$(free_port)
    "$bin" serve -q --listen "127.0.0.1:$port" "$@" &
    server_pid=$!
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.1; done
    echo "serve did not start" >&2; exit 1
}

# serve PROFILE SCALE [SERVE_FLAG ...]: (re)start the simulated internet on every 127.x.y.z.
serve() { start_server --bind-all-loopback --profile "$1" --latency-scale "$2" "${@:3}"; }

# Workload 4: SITES sites x PAGES pages over HTTPS, at most LIMIT requests in flight per site
# (more get 429 with Retry-After: 1), median latency 40 ms (150 ms x 0.2667).
sites_n=20 pages_n=1000 limit_n=8 sites_scale=0.2667
sites_results=benches/results/sites-$(date +%Y-%m-%d)-$(git rev-parse --short HEAD).csv

# run_sites TOOL ORDER: one measured run of TOOL over the ORDER list, scored against the truth
# and the server's per-site counters (a fresh server per run, so the counters are the run's).
run_sites() {
    local tool=$1 order=$2 file="$work/$2.txt" out="$work/sites-out.csv" cmd
    start_server --profile site --latency-scale "$sites_scale" --host-limit "$limit_n" --retry-after 1 \
        --ca-out "$work/ca.pem" --stats-json "$work/hosts.json"
    case $tool in
    healthcheck) cmd=("$bin" -q -c 256 --host-concurrency "$limit_n") ;;
    healthcheck-http1) cmd=("$bin" -q -c 256 --host-concurrency "$limit_n" --http1) ;;
    healthcheck-baseline) cmd=("$BASELINE" -q -c 256 --host-concurrency "$limit_n") ;;
    healthcheck-defaults) cmd=("$bin" -q) ;;
    aiohttp) cmd=(python3 scripts/aiohttp_check.py "$file" "$out" "$work/ca.pem" "$port" 256 "$limit_n") ;;
    lychee*) # no --resolve: the names go to 127.0.0.1 through a hosts file, the port goes in the URLs
        sed "s#\.internal/#.internal:$port/#" "$file" > "$work/lychee-in.txt"
        cmd=("${site_names[@]}" env "SSL_CERT_FILE=$work/ca.pem" lychee --no-progress -v --format json -o "$work/lychee.json"
            --max-concurrency 256 --host-concurrency "$limit_n" "$work/lychee-in.txt")
        [ "$tool" = lychee ] || cmd+=(--host-request-interval 0s) ;;
    esac
    case $tool in
    healthcheck*) cmd+=(--resolve "*:443:127.0.0.1:$port" --ca-cert "$work/ca.pem" -i "$file" -o "$out") ;;
    esac
    # What the tool prints (lychee lists every broken link) goes to a log, shown if it fails.
    local rc=0
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "${cmd[@]}" > "$work/tool.log" 2>&1 || rc=$?
    stop_server
    # lychee exits 2 when a link is broken, as some pages are; any other failure stops the bench.
    if [ "$rc" != 0 ] && ! { [ "$rc" = 2 ] && [ "${tool#lychee}" != "$tool" ]; }; then
        tail -n 5 "$work/tool.log" >&2
        echo "$tool failed (exit $rc)" >&2
        exit 1
    fi
    [ "${tool#lychee}" = "$tool" ] || python3 scripts/lychee_rows.py "$work/lychee.json" > "$out"
    local wall user sys rss_kb rows right rows_429 hs max_in_flight refused ideal max_conns
    # The last line: time puts "Command exited with non-zero status" before it.
    read -r wall user sys rss_kb < <(tail -n 1 "$work/time")
    read -r rows right rows_429 hs max_in_flight refused ideal max_conns < <(python3 scripts/sites_score.py \
        "$work/sites-truth.csv" "$out" "$work/hosts.json" "$sites_n" "$limit_n")
    echo "$tool,$order,$((sites_n * pages_n)),$wall,$(echo "$user + $sys" | bc),$(echo "scale=1; $rss_kb / 1024" | bc),$rows,$right,$rows_429,$hs,$max_in_flight,$refused,$ideal,$(echo "scale=2; $wall / $ideal" | bc),$max_conns" \
        | tee -a "$sites_results"
}

# lychee_names: sets lychee_ready when lychee is installed and can reach the sites by name. It has
# no --resolve, so site0.internal ... must resolve to 127.0.0.1: through /etc/hosts, or, for root, a
# copy of it with the sites added, mounted over /etc/hosts in a mount namespace of lychee's own.
lychee_ready='' site_names=()
lychee_names() {
    command -v lychee >/dev/null || { echo "lychee not installed (cargo install lychee): no lychee run" >&2; return; }
    lychee_ready=1
    getent hosts site0.internal | grep -q '^127\.0\.0\.1 ' && return
    if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
        { cat /etc/hosts; for s in $(seq 0 $((sites_n - 1))); do echo "127.0.0.1 site$s.internal"; done; } > "$work/hosts"
        site_names=(unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$work/hosts")
    else
        echo "lychee: site0.internal does not resolve to 127.0.0.1 (add site0.internal ... site$((sites_n - 1)).internal to /etc/hosts): no lychee run" >&2
        lychee_ready=
    fi
}

# Workload diff: `healthcheck diff` on two runs of DIFF_ROWS rows (scripts/diff_rows.py), beside a
# hand-written sqlite3 join of the same CSV files (the way users compared runs before, with an index
# on url each) when sqlite3 is installed, whose rows must be ours (column `agree`). REPEAT (default
# 5) alternated rounds; results in diff-<date>-<commit>.csv.
diff_rows=${DIFF_ROWS:-1000000}
diff_results=benches/results/diff-$(date +%Y-%m-%d)-$(git rev-parse --short HEAD).csv

# run_diff TOOL NIGHT FORMAT: one measured diff of $work/old.FORMAT and $work/NIGHT.FORMAT.
run_diff() {
    local tool=$1 night=$2 format=$3 old="$work/old.$3" new="$work/$2.$3" out="$work/diff-out.csv" cmd
    case $tool in
    healthcheck) cmd=("$bin" diff -q "$old" "$new" -o "$out") ;;
    sqlite3) cmd=(sqlite3 :memory: -cmd ".mode csv" -cmd ".import $old o" -cmd ".import $new n"
        -cmd "CREATE INDEX o_url ON o(url)" -cmd "CREATE INDEX n_url ON n(url)" -cmd ".output $out" "$diff_sql") ;;
    esac
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "${cmd[@]}"
    local wall user sys rss_kb changes agree=-
    read -r wall user sys rss_kb < "$work/time"
    if [ "$tool" = healthcheck ]; then
        tail -n +2 "$out" | sort > "$work/ours-$night-$format.csv"
        changes=$(wc -l < "$work/ours-$night-$format.csv")
    else
        changes=$(wc -l < "$out")
        sort "$out" | cmp -s - "$work/ours-$night-$format.csv" && agree=yes || agree=no
    fi
    echo "$tool,$night,$format,$diff_rows,$wall,$(echo "$user + $sys" | bc),$(echo "scale=1; $rss_kb / 1024" | bc),$changes,$agree" \
        | tee -a "$diff_results"
}

# The same join and the same rules as `diff` (without certificates), in SQL.
diff_sql="SELECT url, change, os, ns, oe, ne, of, nf FROM (
  SELECT coalesce(o.url, n.url) AS url, nullif(o.status_code, '') AS os, nullif(n.status_code, '') AS ns,
    nullif(o.exception, '') AS oe, nullif(n.exception, '') AS ne, nullif(o.final_url, '') AS of,
    nullif(n.final_url, '') AS nf,
    CASE WHEN n.url IS NULL THEN 'removed' WHEN o.url IS NULL THEN 'added'
      WHEN o.success = 'true' AND n.success <> 'true' THEN 'broke'
      WHEN o.success <> 'true' AND n.success = 'true' THEN 'recovered'
      WHEN o.status_code <> n.status_code OR o.exception <> n.exception THEN 'status'
      WHEN o.final_url <> n.final_url THEN 'moved' END AS change
  FROM o FULL OUTER JOIN n ON o.url = n.url)
WHERE change IS NOT NULL ORDER BY change, url;"

# targets N LENGTH: N URLs (labels of LENGTH letters, or tN when LENGTH is 0), one address each.
targets() {
    python3 - "$1" "$2" "$port" <<'PY'
import itertools, string, sys
n, length, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
labels = ("".join(p) for p in itertools.product(string.ascii_lowercase, repeat=length)) if length else (f"t{i}" for i in itertools.count())
out = sys.stdout
for i, label in zip(range(n), labels):
    a = i + 1
    out.write(f"http://127.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}:{port}/{label}\n")
PY
}

# run NAME TARGETS_FILE CONCURRENCY [TRUTH_FILE [CHECK_FLAG ...]]: one measured check by ours,
# then by BASELINE.
run() {
    for _ in $(seq "${REPEAT:-1}"); do
        run_one "$bin" "$@"
        [ -z "${BASELINE:-}" ] || run_one "$BASELINE" "$1@baseline" "${@:2}"
    done
}

# run_one BINARY NAME TARGETS_FILE CONCURRENCY [TRUTH_FILE [CHECK_FLAG ...]]
run_one() {
    local checker=$1 name=$2 file=$3 c=$4 truth=${5:-} n
    n=$(wc -l < "$file")
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
        "$checker" -q -c "$c" --timeout 5 -i "$file" -o "$work/out.csv" --summary-json "$work/sum.json" "${@:6}"
    read -r wall user sys rss_kb < "$work/time"
    local rows cpu rss rate ideal=- eff=-
    rows=$(($(wc -l < "$work/out.csv") - 1))
    cpu=$(echo "$user + $sys" | bc)
    rss=$(echo "scale=1; $rss_kb / 1024" | bc)
    rate=$(echo "scale=0; $rows / $wall" | bc)
    if [ -n "$truth" ]; then read -r ideal eff < <(python3 scripts/efficiency.py "$truth" "$c" "$wall"); fi
    echo "$name,$n,$c,$wall,$cpu,$rss,$rate,$rows,$ideal,$eff" | tee -a "$results"
}

# alternate NAME TARGETS_FILE FLAG [CHECK_FLAG ...]: five rounds at C = 1,000 of the check
# without FLAG (labelled NAME) and with it (NAME+FLAG), alternated so both see the same noise.
alternate() {
    for _ in 1 2 3 4 5; do
        run "$1" "$2" 1000 "" "${@:4}"
        run "$1+${3#--}" "$2" 1000 "" "${@:4}" "$3"
    done
}

for w in "${workloads[@]}"; do
    case $w in
    seed) # (1) the 17,576 three-letter labels, seed-like answers and latencies
        serve seed 1
        targets 17576 3 > "$work/seed.txt"
        "$bin" serve --truth -i "$work/seed.txt" --timeout 5 > "$work/truth.csv"
        for c in ${LEVELS:-100 1000 5000}; do run seed "$work/seed.txt" "$c" "$work/truth.csv"; done ;;
    details|timings) # (1) at C = 1,000 with and without --details (--timings)
        serve seed 1
        targets 17576 3 > "$work/seed.txt"
        alternate seed "$work/seed.txt" "--$w" ;;
    details-tls|timings-tls) # the same over HTTPS: every address its own certificate (read with
        # --details; with --timings, every ClientHello timed)
        serve seed 1 --ca-out "$work/ca.pem"
        targets 17576 3 | sed 's/^http:/https:/' > "$work/seed-tls.txt"
        alternate seed-tls "$work/seed-tls.txt" "--${w%-tls}" --ca-cert "$work/ca.pem" ;;
    throughput) # (2) 50,000 instant 200s at concurrency 1,000, against oha on the same server,
        # alternating five times so that both see the same noise; compare the medians
        serve all-ok 0
        targets 50000 0 > "$work/t50k.txt"
        command -v oha >/dev/null || echo "oha not installed (cargo install oha): no reference run" >&2
        for _ in 1 2 3 4 5; do
            run throughput "$work/t50k.txt" 1000
            if command -v oha >/dev/null; then
                oha -n 50000 -c 1000 --disable-keepalive --no-tui --output-format json "http://127.0.0.1:$port/t0" > "$work/oha.json"
                python3 -c 'import json,sys; print("oha,50000,1000,-,-,-,%d,-,-,-" % json.load(open(sys.argv[1]))["summary"]["requestsPerSec"])' "$work/oha.json" | tee -a "$results"
            fi
        done ;;
    fds) # (2b) the same 50,000 at concurrency 10,000: no EMFILE, nothing lost
        serve all-ok 0
        targets 50000 0 > "$work/t50k.txt"
        run fds "$work/t50k.txt" 10000 ;;
    scale) # (3) the 456,976 four-letter labels: memory stays flat
        serve seed 1
        targets 456976 4 > "$work/scale.txt"
        run scale "$work/scale.txt" 1000 ;;
    sites) # (4) 20 HTTPS sites x 1,000 pages, at most 8 in flight per site, in sitemap order and
        # shuffled: healthcheck (-c 256 --host-concurrency 8, and at its defaults) and aiohttp
        # (limit_per_host=8) and lychee (--host-concurrency 8, at its 50 ms host interval and
        # without it) side by side, each when installed (see docs/bench-sites.md)
        [ -f "$sites_results" ] || echo "tool,order,targets,wall_s,cpu_s,peak_rss_mib,rows,right,rows_429,handshakes_per_url,max_site_in_flight,server_429s,ideal_s,wall_over_ideal,max_site_connections" > "$sites_results"
        python3 - "$work" "$sites_n" "$pages_n" <<'PY'
import random, sys
work, sites, pages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# .internal (private use, ICANN 2024), not .test: lychee skips the RFC 2606 names unchecked.
urls = [f"https://site{s}.internal/page/{p}" for s in range(sites) for p in range(pages)]
open(f"{work}/sorted.txt", "w").write("\n".join(urls) + "\n")
random.Random(4).shuffle(urls)
open(f"{work}/shuffled.txt", "w").write("\n".join(urls) + "\n")
PY
        "$bin" serve --profile site --latency-scale "$sites_scale" --truth -i "$work/sorted.txt" > "$work/sites-truth.csv"
        python3 -c 'import aiohttp' 2>/dev/null || echo "aiohttp not installed (pip install aiohttp): no reference run" >&2
        lychee_names
        for order in sorted shuffled; do
            # The sites offer HTTP/2: healthcheck's pages ride one connection per site; with
            # --http1 (and in the build before, with BASELINE) they take keep-alive HTTP/1.1 ones.
            for _ in $(seq "${REPEAT:-1}"); do
                run_sites healthcheck "$order"
                run_sites healthcheck-http1 "$order"
                [ -z "${BASELINE:-}" ] || run_sites healthcheck-baseline "$order"
            done
            python3 -c 'import aiohttp' 2>/dev/null && run_sites aiohttp "$order"
            [ -z "$lychee_ready" ] || { run_sites lychee-no-interval "$order"; run_sites lychee "$order"; }
        done
        run_sites healthcheck-defaults sorted ;;
    diff) # two runs of DIFF_ROWS rows: a typical night (CSV, and JSON lines with --details), an
        # outage (every URL broke) and unrelated runs (every URL added and removed)
        [ -f "$diff_results" ] || echo "tool,night,format,rows,wall_s,cpu_s,peak_rss_mib,changes,agree" > "$diff_results"
        python3 scripts/diff_rows.py "$diff_rows" "$work/old.csv" "$work/typical.csv"
        python3 scripts/diff_rows.py "$diff_rows" "$work/old.jsonl" "$work/typical.jsonl" --details --jsonl
        python3 scripts/diff_rows.py "$diff_rows" "$work/old.csv" "$work/outage.csv" --night outage
        python3 scripts/diff_rows.py "$diff_rows" "$work/old.csv" "$work/disjoint.csv" --night disjoint
        command -v sqlite3 >/dev/null || echo "sqlite3 not installed: no reference run" >&2
        for _ in $(seq "${REPEAT:-5}"); do
            for night in typical outage disjoint; do
                run_diff healthcheck "$night" csv
                command -v sqlite3 >/dev/null && run_diff sqlite3 "$night" csv
            done
            run_diff healthcheck typical jsonl
        done ;;
    *) echo "unknown workload $w" >&2; exit 2 ;;
    esac
done
