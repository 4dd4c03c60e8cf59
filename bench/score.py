#!/usr/bin/env python3
"""Scores a scan against a simulated population's ground truth.

    bench/score.py TRUTH EXPORT.jsonl [--only SAMPLE]

TRUTH is the `<list>.truth.jsonl` that `mxray simulate` writes beside the domain list: one JSON
object per expected finding, `{"finding": ID, "ip": IP}` (a host finding) or
`{"finding": ID, "domain": NAME}` (a domain finding). EXPORT.jsonl is `mxray export --format
jsonl`. For every finding class present in the truth file it prints one line:

    smtp.open_relay: found 79/79, false alarms 0

A host finding counts once per address (however many ports or domains carry it), a domain
finding once per domain. With `--only SAMPLE` (a file of domains and/or addresses, one a
line) only the truth and findings about those subjects count: a peer run on a sample is scored
on that sample (bench/peers.sh). Exit status 1 when anything was missed or falsely reported.
Standard library only.
"""
import json
import sys


def main(argv):
    only = None
    if len(argv) == 5 and argv[3] == "--only":
        with open(argv[4], encoding="utf-8") as f:
            only = {line.strip().lower().rstrip(".") for line in f if line.strip()}
        argv = argv[:3]
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    truth = {}
    with open(argv[1], encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            if "ip" in t:
                key = ("ip", t["ip"])
            elif "domain" in t:
                key = ("domain", t["domain"].lower().rstrip("."))
            else:
                raise SystemExit(f"{argv[1]}:{n}: neither ip nor domain")
            if only is not None and key[1] not in only:
                continue
            truth.setdefault(t["finding"], set()).add(key)
    found = {cls: set() for cls in truth}
    with open(argv[2], encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            kind = row.get("type")
            if kind == "host":
                key = ("ip", row["ip"])
            elif kind == "domain":
                key = ("domain", row["domain"].lower().rstrip("."))
            else:
                continue
            if only is not None and key[1] not in only:
                continue
            for finding in row.get("findings") or []:
                cls = finding.get("id")
                if cls in found:
                    found[cls].add(key)
    bad = False
    for cls in sorted(truth):
        present = truth[cls]
        hit = found[cls] & present
        false = found[cls] - present
        print(f"{cls}: found {len(hit)}/{len(present)}, false alarms {len(false)}")
        bad |= len(hit) != len(present) or bool(false)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
