#!/usr/bin/env bash
# Soak: mixed load against the release gateway for DURATION seconds (default 1800), with RSS,
# open descriptors, requests, failures and p99 latency sampled every 10 s into a CSV and drawn
# with gnuplot (issue 16). Not part of `make test` or `make bench`; run it with `make soak`.
#
# Load, all at once on one listener speaking HTTP/1.1 and h2c:
#   - small files over HTTP/1.1 (keep-alive clients) and over h2c (h2load rounds, 8 streams per
#     connection);
#   - a cache in front of a local upstream: hits (a few hot keys) and misses (unique keys);
#   - upstream faults: the upstream resets or stalls on /fault/* (the client must get 502/504);
#   - auth.basic with the right password (cached after the first) and wrong ones (401/429);
#   - waves of idle connections (IDLE each 30 s, held 10 s);
#   - SIGHUP every 60 s.
# A failure is any answer not expected for its kind (injected faults expect 502/504, wrong
# passwords 401/429). The goal: after the first minutes RSS and descriptors flat, no failures.
# Environment: DURATION (1800), CLIENTS (HTTP/1.1 client threads, 8), IDLE (500), WORKERS (2),
# OUT (bench/out/soak: soak.csv, soak.png, gateway.log), GATEWAY_BIN (default .build/release/gateway).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration="${DURATION:-1800}"; clients="${CLIENTS:-8}"; idle="${IDLE:-500}"; workers="${WORKERS:-2}"
out="${OUT:-$root/bench/out/soak}"
gateway_bin="${GATEWAY_BIN:-$root/.build/release/gateway}"
[ -x "$gateway_bin" ] || { echo "soak: build first: swift build -c release --product gateway" >&2; exit 1; }
for tool in curl python3 gnuplot h2load; do command -v "$tool" >/dev/null || { echo "soak: $tool is missing (scripts/setup.sh soak)" >&2; exit 1; }; done
ulimit -n "$(ulimit -Hn)"
mkdir -p "$out"

work="$(mktemp -d /tmp/gateway-soak.XXXXXX)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

read -r port upstream_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
mkdir -p "$work/www"
for i in $(seq 0 19); do head -c $((200 + i * 50)) /dev/urandom | base64 > "$work/www/f$i.txt"; done
hash="$("$gateway_bin" hash-password --user soak --pbkdf2 <<<"secret-password" | tail -1)"
cat > "$work/pipeline.json" <<JSON
{"version": 1, "workers": $workers,
 "listeners": [{"name": "main", "listen": "127.0.0.1:$port", "protocols": ["h2", "http/1.1"]}],
 "stacks": {
   "auth": {"match": {"pathPrefix": "/private/"},
            "chain": [{"type": "auth.basic", "users": {"${hash%%:*}": "${hash#*:}"}}, {"type": "files", "root": "www", "stripPrefix": "/private"}]},
   "proxy": {"match": {"pathPrefix": "/up/"}, "timeout": "2s",
             "chain": [{"type": "cache", "memory": "16MiB"}, {"type": "upstream", "url": "http://127.0.0.1:$upstream_port"}]},
   "site": {"chain": [{"type": "files", "root": "www"}]}}}
JSON
"$gateway_bin" check --config "$work/pipeline.json" >/dev/null

# The upstream: cacheable answers, and faults on /up/fault/*.
python3 - "$upstream_port" >"$work/upstream.log" 2>&1 <<'PY' &
import http.server, socket, sys, time
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_GET(self):
        if self.path.startswith("/up/fault/reset"):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close(); return
        if self.path.startswith("/up/fault/stall"):
            time.sleep(3); self.connection.close(); return
        body = (self.path * 20).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=30" if "/hot/" in self.path else "no-store")
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
pids+=("$!")
(cd "$work" && exec "$gateway_bin" serve --config pipeline.json 2>"$out/gateway.log") &
gateway_pid=$!
pids+=("$gateway_pid")
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/f0.txt" >/dev/null 2>&1 && break; sleep 0.1; done

python3 - "$gateway_pid" "$port" "$duration" "$clients" "$idle" "$out/soak.csv" <<'PY'
import base64, http.client, os, random, signal, socket, subprocess, sys, threading, time
pid, port, duration, clients, idle, csv = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
lock = threading.Lock()
window = {"lat": [], "requests": 0, "failures": 0, "faults": 0}
stop = time.time() + duration
good = "Basic " + base64.b64encode(b"soak:secret-password").decode()
bad = "Basic " + base64.b64encode(b"soak:wrong").decode()

samples = []

def record(latency, ok, fault=False, why=""):
    with lock:
        # Injected faults wait for the stack timeout on purpose: they are not in p99.
        if not fault: window["lat"].append(latency)
        window["requests"] += 1
        if not ok:
            window["failures"] += 1
            if len(samples) < 50: samples.append(f"{time.time():.0f} {why}")
        if fault: window["faults"] += 1

