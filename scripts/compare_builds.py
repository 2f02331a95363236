#!/usr/bin/env python3
"""Old vs new perf-bench fixtures as whole processes, interleaved, same settle time.

usage: python3 scripts/compare_builds.py OLD_BIN NEW_BIN SAMPLES

OLD_BIN and NEW_BIN: the perf bench binary of two commits, built the same way
(`cargo test -p netns-test --bench perf --no-run`, each in a worktree of its commit). Run it
as the user the tests run as.
Runs as the current user; each sample is one process timed to its exit (wait4), after a
100 ms settle; old and new alternate, and which goes first alternates too.
"""
import os, subprocess, sys, time, statistics

old, new, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
cases = [
    ("NAT lab, default mode (1 test)", ["suite::nat_lab", "--exact"], {}),
    ("50 bridged tests, default mode", ["suite::bridged::", "--test-threads", "2"], {}),
    ("50 bridge-free tests, harness mode", ["suite::free::"], {"NETNS_PERF_HARNESS": "1"}),
    ("100 empty tests, harness mode", ["suite::empty::"], {"NETNS_PERF_HARNESS": "1"}),
]

def once(binary, args, env):
    time.sleep(0.1)
    e = dict(os.environ, **env)
    start = time.monotonic()
    p = subprocess.Popen([binary] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=e)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    err = p.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{binary} {args} failed: {err[-2000:]}")
    return wall * 1000, (ru.ru_utime + ru.ru_stime) * 1000

def q(xs, f):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(f * len(xs)))]

print(f"| case | old median ms (p10-p90) | new median ms (p10-p90) | new / old |")
print("| --- | --- | --- | --- |")
for name, args, env in cases:
    r = {"old": [], "new": []}
    for i in range(n):
        order = [("old", old), ("new", new)] if i % 2 == 0 else [("new", new), ("old", old)]
        for k, b in order:
            r[k].append(once(b, args, env)[0])
    mo, mn = statistics.median(r["old"]), statistics.median(r["new"])
    print(f"| {name} | {mo:.1f} ({q(r['old'],.1):.1f}-{q(r['old'],.9):.1f}) | "
          f"{mn:.1f} ({q(r['new'],.1):.1f}-{q(r['new'],.9):.1f}) | {mn/mo:.2f} |", flush=True)
