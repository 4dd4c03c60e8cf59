#!/usr/bin/env bash
# Multi-worker survey throughput on one machine (docs/BENCHMARKS.md, "Workers"): the same
# simulated population surveyed through PostgreSQL by 1, 2 and 3 workers, and by a plain
# `mxray scan` into SQLite for reference. Everything on loopback.
#   bench/workers.sh [DOMAINS] [IPS]        (defaults 20000 and 500)
#   PG=postgres://… bench/workers.sh        use that server instead of a throw-away one
# Needs root for the throw-away PostgreSQL cluster (.ci/postgres.sh), /usr/bin/time.
set -euo pipefail
N=${1:-20000}
M=${2:-500}
WORKERS=${WORKERS-"1 2 3"}
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
BIN=$PWD/target/release/mxray
OUT=${OUT:-$(mktemp -d /tmp/mxray-workers.XXXXXX)}
mkdir -p "$OUT"
echo "results in $OUT"
if [ -z "${PG:-}" ]; then
  bash .ci/postgres.sh install
  PGDIR=$(mktemp -d /tmp/mxray-pg.XXXXXX)
  bash .ci/postgres.sh start "$PGDIR"
  PG=postgres://mxray@127.0.54.32:5433/postgres
fi
"$BIN" simulate --domains "$N" --ips "$M" --dns-port 5364 --smtp-port 2536 --list "$OUT/list.txt" > "$OUT/sim.log" 2>&1 &
SIM=$!
cleanup() {
  kill -TERM "$SIM" 2>/dev/null || true
  if [ -n "${PGDIR:-}" ]; then bash .ci/postgres.sh stop "$PGDIR"; fi
}
trap cleanup EXIT
for _ in $(seq 1 120); do grep -q "simulation ready" "$OUT/sim.log" 2>/dev/null && break; sleep 0.5; done
ARGS=(--resolver 127.80.0.1:5364 --port smtp=2536 --allow-loopback --timeout 10 --host-deadline 60
      --dnsbl zen.dnsbl.bench.test=spamhaus-zen,dbl.dnsbl.bench.test=spamhaus-dbl --dnsbl-rate 0)
now() { date +%s.%N; }

rm -f "$OUT/scan.db"*
t0=$(now)
"$BIN" scan "$OUT/list.txt" --db "$OUT/scan.db" "${ARGS[@]}" > "$OUT/scan.out" 2>&1
t1=$(now)
echo "scan (SQLite, one process): $(echo "$t1 - $t0" | bc) s, $(echo "$N / ($t1 - $t0)" | bc) domains/s" | tee "$OUT/summary.txt"

base=${PG%/*}
for w in $WORKERS; do
  db="mxray_bench_w$w"
  psql -q "$PG" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  "$BIN" survey create --db "$base/$db" "$OUT/list.txt" > /dev/null
  t0=$(now)
  pids=()
  for i in $(seq 1 "$w"); do
    "$BIN" worker --db "$base/$db" "${ARGS[@]}" --name "w$i" > "$OUT/w$w-$i.out" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  t1=$(now)
  echo "$w worker(s) (PostgreSQL): $(echo "$t1 - $t0" | bc) s, $(echo "$N / ($t1 - $t0)" | bc) domains/s" | tee -a "$OUT/summary.txt"
  "$BIN" survey status --db "$base/$db" | tee -a "$OUT/summary.txt"
done
