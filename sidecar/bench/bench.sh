#!/usr/bin/env bash
# Benchmark: direct vs headroom-sidecar vs HAProxy vs nginx in front of the
# same upstream (an nginx answering 200 "ok"), all on 127.0.0.1.
#
#   sidecar/bench/bench.sh [SECONDS_PER_RUN] [REPEATS]
#
# For each target: fixed-rate runs at 1k, 5k and 10k requests/s (oha -q,
# latency corrected for coordinated omission) and a saturation run (oha
# with 64 connections, no rate). Prints medians over REPEATS of p50/p99
# latency, added latency against direct, maximum throughput, peak RSS and
# CPU per 1k requests/s of the proxy process(es), the machine's load
# average after each run, and the sidecar/HAProxy ratios of maximum
# throughput and CPU per request for every repeat (the two run back to
# back) with their median (the VM is shared: read the ratios, and the load
# with them). Needs: oha (cargo install oha), haproxy and nginx (Debian
# packages). Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=${1:-8}
# RATES: the fixed rates to run, then 0 for saturation (default all four).
RATES=${RATES:-1000 5000 10000 0}
REPEATS=${2:-3}
OHA=${OHA:-oha}
WORK=$(mktemp -d /tmp/hr-bench.XXXXXX)
UP=127.0.0.1:18500
SIDECAR=127.0.0.1:18501
HAPROXY=127.0.0.1:18502
NGINX=127.0.0.1:18503
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/up.pid" ] && kill "$(cat "$WORK/up.pid")" 2>/dev/null || true
  [ -f "$WORK/px.pid" ] && kill "$(cat "$WORK/px.pid")" 2>/dev/null || true
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v "$OHA" >/dev/null || { echo "oha not found (cargo install oha)"; exit 2; }
cargo build --release -p headroom-sidecar --quiet

# The upstream: nginx, one worker, answers 200 "ok" (2 bytes).
# shellcheck source=sidecar/bench/setup.sh
. sidecar/bench/setup.sh
start_upstream "$WORK" "$UP"

# The three proxies, configured alike (setup.sh); nginx's equivalent below.
sidecar_config "$SIDECAR" 127.0.0.1:18509 "$UP" > "$WORK/sidecar.toml"
RUST_LOG=warn target/release/headroom-sidecar --config "$WORK/sidecar.toml" &
PIDS+=($!)
SIDECAR_PID=$!

haproxy_config "$HAPROXY" "$UP" > "$WORK/haproxy.cfg"
haproxy -f "$WORK/haproxy.cfg" -db &
PIDS+=($!)
HAPROXY_PID=$!

cat > "$WORK/px.conf" <<NGX
worker_processes 2;
pid $WORK/px.pid;
error_log $WORK/px.err warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream up { server $UP; keepalive 256; }
  server {
    listen $NGINX;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 1s;
      proxy_read_timeout 5s;
      proxy_next_upstream error timeout http_502 http_503 http_504;
      proxy_next_upstream_tries 3;
      proxy_next_upstream_timeout 5s;
    }
  }
}
NGX
nginx -c "$WORK/px.conf"
sleep 1
NGINX_PIDS() { echo "$(cat "$WORK/px.pid") $(pgrep -P "$(cat "$WORK/px.pid")" | tr '\n' ' ')"; }

# CPU ticks (utime + stime) and peak RSS (kB) summed over pids.
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
hwm() { local m=0; for p in "$@"; do m=$((m + $(awk '/VmHWM/ {print $2}' "/proc/$p/status"))); done; echo $m; }
HZ=$(getconf CLK_TCK)