def pick(rng):
    r = rng.random()
    if r < 0.45: return f"/f{rng.randrange(20)}.txt", {}, (200,), False
    if r < 0.65: return f"/up/hot/{rng.randrange(5)}", {}, (200,), False
    if r < 0.75: return f"/up/miss/{rng.random()}", {}, (200,), False
    if r < 0.78: return rng.choice(["/up/fault/reset", "/up/fault/stall"]) + f"/{rng.random()}", {}, (502, 504), True
    if r < 0.95: return f"/private/f{rng.randrange(20)}.txt", {"Authorization": good}, (200,), False
    return f"/private/f0.txt?{rng.random()}", {"Authorization": bad}, (401, 429), False

def h1_client(seed):
    rng = random.Random(seed)
    conn = None
    while time.time() < stop:
        path, headers, expected, fault = pick(rng)
        start = time.time()
        try:
            if conn is None: conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path, headers=headers)
            response = conn.getresponse(); response.read()
            ok = response.status in expected
            why = f"{path} {response.status}"
            if response.getheader("Connection", "").lower() == "close": conn.close(); conn = None
        except Exception as error:
            ok = False
            why = f"{path} {error!r}"
            if conn: conn.close()
            conn = None
        record(time.time() - start, ok, fault, why)

def h2_client():
    # h2load (nghttp2-client) over h2c: 400 requests on 2 connections, 8 streams each, per round.
    # Its per-request latencies are not printed one by one: p99 comes from the HTTP/1.1 clients.
    rng = random.Random(7)
    while time.time() < stop:
        urls = [f"http://127.0.0.1:{port}/f{rng.randrange(20)}.txt" for _ in range(8)]
        try:
            result = subprocess.run(["h2load", "-n", "400", "-c", "2", "-m", "8"] + urls, capture_output=True, text=True, timeout=60)
            line = next(l for l in result.stdout.splitlines() if l.startswith("requests:"))
            numbers = [int(w) for w in line.replace(",", " ").split() if w.isdigit()]
            total, succeeded = numbers[0], numbers[3]
            with lock:
                window["requests"] += total
                window["failures"] += total - succeeded
                if total != succeeded and len(samples) < 50: samples.append(f"{time.time():.0f} h2load {line}")
        except Exception as error:
            record(0, False, why=f"h2load {error!r}")
        time.sleep(0.5)

def idle_waves():
    while time.time() < stop:
        socks = []
        for _ in range(idle):
            try: socks.append(socket.create_connection(("127.0.0.1", port)))
            except OSError: break
        time.sleep(10)
        for s in socks: s.close()
        time.sleep(20)

def reloads():
    while time.time() < stop:
        time.sleep(60)
        if time.time() < stop: os.kill(pid, signal.SIGHUP)

def sample(started):
    rss = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): rss = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with lock:
        lat = sorted(window["lat"]); n, f, faults = window["requests"], window["failures"], window["faults"]
        window.update(lat=[], requests=0, failures=0, faults=0)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0
    return f"{time.time() - started:.0f},{rss / 1024:.1f},{fds},{n},{f},{faults},{p99:.1f}"

threads = [threading.Thread(target=h1_client, args=(i,), daemon=True) for i in range(clients)]
threads += [threading.Thread(target=h2_client, daemon=True), threading.Thread(target=idle_waves, daemon=True), threading.Thread(target=reloads, daemon=True)]
started = time.time()
for t in threads: t.start()
total_failures = 0
with open(csv, "w") as out:
    out.write("seconds,rss_mib,fds,requests,failures,injected_faults,p99_ms\n")
    while time.time() < stop:
        time.sleep(10)
        line = sample(started)
        total_failures += int(line.split(",")[4])
        out.write(line + "\n"); out.flush()
        print("soak:", line, flush=True)
open(csv.replace(".csv", "-failures.txt"), "w").write("\n".join(samples) + "\n")
print(f"soak: done, {total_failures} failed requests (not counting injected faults that got 502/504)")
PY

gnuplot <<PLOT
set terminal png size 1000,700
set output "$out/soak.png"
set datafile separator ","
set multiplot layout 3,1 title "gateway soak: RSS, descriptors, p99 latency (10 s samples)"
set xlabel "seconds"
set ylabel "RSS MiB"; plot "$out/soak.csv" using 1:2 skip 1 with lines title "RSS"
set ylabel "open fds"; plot "$out/soak.csv" using 1:3 skip 1 with lines title "descriptors"
set ylabel "p99 ms"; plot "$out/soak.csv" using 1:7 skip 1 with lines title "p99 latency"
unset multiplot
PLOT
echo "soak: $out/soak.csv, $out/soak.png"
