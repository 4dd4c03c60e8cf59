#!/usr/bin/env bash
# Reproduces docs/BENCHMARKS.md. Everything runs on loopback (127.80.0.0/16).
#   bench/run.sh [DOMAINS] [IPS]          full survey + --concurrency sweep; every run is scored
#                                         against the simulation's ground truth (bench/score.py)
#   PEERS=1 bench/run.sh                  also checkdmarc and nmap on samples (needs root:
#                                         the peers only speak to port 53 / 25)
# Needs: cargo, /usr/bin/time (Debian "time"), bc; for PEERS: pip install checkdmarc==6.0.4,
# apt-get install nmap.
set -euo pipefail
N=${1:-200000}
M=${2:-2000}
SWEEP=${SWEEP-"64 128 256 512"}
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
BIN=$PWD/target/release/mxray
OUT=${OUT:-$(mktemp -d /tmp/mxray-bench.XXXXXX)}
mkdir -p "$OUT"
echo "results in $OUT"

# The simulation's own block-list mirror zones (IP and domain lists), asked unthrottled.
DNSBL="--dnsbl zen.dnsbl.bench.test=spamhaus-zen,dbl.dnsbl.bench.test=spamhaus-dbl --dnsbl-rate 0"

start_sim() { # dns-port smtp-port list log
  "$BIN" simulate --domains "$N" --ips "$M" --dns-port "$1" --smtp-port "$2" --list "$3" > "$4" 2>&1 &
  SIM=$!
  for _ in $(seq 1 120); do grep -q "simulation ready" "$4" 2>/dev/null && return 0; sleep 0.5; done
  echo "simulation did not start: $(cat "$4")"; exit 1
}
stop_sim() { kill -TERM "$SIM" 2>/dev/null || true; wait "$SIM" 2>/dev/null || true; }

survey() { # name concurrency list dns smtp
  rm -f "$OUT/$1.db"*
  /usr/bin/time -v "$BIN" scan "$3" --resolver "127.80.0.1:$4" --port "smtp=$5" --port "dns=$4" --allow-loopback \
      --db "$OUT/$1.db" --concurrency "$2" --timeout 10 --host-deadline 60 $DNSBL > "$OUT/$1.out" 2> "$OUT/$1.time"
  local wall rss user sys
  wall=$(grep Elapsed "$OUT/$1.time" | awk '{print $NF}')
  rss=$(grep 'Maximum resident' "$OUT/$1.time" | awk '{print $NF}')
  user=$(grep 'User time' "$OUT/$1.time" | awk '{print $NF}')
  sys=$(grep 'System time' "$OUT/$1.time" | awk '{print $NF}')
  echo "$1 concurrency=$2 wall=$wall peak_rss_kb=$rss user_s=$user sys_s=$sys" | tee -a "$OUT/summary.txt"
  head -1 "$OUT/$1.out" | tee -a "$OUT/summary.txt"
  score "$1" "$3"
}

score() { # name list: found/present and false alarms per finding class of the ground truth
  "$BIN" export --db "$OUT/$1.db" --format jsonl > "$OUT/$1.jsonl"
  python3 bench/score.py "$2.truth.jsonl" "$OUT/$1.jsonl" | sed "s/^/$1 /" | tee -a "$OUT/summary.txt" || true
}

if [ -n "$SWEEP" ]; then
  start_sim 5354 2526 "$OUT/list.txt" "$OUT/sim.log"
  trap stop_sim EXIT
  for c in $SWEEP; do survey "survey-c$c" "$c" "$OUT/list.txt" 5354 2526; done
  # Politeness is the limit of the simulation (2,000 addresses in eight /24s, 16 hosts per
  # /24 at once): one run without the per-network cap shows the engine's own ceiling.
  if [ "${NOCAP:-1}" = 1 ]; then
    rm -f "$OUT/nocap.db"*
    /usr/bin/time -v "$BIN" scan "$OUT/list.txt" --resolver 127.80.0.1:5354 --port smtp=2526 --port dns=5354 --allow-loopback \
        --db "$OUT/nocap.db" --concurrency 512 --per-net 0 --timeout 10 --host-deadline 60 $DNSBL > "$OUT/nocap.out" 2> "$OUT/nocap.time"
    echo "nocap concurrency=512 per-net=0 wall=$(grep Elapsed "$OUT/nocap.time" | awk '{print $NF}') peak_rss_kb=$(grep 'Maximum resident' "$OUT/nocap.time" | awk '{print $NF}')" | tee -a "$OUT/summary.txt"
    head -1 "$OUT/nocap.out" | tee -a "$OUT/summary.txt"
    score nocap "$OUT/list.txt"
  fi
  stop_sim
  trap - EXIT
  # The providers' name servers (per-address load, zone transfers) and the total.
  tail -n 2 "$OUT/sim.log" | tee -a "$OUT/summary.txt"
fi

if [ "${PEERS:-0}" = 1 ]; then
  start_sim 53 25 "$OUT/list53.txt" "$OUT/sim53.log"
  trap stop_sim EXIT
  head -n 2000 "$OUT/list53.txt" > "$OUT/sample2000.txt"
  head -n 100 "$OUT/list53.txt" > "$OUT/sample100.txt"
  seq 1 60 | awk '{printf "127.80.%d.%d\n", int(($1-1)/250), ($1-1)%250+1}' > "$OUT/ips60.txt"
  t() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc; }
  # The domain file goes first: checkdmarc's -n and -o take several values each.
  echo "checkdmarc DNS-only, 2000 domains: $(t checkdmarc "$OUT/sample2000.txt" -n 127.80.0.1 -t 2 -o "$OUT/cd.json") s" | tee -a "$OUT/summary.txt"
  echo "checkdmarc --check-mx-tls, 100 domains: $(t checkdmarc "$OUT/sample100.txt" -n 127.80.0.1 -t 2 --check-mx-tls -o "$OUT/cdtls.json") s"
  test -s "$OUT/cd.json" && test -s "$OUT/cdtls.json" || { echo "checkdmarc produced no output"; exit 1; } | tee -a "$OUT/summary.txt"
  echo "nmap smtp-open-relay, 60 IPs: $(t nmap -Pn -n -p 25 --script smtp-open-relay -iL "$OUT/ips60.txt") s" | tee -a "$OUT/summary.txt"
  echo "mxray full battery, 2000 domains: $(t "$BIN" scan "$OUT/sample2000.txt" --resolver 127.80.0.1:53 --allow-loopback --db "$OUT/s2000.db" --concurrency 256 --timeout 10 --host-deadline 60 $DNSBL) s" | tee -a "$OUT/summary.txt"
  # The same 60 addresses for mxray: mxN.bench.test has no MX, so its A record (implicit MX)
  # is exactly the address nmap probed.
  seq 0 59 | sed 's/^/mx/; s/$/.bench.test/' > "$OUT/hosts60.txt"
  echo "mxray SMTP + relay battery, 60 IPs: $(t "$BIN" scan "$OUT/hosts60.txt" --resolver 127.80.0.1:53 --allow-loopback --db "$OUT/h60.db" --concurrency 64 --timeout 10 --host-deadline 60 $DNSBL) s" | tee -a "$OUT/summary.txt"
fi
echo "done: $OUT/summary.txt"