# One oha run; prints "p50_us p99_us rps".
load() { # url rate(0 = saturate)
  local args=(-z "${SECS}s" --no-tui --output-format json)
  if [ "$2" = 0 ]; then args+=(-c 64); else args+=(-c 32 -q "$2" --latency-correction); fi
  "$OHA" "${args[@]}" "$1" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = d["latencyPercentiles"]
s = d["summary"]
print("%.0f %.0f %.0f %.4f" % (p["p50"] * 1e6, p["p99"] * 1e6, s["requestsPerSec"], s["successRate"]))'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A URL=([direct]="http://$UP/" [sidecar]="http://$SIDECAR/" [haproxy]="http://$HAPROXY/" [nginx]="http://$NGINX/")
RESULTS=$WORK/results.txt
: > "$RESULTS"
# Back to back: every repeat of every rate runs the four targets one after
# the other, so the machine's load drifts alike for all of them.
pids_of() {
  case $1 in
    sidecar) echo "$SIDECAR_PID" ;;
    haproxy) echo "$HAPROXY_PID" ;;
    nginx) NGINX_PIDS ;;
    direct) echo "" ;;
  esac
}
for rate in $RATES; do
  for r in $(seq "$REPEATS"); do
    for target in direct sidecar haproxy nginx; do
      read -ra pids <<< "$(pids_of $target)"
      t0=$( [ ${#pids[@]} -gt 0 ] && ticks "${pids[@]}" || echo 0 )
      out=$(load "${URL[$target]}" "$rate")
      t1=$( [ ${#pids[@]} -gt 0 ] && ticks "${pids[@]}" || echo 0 )
      cpu=$(python3 -c "print(f'{($t1 - $t0) / $HZ / $SECS:.3f}')")
      la=$(cut -d' ' -f1 /proc/loadavg)
      echo "$target $rate $r $out $cpu $la" | tee -a "$RESULTS"
    done
  done
done
for target in sidecar haproxy nginx; do
  read -ra pids <<< "$(pids_of $target)"
  echo "$target rss_kb $(hwm "${pids[@]}")" | tee -a "$RESULTS"
done

python3 - "$RESULTS" "$RATES" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
runs, rss = {}, {}
for r in rows:
    if r[1] == "rss_kb":
        rss[r[0]] = int(r[2]); continue
    t, rate = r[0], int(r[1])
    p50, p99, rps, ok, cpu = float(r[3]), float(r[4]), float(r[5]), float(r[6]), float(r[7])
    runs.setdefault((t, rate), []).append((p50, p99, rps, ok, cpu))
med = lambda xs: statistics.median(xs)
rates = [int(x) for x in sys.argv[2].split()]
loads = sorted(float(r[8]) for r in rows if r[1] != "rss_kb")
print(f"\nmachine load average (1 min) after each run: min {loads[0]:.1f}, "
      f"median {med(loads):.1f}, max {loads[-1]:.1f}")
def m(t, rate, i): return med([x[i] for x in runs[(t, rate)]])
print("\n| target | rate | p50 µs | p99 µs | added p50 µs | added p99 µs | achieved rps | success | CPU (vCPU) | vCPU per 1k rps |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for t in ["direct", "sidecar", "haproxy", "nginx"]:
    for rate in rates:
        p50, p99, rps, ok, cpu = (m(t, rate, i) for i in range(5))
        a50 = p50 - m("direct", rate, 0); a99 = p99 - m("direct", rate, 1)
        per1k = cpu / (rps / 1000) if rps else 0
        label = "max" if rate == 0 else f"{rate}"
        print(f"| {t} | {label} | {p50:.0f} | {p99:.0f} | {a50:+.0f} | {a99:+.0f} | {rps:.0f} | {ok:.4f} | {cpu:.2f} | {per1k:.3f} |")
# Ratios of back-to-back runs (same repeat, same rate): each repeat's,
# then their median.
def ratios(a, b, rate, f):
    return [f(x) / f(y) for x, y in zip(runs[(a, rate)], runs[(b, rate)]) if f(y) > 0]
def show(label, xs):
    each = ", ".join(f"{x:.2f}" for x in xs)
    print(f"  {label}: median {med(xs):.2f} (per repeat: {each})" if xs else f"  {label}: n/a")
per1k = lambda x: x[4] / (x[2] / 1000)
print("\nsidecar / HAProxy, back-to-back ratios (same repeat, same rate):")
if 0 in rates:
    show("max throughput", ratios("sidecar", "haproxy", 0, lambda x: x[2]))
for rate in rates:
    show(f"vCPU per 1k rps at {rate or 'max'}", ratios("sidecar", "haproxy", rate, per1k))
# Added p99 of every repeat against the direct run just before it: the
# spread says how far the tail moves with the machine.
print("\nadded p99 per repeat (µs, against the same repeat's direct run):")
for rate in [r for r in rates if r]:
    for t in ["sidecar", "haproxy", "nginx"]:
        xs = [x[1] - d[1] for x, d in zip(runs[(t, rate)], runs[("direct", rate)])]
        print(f"  {t} at {rate}: median {med(xs):+.0f} ({', '.join(f'{x:+.0f}' for x in xs)})")
print("\n| proxy | peak RSS MB |")
print("|---|--:|")
for t, kb in rss.items():
    print(f"| {t} | {kb/1024:.1f} |")
PY
