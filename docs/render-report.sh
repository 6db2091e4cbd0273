#!/usr/bin/env bash
# docs/render-report.sh: render a sweep's self-contained report.html to a PNG
# with headless Chromium (Debian `chromium`, installed with apt-get when
# missing), for README and reviews that want a picture.
#
#   docs/render-report.sh REPORT.html OUT.png [WIDTH [HEIGHT]]
#
# WIDTH x HEIGHT is the browser window, in CSS pixels (default 1200 x 2400);
# the page is captured from its top. When `pngquant` is on the PATH the PNG
# is quantized to 256 colours (charts and text survive; the file shrinks
# about 3x).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH [HEIGHT]]" >&2
    exit 2
fi
report="$1"
out="$2"
width="${3:-1200}"
height="${4:-2400}"
if [ ! -f "$report" ]; then
    echo "error: $report: no such file (give a sweep's report.html)" >&2
    exit 2
fi

browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    browser="$(command -v chromium)"
fi

abs="$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"
mkdir -p "$(dirname "$out")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# A throwaway profile: no state from (or into) any other Chromium session.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$tmp/profile" --force-device-scale-factor=1 \
    --window-size="$width,$height" --screenshot="$tmp/page.png" \
    "file://$abs" 2>/dev/null
if command -v pngquant >/dev/null; then
    pngquant --force --quality 60-95 --output "$out" "$tmp/page.png"
else
    cp "$tmp/page.png" "$out"
fi
echo "$out: $(wc -c <"$out") bytes"
