import Foundation
import Testing

/// `[cache, upstream{url}]` as a caching reverse proxy in front of nginx and of faulty upstreams.
@Suite("cache: a caching reverse proxy that never serves or keeps a truncated object")
struct CacheTests {
    static func config(upstream: String, cache: String = "", upstreamOptions: String = "") -> String {
        """
        {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
         "stacks": {"proxy": {"chain": [{"type": "log"}, {"type": "cache", "xCache": true \(cache)},
                                        {"type": "upstream", "url": "\(upstream)" \(upstreamOptions)}]}}}
        """
    }

    /// curl's view of one GET: status, X-Cache, body.
    struct Fetched {
        var status: Int
        var xCache: String?
        var headers: [String: String]
        var body: Data
        var exit: Int32
    }

    static func get(_ url: String, _ extra: [String] = []) -> Fetched {
        let directory = TemporaryDirectory()
        let result = Tool.curl(["-D", directory.file("head"), "-o", directory.file("body")] + extra + [url])
        let head = (try? String(contentsOfFile: directory.file("head"), encoding: .utf8)) ?? ""
        var headers: [String: String] = [:]
        for line in head.components(separatedBy: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return Fetched(status: status, xCache: headers["x-cache"], headers: headers,
                       body: FileManager.default.contents(atPath: directory.file("body")) ?? Data(), exit: result.status)
    }

    @Test("in front of nginx: MISS then HIT, and HEAD, Range and If-None-Match answered without nginx")
    func missThenHit() throws {
        let nginx = try NginxProcess(servers: "server { listen 127.0.0.1:{port0}; root {root}; add_header Cache-Control \"max-age=300\"; }")
        let object = testBytes(300_000)
        nginx.publish("files/object.bin", object)
        let gateway = try GatewayProcess(config: Self.config(upstream: nginx.url(""), cache: #", "metricsPath": "/_cache""#))
        let url = gateway.url("web", "/files/object.bin")
        let first = Self.get(url)
        #expect(first.status == 200 && first.xCache == "MISS" && first.body == object)
        let second = Self.get(url)
        #expect(second.status == 200 && second.xCache == "HIT" && second.body == object)
        #expect(second.headers["age"] != nil)
        let head = Self.get(url, ["-I"])
        #expect(head.status == 200 && head.xCache == "HIT" && head.headers["content-length"] == "300000")
        let range = Self.get(url, ["-r", "1000-1999"])
        #expect(range.status == 206 && range.body == object.subdata(in: 1000..<2000))
        let etag = try #require(second.headers["etag"])
        let conditional = Self.get(url, ["-H", "If-None-Match: \(etag)"])
        #expect(conditional.status == 304 && conditional.xCache == "HIT")
        #expect(nginx.requests(to: "/files/object.bin").count == 1)
        let metrics = Tool.curl([gateway.url("web", "/_cache")]).output
        for line in ["gateway_cache_hits_total{cache=\"/stacks/proxy/chain/1\"} 4", "gateway_cache_misses_total{cache=\"/stacks/proxy/chain/1\"} 1",
                     "gateway_cache_bytes_served_total{cache=\"/stacks/proxy/chain/1\"} 301000", "gateway_cache_bytes_filled_total{cache=\"/stacks/proxy/chain/1\"} 300000",
                     "gateway_cache_entries{cache=\"/stacks/proxy/chain/1\",tier=\"memory\"} 1"] {
            #expect(metrics.contains(line + "\n"), "\(line) in:\n\(metrics)")
        }
    }

    @Test("100 concurrent misses on one key make exactly one upstream request, and every body is complete")
    func coalescesConcurrentMisses() throws {
        // limit_rate keeps the fill in flight for a few seconds so the clients really overlap it.
        let nginx = try NginxProcess(servers: """
            server { listen 127.0.0.1:{port0}; root {root}; add_header Cache-Control "max-age=300"; limit_rate 3m; }
            """)
        let object = testBytes(6 << 20, seed: 5)
        nginx.publish("big.bin", object)
        let gateway = try GatewayProcess(config: Self.config(upstream: nginx.url("")))
        let directory = TemporaryDirectory()
        var arguments = ["-Z", "--parallel-immediate", "--parallel-max", "100", "-w", "%{http_code} %header{x-cache}\\n"]
        for i in 0..<100 { arguments += ["-o", directory.file("out\(i)"), gateway.url("web", "/big.bin")] }
        let result = Tool.curl(arguments, timeout: 300)
        #expect(result.status == 0)
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 100)
        #expect(lines.allSatisfy { $0.hasPrefix("200 ") })
        #expect(lines.filter { $0 == "200 MISS" }.count > 1, "clients arriving during the fill follow it")
        for i in 0..<100 {
            #expect(FileManager.default.contents(atPath: directory.file("out\(i)")) == object, "body \(i)")
        }
        #expect(nginx.requests(to: "/big.bin").count == 1, "nginx access log: \(nginx.accessLog)")
    }

    @Test("an upstream that resets mid-body: every client's response aborts and nothing is cached")
    func resetIsNeverCached() throws {
        let body = testBytes(2 << 20)
        let upstream = try FaultyUpstream { _ in
            .reset(headers: [("Cache-Control", "max-age=300")], body: body, after: 700_000, chunked: false)
        }
        let gateway = try GatewayProcess(config: Self.config(upstream: upstream.url("")))
        for _ in 0..<2 {
            let fetched = Self.get(gateway.url("web", "/object"))
            #expect(fetched.exit == 18, "curl: transfer closed with data outstanding")
            #expect(fetched.xCache == "MISS")
            #expect(fetched.body.count < body.count)
        }
        // Nothing was kept: the second request went to the upstream again.
        #expect(upstream.requests(to: "/object").count == 2)
        // A chunked answer that resets is just as incomplete.
        upstream.answer { _ in .reset(headers: [("Cache-Control", "max-age=300")], body: body, after: 700_000, chunked: true) }
        #expect(Self.get(gateway.url("web", "/chunked")).exit == 18)
        upstream.answer { _ in .chunked(status: 200, headers: [("Cache-Control", "max-age=300")], body: body) }
        let good = Self.get(gateway.url("web", "/chunked"))
        #expect(good.status == 200 && good.xCache == "MISS" && good.body == body)
        #expect(Self.get(gateway.url("web", "/chunked")).xCache == "HIT")
    }

    @Test("an upstream that stalls mid-body: the response aborts after the idle timeout and nothing is cached")
    func stallIsNeverCached() throws {
        let body = testBytes(1 << 20)
        let upstream = try FaultyUpstream { _ in .stall(headers: [("Cache-Control", "max-age=300")], body: body, after: 200_000) }
        let gateway = try GatewayProcess(config: Self.config(upstream: upstream.url(""), upstreamOptions: #", "idleTimeout": "1s""#))
        let stalled = Self.get(gateway.url("web", "/object"))
        #expect(stalled.exit == 18)
        upstream.answer { _ in .respond(status: 200, headers: [("Cache-Control", "max-age=300")], body: body) }
        let fresh = Self.get(gateway.url("web", "/object"))
        #expect(fresh.xCache == "MISS" && fresh.body == body)
        #expect(upstream.requests(to: "/object").count == 2)
    }

    @Test("stale-if-error serves the old copy when the upstream answers 500 or is gone")
    func staleIfError() throws {
        let old = Data("version one\n".utf8)
        let upstream = try FaultyUpstream { _ in
            .respond(status: 200, headers: [("Cache-Control", "max-age=1, stale-if-error=600"), ("ETag", "\"1\"")], body: old)
        }
        let gateway = try GatewayProcess(config: Self.config(upstream: upstream.url("")))
        let url = gateway.url("web", "/doc")
        #expect(Self.get(url).xCache == "MISS")
        upstream.answer { _ in .respond(status: 500, headers: [], body: Data("broken\n".utf8)) }
        Thread.sleep(forTimeInterval: 2.2)
        let served = Self.get(url)
        #expect(served.status == 200 && served.xCache == "STALE" && served.body == old)
        // The 500 reached the gateway (it asked, with the validator).
        #expect(upstream.requests(to: "/doc").last?.headers["if-none-match"] == "\"1\"")
        upstream.stop()
        let down = Self.get(url)
        #expect(down.status == 200 && down.xCache == "STALE" && down.body == old)

        // Without stale-if-error the client sees the failure.
        let strict = try FaultyUpstream { _ in .respond(status: 200, headers: [("Cache-Control", "max-age=1")], body: old) }
        let strictGateway = try GatewayProcess(config: Self.config(upstream: strict.url("")))
        #expect(Self.get(strictGateway.url("web", "/doc")).xCache == "MISS")
        strict.answer { _ in .respond(status: 500, headers: [], body: Data("broken\n".utf8)) }
        Thread.sleep(forTimeInterval: 2.2)
        #expect(Self.get(strictGateway.url("web", "/doc")).status == 500)
    }

    @Test("an expired entry is revalidated with its ETag; nginx's 304 refreshes it")
    func revalidation() throws {
        // max-age=2: after the 304 the entry is fresh for at least a second whatever the clocks' rounding.
        let nginx = try NginxProcess(servers: "server { listen 127.0.0.1:{port0}; root {root}; add_header Cache-Control \"max-age=2\"; }")
        let object = testBytes(50_000)
        nginx.publish("doc.bin", object)
        let gateway = try GatewayProcess(config: Self.config(upstream: nginx.url("")))
        let url = gateway.url("web", "/doc.bin")
        #expect(Self.get(url).xCache == "MISS")
        Thread.sleep(forTimeInterval: 3.2)
        let revalidated = Self.get(url)
        #expect(revalidated.status == 200 && revalidated.xCache == "HIT" && revalidated.body == object)
        #expect(revalidated.headers["cache-status"]?.hasPrefix("gateway; fwd=stale; fwd-status=304; stored; ttl=") == true)
        let log = nginx.requests(to: "/doc.bin")
        #expect(log.count == 2)
        // nginx logs the quotes of the ETag as \x22.
        #expect(log.last?.hasPrefix("GET /doc.bin 304 auth=- inm=\\x22") == true, "nginx log: \(log)")
        // Fresh again after the 304: no third request.
        #expect(Self.get(url).xCache == "HIT")
        #expect(nginx.requests(to: "/doc.bin").count == 2)
        #expect(gateway.waitForLogLine { $0.contains("\"cache\":\"REVALIDATED\"") })
    }

    @Test("a disk-cached object survives a restart: the second process answers HIT without the upstream")
    func diskSurvivesRestart() throws {
        let nginx = try NginxProcess(servers: "server { listen 127.0.0.1:{port0}; root {root}; add_header Cache-Control \"max-age=3600\"; }")
        let object = testBytes(3 << 20, seed: 7)
        nginx.publish("pkg.deb", object)
        let cacheDirectory = TemporaryDirectory("cache-disk")
        let config = Self.config(upstream: nginx.url(""), cache: #", "disk": "\#(cacheDirectory.path)", "maxBytes": "64MiB", "memory": "1MiB""#)
        do {
            let first = try GatewayProcess(config: config)
            #expect(Self.get(first.url("web", "/pkg.deb")).xCache == "MISS")
            #expect(first.waitForLogLine { $0.contains("\"cache\":\"MISS\"") })
            // The object is renamed into place once fsynced.
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, Self.objectFiles(cacheDirectory.path).isEmpty { usleep(50_000) }
            first.signal(SIGKILL)
            _ = first.waitForExit()
        }
        nginx.stop()
        let second = try GatewayProcess(config: config)
        let fetched = Self.get(second.url("web", "/pkg.deb"))
        #expect(fetched.status == 200 && fetched.xCache == "HIT" && fetched.body == object)
    }

    @Test("a crash in the middle of a fill leaves nothing that a restarted gateway would serve")
    func crashMidFillLeavesNothing() throws {
        let body = testBytes(4 << 20)
        let upstream = try FaultyUpstream { _ in .stall(headers: [("Cache-Control", "max-age=3600")], body: body, after: 1 << 20) }
        let cacheDirectory = TemporaryDirectory("cache-disk")
        let config = Self.config(upstream: upstream.url(""), cache: #", "disk": "\#(cacheDirectory.path)""#)
        do {
            let first = try GatewayProcess(config: config)
            let client = try RawConnection(port: first.port("web"))
            client.send("GET /object HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(client.read(untilContains: "X-Cache: MISS").contains("200"))
            first.signal(SIGKILL)
            _ = first.waitForExit()
        }
        #expect(Self.objectFiles(cacheDirectory.path).isEmpty)
        // The dead process's half-written file, aged past an hour, is garbage; a fresh one may be
        // another live process's fill in progress (an old gateway still draining) and is kept.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cacheDirectory.file("tmp"))
        #expect(leftovers.count == 1)
        for name in leftovers {
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: cacheDirectory.file("tmp/" + name))
        }
        let inProgress = cacheDirectory.write("tmp/another-process-fill", "partial")
        upstream.answer { _ in .respond(status: 200, headers: [("Cache-Control", "max-age=3600")], body: body) }
        let second = try GatewayProcess(config: config)
        let fetched = Self.get(second.url("web", "/object"))
        #expect(fetched.xCache == "MISS" && fetched.body == body)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cacheDirectory.file("tmp")) == ["another-process-fill"])
        #expect(FileManager.default.fileExists(atPath: inProgress))
    }

    /// A TLS upstream whose answers have no length: the body ends when the connection does.
    /// `/clean...` ends with close_notify; `/reset...` is cut by a TCP reset, `/fin...` by a bare FIN.
    static let closeDelimitedTLSUpstream = """
        import socket, ssl, struct, sys, threading, time
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[1], sys.argv[2])
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        print(listener.getsockname()[1], flush=True)
        body = bytes(range(256)) * 400
        def serve(raw):
            try:
                connection = context.wrap_socket(raw, server_side=True)
                connection.settimeout(5)
                request = b""
                while b"\\r\\n\\r\\n" not in request:
                    piece = connection.recv(4096)
                    if not piece:
                        return
                    request += piece
                path = request.split(b" ")[1].decode()
                connection.sendall(b"HTTP/1.1 200 OK\\r\\nCache-Control: max-age=300\\r\\nConnection: close\\r\\n\\r\\n")
                if path.startswith("/clean"):
                    connection.sendall(body)
                    try:
                        connection.unwrap()
                    except Exception:
                        pass
                else:
                    connection.sendall(body[:60000])
                    time.sleep(0.2)
                    if path.startswith("/reset"):
                        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()
            except Exception as error:
                print(error, file=sys.stderr, flush=True)
        while True:
            raw, _ = listener.accept()
            threading.Thread(target=serve, args=(raw,), daemon=True).start()
        """

    @Test("over TLS a body that ends with the connection is whole only after close_notify; a reset or a bare FIN aborts and is never stored")
    func tlsCloseDelimited() throws {
        let certs = TemporaryDirectory()
        #expect(Tool.run(Paths.gateway, ["cert", "--dev", "--dir", certs.path, "--name", "localhost"]).status == 0)
        let script = certs.write("upstream.py", Self.closeDelimitedTLSUpstream)
        let python = try #require(Tool.require("python3"))
        let upstream = try Subprocess(python, [script, certs.file("gateway.pem"), certs.file("gateway-key.pem")])
        defer {
            upstream.signal(SIGKILL)
            upstream.waitUntilExit()
        }
        var port = 0
        let deadline = Date().addingTimeInterval(20)
        while port == 0, Date() < deadline, upstream.isRunning {
            port = Int(String(decoding: upstream.output.out, as: UTF8.self).split(separator: "\n").first ?? "") ?? 0
            if port == 0 { usleep(20_000) }
        }
        try #require(port > 0, "upstream did not start: \(String(decoding: upstream.output.err, as: UTF8.self))")
        let gateway = try GatewayProcess(config: Self.config(upstream: "https://localhost:\(port)",
                                                              upstreamOptions: #", "caFile": "\#(certs.file("ca.pem"))""#))
        let whole = Self.get(gateway.url("web", "/clean.bin"))
        #expect(whole.exit == 0 && whole.status == 200 && whole.xCache == "MISS" && whole.body.count == 102_400)
        #expect(Self.get(gateway.url("web", "/clean.bin")).xCache == "HIT")
        for path in ["/reset.bin", "/fin.bin"] {
            for _ in 0..<2 {
                let cut = Self.get(gateway.url("web", path))
                #expect(cut.exit == 18, "\(path): the client must see the answer end early")
                #expect(cut.xCache == "MISS", "\(path) must never be stored")
                #expect(cut.body.count < 102_400)
            }
        }
    }

    @Test("credentials, no-store and Set-Cookie keep responses out of the cache")
    func notStored() throws {
        let upstream = try FaultyUpstream { request in
            switch request.target {
            case "/no-store": .respond(status: 200, headers: [("Cache-Control", "no-store")], body: Data("a".utf8))
            case "/cookie": .respond(status: 200, headers: [("Cache-Control", "max-age=60"), ("Set-Cookie", "s=1")], body: Data("b".utf8))
            default: .respond(status: 200, headers: [("Cache-Control", "max-age=60")], body: Data("c".utf8))
            }
        }
        let gateway = try GatewayProcess(config: Self.config(upstream: upstream.url("")))
        for path in ["/no-store", "/cookie"] {
            for _ in 0..<2 { #expect(Self.get(gateway.url("web", path)).xCache == "MISS") }
            #expect(upstream.requests(to: path).count == 2)
        }
        for _ in 0..<2 { _ = Self.get(gateway.url("web", "/private"), ["-H", "Authorization: Bearer t"]) }
        #expect(upstream.requests(to: "/private").count == 2)

        let sharing = try GatewayProcess(config: Self.config(upstream: upstream.url(""), cache: #", "cacheAuthenticated": true"#))
        #expect(Self.get(sharing.url("web", "/shared"), ["-H", "Authorization: Bearer t"]).xCache == "MISS")
        #expect(Self.get(sharing.url("web", "/shared"), ["-H", "Authorization: Bearer t"]).xCache == "HIT")
        #expect(upstream.requests(to: "/shared").count == 1)
    }

    @Test("Cache-Status on miss and hit; the origin's Age reaches the client on the miss; CDN-Cache-Control leads")
    func cacheStatusAgeAndTargetedFields() throws {
        let nginx = try NginxProcess(servers: """
            server { listen 127.0.0.1:{port0}; root {root};
              location /aged/ { add_header Cache-Control "max-age=300"; add_header Age 30; }
              location /cdn/ { add_header Cache-Control "no-store"; add_header CDN-Cache-Control "max-age=600"; } }
            """)
        nginx.publish("aged/a.txt", Data("aged\n".utf8))
        nginx.publish("cdn/c.txt", Data("cdn\n".utf8))
        let gateway = try GatewayProcess(config: Self.config(upstream: nginx.url("")))
        let miss = Self.get(gateway.url("web", "/aged/a.txt"))
        #expect(miss.headers["cache-status"]?.hasPrefix("gateway; fwd=uri-miss; stored; ttl=2") == true, "\(miss.headers)")
        #expect(Int(miss.headers["age"] ?? "") ?? 0 >= 30, "\(miss.headers)")
        let hit = Self.get(gateway.url("web", "/aged/a.txt"))
        #expect(hit.headers["cache-status"]?.hasPrefix("gateway; hit; ttl=2") == true, "\(hit.headers)")
        #expect(Int(hit.headers["age"] ?? "") ?? 0 >= 30)
        #expect(nginx.requests(to: "/aged/a.txt").count == 1)

        // CDN-Cache-Control overrides Cache-Control: no-store for this cache, and stays with it.
        let cdn = Self.get(gateway.url("web", "/cdn/c.txt"))
        #expect(cdn.headers["cache-control"] == "no-store" && cdn.headers["cdn-cache-control"] == nil)
        let cdnHit = Self.get(gateway.url("web", "/cdn/c.txt"))
        #expect(cdnHit.headers["cache-status"]?.hasPrefix("gateway; hit; ttl=") == true && cdnHit.body == Data("cdn\n".utf8))
        #expect(nginx.requests(to: "/cdn/c.txt").count == 1)
    }

    @Test("stale-while-revalidate: while the refresh hangs at the upstream, clients get the stale copy at once; one refresh")
    func backgroundRevalidation() throws {
        let upstream = try FaultyUpstream { _ in
            .respond(status: 200, headers: [("Cache-Control", "max-age=1, stale-while-revalidate=600"), ("ETag", "\"v1\"")], body: Data("old".utf8))
        }
        let gateway = try GatewayProcess(config: Self.config(upstream: upstream.url("")))
        let url = gateway.url("web", "/doc")
        #expect(Self.get(url).body == Data("old".utf8))
        Thread.sleep(forTimeInterval: 2.2)
        upstream.answer { _ in .stallBeforeHead }
        for _ in 0..<3 {
            // Without the background refresh each of these would wait on the stalled upstream past --max-time.
            let stale = Self.get(url, ["--max-time", "10"])
            #expect(stale.exit == 0 && stale.status == 200 && stale.body == Data("old".utf8))
            #expect(stale.xCache == "STALE")
            #expect(stale.headers["cache-status"]?.hasPrefix("gateway; hit; ttl=-") == true, "\(stale.headers)")
        }
        // The refresh reaches the upstream in the background: wait (bounded) until it has.
        for _ in 0..<100 where upstream.requests(to: "/doc").count < 2 { Thread.sleep(forTimeInterval: 0.1) }
        #expect(upstream.requests(to: "/doc").count == 2, "one refresh for three stale answers")
        #expect(upstream.requests(to: "/doc").last?.headers["if-none-match"] == "\"v1\"")
    }

    static func objectFiles(_ directory: String) -> [String] {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return folders.filter { $0 != "tmp" && $0 != "locks" }.flatMap { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + folder)) ?? []).map { folder + "/" + $0 }
        }
    }
}
