#!/usr/bin/env python3
"""The reference client of workload 4 (scripts/bench.sh sites): aiohttp with a per-host limit,
HEAD with redirects followed and GET after 405/501, as healthcheck does with its defaults.
Every name is sent to 127.0.0.1:PORT; the simulated internet's CA is trusted.

usage: aiohttp_check.py URLS.txt OUT.csv CA.pem PORT LIMIT LIMIT_PER_HOST
"""
import asyncio
import csv
import socket
import ssl
import sys

import aiohttp
from aiohttp.abc import AbstractResolver


class Loopback(AbstractResolver):
    """Every name to 127.0.0.1 on the server's port, like healthcheck's --resolve."""

    def __init__(self, port):
        self.port = port

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": "127.0.0.1", "port": self.port,
                 "family": socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self):
        pass


async def check(session, url, timeout):
    try:
        async with session.head(url, allow_redirects=True, timeout=timeout) as r:
            status = r.status
        if status in (405, 501):
            async with session.get(url, allow_redirects=True, timeout=timeout) as r:
                status = r.status
        return url, status, ""
    except Exception as e:  # a failed URL is a row, as in healthcheck
        return url, "", type(e).__name__


async def main():
    urls_path, out_path, ca, port, limit, per_host = sys.argv[1:7]
    urls = [u.strip() for u in open(urls_path) if u.strip()]
    tls = ssl.create_default_context(cafile=ca)
    connector = aiohttp.TCPConnector(limit=int(limit), limit_per_host=int(per_host), ssl=tls,
                                     resolver=Loopback(int(port)))
    # Per socket operation: `total` would also count the wait for a connection of the pool.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=5)
    async with aiohttp.ClientSession(connector=connector) as session:
        rows = await asyncio.gather(*(check(session, u, timeout) for u in urls))
    with open(out_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["url", "status_code", "exception"])
        w.writerows(rows)


if __name__ == "__main__":
    asyncio.run(main())
