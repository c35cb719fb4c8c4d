#!/usr/bin/env bash
# Cache and upstream: gateway [cache, upstream{url}] vs nginx proxy_cache, side by side on loopback, one run.
#   (a) cache-hit requests/s and CPU per request for a 2 KiB object, wrk -t1 -c64 (alternating rounds;
#       the median of the per-round ratios is reported);
#   (b) a 1 GiB object streamed on a miss (fill to the disk tier) vs curl straight from the origin,
#       gateway RSS sampled from /proc during it; nginx proxy_cache's miss for reference;
#   (c) 500 concurrent clients for one uncached 100 MiB object: upstream fetches (origin access log),
#       sha256 of every body, time to last byte vs one client alone; nginx proxy_cache_lock alongside.
# Needs a release build (.build/release/gateway) and nginx, wrk, curl, openssl, python3.
# Environment: DURATION (wrk seconds, 10), ROUNDS (wrk rounds per server, 5), RUNS (1 GiB runs, 5),
# CLIENTS (concurrent clients in (c), 500), WORKERS (nginx workers and gateway loops, 2), KEEP (keep the work directory),
# PARTS (which of a, b, c to run: abc).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration="${DURATION:-10}"; parts="${PARTS:-abc}"; rounds="${ROUNDS:-5}"; runs="${RUNS:-5}"; clients="${CLIENTS:-500}"; workers="${WORKERS:-2}"
gateway_bin="${GATEWAY_BIN:-$root/.build/release/gateway}"  # GATEWAY_BIN: another build to compare
[ -x "$gateway_bin" ] || { echo "bench: build first: swift build -c release" >&2; exit 1; }
for tool in nginx wrk curl openssl python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench: $tool is missing (scripts/setup.sh bench)" >&2; exit 1; }
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
ulimit -n 65536 2>/dev/null || true

work="$(mktemp -d /tmp/gateway-bench-cache.XXXXXX)"
chmod 755 "$work"  # nginx workers may run as another user (nobody, when started as root)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

read -r origin_port nginx_port gateway_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

echo "preparing objects (2 KiB; 100 MiB for (c), 1 GiB for (b)) ..."
mkdir -p "$work/www" "$work/origin" "$work/nginx/cache" "$work/gateway-cache"
head -c 2048 /dev/urandom > "$work/www/small.bin"
if [[ $parts == *c* ]]; then head -c $((100 * 1024 * 1024)) /dev/urandom > "$work/www/big.bin"; fi
if [[ $parts == *b* ]]; then
  head -c $((1024 * 1024 * 1024)) /dev/urandom > "$work/www/huge.bin"
  # This VM makes the first touch of a never-used page slow (a new 1 GiB file is written at ~0.3 GB/s,
  # a reused one at 4+ GB/s). Recycle 8 GiB of page cache once (both caches write ~7 GiB below) so the
  # fills write into warm pages, as on a long-running server.
  head -c $((8 * 1024 * 1024 * 1024)) /dev/zero > "$work/warm" && rm -f "$work/warm"
fi

common_http="sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 1000000;
  types { application/octet-stream bin; }
  client_body_temp_path TEMP/body; proxy_temp_path TEMP/proxy; fastcgi_temp_path TEMP/fastcgi;
  uwsgi_temp_path TEMP/uwsgi; scgi_temp_path TEMP/scgi;"
cat > "$work/origin/nginx.conf" <<CONF
daemon off;
worker_processes $workers;
pid $work/origin/nginx.pid;
error_log $work/origin/error.log warn;
events { worker_connections 8192; }
http {
  ${common_http//TEMP/$work/origin}
  log_format uri '\$request_uri \$status';
  access_log $work/origin/access.log uri;
  server { listen 127.0.0.1:$origin_port; root $work/www; add_header Cache-Control "max-age=3600"; }
}
CONF
cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes $workers;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 8192; }
http {
  ${common_http//TEMP/$work/nginx}
  access_log off;
  proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=bench:10m max_size=4g inactive=1h use_temp_path=off;
  upstream origin { server 127.0.0.1:$origin_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache bench; proxy_cache_valid 200 1h; proxy_cache_lock on; proxy_cache_lock_timeout 600s;
      add_header X-Cache \$upstream_cache_status;
    }
  }
}
CONF
cat > "$work/pipeline.json" <<JSON
{"version": 1, "workers": $workers,
 "listeners": [{"name": "bench", "listen": "127.0.0.1:$gateway_port"}],
 "stacks": {
   "metrics": {"match": {"pathPrefix": ["/metrics"]}, "chain": [{"type": "metrics"}]},
   "stream": {"match": {"pathPrefix": ["/stream/"]}, "chain": [
     {"type": "cache", "memory": "64MiB"},
     {"type": "upstream", "url": "http://127.0.0.1:$origin_port", "stripPrefix": "/stream"}]},
   "cache": {"chain": [
     {"type": "cache", "memory": "64MiB", "disk": "gateway-cache", "maxBytes": "4GiB", "maxObjectSize": "2GiB"},
     {"type": "upstream", "url": "http://127.0.0.1:$origin_port"}]}},
 "run": ["metrics", "stream", "cache"]}
