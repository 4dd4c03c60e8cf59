#!/usr/bin/env python3
"""The host-stage timeline of a scan from its debug log (docs/BENCHMARKS.md, issue 14).

    RUST_LOG=mxray_scan::engine=debug mxray scan ... 2> scan.log
    bench/timeline.py scan.log [SECONDS_ORIGIN]

For every address: when it was first seen (the first domain that led to it), when its probes
started (slots taken) and when they finished, relative to the first log line (or to the
given origin, seconds since the epoch). Prints a summary: how many hosts were first seen,
started and finished in each 10-second window, the hosts that finished last (the tail) with
their wait and probe times, and the share of the run spent waiting for a slot.
"""
import re
import sys
from datetime import datetime

LINE = re.compile(r"^(\S+Z)\s+DEBUG\s+\S+:\s+(host first seen|host probes started|host probes finished)(.*)$")
IP = re.compile(r"\bip=(\S+)")
ELAPSED = re.compile(r"\belapsed_ms=(\d+)")
ROLES = re.compile(r"roles=(\[[^\]]*\])")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def ts(s):
    return datetime.strptime(s[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def main():
    path = sys.argv[1]
    origin = float(sys.argv[2]) if len(sys.argv) > 2 else None
    seen, start, end, elapsed, roles = {}, {}, {}, {}, {}
    for raw in open(path, errors="replace"):
        line = ANSI.sub("", raw)
        m = LINE.match(line)
        if not m:
            continue
        t = ts(m.group(1))
        if origin is None:
            origin = t
        what, rest = m.group(2), m.group(3)
        ip = IP.search(rest).group(1)
        t -= origin
        if what == "host first seen":
            seen.setdefault(ip, t)
        elif what == "host probes started":
            start.setdefault(ip, t)
            r = ROLES.search(rest)
            roles[ip] = r.group(1) if r else "?"
        else:
            end[ip] = t
            elapsed[ip] = int(ELAPSED.search(rest).group(1)) / 1000
    if not end:
        print("no host lines: run with RUST_LOG=mxray_scan::engine=debug")
        return
    last = max(end.values())
    print(f"hosts: {len(seen)} first seen, {len(start)} started, {len(end)} finished; last at {last:.1f} s")
    print("window   first-seen  started  finished")
    for w in range(0, int(last) + 10, 10):
        c = lambda d: sum(1 for v in d.values() if w <= v < w + 10)
        print(f"{w:4d}-{w + 10:<4d} {c(seen):9d} {c(start):8d} {c(end):9d}")
    tail = sorted(end, key=end.get, reverse=True)[:15]
    print("the 15 hosts finished last: ip, roles, first seen, waited for a slot, probe time, end")
    for ip in tail:
        s0 = seen.get(ip, float("nan"))
        st = start.get(ip, float("nan"))
        print(f"  {ip:16s} {roles.get(ip, '?'):12s} seen {s0:6.1f}  waited {st - s0:6.1f}  probe {elapsed[ip]:6.1f}  end {end[ip]:6.1f}")
    waits = [start[i] - seen[i] for i in start if i in seen]
    if waits:
        waits.sort()
        print(f"slot wait: median {waits[len(waits) // 2]:.1f} s, max {waits[-1]:.1f} s")
    probes = sorted(elapsed.values())
    print(f"probe time: median {probes[len(probes) // 2]:.1f} s, p90 {probes[int(len(probes) * 0.9)]:.1f} s, max {probes[-1]:.1f} s, "
          f"{sum(1 for p in probes if p >= 60)} hosts >= 60 s")


if __name__ == "__main__":
    main()
