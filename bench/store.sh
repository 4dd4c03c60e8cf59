#!/usr/bin/env bash
# Bytes stored per domain, scan and read times (docs/BENCHMARKS.md, "Store size"). Loopback only.
#   bench/store.sh [DOMAINS] [IPS] [BIN]     default 20000 200, the release build of this tree
# Needs: sqlite3 (Debian's, with the dbstat table), /usr/bin/time.
set -euo pipefail
N=${1:-20000}
M=${2:-200}
cd "$(dirname "$0")/.."
if [ -z "${3:-}" ]; then cargo build --release --locked --quiet; fi
BIN=${3:-$PWD/target/release/mxray}
OUT=${OUT:-$(mktemp -d /tmp/mxray-store.XXXXXX)}
echo "results in $OUT"
DNSBL="--dnsbl zen.dnsbl.bench.test=spamhaus-zen,dbl.dnsbl.bench.test=spamhaus-dbl --dnsbl-rate 0"
"$BIN" simulate --domains "$N" --ips "$M" --dns-port 5391 --smtp-port 2591 --list "$OUT/list.txt" > "$OUT/sim.log" 2>&1 &
SIM=$!
trap 'kill -TERM $SIM 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do grep -q "simulation ready" "$OUT/sim.log" 2>/dev/null && break; sleep 0.5; done
/usr/bin/time -v "$BIN" scan "$OUT/list.txt" --resolver 127.80.0.1:5391 --port smtp=2591 --allow-loopback \
  --db "$OUT/scan.db" --concurrency 256 --timeout 10 --host-deadline 60 $DNSBL > "$OUT/scan.out" 2> "$OUT/scan.time"
head -1 "$OUT/scan.out"
grep -E "Elapsed|Maximum resident|User time|System time" "$OUT/scan.time"
DB=$OUT/scan.db
D=$(sqlite3 "$DB" "SELECT COUNT(*) FROM domains")
echo "file: $(stat -c %s "$DB") bytes, $(( $(stat -c %s "$DB") / D )) bytes per domain"
sqlite3 "$DB" "SELECT name, SUM(pgsize) / $D AS bytes_per_domain FROM dbstat GROUP BY name HAVING bytes_per_domain > 0 ORDER BY 2 DESC;"
t() { # label output args...
  local label=$1 f=$2; shift 2
  /usr/bin/time -f "%e s, %M KB peak" "$BIN" "$@" > "$f" 2> "$f.time" || true
  echo "$label: $(tail -1 "$f.time"), $(wc -c < "$f") bytes"
}
t "export jsonl" "$OUT/export.jsonl" export --format jsonl --db "$DB"
t "export csv" "$OUT/export.csv" export --format csv --db "$DB"
t "report" "$OUT/report.log" report --db "$DB" -o "$OUT/report.html"
t "stats --by finding" "$OUT/stats.txt" stats --by finding --db "$DB"