JSON

"$nginx_bin" -c "$work/origin/nginx.conf" -p "$work/origin" &
pids+=($!)
"$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
pids+=("$nginx_pid")
(cd "$work" && exec "$gateway_bin" serve --config pipeline.json 2>"$work/gateway.log") &
gateway_pid=$!
pids+=("$gateway_pid")

origin="http://127.0.0.1:$origin_port"; nginx="http://127.0.0.1:$nginx_port"; gateway="http://127.0.0.1:$gateway_port"
wait_up() { for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "bench: $1 did not come up" >&2; exit 1; }
wait_up "$origin/small.bin"; wait_up "$nginx/small.bin"; wait_up "$gateway/small.bin"
# HIT or MISS: nginx's X-Cache, or the gateway's Cache-Status ("gateway; hit; ..." is a hit).
xcache() { curl -fsS -o /dev/null -D - "$1" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" {x = $2} tolower($1) == "cache-status" {s = $2}
  END {if (x != "") print x; else if (s ~ /; hit/) print "HIT"; else if (s != "") print "MISS"}'; }
upstream_count() { grep -c "^$1 " "$work/origin/access.log" || true; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
# Median of the per-round ratios a[i]/b[i] (each pair ran back to back, under the same background load).
paired() { python3 -c "import sys, statistics; a, b = sys.argv[1].split(), sys.argv[2].split(); print(f'{statistics.median(float(x) / float(y) for x, y in zip(a, b)):.2f}')" "$1" "$2"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$gateway_pid/status"; }

# CPU time (user + system, all threads) of processes, in clock ticks: steadier than req/s on a shared machine.
cpu_ticks() { local total=0 pid; for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$total"; }
if [[ $parts == *a* ]]; then
echo
echo "== (a) cache HIT, 2 KiB object, wrk -t1 -c64 -d${duration}s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
[ "$(xcache "$nginx/small.bin")" = MISS ] || true
[ "$(xcache "$nginx/small.bin")" = HIT ] || { echo "bench: nginx did not cache small.bin" >&2; exit 1; }
xcache "$gateway/small.bin" >/dev/null
[ "$(xcache "$gateway/small.bin")" = HIT ] || { echo "bench: gateway did not cache small.bin" >&2; exit 1; }
cmp <(curl -fsS "$nginx/small.bin") <(curl -fsS "$gateway/small.bin")
nginx_procs() { echo "$nginx_pid" $(pgrep -P "$nginx_pid"); }
tick=$(getconf CLK_TCK)
# One wrk round: prints "requests/s CPU-µs-per-request" for the server whose processes are given.
measure() {
  local url=$1; shift
  local before after out
  before=$(cpu_ticks "$@")
  out=$(wrk -t1 -c64 -d"${duration}s" "$url")
  after=$(cpu_ticks "$@")
  echo "$out" | awk -v ticks=$((after - before)) -v hz="$tick" '
    / requests in / {n = $1} /^Requests\/sec:/ {r = $2}
    END {printf "%s %.1f\n", r, ticks / hz * 1e6 / n}'
}
nginx_rps=(); gateway_rps=(); nginx_cpu=(); gateway_cpu=()
for round in $(seq "$rounds"); do
  read -r r c < <(measure "$nginx/small.bin" $(nginx_procs)); nginx_rps+=("$r"); nginx_cpu+=("$c")
  read -r r c < <(measure "$gateway/small.bin" "$gateway_pid"); gateway_rps+=("$r"); gateway_cpu+=("$c")
  echo "  round $round: nginx proxy_cache ${nginx_rps[-1]} req/s (${nginx_cpu[-1]} µs CPU/req), gateway ${gateway_rps[-1]} req/s (${gateway_cpu[-1]} µs CPU/req)"
done
echo "  median of per-round ratios: gateway/nginx requests/s $(paired "${gateway_rps[*]}" "${nginx_rps[*]}")," \
     "nginx/gateway CPU per request $(paired "${nginx_cpu[*]}" "${gateway_cpu[*]}")" \
     "(gateway/nginx $(paired "${gateway_cpu[*]}" "${nginx_cpu[*]}")); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

fi

if [[ $parts == *b* ]]; then
echo
echo "== (b) 1 GiB on a miss (gateway fills its disk tier) vs curl straight from the origin"
# sync first: the previous fill's fsync (gateway) and write-back (nginx) must not run under the next transfer.
speed() { sync; curl -fsS -o /dev/null -w '%{speed_download}' "$1"; }
direct=(); through=(); streamed=(); nginx_miss=(); fill_cpu=(); stream_cpu=(); peak=0
for run in $(seq "$runs"); do
  # Each cache drops the previous run's 1 GiB object first, so every fill writes into recycled pages
  # (see the note at the top) rather than the first run into warm ones and the others into fresh ones.
  find "$work/gateway-cache" -mindepth 2 -path '*/tmp/*' -prune -o -type f -size +500M -print0 | xargs -0 -r rm -f
  find "$work/nginx/cache" -type f -size +500M -print0 | xargs -0 -r rm -f
  direct+=("$(speed "$origin/huge.bin")")
  # A fresh query is a fresh key: every run is a miss. The RSS sampler runs alongside.
  ( while true; do rss_kib; sleep 0.05; done ) > "$work/rss.$run" 2>/dev/null &
  sampler=$!
  # The gateway's CPU time for each transfer (ticks, all threads): what a copy costs, whatever the load.
  t0=$(cpu_ticks "$gateway_pid")
  through+=("$(speed "$gateway/huge.bin?run=$run")")
  t1=$(cpu_ticks "$gateway_pid")
  # The memory-only stack: 1 GiB is above its maxObjectSize, so it streams through without being stored.
  streamed+=("$(speed "$gateway/stream/huge.bin?run=$run")")
  t2=$(cpu_ticks "$gateway_pid")
  fill_cpu+=("$(echo "($t1 - $t0) / $(getconf CLK_TCK)" | bc -l)"); stream_cpu+=("$(echo "($t2 - $t1) / $(getconf CLK_TCK)" | bc -l)")
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  run_peak=$(sort -n "$work/rss.$run" | tail -1)
  [ "${run_peak:-0}" -gt "$peak" ] && peak=$run_peak
  nginx_miss+=("$(speed "$nginx/huge.bin?run=$run")")
  printf '  run %s: direct %.0f MB/s, gateway miss %.0f MB/s (not stored: %.0f MB/s), nginx proxy_cache miss %.0f MB/s, gateway RSS peak %s KiB, gateway CPU %.2f s (fill) %.2f s (not stored)\n' \
    "$run" "$(echo "${direct[-1]} / 1000000" | bc -l)" "$(echo "${through[-1]} / 1000000" | bc -l)" \
    "$(echo "${streamed[-1]} / 1000000" | bc -l)" "$(echo "${nginx_miss[-1]} / 1000000" | bc -l)" "$run_peak" \
    "${fill_cpu[-1]}" "${stream_cpu[-1]}"
done
echo "  median of per-run ratios to direct: gateway miss $(paired "${through[*]}" "${direct[*]}")," \
     "not stored $(paired "${streamed[*]}" "${direct[*]}"), nginx miss $(paired "${nginx_miss[*]}" "${direct[*]}"); gateway RSS peak $((peak / 1024)) MiB"
median() { python3 -c "import sys, statistics; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.2f}')" "$@"; }
echo "  gateway CPU per 1 GiB (median): fill $(median "${fill_cpu[@]}") s, not stored $(median "${stream_cpu[@]}") s"
[ "$(xcache "$gateway/huge.bin?run=$runs")" = HIT ] && echo "  (the gateway's fill was stored: run $runs is now a HIT)"
echo "  gateway relay paths: $(curl -fsS "$gateway/metrics" | grep '^gateway_relayed_bodies_total' | tr '\n' ' ')"
fi

if [[ $parts == *c* ]]; then
echo
echo "== (c) $clients concurrent clients, one uncached 100 MiB object (bodies hashed with openssl sha256)"
expected=$(openssl dgst -sha256 -r "$work/www/big.bin" | cut -d' ' -f1)
fetch_all() { # url count dir -> seconds to the last byte
  local url=$1 count=$2 dir=$3 start end
  mkdir -p "$dir"
  start=$(date +%s.%N)
  for i in $(seq "$count"); do
    (curl -fsS "$url" | openssl dgst -sha256 -r | cut -d' ' -f1 > "$dir/$i") &
  done
  wait  # runs in the $(...) subshell: waits for these clients only
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}
correct() { cat "$1"/* 2>/dev/null | grep -c -x "$expected" || true; }
single=$(fetch_all "$gateway/big.bin?c=single" 1 "$work/single")
echo "  one client alone (gateway miss): $(printf '%.2f' "$single") s, correct: $(correct "$work/single")/1"
many=$(fetch_all "$gateway/big.bin?c=many" "$clients" "$work/many")
echo "  $clients clients (gateway miss):   $(printf '%.2f' "$many") s to the last byte, correct sha256: $(correct "$work/many")/$clients," \
     "upstream requests: $(upstream_count "/big.bin?c=many"), x$(ratio "$many" "$single") one client's time"
nginx_many=$(fetch_all "$nginx/big.bin?c=nginx" "$clients" "$work/nginx-many")
echo "  $clients clients (nginx proxy_cache_lock): $(printf '%.2f' "$nginx_many") s, correct sha256: $(correct "$work/nginx-many")/$clients," \
     "upstream requests: $(upstream_count "/big.bin?c=nginx")"
echo "  gateway RSS now $(( $(rss_kib) / 1024 )) MiB, peak since start $(( $(awk '/^VmHWM:/ {print $2}' "/proc/$gateway_pid/status") / 1024 )) MiB"
fi
