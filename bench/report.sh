#!/usr/bin/env bash
# `report` and `notify` on a stored survey: time and peak RSS (docs/BENCHMARKS.md, issue 21).
#   bench/report.sh DB [BIN]     DB: a scan database (e.g. the 200,000-domain store of bench/store.sh)
# Needs /usr/bin/time (Debian "time"). Writes into a new temporary directory only.
set -euo pipefail
DB=$1
cd "$(dirname "$0")/.."
BIN=${2:-$PWD/target/release/mxray}
OUT=$(mktemp -d /tmp/mxray-report.XXXXXX)
echo "results in $OUT"
t() { # label args...
  local label=$1; shift
  /usr/bin/time -v "$BIN" "$@" > "$OUT/$label.out" 2> "$OUT/$label.time"
  echo "$label: $(grep Elapsed "$OUT/$label.time" | awk '{print $NF}') wall, $(grep 'Maximum resident' "$OUT/$label.time" | awk '{print $NF}') KB peak RSS"
}
t report-en report --db "$DB" -o "$OUT/report.html"
t report-ja report --db "$DB" --lang ja -o "$OUT/report-ja.html"
t notify-provider notify --db "$DB" --by provider --min-severity high -o "$OUT/notices"
t notify-domain notify --db "$DB" --by domain --min-severity critical -o "$OUT/notices-domain"
ls -l "$OUT"/report*.html "$OUT"/report-*.csv | awk '{print $5, $9}'
echo "notices: $(ls "$OUT/notices" | wc -l) files by provider, $(ls "$OUT/notices-domain" | wc -l) by domain"
