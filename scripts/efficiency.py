#!/usr/bin/env python3
"""Efficiency of a run: the makespan of an ideal FIFO scheduler with C slots, fed the true
per-target times from `healthcheck serve --truth` (in the order the checker takes the targets),
divided by the measured wall time. 1.0 means the checker added no wait of its own.

usage: efficiency.py TRUTH.csv CONCURRENCY WALL_SECONDS
"""
import csv
import heapq
import sys


def ideal_makespan(times, slots):
    free = [0.0] * min(slots, max(len(times), 1))
    heapq.heapify(free)
    end = 0.0
    for t in times:
        start = heapq.heappop(free)
        finish = start + t
        end = max(end, finish)
        heapq.heappush(free, finish)
    return end


def main():
    truth_path, slots, wall = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with open(truth_path, newline="") as f:
        times = [int(row["latency_ms"]) / 1000.0 for row in csv.DictReader(f)]
    makespan = ideal_makespan(times, slots)
    print(f"{makespan:.3f} {makespan / wall:.3f}")


if __name__ == "__main__":
    main()
