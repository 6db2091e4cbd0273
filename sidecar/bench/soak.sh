#!/usr/bin/env bash
# Soak: headroom-sidecar at a fixed rate for a bounded time, with upstream
# faults on a schedule, all on 127.0.0.1. Stops by itself.
#
#   sidecar/bench/soak.sh [MINUTES] [RATE]      (default 10 minutes, 1000 rps)
#
# Two upstream "regions" (nginx instances), us-east preferred, us-west the
# failover. Schedule, as fractions of the run:
#   0.2  us-east is killed        -> outlier ejection after 5 failures, and the
#                                    health checks within their bound: failover
#                                    to us-west
#   0.4  us-east comes back       -> failback
#   0.6  both regions answer 503  -> the breaker opens (fast 503s, no upstream load)
#   0.65 both regions recover     -> half-open probes close the breaker
# Every 5 s: RSS, healthy endpoints per region, breaker state, requests by
# status (from /metrics) and the machine's load average go to samples.csv.
# At the end: oha's count of
# requests without a response (must be 0), RSS drift, and the transitions.
set -euo pipefail
cd "$(dirname "$0")/../.."

MINUTES=${1:-10}
RATE=${2:-1000}
OHA=${OHA:-oha}
SECS=$((MINUTES * 60))
WORK=${SOAK_DIR:-$(mktemp -d /tmp/hr-soak.XXXXXX)}
mkdir -p "$WORK"
EAST=127.0.0.1:18601
WEST=127.0.0.1:18602
LISTEN=127.0.0.1:18600
ADMIN=127.0.0.1:18609
PIDS=()
LOAD=
cleanup() {
  [ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for r in east west; do [ -f "$WORK/$r.pid" ] && kill "$(cat "$WORK/$r.pid")" 2>/dev/null || true; done
}
trap cleanup EXIT
command -v "$OHA" >/dev/null || { echo "oha not found (cargo install oha)"; exit 2; }
cargo build --release -p headroom-sidecar --quiet

region() { # name addr mode(ok|503)
  local body='return 200 "ok";' health='return 200 "ok";'
  if [ "$3" = 503 ]; then body='return 503 "down";'; fi
  cat > "$WORK/$1.conf" <<NGX
worker_processes 1;
pid $WORK/$1.pid;
error_log $WORK/$1.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen $2; location /health { $health } location / { $body } }
}
NGX
}
start_region() { region "$1" "$2" ok; nginx -c "$WORK/$1.conf"; }
set_mode() { region "$1" "$2" "$3"; nginx -c "$WORK/$1.conf" -s reload; }
kill_region() { kill "$(cat "$WORK/$1.pid")"; rm -f "$WORK/$1.pid"; }

start_region east $EAST
start_region west $WEST

cat > "$WORK/sidecar.toml" <<TOML
[sidecar]
listen = "$LISTEN"
admin = "$ADMIN"
seed = 1
access_log = "$WORK/access.csv"
[[sidecar.upstreams]]
name = "api"
endpoints = [{ url = "http://$EAST", region = "us-east" }, { url = "http://$WEST", region = "us-west" }]
[sidecar.routes]
"/*" = "api"
[policy.failover]
order = ["us-east", "us-west"]
health_check = { interval = "1s", timeout = "500ms", unhealthy_threshold = 2, healthy_threshold = 2 }
[policy.load_balancer]
outlier_detection = { consecutive_5xx = 5, interval = "1s", base_ejection_time = "10s", max_ejection_percent = 50 }
[policy.mesh]
timeout = "2s"
retry = { attempts = 2, retry_on = ["connect-failure", "reset"] }
circuit_breaker = { window_type = "time", window = "10s", minimum_calls = 100, failure_rate_threshold = 0.5, open_duration = "5s", half_open_calls = 10 }
TOML
RUST_LOG=info target/release/headroom-sidecar --config "$WORK/sidecar.toml" 2> "$WORK/sidecar.log" &
SC=$!
PIDS+=($SC)
sleep 2

