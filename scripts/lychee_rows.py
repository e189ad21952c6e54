#!/usr/bin/env python3
"""Turn lychee's JSON report (`lychee -v --format json -o FILE`; `-v` makes it list the
successes too) into the `url,status_code` rows that sites_score.py reads, so lychee is scored
like the other tools of workload 4 (scripts/bench.sh sites).

lychee was given the URLs with the server's port in them (it has no --resolve); the port is
taken out again so the rows match `serve --truth`. A URL lychee gave no status code (a timeout,
a connection error) gets an empty one, which the scorer counts as wrong.

usage: lychee_rows.py LYCHEE.json > OUT.csv
"""
import csv
import json
import sys
from urllib.parse import urlsplit, urlunsplit

MAPS = ("success_map", "error_map", "timeout_map", "excluded_map")


def without_port(url):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.hostname or ""))


def main():
    with open(sys.argv[1]) as f:
        report = json.load(f)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["url", "status_code"])
    for name in MAPS:
        for responses in report.get(name, {}).values():
            for response in responses:
                out.writerow([without_port(response["url"]), response["status"].get("code", "")])


if __name__ == "__main__":
    main()
