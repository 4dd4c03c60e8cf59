#!/usr/bin/env python3
"""Turns a peer's output into lines that bench/score.py reads (the shape of `mxray export
--format jsonl`), naming each verdict with the mxray finding id it corresponds to:

    bench/peer_export.py checkdmarc RESULTS.json > peer.jsonl
    bench/peer_export.py nmap RESULTS.xml > peer.jsonl

checkdmarc (its `-o FILE.json`): a domain without an SPF record is `spf.missing`, `+all` is
`spf.pass_all`, `~all` is `spf.softfail_all`; no DMARC record is `dmarc.missing`, `p=none`
is `dmarc.policy_none`. A domain the peer found not to exist gets no verdict (nor does it in
the ground truth). nmap (its `-oX FILE.xml` with `--script smtp-open-relay`): a host whose
script output says "Server is an open relay" is `smtp.open_relay`.
Standard library only.
"""
import json
import sys
import xml.etree.ElementTree as ET


def checkdmarc(path):
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    if isinstance(results, dict):
        results = [results]
    for r in results:
        domain = r.get("domain", "").lower().rstrip(".")
        found = []
        spf = r.get("spf") or {}
        dmarc = r.get("dmarc") or {}
        if any(str(x.get("error", "")).startswith("The domain does not exist") for x in (spf, dmarc)):
            continue
        if not spf.get("record"):
            found.append("spf.missing")
        else:
            action = (spf.get("parsed") or {}).get("all")
            if action == "pass":
                found.append("spf.pass_all")
            elif action == "softfail":
                found.append("spf.softfail_all")
        if not dmarc.get("record"):
            found.append("dmarc.missing")
        else:
            p = ((dmarc.get("tags") or {}).get("p") or {}).get("value")
            if p == "none":
                found.append("dmarc.policy_none")
        print(json.dumps({"type": "domain", "domain": domain, "findings": [{"id": i} for i in found]}))


def nmap(path):
    root = ET.parse(path).getroot()
    for host in root.iter("host"):
        addr = host.find("address[@addrtype='ipv4']")
        if addr is None:
            continue
        outputs = [s.get("output", "") for s in host.iter("script") if s.get("id") == "smtp-open-relay"]
        found = [{"id": "smtp.open_relay"}] if any("Server is an open relay" in o for o in outputs) else []
        print(json.dumps({"type": "host", "ip": addr.get("addr"), "findings": found}))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("checkdmarc", "nmap"):
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        sys.exit(2)
    {"checkdmarc": checkdmarc, "nmap": nmap}[sys.argv[1]](sys.argv[2])
