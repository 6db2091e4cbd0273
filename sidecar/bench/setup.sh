# sidecar/bench/setup.sh: sourced by bench.sh, compare.sh and
# instructions.sh, so that every benchmark runs the same upstream and
# configures the proxies alike: 2 worker threads/processes, connect timeout
# 1 s, overall timeout 5 s, up to 3 tries on connect failures and
# 502/503/504, keep-alive to the upstream.

# `start_upstream DIR ADDR` starts the benchmarks' upstream: nginx with one
# worker answering 200 "ok" (2 bytes) on ADDR, keep-alive without a request
# limit, no access log. Its pid file is DIR/up.pid, which the caller's
# cleanup kills.
start_upstream() {
  cat > "$1/up.conf" <<NGX
worker_processes 1;
pid $1/up.pid;
error_log $1/up.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen $2; location / { return 200 "ok"; } }
}
NGX
  nginx -c "$1/up.conf"
}

# `sidecar_config LISTEN ADMIN UPSTREAM` prints the sidecar's config.
sidecar_config() {
  cat <<TOML
[sidecar]
listen = "$1"
admin = "$2"
seed = 1
workers = 2
connect_timeout = "1s"
[[sidecar.upstreams]]
name = "up"
endpoints = [{ url = "http://$3", region = "local" }]
[sidecar.routes]
"/*" = "up"
[policy.mesh]
timeout = "5s"
retry = { attempts = 3, retry_on = ["gateway-error", "connect-failure", "reset"] }
TOML
}

# `haproxy_config BIND UPSTREAM` prints HAProxy's equivalent config.
haproxy_config() {
  cat <<HAP
global
  nbthread 2
  maxconn 8000
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 5s
  retries 2
  retry-on conn-failure 502 503 504
  option http-keep-alive
frontend fe
  bind $1
  default_backend be
backend be
  http-reuse always
  server s1 $2
HAP
}
