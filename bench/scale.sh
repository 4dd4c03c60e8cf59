#!/usr/bin/env bash
# The survey over shared name servers with default flags (docs/BENCHMARKS.md, "200,000
# domains, shared name servers, default flags"). Loopback only (127.80.0.0/16).
#   bench/scale.sh [DOMAINS] [IPS] [BIN]     default 200000 2000, the release build of this tree
#   PERF=1 bench/scale.sh 20000 200          also a perf profile of the scanner (perf.data)
#   CALLGRIND=1 bench/scale.sh 2000 100      the scanner under valgrind's callgrind instead
#   TIMELINE=1 bench/scale.sh 20000 200      also the host-stage timeline (bench/timeline.py:
#                                            when each host was first seen, started, finished)
#   MXRAY_MAIL_FIRST=0 bench/scale.sh ...    without asking MX first (the "before" of issue 14)
#   SCAN_ARGS="--concurrency 64" bench/scale.sh ...   extra scan flags for an experiment
#   CAPTURE=0 bench/scale.sh ...             without the SYN capture (by default, when tcpdump
#                                            runs here, every SYN to the simulation is captured
#                                            and bench/syn_intervals.py reports the per-address
#                                            spacing by the kernel's clock, not the simulator's)
# Default flags: only the lab's wiring is given (resolver, ports, loopback allowed, the
# simulation's own block-list mirrors asked without the public lists' rate limit).
# Needs: /usr/bin/time (Debian "time"), python3, sqlite3; for the capture tcpdump and root; PERF: linux-perf; CALLGRIND: valgrind.
set -euo pipefail
N=${1:-200000}
M=${2:-2000}
DNS_PORT=${DNS_PORT:-5318}
SMTP_PORT=${SMTP_PORT:-2518}
cd "$(dirname "$0")/.."
if [ -z "${3:-}" ]; then cargo build --release --locked --quiet; fi
BIN=${3:-$PWD/target/release/mxray}
OUT=${OUT:-$(mktemp -d /tmp/mxray-scale.XXXXXX)}
mkdir -p "$OUT"
echo "results in $OUT"
"$BIN" simulate --domains "$N" --ips "$M" --dns-port "$DNS_PORT" --smtp-port "$SMTP_PORT" \
    --list "$OUT/list.txt" > "$OUT/sim.log" 2>&1 &
SIM=$!
trap 'kill -TERM $SIM 2>/dev/null || true; if [ -n "${CAP:-}" ]; then kill -INT "$CAP" 2>/dev/null || true; fi' EXIT
for _ in $(seq 1 240); do grep -q "simulation ready" "$OUT/sim.log" 2>/dev/null && break; sleep 0.5; done
grep -q "simulation ready" "$OUT/sim.log" || { echo "simulation did not start: $(cat "$OUT/sim.log")"; exit 1; }
ARGS=(scan "$OUT/list.txt" --resolver "127.80.0.1:$DNS_PORT" --port "smtp=$SMTP_PORT" --port "dns=$DNS_PORT"
    --allow-loopback --db "$OUT/scan.db"
    --dnsbl zen.dnsbl.bench.test=spamhaus-zen,dbl.dnsbl.bench.test=spamhaus-dbl --dnsbl-rate 0)
