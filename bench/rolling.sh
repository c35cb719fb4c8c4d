#!/usr/bin/env bash
# Rolling restarts behind haproxy, and a herd across replicas (issue 14), on loopback, one run.
#   (a) wrk -t2 -c32 -d DURATION through haproxy 2.6 (roundrobin, checks on /readyz every 500 ms,
#       fall 2, retry-on conn-failure empty-response) over 3 gateway replicas serving a 2 KiB file:
#       once with no restart, once while each replica in turn gets SIGTERM (drainDelay 2s), exits
#       and is started again. Requests served, failed (non-2xx + socket errors, from wrk; 5xx and
#       retries in haproxy's log), p50/p99 latency.
#   (b) CLIENTS concurrent clients on one uncached 50 MiB object through haproxy over 3 caching
#       replicas: upstream fetches (the origin's access log) with `balance uri` + `hash-type
#       consistent`, and with roundrobin.
# Needs a release build (.build/release/gateway) and haproxy, nginx, wrk, curl, python3.
# Environment: DURATION (wrk seconds, 30), CLIENTS (herd clients, 100), KEEP (keep the work directory).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration="${DURATION:-30}"; clients="${CLIENTS:-100}"
gateway_bin="$root/.build/release/gateway"
[ -x "$gateway_bin" ] || { echo "bench: build first: swift build -c release" >&2; exit 1; }
for tool in haproxy nginx wrk curl python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench: $tool is missing (scripts/setup.sh test)" >&2; exit 1; }
done
haproxy_bin="$(command -v haproxy || echo /usr/sbin/haproxy)"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
ulimit -n 65536 2>/dev/null || true

work="$(mktemp -d /tmp/gateway-bench-rolling.XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for f in "$work"/r*/pipeline.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

read -r origin_port lb_port lb_uri_port lb_rr_port p0 p1 p2 < <(python3 -c '
import socket
s = [socket.socket() for _ in range(7)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
ports=("$p0" "$p1" "$p2")

mkdir -p "$work/www" "$work/origin"
head -c 2048 /dev/urandom > "$work/www/small.bin"
head -c $((50 * 1024 * 1024)) /dev/urandom > "$work/www/big.bin"
cat > "$work/origin/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/origin/nginx.pid;
error_log $work/origin/error.log warn;
events { worker_connections 4096; }
http {
  log_format t '\$request_uri \$status';
  access_log $work/origin/access.log t;
  client_body_temp_path $work/origin/body; proxy_temp_path $work/origin/proxy; fastcgi_temp_path $work/origin/fastcgi;
  uwsgi_temp_path $work/origin/uwsgi; scgi_temp_path $work/origin/scgi;
  types { application/octet-stream bin; }
  server { listen 127.0.0.1:$origin_port; root $work/www; sendfile on; add_header Cache-Control "max-age=3600"; }
}
CONF
"$nginx_bin" -p "$work/origin" -c "$work/origin/nginx.conf" & pids+=($!)

for i in 0 1 2; do
  mkdir -p "$work/r$i/www"
  cp "$work/www/small.bin" "$work/r$i/www/"
  cat > "$work/r$i/pipeline.json" <<JSON
{"version": 1, "workers": 1, "drainDelay": "2s",
 "listeners": [{"name": "web", "listen": "127.0.0.1:${ports[$i]}"}],
 "stacks": {"health": {"match": {"pathPrefix": ["/healthz", "/readyz"]}, "chain": [{"type": "health"}]},
            "files": {"match": {"pathPrefix": ["/small.bin"]}, "chain": [{"type": "files", "root": "www"}]},
            "proxy": {"chain": [{"type": "cache", "memory": "64MiB", "disk": "cache", "maxBytes": "1GiB", "maxObjectSize": "128MiB"},
                                {"type": "upstream", "url": "http://127.0.0.1:$origin_port"}]}}}
JSON
done
start_replica() {
  (cd "$work/r$1" && exec "$gateway_bin" serve --config pipeline.json >/dev/null 2>>gateway.log) &
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:${ports[$1]}/readyz" >/dev/null && return 0; sleep 0.05; done
  echo "bench: replica $1 did not start" >&2; exit 1
}
for i in 0 1 2; do start_replica "$i"; done

cat > "$work/haproxy.cfg" <<CONF
global
    log stdout format raw local0 info
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend fe
    bind 127.0.0.1:$lb_port
    default_backend be
frontend fe_uri
    bind 127.0.0.1:$lb_uri_port
    default_backend be_uri
frontend fe_rr
    bind 127.0.0.1:$lb_rr_port
    default_backend be_rr
backend be
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host lb
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2 check
    server r0 127.0.0.1:$p0
    server r1 127.0.0.1:$p1
    server r2 127.0.0.1:$p2
backend be_uri
    balance uri
    hash-type consistent
    server r0 127.0.0.1:$p0
    server r1 127.0.0.1:$p1
    server r2 127.0.0.1:$p2
backend be_rr
    balance roundrobin
    server r0 127.0.0.1:$p0
    server r1 127.0.0.1:$p1
    server r2 127.0.0.1:$p2
CONF
"$haproxy_bin" -f "$work/haproxy.cfg" -db > "$work/haproxy.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$lb_port/readyz" >/dev/null && break; sleep 0.05; done

# One wrk run; prints "served failed p50 p99" (failed = non-2xx + socket errors).
load() {
  wrk -t2 -c32 -d"${duration}s" --latency "http://127.0.0.1:$lb_port/small.bin" > "$work/wrk.out"
  python3 - "$work/wrk.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
served = int(re.search(r"(\d+) requests in", text).group(1))
non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0
sock = sum(map(int, m.groups())) if (m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)) else 0
lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M))
print(served, non2xx + sock, lat.get("50", "?"), lat.get("99", "?"))
PY
}

