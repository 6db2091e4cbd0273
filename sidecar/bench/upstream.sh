# sidecar/bench/upstream.sh: sourced by bench.sh, compare.sh and
# instructions.sh. `start_upstream DIR ADDR` starts the benchmarks' upstream:
# nginx with one worker answering 200 "ok" (2 bytes) on ADDR, keep-alive
# without a request limit, no access log. Its pid file is DIR/up.pid, which
# the caller's cleanup kills.
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
