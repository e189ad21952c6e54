#!/usr/bin/env python3
"""Score one run of workload 4 (scripts/bench.sh sites) against `serve --truth` and the
server's per-host figures (`serve --stats-json`).

usage: sites_score.py TRUTH.csv OUT.csv HOSTS.json HOSTS LIMIT
prints: rows right rows_429 handshakes_per_url max_site_in_flight server_429s ideal_s
        max_site_connections
"""
import csv
import json
import sys


def main():
    truth_path, out_path, hosts_path, hosts, limit = sys.argv[1:6]
    with open(truth_path, newline="") as f:
        truth = {r["url"]: r for r in csv.DictReader(f)}
    with open(out_path, newline="") as f:
        rows = list(csv.DictReader(f))
    right = sum(1 for r in rows if r["url"] in truth and r["status_code"] == truth[r["url"]]["status_code"])
    rows_429 = sum(1 for r in rows if r["status_code"] == "429")
    with open(hosts_path) as f:
        stats = json.load(f)
    handshakes = sum(s["tls_handshakes"] for s in stats.values())
    max_in_flight = max((s["max_in_flight"] for s in stats.values()), default=0)
    refused = sum(s["too_many_requests"] for s in stats.values())
    # Over HTTP/2 a site's pages should all ride one connection.
    max_connections = max((s["connections"] for s in stats.values()), default=0)
    # The ideal: every site busy at its limit all the time.
    ideal = sum(int(r["latency_ms"]) for r in truth.values()) / 1000.0 / (int(hosts) * int(limit))
    print(len(rows), right, rows_429, f"{handshakes / max(len(truth), 1):.3f}", max_in_flight, refused,
          f"{ideal:.2f}", max_connections)


if __name__ == "__main__":
    main()
