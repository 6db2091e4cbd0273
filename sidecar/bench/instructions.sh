#!/usr/bin/env bash
# User-space instructions per proxied request, counted by valgrind's
# callgrind: a CPU-cost figure that, unlike CPU time, does not move with the
# load of a shared machine. Use it to compare two builds of the sidecar.
#
#   sidecar/bench/instructions.sh [REQUESTS] [BINARY]
#
# Runs BINARY (default target/release/headroom-sidecar, built first) under
# callgrind in front of an nginx upstream answering 200 "ok" on loopback
# (the bench.sh config, 2 workers), warms it up with 200 requests, zeroes
# the counters, sends REQUESTS (default 3000) GETs at 500 requests/s over 16
# connections with oha, and prints the instructions counted (all threads,
# kernel time excluded) divided by the requests. Needs valgrind and nginx
# (Debian packages) and oha. Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${1:-3000}
BIN=${2:-target/release/headroom-sidecar}
OHA=${OHA:-oha}
WORK=$(mktemp -d /tmp/hr-instr.XXXXXX)
UP=127.0.0.1:18800
LISTEN=127.0.0.1:18801
VG=
cleanup() {
  [ -n "$VG" ] && kill "$VG" 2>/dev/null || true
  [ -f "$WORK/up.pid" ] && kill "$(cat "$WORK/up.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for tool in "$OHA" valgrind callgrind_control nginx; do
  command -v "$tool" >/dev/null || { echo "$tool not found"; exit 2; }
done
[ "$BIN" = target/release/headroom-sidecar ] && cargo build --release -p headroom-sidecar --quiet

# shellcheck source=sidecar/bench/setup.sh
. sidecar/bench/setup.sh
start_upstream "$WORK" "$UP"
sidecar_config "$LISTEN" 127.0.0.1:18809 "$UP" > "$WORK/sidecar.toml"
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" \
  "$BIN" --config "$WORK/sidecar.toml" 2> "$WORK/valgrind.log" &
VG=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://$LISTEN/" && break
  sleep 0.2
done
"$OHA" -n 200 -c 4 --no-tui "http://$LISTEN/" > /dev/null 2>&1
callgrind_control -z "$VG" > /dev/null 2>&1
"$OHA" -n "$N" -c 16 -q 500 --no-tui --output-format json "http://$LISTEN/" > "$WORK/oha.json" 2>/dev/null
callgrind_control -d "$VG" > /dev/null 2>&1
kill -INT "$VG"; wait "$VG" || true
VG=
python3 - "$WORK" "$N" <<'PY'
import glob, json, sys
work, n = sys.argv[1], int(sys.argv[2])
s = json.load(open(f"{work}/oha.json"))["summary"]
# The dump taken right after the measured run holds the counts since the
# zeroing (its name ends in .1); the final dump at exit is not counted.
dump = sorted(glob.glob(f"{work}/cg.*.1"))[0]
total = next(int(l.split()[1]) for l in open(dump) if l.startswith("summary:"))
print(f"requests: {n} (success rate {s['successRate']:.4f}); instructions: {total}; "
      f"per request: {total / n:.0f}")
PY
