#!/usr/bin/env bash
# APT repository: the gateway vs the usual tools, side by side on loopback, one run.
#   (a) `gateway apt index` over COUNT small .debs (read control data, SHA-256 of each file,
#       Packages plain/gz/xz, Release, InRelease and Release.gpg signed, by-hash) vs
#       `apt-ftparchive packages` + `gzip -9` + `xz` (unsigned; no Release) on the same folder,
#       alternating, ROUNDS each; the medians are compared;
#   (b) a cold `apt-get update` (fresh lists, throwaway apt root) against apt.repository over the
#       folder vs against nginx serving what `gateway apt index` wrote, alternating, ROUNDS each.
# The .debs are made once with dpkg-deb into bench/out/apt-debs-COUNT (slow: ~20 ms each).
# Needs a release build (.build/release/gateway), dpkg-deb, apt-ftparchive (apt-utils), apt-get, nginx,
# gzip, xz, python3. Environment: COUNT (2000), ROUNDS (5), KEEP (keep the work directory),
# GATEWAY_BIN (the binary to measure; default .build/release/gateway).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
count="${COUNT:-2000}"; rounds="${ROUNDS:-5}"
gateway_bin="${GATEWAY_BIN:-$root/.build/release/gateway}"
[ -x "$gateway_bin" ] || { echo "bench: build first: swift build -c release" >&2; exit 1; }
for tool in dpkg-deb apt-ftparchive apt-get nginx gzip xz python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench: $tool is missing (scripts/setup.sh bench)" >&2; exit 1; }
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

work="$(mktemp -d /tmp/gateway-bench-apt.XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

debs="$root/bench/out/apt-debs-$count"
if [ ! -f "$debs/.complete" ]; then
  echo "making $count .debs with dpkg-deb into $debs (once) ..."
  rm -rf "$debs" && mkdir -p "$debs"
  build="$work/build"
  for i in $(seq 1 "$count"); do
    name="bench-package-$i"
    rm -rf "$build" && mkdir -p "$build/DEBIAN" "$build/usr/share/doc/$name"
    printf 'Package: %s\nVersion: 1.0.%d\nArchitecture: amd64\nMaintainer: bench <bench@example.com>\nSection: misc\nPriority: optional\nDescription: benchmark package %d\n A package for bench/apt.sh.\n' \
      "$name" "$i" "$i" > "$build/DEBIAN/control"
    head -c 2048 /dev/urandom > "$build/usr/share/doc/$name/data"
    dpkg-deb --root-owner-group -Zgzip --build "$build" "$debs/${name}_1.0.${i}_amd64.deb" >/dev/null
  done
  touch "$debs/.complete"
fi

"$gateway_bin" apt keygen --out "$work/key" --name "bench <bench@example.com>" >/dev/null

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
seconds() { python3 -c 'import time; print(f"{time.perf_counter():.6f}")'; }

echo "(a) indexing $count .debs, $rounds rounds each"
: > "$work/gateway-index.txt"; : > "$work/ftparchive.txt"
for round in $(seq 1 "$rounds"); do
  rm -rf "$work/index"
  start=$(seconds)
  "$gateway_bin" apt index "$debs" --out "$work/index" --key "$work/key.asc" --no-pool >/dev/null 2>"$work/index.log"
  end=$(seconds); echo "$end - $start" | bc -l >> "$work/gateway-index.txt"

  rm -rf "$work/ftp" && mkdir -p "$work/ftp"
  start=$(seconds)
  (cd "$debs/.." && apt-ftparchive packages "$(basename "$debs")" > "$work/ftp/Packages" 2>/dev/null)
  gzip -9 -k "$work/ftp/Packages"
  xz -k "$work/ftp/Packages"
  end=$(seconds); echo "$end - $start" | bc -l >> "$work/ftparchive.txt"
