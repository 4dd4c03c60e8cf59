#!/usr/bin/env bash
# Produces docs/report.png and docs/report-ja.png (the demo scan's HTML report), and
# docs/survey*.png (its survey pages) and docs/notice*.png (one provider's notice from
# `mxray notify`), as headless Chromium (Debian's package) renders them, offline.
# Usage: .ci/screenshot.sh          (BIN=path/to/mxray to use a built binary instead of cargo run)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
mx() { if [ -n "${BIN:-}" ]; then "$BIN" "$@"; else cargo run --quiet -- "$@"; fi; }
shot() { # url out profile
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile-$3" --hide-scrollbars --window-size=1400,1000 \
    --screenshot="$2" "$1" 2>/dev/null
  echo "wrote $2"
}
mx demo --db "$work/demo.db" > /dev/null
for lang in en ja; do
  sfx=""; [ "$lang" = ja ] && sfx="-ja"
  mx report --db "$work/demo.db" --lang "$lang" -o "$work/report-$lang.html"
  shot "file://$work/report-$lang.html" "docs/report$sfx.png" "r-$lang"
  # Headless Chromium paints nothing when it scrolls to a fragment (a blank PNG): the survey
  # shot is of a copy that hides what comes before the survey instead (inline styles are
  # allowed by the report's Content-Security-Policy; scripts other than its own are not).
  sed 's|</head>|<style>*:has(~ #survey-summary){display:none}</style></head>|' \
    "$work/report-$lang.html" > "$work/survey-$lang.html"
  shot "file://$work/survey-$lang.html" "docs/survey$sfx.png" "s-$lang"
  mx notify --db "$work/demo.db" --by provider --min-severity medium --lang "$lang" -o "$work/notices-$lang" > /dev/null
  first=$(ls "$work/notices-$lang"/*.html | head -1)
  shot "file://$first" "docs/notice$sfx.png" "n-$lang"
done
rm -rf "$work"