metric() { printf '%s\n' "$METRICS" | awk -v k="$1" 'index($0, k) == 1 {v = $NF} END {print v}'; }
echo "t_s,rss_kb,healthy_east,healthy_west,breaker_open,ok_200,err_503,load_east,loadavg_1m" > "$WORK/samples.csv"
sample() {
  local t=$1
  METRICS=$(curl -s "http://$ADMIN/metrics" || true)
  local rss; rss=$(awk '/VmRSS/ {print $2}' "/proc/$SC/status")
  local he hw bo ok e5 le
  he=$(metric 'headroom_healthy_endpoints{upstream="api",region="us-east"}')
  hw=$(metric 'headroom_healthy_endpoints{upstream="api",region="us-west"}')
  bo=$(metric 'headroom_breaker_state{upstream="api",edge="sidecar->api",state="open"}')
  ok=$(metric 'headroom_requests_total{route="/*",status="200"}')
  e5=$(metric 'headroom_requests_total{route="/*",status="503"}')
  le=$(curl -s "http://$ADMIN/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["checks"][0]["priority_loads"][0])' || echo "?")
  local la; la=$(cut -d' ' -f1 /proc/loadavg)
  echo "$t,$rss,${he:-0},${hw:-0},${bo:-0},${ok:-0},${e5:-0},$le,$la" >> "$WORK/samples.csv"
}

"$OHA" -z "${SECS}s" -q "$RATE" -c 64 --no-tui --output-format json "http://$LISTEN/" > "$WORK/oha.json" 2>/dev/null &
LOAD=$!
start=$(date +%s)
phase=0
while kill -0 $LOAD 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  if [ $phase = 0 ] && [ $now -ge $((SECS * 20 / 100)) ]; then echo "t=$now kill us-east"; kill_region east; phase=1; fi
  if [ $phase = 1 ] && [ $now -ge $((SECS * 40 / 100)) ]; then echo "t=$now revive us-east"; start_region east $EAST; phase=2; fi
  if [ $phase = 2 ] && [ $now -ge $((SECS * 60 / 100)) ]; then echo "t=$now both regions 503"; set_mode east $EAST 503; set_mode west $WEST 503; phase=3; fi
  if [ $phase = 3 ] && [ $now -ge $((SECS * 65 / 100)) ]; then echo "t=$now both regions recover"; set_mode east $EAST ok; set_mode west $WEST ok; phase=4; fi
  sample "$now"
  sleep 5
done
wait $LOAD || true
sample "$(( $(date +%s) - start ))"
kill -TERM $SC; wait $SC || true

python3 - "$WORK" "$RATE" "$SECS" <<'PY'
import csv, json, sys
work, rate, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = json.load(open(f"{work}/oha.json"))
s = d["summary"]
codes = d.get("statusCodeDistribution", {})
errors = d.get("errorDistribution", {})
answered = sum(codes.values())
print(f"requests answered: {answered} at {s['requestsPerSec']:.0f} rps over {secs} s; "
      f"status codes {dict(sorted(codes.items()))}; requests without a response: "
      f"{sum(errors.values())} {errors}")
rows = list(csv.DictReader(open(f"{work}/samples.csv")))
rss = [int(r["rss_kb"]) for r in rows]
first_min = [int(r["rss_kb"]) for r in rows if 55 <= int(r["t_s"]) <= 70] or rss[:1]
la = sorted(float(r["loadavg_1m"]) for r in rows)
print(f"machine load average (1 min) during the run: min {la[0]:.1f}, median {la[len(la)//2]:.1f}, max {la[-1]:.1f}")
print(f"RSS: at 1 min {first_min[0]/1024:.1f} MB, max {max(rss)/1024:.1f} MB, end {rss[-1]/1024:.1f} MB")
prev = None
for r in rows:
    state = (r["healthy_east"], r["healthy_west"], r["breaker_open"], r["load_east"])
    if state != prev:
        print(f"t={r['t_s']:>4}s healthy east={r['healthy_east']} west={r['healthy_west']} "
              f"breaker_open={r['breaker_open']} load_east={r['load_east']}%")
        prev = state
rows_log = sum(1 for _ in open(f"{work}/access.csv")) - 1
print(f"access log rows: {rows_log} (answered by the sidecar: {answered})")
PY
echo "samples: $WORK/samples.csv"
