#!/usr/bin/env python3
"""Two runs' worth of rows for benchmarking `healthcheck diff` (scripts/bench.sh diff).

    scripts/diff_rows.py N OLD NEW [--night typical|outage|disjoint] [--details] [--jsonl] [--seed S]

Writes OLD and NEW as a check would: N rows each of https://LABEL.com in a shuffled (completion)
order, with the seed-like mix of statuses and exceptions of the simulated internet, and with the
columns of --details when asked. NEW differs from OLD the way a night does: `typical` (the
default): 0.5% of the URLs are gone and as many are new, and about 3% of the rest changed (broke,
recovered, another status or exception, a new redirect target, a certificate past 14 days);
`outage`: every URL timed out; `disjoint`: no URL in common. Deterministic for a seed.
"""

import argparse
import csv
import itertools
import json
import random
import string

COLUMNS = "url,status_code,success,exception,error_detail,final_url,redirects,method,elapsed_ms".split(",")
DETAILS = "ip,http_version,cert_not_after,cert_days_left,cert_issuer".split(",")
STATUSES = [(200, 55), (403, 9), (404, 8), (410, 3), (502, 1.5), (500, 1.3), (999, 1.2), (503, 1.2), (418, 1)]
EXCEPTIONS = [
    ("timeout", 11, "operation timed out"),
    ("reset", 3, "connection reset by peer"),
    ("tls", 3, "invalid peer certificate: UnknownIssuer"),
    ("too_many_redirects", 2, "too many redirects (10), last https://x.com/loop"),
    ("dns", 1, "no such host: x.com"),
]
OUTCOMES = [("status", s, w) for s, w in STATUSES] + [("exception", e, w) for e, w, _ in EXCEPTIONS]
DETAIL = {e: d for e, _, d in EXCEPTIONS}
ISSUERS = ["Sim R1", "Sim, Inc. E5", "Let's Encrypt R11"]


def outcome(rng):
    kind, value, _ = rng.choices(OUTCOMES, weights=[w for _, _, w in OUTCOMES])[0]
    return {
        "status_code": value if kind == "status" else None,
        "exception": value if kind == "exception" else None,
        "redirect": rng.random() < 0.1,
        "cert_days": rng.randint(15, 400),
        "issuer": rng.choice(ISSUERS),
    }


def changed(rng, o):
    o = dict(o)
    what = rng.randrange(5)
    if what == 0:  # broke or recovered
        if o["status_code"] == 200:
            o["status_code"], o["exception"] = rng.choice([(503, None), (None, "timeout"), (404, None)])
        else:
            o["status_code"], o["exception"] = 200, None
    elif what == 1:  # another status or exception
        o["status_code"], o["exception"] = (410, None) if o["status_code"] != 410 else (None, "dns")
    elif what == 2:
        o["redirect"] = not o["redirect"]
    else:
        o["cert_days"] = rng.randint(1, 13)
    return o


def row(url, o, details, rng):
    status, exception = o["status_code"], o["exception"]
    answered = status is not None
    # A failure's final_url is the last URL tried, as a check writes it.
    final = (url + "/next" if o["redirect"] else url + "/") if answered else url
    r = {
        "url": url,
        "status_code": status,
        "success": status == 200,
        "exception": exception,
        "error_detail": DETAIL.get(exception, ""),
        "final_url": final,
        "redirects": int(o["redirect"]),
        "method": "HEAD",
        "elapsed_ms": 5000 if exception == "timeout" else rng.randint(20, 2000),
    }
    if details:
        tls = answered
        r.update({
            "ip": "127.0.0.1" if answered else None,
            "http_version": "HTTP/1.1" if answered else None,
            "cert_not_after": "2027-01-01T00:00:00Z" if tls else None,
            "cert_days_left": o["cert_days"] if tls else None,
            "cert_issuer": o["issuer"] if tls else None,
        })
    return r


def write(path, rows, details, jsonl):
    with open(path, "w", newline="") as f:
        if jsonl:
            for r in rows:
                f.write(json.dumps(r, separators=(",", ":")) + "\n")
            return
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS + (DETAILS if details else []))
        for r in rows:
            w.writerow(["" if r[c] is None else str(r[c]).lower() if c == "success" else r[c] for c in r])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--night", choices=["typical", "outage", "disjoint"], default="typical")
    ap.add_argument("--details", action="store_true")
    ap.add_argument("--jsonl", action="store_true")
    ap.add_argument("--seed", type=int, default=20)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    churn = a.n // 200
    labels = ("".join(p) for p in itertools.product(string.ascii_lowercase, repeat=5))
    urls = [f"https://{label}.com" for label in itertools.islice(labels, a.n + churn)]
    old = {u: outcome(rng) for u in urls[: a.n]}
    new = {}
    if a.night == "outage":
        down = {"status_code": None, "exception": "timeout", "redirect": False, "cert_days": 0, "issuer": ""}
        new = {u: down for u in old}
    elif a.night == "disjoint":
        new = {u.replace("://", "://x"): outcome(rng) for u in old}
    else:
        for u in urls[churn:]:
            o = old.get(u)
            new[u] = outcome(rng) if o is None else changed(rng, o) if rng.random() < 0.03 else o
    # Each file shuffled by a generator of its own, so OLD is the same file whatever the night.
    for path, run, seed in ((a.old, old, a.seed + 1), (a.new, new, a.seed + 2)):
        order_rng = random.Random(seed)
        order = list(run)
        order_rng.shuffle(order)
        write(path, (row(u, run[u], a.details, order_rng) for u in order), a.details, a.jsonl)


if __name__ == "__main__":
    main()