# SCAN_ARGS: extra scan flags for an experiment (the benchmark's figures use none).
read -r -a EXTRA <<< "${SCAN_ARGS:-}"
ARGS+=("${EXTRA[@]}")
if [ "${TIMELINE:-0}" = 1 ]; then export RUST_LOG=mxray_scan::engine=debug; fi
CAP=
if [ "${CAPTURE:-1}" = 1 ] && command -v tcpdump > /dev/null && [ "$(id -u)" = 0 ]; then
  # SYNs only (a few thousand packets), so the capture costs the scan next to nothing.
  tcpdump -i lo -n -B 16384 -w "$OUT/syn.pcap" \
      'dst net 127.80.0.0/16 and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2> "$OUT/tcpdump.log" &
  CAP=$!
  for _ in $(seq 1 50); do grep -q "listening on" "$OUT/tcpdump.log" && break; sleep 0.1; done
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/summary.txt"
# A fixed single-core workload, so that runs on two machines of the same kind can be compared
# (the same commit ran 1.8x slower on one than on another: docs/BENCHMARKS.md, issue 14).
python3 -c "import time; t = time.perf_counter(); sum(i * i for i in range(10**7)); print(f'machine reference: 10^7 squares summed in Python in {time.perf_counter() - t:.2f} s')" | tee -a "$OUT/summary.txt"
if [ "${CALLGRIND:-0}" = 1 ]; then
  valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$BIN" "${ARGS[@]}" > "$OUT/scan.out" 2> "$OUT/scan.time"
  callgrind_annotate "$OUT/callgrind.out" 2>/dev/null | head -40 > "$OUT/callgrind.txt" || true
  grep -E "^(summary|events)|PROGRAM TOTALS" "$OUT/callgrind.txt" | tee -a "$OUT/summary.txt" || true
elif [ "${PERF:-0}" = 1 ]; then
  /usr/bin/time -v perf record -F 499 -g -o "$OUT/perf.data" -- "$BIN" "${ARGS[@]}" > "$OUT/scan.out" 2> "$OUT/scan.time"
else
  /usr/bin/time -v nice "$BIN" "${ARGS[@]}" > "$OUT/scan.out" 2> "$OUT/scan.time"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.txt"
if [ -n "$CAP" ]; then
  sleep 1; kill -INT "$CAP"; wait "$CAP" || true
  grep -E "captured|dropped" "$OUT/tcpdump.log" | tr '\n' ' ' | tee -a "$OUT/summary.txt"; echo | tee -a "$OUT/summary.txt"
  # The scanner's own resolver (127.80.0.1 port $DNS_PORT) is not a scanned address.
  python3 bench/syn_intervals.py "$OUT/syn.pcap" --skip "127.80.0.1.$DNS_PORT" | tee -a "$OUT/summary.txt" || true
fi
if [ "${CALLGRIND:-0}" != 1 ]; then
  wall=$(grep Elapsed "$OUT/scan.time" | awk '{print $NF}')
  rss=$(grep 'Maximum resident' "$OUT/scan.time" | awk '{print $NF}')
  user=$(grep 'User time' "$OUT/scan.time" | awk '{print $NF}')
  sys=$(grep 'System time' "$OUT/scan.time" | awk '{print $NF}')
  cpu1000=$(python3 -c "print(f'{($user + $sys) * 1000 / $N:.3f}')")
  echo "scan N=$N wall=$wall peak_rss_kb=$rss user_s=$user sys_s=$sys cpu_s_per_1000=$cpu1000" | tee -a "$OUT/summary.txt"
fi
head -1 "$OUT/scan.out" | tee -a "$OUT/summary.txt"
kill -TERM $SIM; wait $SIM || true
trap - EXIT
# The simulator's own counts: name servers' load, SMTP connections per address.
tail -n 2 "$OUT/sim.log" | tee -a "$OUT/summary.txt"
D=$(sqlite3 "$OUT/scan.db" "SELECT COUNT(*) FROM domains")
echo "store: $(stat -c %s "$OUT/scan.db") bytes, $(( $(stat -c %s "$OUT/scan.db") / D )) bytes per domain ($D domains)" | tee -a "$OUT/summary.txt"
"$BIN" export --db "$OUT/scan.db" --format jsonl > "$OUT/export.jsonl"
python3 bench/score.py "$OUT/list.txt.truth.jsonl" "$OUT/export.jsonl" | tee -a "$OUT/summary.txt" || true
if [ "${TIMELINE:-0}" = 1 ]; then python3 bench/timeline.py "$OUT/scan.time" > "$OUT/timeline.txt"; head -30 "$OUT/timeline.txt" | tee -a "$OUT/summary.txt"; fi
echo "done: $OUT/summary.txt"
