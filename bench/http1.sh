#!/usr/bin/env bash
# HTTP/1.1 static files: gateway `files` vs nginx, side by side on loopback, in one run.
#   wrk -t1 -c64 -d10s on a 200-byte JSON file (requests/s), and single-stream 100 MiB downloads
#   with curl (bytes/s), gateway RSS sampled from /proc during its downloads.
# Needs a release build (.build/release/gateway) and nginx, wrk, curl (`make bench` sees to both).
# Runs alternate between the two servers and the median of each is compared, because the
# machine is shared and single runs vary a lot.
# Environment: DURATION (wrk seconds, 10), ROUNDS (alternating wrk rounds per server, 5),
# DOWNLOADS (curl runs per server, 11), WORKERS (nginx workers and gateway loops, 2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration="${DURATION:-10}"; rounds="${ROUNDS:-5}"; downloads="${DOWNLOADS:-11}"; workers="${WORKERS:-2}"
gateway_bin="$root/.build/release/gateway"
[ -x "$gateway_bin" ] || { echo "bench: build first: swift build -c release" >&2; exit 1; }
for tool in nginx wrk curl python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench: $tool is missing (scripts/setup.sh bench)" >&2; exit 1; }
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

work="$(mktemp -d /tmp/gateway-bench-http1.XXXXXX)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Two free loopback ports.
read -r nginx_port gateway_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

mkdir -p "$work/www" "$work/nginx"
# nginx workers run as nobody when started by root: they must be able to read the files.
chmod 755 "$work" "$work/www"
python3 - "$work/www/small.json" <<'PY'
import json, sys
body = {"name": "gateway", "about": "a self-hosted registry gateway", "products": ["terraform", "apt", "mirror"], "pad": ""}
text = json.dumps(body, separators=(",", ":"))
body["pad"] = "x" * (200 - len(text))
open(sys.argv[1], "w").write(json.dumps(body, separators=(",", ":")))
PY
head -c $((100 * 1024 * 1024)) /dev/urandom > "$work/www/large.bin"
chmod 644 "$work/www/"*

cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes $workers;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  types { application/json json; application/octet-stream bin; }
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$nginx_port; root $work/www; }
}
CONF
cat > "$work/pipeline.json" <<JSON
{"version": 1, "workers": $workers,
 "listeners": [{"name": "bench", "listen": "127.0.0.1:$gateway_port"}],
 "stacks": {"files": {"chain": [{"type": "files", "root": "www"}]}}}
JSON

"$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
pids+=("$nginx_pid")
(cd "$work" && exec "$gateway_bin" serve --config pipeline.json 2>"$work/gateway.log") &
gateway_pid=$!
pids+=("$gateway_pid")

wait_up() { for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "bench: $1 did not come up" >&2; exit 1; }
wait_up "http://127.0.0.1:$nginx_port/small.json"
wait_up "http://127.0.0.1:$gateway_port/small.json"
cmp <(curl -fsS "http://127.0.0.1:$nginx_port/small.json") <(curl -fsS "http://127.0.0.1:$gateway_port/small.json")
size=$(stat -c %s "$work/www/small.json")

# CPU time (clock ticks) used so far by the given processes, all their threads included.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
# One wrk round against URL: "requests/s CPU-microseconds-per-request" of the serving processes.
# CPU per request varies much less than requests/s when other work shares the machine.
measure() {
  local url=$1 before after out; shift
  before=$(ticks "$@")
  out=$(wrk -t1 -c64 -d"${duration}s" "$url")
  after=$(ticks "$@")
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" '/^Requests\/sec:/ {rps = $2} /requests in/ {n = $1}
    END {printf "%s %.2f\n", rps, t / hz * 1e6 / n}' <<<"$out"
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "bench: small file ($size bytes), wrk -t1 -c64 -d${duration}s, $rounds alternating rounds each"
nginx_workers=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
nginx_rps=(); gateway_rps=(); nginx_cpu=(); gateway_cpu=()
for round in $(seq "$rounds"); do
  # shellcheck disable=SC2086
  read -r r c < <(measure "http://127.0.0.1:$nginx_port/small.json" "$nginx_pid" $nginx_workers)
  nginx_rps+=("$r"); nginx_cpu+=("$c")
  read -r r c < <(measure "http://127.0.0.1:$gateway_port/small.json" "$gateway_pid")
  gateway_rps+=("$r"); gateway_cpu+=("$c")
  echo "  round $round: nginx ${nginx_rps[-1]} req/s (${nginx_cpu[-1]} us CPU/req)," \
       "gateway ${gateway_rps[-1]} req/s (${gateway_cpu[-1]} us CPU/req)"
done
nginx_best=$(printf '%s\n' "${nginx_rps[@]}" | median)
gateway_best=$(printf '%s\n' "${gateway_rps[@]}" | median)
nginx_cpu_median=$(printf '%s\n' "${nginx_cpu[@]}" | median)
gateway_cpu_median=$(printf '%s\n' "${gateway_cpu[@]}" | median)

# Peak VmRSS (KiB) of the gateway while it sends the large file.
sample_rss() {
  local peak=0 rss
  while [ -e "$work/sampling" ]; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$gateway_pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    sleep 0.02
  done
  echo "$peak" > "$work/rss-peak"
}
download() { curl -fsS --max-time 120 -o /dev/null -w '%{speed_download}\n' "$1"; }

echo "bench: 100 MiB file, single curl stream, $downloads runs each"
nginx_speed=(); gateway_speed=()
touch "$work/sampling"; sample_rss & sampler=$!
for run in $(seq "$downloads"); do
  nginx_speed+=("$(download "http://127.0.0.1:$nginx_port/large.bin")")
  gateway_speed+=("$(download "http://127.0.0.1:$gateway_port/large.bin")")
  echo "  run $run: nginx $(awk -v b="${nginx_speed[-1]}" 'BEGIN {printf "%.0f", b / 1048576}') MiB/s," \
       "gateway $(awk -v b="${gateway_speed[-1]}" 'BEGIN {printf "%.0f", b / 1048576}') MiB/s"
done
rm -f "$work/sampling"; wait "$sampler"
rss_peak=$(cat "$work/rss-peak")
nginx_speed_best=$(printf '%s\n' "${nginx_speed[@]}" | median)
gateway_speed_best=$(printf '%s\n' "${gateway_speed[@]}" | median)

awk -v nr="$nginx_best" -v gr="$gateway_best" -v ns="$nginx_speed_best" -v gs="$gateway_speed_best" -v rss="$rss_peak" \
    -v nc="$nginx_cpu_median" -v gc="$gateway_cpu_median" 'BEGIN {
  printf "\n%-34s %14s %14s %8s %8s\n", "HTTP/1.1 (median of runs)", "nginx", "gateway", "ratio", "goal"
  printf "%-34s %14.0f %14.0f %8.2f %8s\n", "small file, requests/s", nr, gr, gr / nr, ">=0.80"
  printf "%-34s %14.2f %14.2f %8.2f %8s\n", "small file, CPU us/request", nc, gc, nc / gc, "(info)"
  printf "%-34s %14.0f %14.0f %8.2f %8s\n", "100 MiB download, MiB/s", ns / 1048576, gs / 1048576, gs / ns, ">=0.90"
  printf "%-34s %14s %14.1f %8s %8s\n", "gateway peak RSS in download, MiB", "", rss / 1024, "", "<64"
  ok = (gr / nr >= 0.8) && (gs / ns >= 0.9) && (rss / 1024 < 64)
  printf "\ngoals %s\n", ok ? "met" : "NOT met"
}'
