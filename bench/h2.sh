#!/usr/bin/env bash
# HTTP/2 over TLS, small file: the gateway against nginx, same certificate, same 200-byte file,
# same machine, one run. Prints requests/s of each and the ratio (goal: gateway >= 0.8x nginx), and
# the CPU time each server used per request (utime + stime of all its processes and threads).
#
#   bench/h2.sh                 # builds the release binary first
#   GATEWAY_BIN=path bench/h2.sh
#   ROUNDS=3 REQUESTS=100000 bench/h2.sh
#
# Needs nginx and h2load (Debian: nginx, nghttp2-client). Both servers run with one worker per
# core; client and servers share the machine, so read the ratio, not the absolute numbers.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${ROUNDS:-2}"
REQUESTS="${REQUESTS:-100000}"
CLIENTS="${CLIENTS:-64}"
STREAMS="${STREAMS:-10}"
for tool in nginx h2load curl; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench/h2.sh: $tool is not installed" >&2; exit 1; }
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

if [ -z "${GATEWAY_BIN:-}" ]; then
    (cd "$ROOT" && swift build -c release --product gateway >/dev/null)
    GATEWAY_BIN="$ROOT/.build/release/gateway"
fi

WORK="$(mktemp -d /tmp/gateway-bench-h2.XXXXXX)"
chmod 755 "$WORK"   # nginx workers run as nobody
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

mkdir -p "$WORK/www" "$WORK/nginx/logs"
head -c 200 /dev/zero | tr '\0' 'x' > "$WORK/www/small.json"
"$GATEWAY_BIN" cert --dev --dir "$WORK/certs" >/dev/null
CERT="$WORK/certs/gateway.pem"
KEY="$WORK/certs/gateway-key.pem"

NGINX_PORT="$(free_port)"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    http2_max_concurrent_streams 128;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl http2;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $WORK/www;
    }
}
CONF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
PIDS+=($NGINX_PID)

GATEWAY_PORT="$(free_port)"
cat > "$WORK/pipeline.json" <<CONF
{"version": 1,
 "listeners": [{"name": "bench", "listen": "127.0.0.1:$GATEWAY_PORT",
                "tls": {"certificate": "$CERT", "key": "$KEY"}}],
 "stacks": {"files": {"chain": [{"type": "files", "root": "$WORK/www"}]}}}
CONF
"$GATEWAY_BIN" serve --config "$WORK/pipeline.json" 2>"$WORK/gateway.log" >/dev/null &
GATEWAY_PID=$!
PIDS+=($GATEWAY_PID)

for url in "https://127.0.0.1:$NGINX_PORT/small.json" "https://127.0.0.1:$GATEWAY_PORT/small.json"; do
    for _ in $(seq 50); do curl -sk --http2 -o /dev/null "$url" && break; sleep 0.1; done
    version="$(curl -sk --http2 -o /dev/null -w '%{http_version} %{size_download}' "$url")"
    [ "$version" = "2 200" ] || { echo "bench/h2.sh: $url answered HTTP/$version, expected h2 with 200 bytes" >&2; exit 1; }
done

# CPU time (user + system, all threads) of processes, in clock ticks: steadier than req/s on a shared machine.
cpu_ticks() { local total=0 pid; for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$total"; }
nginx_procs() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID"); }
TICK="$(getconf CLK_TCK)"

run() {  # name url pid... -> prints "req/s CPU-µs-per-request"
    local name=$1 url=$2 out before after
    shift 2
    before="$(cpu_ticks "$@")"
    out="$(h2load -n "$REQUESTS" -c "$CLIENTS" -m "$STREAMS" "$url" 2>&1)"
    after="$(cpu_ticks "$@")"
    if ! grep -q "succeeded, 0 failed, 0 errored" <<<"$out" || ! grep -q "status codes: $REQUESTS 2xx" <<<"$out"; then
        echo "bench/h2.sh: $name had failures:" >&2
        echo "$out" >&2
        exit 1
    fi
    printf '%s %.2f\n' "$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")" \
        "$(echo "($after - $before) / $TICK * 1000000 / $REQUESTS" | bc -l)"
}

echo "h2load -n $REQUESTS -c $CLIENTS -m $STREAMS, TLS, 200-byte file; $(nproc) cores shared by client and server; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
run nginx "https://127.0.0.1:$NGINX_PORT/small.json" $(nginx_procs) >/dev/null     # warm-up
run gateway "https://127.0.0.1:$GATEWAY_PORT/small.json" "$GATEWAY_PID" >/dev/null
nginx_total=0
gateway_total=0
nginx_cpu=()
gateway_cpu=()
for round in $(seq "$ROUNDS"); do
    result="$(run nginx "https://127.0.0.1:$NGINX_PORT/small.json" $(nginx_procs))"
    read -r n nc <<<"$result"
    result="$(run gateway "https://127.0.0.1:$GATEWAY_PORT/small.json" "$GATEWAY_PID")"
    read -r g gc <<<"$result"
    nginx_cpu+=("$nc")
    gateway_cpu+=("$gc")
    printf 'round %d: nginx %10.0f req/s %6.2f µs CPU/req   gateway %10.0f req/s %6.2f µs CPU/req   ratio %.2f (CPU %.2f)\n' \
        "$round" "$n" "$nc" "$g" "$gc" "$(echo "$g / $n" | bc -l)" "$(echo "$gc / $nc" | bc -l)"
    nginx_total="$(echo "$nginx_total + $n" | bc -l)"
    gateway_total="$(echo "$gateway_total + $g" | bc -l)"
done
printf 'mean:    nginx %10.0f req/s   gateway %10.0f req/s   ratio %.2f\n' \
    "$(echo "$nginx_total / $ROUNDS" | bc -l)" "$(echo "$gateway_total / $ROUNDS" | bc -l)" "$(echo "$gateway_total / $nginx_total" | bc -l)"
python3 -c 'import sys, statistics
n = [float(x) for x in sys.argv[1].split()]; g = [float(x) for x in sys.argv[2].split()]
print(f"CPU per request, median: nginx {statistics.median(n):.2f} µs, gateway {statistics.median(g):.2f} µs; gateway/nginx median of per-round ratios {statistics.median(b / a for a, b in zip(n, g)):.2f}")' \
    "${nginx_cpu[*]}" "${gateway_cpu[*]}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
