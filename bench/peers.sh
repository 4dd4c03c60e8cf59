#!/usr/bin/env bash
# Peer ratios on the population of bench/scale.sh (docs/BENCHMARKS.md, "200,000 domains,
# shared name servers, default flags"): checkdmarc on a sample of domains (SPF/DMARC), nmap's
# smtp-open-relay on a sample of addresses, and mxray with default flags on the same samples;
# every tool scored against the simulation's ground truth on its sample (found/present).
#   bench/peers.sh [DOMAINS] [IPS] [SAMPLE_DOMAINS] [SAMPLE_IPS]   default 200000 2000 2000 120
# Needs root (the peers speak only to ports 53 and 25), /usr/bin/time, python3, and peers
# installed outside the tree: CHECKDMARC=/path/to/venv/bin/checkdmarc (pip install
# checkdmarc==6.0.4), nmap (apt-get install nmap).
set -euo pipefail
N=${1:-200000}
M=${2:-2000}
SD=${3:-2000}
SI=${4:-120}
CHECKDMARC=${CHECKDMARC:-checkdmarc}
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/mxray}
OUT=${OUT:-$(mktemp -d /tmp/mxray-peers.XXXXXX)}
mkdir -p "$OUT"
echo "results in $OUT"
"$BIN" simulate --domains "$N" --ips "$M" --dns-port 53 --smtp-port 25 --list "$OUT/list.txt" > "$OUT/sim.log" 2>&1 &
SIM=$!
trap 'kill -TERM $SIM 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do grep -q "simulation ready" "$OUT/sim.log" 2>/dev/null && break; sleep 0.5; done
grep -q "simulation ready" "$OUT/sim.log" || { echo "simulation did not start: $(cat "$OUT/sim.log")"; exit 1; }
TRUTH=$OUT/list.txt.truth.jsonl
head -n "$SD" "$OUT/list.txt" > "$OUT/domains.txt"
# The first addresses (the busiest of the Zipf population, each serving some domain).
seq 0 $((SI - 1)) | awk '{printf "127.80.%d.%d\n", int($1/250), $1%250+1}' > "$OUT/ips.txt"
seq 0 $((SI - 1)) | sed 's/^/mx/; s/$/.bench.test/' > "$OUT/hosts.txt"
DNSBL="--dnsbl zen.dnsbl.bench.test=spamhaus-zen,dbl.dnsbl.bench.test=spamhaus-dbl --dnsbl-rate 0"
t() { # label log command...: wall and CPU seconds of one run
  local label=$1 log=$2; shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$log.time" "$@" > "$log" 2>&1 || true
  read -r wall user sys rss < "$log.time"
  echo "$label: wall ${wall} s, CPU $(python3 -c "print(f'{$user + $sys:.1f}')") s, peak RSS $((rss / 1024)) MB" | tee -a "$OUT/summary.txt"
}
score() { # label export sample
  python3 bench/score.py "$TRUTH" "$2" --only "$3" | sed "s/^/$1 /" | tee -a "$OUT/summary.txt" || true
}
t "checkdmarc $SD domains (DNS only)" "$OUT/cd.log" "$CHECKDMARC" "$OUT/domains.txt" -n 127.80.0.1 -t 2 -o "$OUT/cd.json"
python3 bench/peer_export.py checkdmarc "$OUT/cd.json" > "$OUT/cd.jsonl"
score checkdmarc "$OUT/cd.jsonl" "$OUT/domains.txt"
t "mxray $SD domains (full battery, default flags)" "$OUT/mx-d.log" "$BIN" scan "$OUT/domains.txt" --resolver 127.80.0.1:53 --allow-loopback --db "$OUT/d.db" $DNSBL
"$BIN" export --db "$OUT/d.db" --format jsonl > "$OUT/d.jsonl"
score mxray-domains "$OUT/d.jsonl" "$OUT/domains.txt"
t "nmap smtp-open-relay $SI addresses" "$OUT/nmap.log" nmap -Pn -n -p 25 --script smtp-open-relay -iL "$OUT/ips.txt" -oX "$OUT/nmap.xml"
python3 bench/peer_export.py nmap "$OUT/nmap.xml" > "$OUT/nmap.jsonl"
score nmap "$OUT/nmap.jsonl" "$OUT/ips.txt"
# mxN.bench.test has no MX: its implicit MX is exactly the address nmap probed.
t "mxray $SI addresses (SMTP probe + relay battery, default flags)" "$OUT/mx-h.log" "$BIN" scan "$OUT/hosts.txt" --resolver 127.80.0.1:53 --allow-loopback --db "$OUT/h.db" $DNSBL
"$BIN" export --db "$OUT/h.db" --format jsonl > "$OUT/h.jsonl"
score mxray-addresses "$OUT/h.jsonl" "$OUT/ips.txt"
kill -TERM $SIM; wait $SIM || true
trap - EXIT
echo "done: $OUT/summary.txt"
