#!/usr/bin/env bash
# Produces docs/report.png and docs/report-ja.png: the demo scan's HTML report as headless
# Chromium (Debian's package) renders it, offline. Usage: .ci/screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
cargo run --quiet -- demo --db "$work/demo.db" > /dev/null
for lang in en ja; do
  cargo run --quiet -- report --db "$work/demo.db" --lang "$lang" -o "$work/report-$lang.html"
  out=docs/report.png; [ "$lang" = ja ] && out=docs/report-ja.png
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile-$lang" --hide-scrollbars --window-size=1400,1000 \
    --screenshot="$out" "file://$work/report-$lang.html" 2>/dev/null
  echo "wrote $out"
done
rm -rf "$work"
