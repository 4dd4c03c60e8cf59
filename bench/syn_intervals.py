#!/usr/bin/env python3
"""Per-address connection spacing as the wire saw it: the kernel's timestamps of the SYNs in
a capture (tcpdump), independent of both the scanner's and the simulator's clocks and
schedulers. For issue 14's "each address within its per-address caps".

    bench/syn_intervals.py CAPTURE.pcap [--skip IP[.PORT] ...] [--interval-ms 250]

Prints, for all addresses and per destination port, the number of connections, the number of
addresses that saw two or more, the shortest interval between two SYNs to one address (any
ports: the scanner paces per address), and how many intervals fell below --interval-ms.
A retransmitted SYN (same source port, same destination) is counted once, at its first send.
"""
import argparse
import collections
import re
import subprocess
import sys

LINE = re.compile(r"^(\d+\.\d+) IP6? (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[S\]")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("--skip", action="append", default=[], help="IP or IP.PORT not counted (the scanner's own resolver: 127.80.0.1.5318)")
    ap.add_argument("--interval-ms", type=float, default=250.0)
    a = ap.parse_args()
    out = subprocess.run(["tcpdump", "-r", a.pcap, "-n", "-tt"], capture_output=True, text=True, check=True).stdout
    seen = set()
    times = collections.defaultdict(list)
    ports = collections.Counter()
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        t, src, sport, dst, dport = float(m[1]), m[2], m[3], m[4], m[5]
        if dst in a.skip or f"{dst}.{dport}" in a.skip or (src, sport, dst, dport) in seen:
            continue
        seen.add((src, sport, dst, dport))
        times[dst].append(t)
        ports[dport] += 1
    shortest = None
    below = 0
    worst = None
    for dst, ts in times.items():
        ts.sort()
        for x, y in zip(ts, ts[1:]):
            gap = (y - x) * 1000.0
            if gap < a.interval_ms:
                below += 1
            if shortest is None or gap < shortest:
                shortest, worst = gap, dst
    per_port = ", ".join(f"port {p}: {n}" for p, n in sorted(ports.items()))
    multi = sum(1 for ts in times.values() if len(ts) > 1)
    print(f"wire (SYN timestamps): {len(seen)} connections to {len(times)} addresses ({per_port}); "
          f"{multi} addresses saw two or more; shortest interval at one address "
          + (f"{shortest:.1f} ms ({worst})" if shortest is not None else "none")
          + f"; intervals below {a.interval_ms:g} ms: {below}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
