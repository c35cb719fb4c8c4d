#!/usr/bin/env bash
# The Terraform registry (issue 7), two figures, side by side in one run:
#  (a) cache-hit requests/s of a module `versions` document (terraform.registry behind `cache`)
#      against nginx serving the very same JSON from a file, `wrk -t1 -c64`;
#  (b) GitHub API calls the gateway makes for 1,000 `versions` requests spread over 10 modules
#      of a GitHub organisation (the stand-in counts them): it should stay near 10 per freshness
#      interval, whatever the number of requests.
#
#   bench/terraform.sh               # builds release binaries first
#   ROUNDS=3 DURATION=10s bench/terraform.sh
#
# Needs nginx, wrk, curl and git. Client and servers share the machine: read the ratio.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10s}"
for tool in nginx wrk curl git python3; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench/terraform.sh: $tool is not installed" >&2; exit 1; }
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
if [ -z "${GATEWAY_BIN:-}" ]; then
    (cd "$ROOT" && swift build -c release --product gateway >/dev/null && swift build -c release --product github-standin >/dev/null)
    GATEWAY_BIN="$ROOT/.build/release/gateway"
fi
STANDIN_BIN="${STANDIN_BIN:-$(dirname "$GATEWAY_BIN")/github-standin}"

WORK="$(mktemp -d /tmp/gateway-bench-tf.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
rps() { wrk -t1 -c64 -d"$DURATION" "$1" | awk '/Requests\/sec/ {print $2}'; }

echo "== (a) cache-hit requests/s of a versions document"
GW_PORT="$(free_port)"
cat > "$WORK/registry.json" <<CONF
{"version": 1, "listeners": [{"name": "bench", "listen": "127.0.0.1:$GW_PORT"}],
 "sources": {"examples": {"type": "directory", "path": "$ROOT/examples/registry"}},
 "stacks": {"terraform": {"chain": [
   {"type": "cache", "memory": "64MiB"},
   {"type": "terraform.registry", "modules": "examples", "metadataCacheControl": "public, max-age=60"},
   {"type": "upstream"}]}}}
CONF
"$GATEWAY_BIN" serve --config "$WORK/registry.json" >/dev/null 2>"$WORK/gateway.log" &
PIDS+=($!)
VERSIONS="http://127.0.0.1:$GW_PORT/v1/modules/acme/vpc/aws/versions"
wait_http "$VERSIONS"
mkdir -p "$WORK/www/v1/modules/acme/vpc/aws" "$WORK/nginx/logs"
curl -s "$VERSIONS" > "$WORK/www/v1/modules/acme/vpc/aws/versions"
echo "document: $(wc -c < "$WORK/www/v1/modules/acme/vpc/aws/versions") bytes, Cache-Status: $(curl -s -o /dev/null -D - "$VERSIONS" | tr -d '\r' | awk -F': ' 'tolower($1)=="cache-status" {print $2}')"
NGINX_PORT="$(free_port)"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 1000000;
    default_type application/json;
    server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; }
}
CONF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
NGINX_URL="http://127.0.0.1:$NGINX_PORT/v1/modules/acme/vpc/aws/versions"
wait_http "$NGINX_URL"
cmp -s <(curl -s "$VERSIONS") <(curl -s "$NGINX_URL") || { echo "the two servers answer differently" >&2; exit 1; }
ratios=()
for round in $(seq "$ROUNDS"); do
    g="$(rps "$VERSIONS")"; n="$(rps "$NGINX_URL")"
    r="$(python3 -c "print(f'{$g/$n:.2f}')")"
    ratios+=("$r")
    echo "round $round: gateway $g req/s, nginx $n req/s, ratio $r"
done
echo "median ratio: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"

echo
echo "== (b) GitHub API calls for 1,000 versions requests across 10 modules"
FIX="$WORK/fixtures"
mkdir -p "$FIX/repos/acme"
TOKEN="ghp_bench$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
cat > "$FIX/standin.json" <<CONF
{"owners": {"acme": {"type": "Organization"}}, "tokens": [{"token": "$TOKEN"}], "rateLimit": 5000}
CONF
for i in $(seq 0 9); do
    repo="$FIX/repos/acme/terraform-aws-mod$i"
    git init -q -b main "$repo"
    echo "output \"i\" { value = $i }" > "$repo/main.tf"
    git -C "$repo" add . && git -C "$repo" -c user.name=b -c user.email=b@example.com commit -q -m init
    for v in 1.0.0 1.1.0 1.2.0; do git -C "$repo" tag "v$v"; done
done
"$STANDIN_BIN" --fixtures "$FIX" 2>"$WORK/standin.log" >/dev/null &
PIDS+=($!)
for _ in $(seq 100); do grep -q '"msg":"started"' "$WORK/standin.log" 2>/dev/null && break; sleep 0.1; done
API="$(python3 -c "import json,sys; [print(json.loads(l)['api']) for l in open('$WORK/standin.log') if '\"started\"' in l]" | head -1)"
CONTROL="$(python3 -c "import json,sys; [print(json.loads(l)['control']) for l in open('$WORK/standin.log') if '\"started\"' in l]" | head -1)"
GH_PORT="$(free_port)"
cat > "$WORK/github.json" <<CONF
{"version": 1, "listeners": [{"name": "bench", "listen": "127.0.0.1:$GH_PORT"}],
 "sources": {"org": {"type": "github", "owner": "acme", "api": "$API", "token": "$TOKEN", "freshFor": "60s"}},
 "stacks": {"terraform": {"chain": [{"type": "terraform.registry", "modules": "org"}, {"type": "upstream"}]}}}
CONF
"$GATEWAY_BIN" serve --config "$WORK/github.json" >/dev/null 2>"$WORK/gateway-github.log" &
PIDS+=($!)
wait_http "http://127.0.0.1:$GH_PORT/.well-known/terraform.json"
curl -s -X POST "$CONTROL/counters/reset" >/dev/null
: > "$WORK/urls"
for n in $(seq 0 999); do echo "url = \"http://127.0.0.1:$GH_PORT/v1/modules/acme/mod$((n % 10))/aws/versions\"" >> "$WORK/urls"; echo "output = /dev/null" >> "$WORK/urls"; done
start=$(date +%s.%N)
# 8 parallel curl processes, each reusing its connection for its share of the 1,000 requests.
split -n l/8 "$WORK/urls" "$WORK/urls."
CURLS=()
for part in "$WORK"/urls.*; do curl -s -K "$part" -w '%{http_code}\n' > "$part.codes" & CURLS+=($!); done
for pid in "${CURLS[@]}"; do wait "$pid"; done
cat "$WORK"/urls.*.codes > "$WORK/codes"
elapsed=$(python3 -c "import time; print(f'{time.time()-$start:.2f}')")
ok=$(grep -c '^200$' "$WORK/codes" || true)
calls=$(curl -s "$CONTROL/counters" | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c.get("api", 0))')
tags=$(curl -s "$CONTROL/counters" | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c.get("api.tags", 0))')
echo "$ok of 1000 versions requests answered 200 in ${elapsed}s; GitHub API calls: $calls (tags listings: $tags) for 10 modules"