done
gateway_index=$(median < "$work/gateway-index.txt"); ftparchive=$(median < "$work/ftparchive.txt")
packages=$(grep -c '^Package: ' "$work/index/dists/stable/main/binary-amd64/Packages")
printf '  gateway apt index (signed, by-hash):        %.3f s  (%s packages)\n' "$gateway_index" "$packages"
printf '  apt-ftparchive packages + gzip -9 + xz:     %.3f s\n' "$ftparchive"
printf '  ratio gateway / apt-ftparchive:             %.2f\n' "$(echo "$gateway_index / $ftparchive" | bc -l)"

read -r nginx_port gateway_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

mkdir -p "$work/nginx/logs" "$work/www/apt"
cp -r "$work/index/dists" "$work/www/apt/"
cat > "$work/nginx/nginx.conf" <<EOF
daemon off; worker_processes 2; error_log $work/nginx/logs/error.log; pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$nginx_port; root $work/www; } }
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
cat > "$work/pipeline.json" <<EOF
{"version": 1, "workers": 2,
 "listeners": [{"name": "http", "listen": "127.0.0.1:$gateway_port"}],
 "sources": {"debs": {"type": "directory", "path": "$debs"}},
 "stacks": {"apt": {"match": {"pathPrefix": ["/apt/"]},
   "chain": [{"type": "apt.repository", "source": "debs", "signingKeyFile": "$work/key.asc", "freshFor": "1h"}, {"type": "upstream"}]}}}
EOF
"$gateway_bin" serve --config "$work/pipeline.json" 2>"$work/gateway.log" &
pids+=($!)
for port in "$nginx_port" "$gateway_port"; do
  for _ in $(seq 1 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null && break; sleep 0.1; done
done
# The first request builds the gateway's index; (b) measures serving it, as a running gateway does.
curl -fsS -o /dev/null "http://127.0.0.1:$gateway_port/apt/dists/stable/InRelease"

apt_update() { # port -> seconds of a cold apt-get update
  local dir="$work/apt-$1"
  rm -rf "$dir" && mkdir -p "$dir/etc/apt/apt.conf.d" "$dir/etc/apt/sources.list.d" "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/log"
  : > "$dir/status"
  printf 'Types: deb\nURIs: http://127.0.0.1:%s/apt/\nSuites: stable\nComponents: main\nSigned-By: %s\n' "$1" "$work/key.pub.gpg" \
    > "$dir/etc/apt/sources.list.d/bench.sources"
  cat > "$dir/apt.conf" <<EOF
Dir::Etc "$dir/etc/apt/"; Dir::Etc::Parts "apt.conf.d"; Dir::Etc::SourceParts "sources.list.d"; Dir::Etc::Main "apt.conf";
Dir::State::Lists "$dir/lists/"; Dir::State::status "$dir/status"; Dir::Cache "$dir/cache/"; Dir::Log "$dir/log/";
Debug::NoLocking "true"; APT::Sandbox::User "root"; APT::Architecture "amd64"; APT::Architectures { "amd64"; }; Acquire::Languages "none";
EOF
  local start end
  start=$(seconds)
  APT_CONFIG="$dir/apt.conf" apt-get update --error-on=any -qq >/dev/null
  end=$(seconds)
  echo "$end - $start" | bc -l
}

echo "(b) cold apt-get update, $rounds rounds each"
: > "$work/update-gateway.txt"; : > "$work/update-nginx.txt"
for round in $(seq 1 "$rounds"); do
  apt_update "$gateway_port" >> "$work/update-gateway.txt"
  apt_update "$nginx_port" >> "$work/update-nginx.txt"
done
update_gateway=$(median < "$work/update-gateway.txt"); update_nginx=$(median < "$work/update-nginx.txt")
printf '  apt-get update against the gateway:         %.3f s\n' "$update_gateway"
printf '  apt-get update against nginx (same files):  %.3f s\n' "$update_nginx"
printf '  ratio gateway / nginx:                      %.2f\n' "$(echo "$update_gateway / $update_nginx" | bc -l)"
