#!/usr/bin/env bash
# CPU per request and throughput of two sidecar builds and HAProxy, loaded
# one after the other in every round (back to back, so the load of a shared
# machine drifts alike for all three).
#
#   sidecar/bench/compare.sh OLD_BINARY [ROUNDS] [RATE] [SECONDS]
#
# NEW is target/release/headroom-sidecar (built first), OLD the binary given
# (e.g. a build of an earlier commit). All three get the bench.sh config
# (2 workers / 2 threads, keep-alive upstream, same timeouts and retries) in
# front of one nginx upstream answering 200 "ok". RATE is requests/s for oha
# with 32 connections, or 0 (default) for saturation with 64 connections.
# For every round prints the ratios of CPU time (utime + stime from
# /proc/PID/stat) per request served and of requests/s, then their medians,
# with the machine's load average. Needs oha, haproxy and nginx. Loopback
# only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

OLD=${1:?usage: compare.sh OLD_BINARY [ROUNDS] [RATE] [SECONDS]}
ROUNDS=${2:-5}
RATE=${3:-0}
SECS=${4:-5}
OHA=${OHA:-oha}
NEW=target/release/headroom-sidecar
WORK=$(mktemp -d /tmp/hr-compare.XXXXXX)
UP=127.0.0.1:18900
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/up.pid" ] && kill "$(cat "$WORK/up.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for tool in "$OHA" haproxy nginx; do
  command -v "$tool" >/dev/null || { echo "$tool not found"; exit 2; }
done
cargo build --release -p headroom-sidecar --quiet

# shellcheck source=sidecar/bench/setup.sh
. sidecar/bench/setup.sh
start_upstream "$WORK" "$UP"

sidecar_config 127.0.0.1:18901 127.0.0.1:18911 "$UP" > "$WORK/new.toml"
sidecar_config 127.0.0.1:18902 127.0.0.1:18912 "$UP" > "$WORK/old.toml"
RUST_LOG=warn "$NEW" --config "$WORK/new.toml" & PIDS+=($!); NEW_PID=$!
RUST_LOG=warn "$OLD" --config "$WORK/old.toml" & PIDS+=($!); OLD_PID=$!
haproxy_config 127.0.0.1:18903 "$UP" > "$WORK/haproxy.cfg"
haproxy -f "$WORK/haproxy.cfg" -db & PIDS+=($!); HAP_PID=$!
sleep 1

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# One oha run against port $2, CPU of pid $1; prints "ticks requests rps".
run() {
  local args=(-z "${SECS}s" --no-tui --output-format json)
  if [ "$RATE" = 0 ]; then args+=(-c 64); else args+=(-c 32 -q "$RATE"); fi
  local t0 t1
  t0=$(ticks "$1")
  "$OHA" "${args[@]}" "http://127.0.0.1:$2/" > "$WORK/oha.json" 2>/dev/null
  t1=$(ticks "$1")
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(int(sys.argv[2]), sum(d["statusCodeDistribution"].values()), d["summary"]["requestsPerSec"])' \
    "$WORK/oha.json" "$((t1 - t0))"
}
: > "$WORK/rounds.txt"
for r in $(seq "$ROUNDS"); do
  n=$(run "$NEW_PID" 18901); o=$(run "$OLD_PID" 18902); h=$(run "$HAP_PID" 18903)
  echo "$n $o $h $(cut -d' ' -f1 /proc/loadavg)" >> "$WORK/rounds.txt"
done
python3 - "$WORK/rounds.txt" "$RATE" <<'PY'
import statistics, sys
rows = [[float(x) for x in l.split()] for l in open(sys.argv[1])]
label = "saturation (64 connections)" if sys.argv[2] == "0" else f"{sys.argv[2]} requests/s"
cpu = lambda t, n: t / n  # ticks per request
cols = {
    "CPU per request new/old": lambda r: cpu(r[0], r[1]) / cpu(r[3], r[4]),
    "CPU per request new/HAProxy": lambda r: cpu(r[0], r[1]) / cpu(r[6], r[7]),
    "CPU per request old/HAProxy": lambda r: cpu(r[3], r[4]) / cpu(r[6], r[7]),
    "requests/s new/HAProxy": lambda r: r[2] / r[8],
    "requests/s old/HAProxy": lambda r: r[5] / r[8],
}
loads = [r[9] for r in rows]
print(f"{label}, {len(rows)} rounds; load average after each round: "
      + ", ".join(f"{x:.1f}" for x in loads))
for name, f in cols.items():
    xs = [f(r) for r in rows if min(r[0], r[1], r[3], r[4], r[6], r[7], r[8]) > 0]
    each = ", ".join(f"{x:.2f}" for x in xs)
    print(f"  {name}: median {statistics.median(xs):.2f} (per round: {each})")
PY
