#!/usr/bin/env bash
# Memory per idle keep-alive connection, and whether it comes back after the connections close
# (issue 16, item 3). Opens CONNECTIONS connections to the gateway, each sends one request and
# reads the answer (keep-alive), then all sit idle; RSS (VmRSS) is read before, with them open,
# and 5 s after they closed. ROUNDS waves on a plain listener, then one on a TLS listener
# (TLS 1.3, handshake and one request each), and one wave of TLS connections that never send a
# ClientHello. Prints KiB per idle connection and the RSS after each wave.
# Needs a release build (.build/release/gateway) and python3, curl.
# Environment: CONNECTIONS (2000), ROUNDS (4), WORKERS (gateway loops, 2), GATEWAY_BIN (another build to compare).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
connections="${CONNECTIONS:-2000}"; rounds="${ROUNDS:-4}"; workers="${WORKERS:-2}"
gateway_bin="${GATEWAY_BIN:-$root/.build/release/gateway}"
[ -x "$gateway_bin" ] || { echo "bench: build first: swift build -c release" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

work="$(mktemp -d /tmp/gateway-bench-idle.XXXXXX)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

read -r plain_port tls_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
mkdir -p "$work/www"
printf 'hello\n' > "$work/www/hello.txt"
(cd "$work" && "$gateway_bin" cert --dev >/dev/null 2>&1)
cat > "$work/pipeline.json" <<JSON
{"version": 1, "workers": $workers,
 "listeners": [{"name": "plain", "listen": "127.0.0.1:$plain_port", "timeouts": {"keepAlive": "600s", "requestHead": "600s"}},
               {"name": "tls", "listen": "127.0.0.1:$tls_port", "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"},
                "protocols": ["http/1.1"], "timeouts": {"keepAlive": "600s", "requestHead": "600s"}}],
 "stacks": {"site": {"chain": [{"type": "files", "root": "www"}]}}}
JSON
(cd "$work" && exec "$gateway_bin" serve --config pipeline.json 2>"$work/gateway.log") &
gateway_pid=$!
pids+=("$gateway_pid")
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$plain_port/hello.txt" >/dev/null 2>&1 && break; sleep 0.1; done

python3 - "$gateway_pid" "$plain_port" "$tls_port" "$connections" "$rounds" <<'PY'
import socket, ssl, sys, time
pid, plain, tls, count, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])   # KiB

context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
context.minimum_version = ssl.TLSVersion.TLSv1_3

def wave(kind):
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", tls if kind != "plain" else plain))
        if kind == "tls":
            s = context.wrap_socket(s, server_hostname="localhost")
        socks.append(s)
    if kind != "silent":
        request = b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
        for s in socks: s.sendall(request)
        for s in socks:
            data = b""
            while not data.endswith(b"hello\n"):
                chunk = s.recv(4096)
                if not chunk: raise SystemExit("closed early")
                data += chunk
    time.sleep(2)
    opened = rss()
    for s in socks: s.close()
    time.sleep(5)
    return opened, rss()

base = rss()
print(f"idle: RSS at start {base / 1024:.1f} MiB, {count} connections per wave")
for r in range(rounds):
    before = rss()
    opened, after = wave("plain")
    print(f"idle: plain wave {r + 1}: {(opened - before) / count:.1f} KiB per idle connection; "
          f"RSS open {opened / 1024:.1f} MiB, 5 s after close {after / 1024:.1f} MiB")
before = rss()
opened, after = wave("tls")
print(f"idle: TLS 1.3 wave: {(opened - before) / count:.1f} KiB per idle connection; RSS open {opened / 1024:.1f} MiB, after close {after / 1024:.1f} MiB")
before = rss()
opened, after = wave("silent")
print(f"idle: TLS, no ClientHello: {(opened - before) / count:.1f} KiB per connection; RSS open {opened / 1024:.1f} MiB, after close {after / 1024:.1f} MiB")
print(f"idle: RSS at end {rss() / 1024:.1f} MiB (start {base / 1024:.1f} MiB)")
PY
