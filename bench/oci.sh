#!/usr/bin/env bash
# The OCI provider mirror: gateway [oci.mirror, cache, upstream] in front of Debian's docker-registry, one run.
#   (a) a 100 MiB provider zip through the mirror vs straight from docker-registry (curl, RUNS each,
#       best time; throughput ratio), gateway RSS sampled from /proc during the mirror downloads;
#   (b) <version>.json requests/s with wrk -t1 -c64: from a `cache` in front of the mirror
#       (metadataCacheControl "public, max-age=60": hits), and made by the mirror from its kept metadata
#       on every request, each vs nginx serving the same bytes as a static file;
#   (c) registry requests made for 1,000 <version>.json requests (counted in docker-registry's log):
#       they must stay near one round per freshness interval (freshFor 60 s here).
# Needs a release build (.build/release/gateway) and docker-registry, nginx, wrk, curl, python3.
# Environment: DURATION (wrk seconds, 10), RUNS (downloads per side, 5), KEEP (keep the work directory).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration="${DURATION:-10}"; runs="${RUNS:-5}"
gateway_bin="$root/.build/release/gateway"
[ -x "$gateway_bin" ] || { echo "bench: build first: swift build -c release" >&2; exit 1; }
for tool in docker-registry nginx wrk curl python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench: $tool is missing (scripts/setup.sh bench, test)" >&2; exit 1; }
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

work="$(mktemp -d /tmp/gateway-bench-oci.XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

read -r registry_port nginx_port gateway_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

echo "preparing a provider release with a 100 MiB zip ..."
release="$work/release"
mkdir -p "$release"
python3 - "$release" <<'PY'
import os, sys, zipfile, hashlib
out = sys.argv[1]
name = f"{out}/terraform-provider-big_1.0.0_linux_amd64.zip"
with zipfile.ZipFile(name, "w", zipfile.ZIP_STORED) as z:
    info = zipfile.ZipInfo("terraform-provider-big_v1.0.0", date_time=(2024, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16
    z.writestr(info, os.urandom(100 * 1024 * 1024))
with open(f"{out}/terraform-provider-big_1.0.0_SHA256SUMS", "w") as f:
    f.write(hashlib.sha256(open(name, "rb").read()).hexdigest() + "  " + os.path.basename(name) + "\n")
PY

cat > "$work/registry.yml" <<CONF
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $work/registry-data}}
http: {addr: 127.0.0.1:$registry_port}
CONF
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 & pids+=($!)
python3 -c "
import socket, time, sys
for _ in range(200):
    try: socket.create_connection(('127.0.0.1', $registry_port)).close(); sys.exit(0)
    except OSError: time.sleep(0.05)
sys.exit(1)"
"$gateway_bin" oci push "$release" --repository "127.0.0.1:$registry_port/terraform-providers/example.com/acme/big" --plain-http

cat > "$work/pipeline.json" <<CONF
{"version": 1,
 "listeners": [{"name": "http", "listen": "127.0.0.1:$gateway_port"}],
 "sources": {"oci": {"type": "oci", "url": "http://127.0.0.1:$registry_port", "freshFor": "60s",
                     "repository": "terraform-providers/\${hostname}/\${namespace}/\${type}"}},
 "stacks": {"mirror": {"match": {"pathPrefix": ["/mirror/"]},
                       "chain": [{"type": "oci.mirror", "source": "oci", "hashWait": "60s"},
                                 {"type": "cache", "memory": "512MiB"}, {"type": "upstream"}]},
            "cached": {"match": {"pathPrefix": ["/cached/"]},
                       "chain": [{"type": "cache", "memory": "64MiB"},
                                 {"type": "oci.mirror", "source": "oci", "prefix": "/cached/", "hashWait": "60s",
                                  "metadataCacheControl": "public, max-age=60"},
                                 {"type": "upstream"}]}}}
CONF
"$gateway_bin" serve --config "$work/pipeline.json" > "$work/gateway.log" 2>&1 & gateway_pid=$!; pids+=($gateway_pid)
sleep 1
mirror="http://127.0.0.1:$gateway_port/mirror/example.com/acme/big"
json="$(curl -sf "$mirror/1.0.0.json")"
echo "1.0.0.json: $json"
digest="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["archives"]["linux_amd64"]["hashes"][-1][3:])' "$json")"

best() {  # best (lowest) seconds of RUNS downloads of $1
  local t b=999999
  for _ in $(seq "$runs"); do
    t="$(curl -s -o /dev/null -w '%{time_total}' "$1")"
    b="$(python3 -c "print(min($b, $t))")"
  done
  echo "$b"
}
rss_max=0
sample_rss() { while kill -0 "$gateway_pid" 2>/dev/null; do
  awk '/VmRSS/ {print $2}' "/proc/$gateway_pid/status"; sleep 0.05; done > "$work/rss.txt"; }

echo "(a) 100 MiB zip, best of $runs ..."
direct="$(best "http://127.0.0.1:$registry_port/v2/terraform-providers/example.com/acme/big/blobs/sha256:$digest")"
sample_rss & sampler=$!
through="$(best "$mirror/1.0.0/terraform-provider-big_1.0.0_linux_amd64.zip")"
kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
rss_max="$(sort -n "$work/rss.txt" | tail -1)"
python3 -c "
d, t = $direct, $through
mb = 100 * 1024 * 1024 / 1e6
print(f'    docker-registry {mb/d:8.0f} MB/s   gateway mirror {mb/t:8.0f} MB/s   ratio {d/t:.2f}   gateway max RSS {$rss_max/1024:.0f} MiB')"

echo "(b) 1.0.0.json: cache hit and made from kept metadata vs nginx static, wrk -t1 -c64 -d${duration}s ..."
mkdir -p "$work/www" "$work/nginx"
printf '%s' "$json" > "$work/www/1.0.0.json"
cat > "$work/nginx/nginx.conf" <<CONF
daemon off; worker_processes 2; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log warn;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; default_type application/json;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy; fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$nginx_port; root $work/www; } }
CONF
"$nginx_bin" -c "$work/nginx/nginx.conf" & pids+=($!)
sleep 0.5
rps() { wrk -t1 -c64 -d"${duration}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
cached="http://127.0.0.1:$gateway_port/cached/example.com/acme/big/1.0.0.json"
curl -sf -o /dev/null "$cached"
c="$(rps "$cached")"
g="$(rps "$mirror/1.0.0.json")"
n="$(rps "http://127.0.0.1:$nginx_port/1.0.0.json")"
python3 -c "print(f'    gateway, cache in front (HIT) {$c:8.0f} req/s   made from kept metadata {$g:8.0f} req/s   nginx {$n:8.0f} req/s   ratios {$c/$n:.2f} / {$g/$n:.2f}')"

echo "(c) registry requests for 1,000 <version>.json requests ..."
before="$(grep -c 'response completed' "$work/registry.log" || true)"
for _ in $(seq 1000); do echo "url = \"$mirror/1.0.0.json\""; echo "output = /dev/null"; done > "$work/curl.cfg"
curl -s --config "$work/curl.cfg"
after="$(grep -c 'response completed' "$work/registry.log" || true)"
echo "    $((after - before)) registry requests for 1000 <version>.json requests (freshFor 60s)"