echo "(a) $duration s of wrk -t2 -c32 through haproxy over 3 replicas"
read -r base_served base_failed base_p50 base_p99 < <(load)
: > "$work/haproxy.log"
rolling() {
  sleep 2
  for i in 0 1 2; do
    kill -TERM "$(cat "$work/r$i/pipeline.pid")"
    while [ -f "$work/r$i/pipeline.pid" ]; do sleep 0.05; done
    start_replica "$i"
    sleep $(( duration / 4 > 3 ? duration / 4 - 3 : 1 ))
  done
}
rolling & roller=$!
read -r roll_served roll_failed roll_p50 roll_p99 < <(load)
wait "$roller"
# httplog: ... fe be/r0 Tq/Tw/Tc/Tr/Ta STATUS BYTES ... actconn/feconn/beconn/srvconn/RETRIES ...
read -r lb5xx retried < <(python3 - "$work/haproxy.log" <<'PY'
import sys
errors = retries = 0
for line in open(sys.argv[1]):
    fields = line.split()
    timers = [i for i, f in enumerate(fields) if f.count("/") == 4 and f[0].isdigit() or f.startswith("-1/")]
    if len(timers) < 2 or timers[0] + 1 >= len(fields):
        continue
    status = fields[timers[0] + 1]
    errors += status.startswith("5")
    retries += fields[timers[1]].split("/")[-1].lstrip("+") not in ("0", "")
print(errors, retries)
PY
)
printf '  %-22s %10s %8s %9s %9s\n' "" served failed p50 p99
printf '  %-22s %10s %8s %9s %9s\n' "no restart" "$base_served" "$base_failed" "$base_p50" "$base_p99"
printf '  %-22s %10s %8s %9s %9s\n' "rolling restart of 3" "$roll_served" "$roll_failed" "$roll_p50" "$roll_p99"
echo "  haproxy during the rolling run: $lb5xx responses 5xx, $retried requests retried"

echo "(b) $clients concurrent clients on one uncached 50 MiB object through haproxy over 3 caching replicas"
herd() {
  local port=$1 query=$2
  : > "$work/origin/access.log"
  local args=(-s --no-progress-meter -Z --parallel-immediate --parallel-max "$clients" -w '%{http_code}\n')
  for _ in $(seq "$clients"); do args+=(-o /dev/null "http://127.0.0.1:$port/big.bin?$query"); done
  local ok; ok=$(curl "${args[@]}" | grep -c '^200$' || true)
  echo "$ok $(grep -c '^/big.bin' "$work/origin/access.log" || true)"
}
read -r uri_ok uri_fetches < <(herd "$lb_uri_port" uri)
read -r rr_ok rr_fetches < <(herd "$lb_rr_port" rr)
echo "  balance uri + hash-type consistent: $uri_fetches upstream fetch(es), $uri_ok/$clients answered 200"
echo "  balance roundrobin:                 $rr_fetches upstream fetch(es), $rr_ok/$clients answered 200"
