import Foundation
import Testing

/// `upstream` against real servers on loopback: nginx, and a fault-injecting server in the test process.
@Suite("upstream: a reverse proxy that streams, fails honestly and keeps credentials where they belong")
struct UpstreamTests {
    /// A gateway whose only stack forwards everything to `url`, with extra upstream options.
    func gateway(to url: String, _ options: String = "", chain prefix: String = "") throws -> GatewayProcess {
        try GatewayProcess(config: """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"proxy": {"maxBodyBytes": "64MiB",
                                  "chain": [{"type": "log"}, \(prefix) {"type": "upstream", "url": "\(url)" \(options)}]}}}
            """)
    }

    @Test("forwards path and query, adds X-Forwarded-* and Via, drops hop-by-hop fields and the client's Authorization")
    func forwardsHeaders() throws {
        let nginx = try NginxProcess(servers: """
            server { listen 127.0.0.1:{port0};
              location /echo { return 200 "uri=$request_uri xff=$http_x_forwarded_for xfp=$http_x_forwarded_proto xfh=$http_x_forwarded_host via=$http_via secret=$http_x_secret auth=$http_authorization host=$host\\n"; } }
            """)
        let gateway = try gateway(to: nginx.url("/"))
        let result = Tool.curl(["-H", "Connection: X-Secret", "-H", "X-Secret: hop", "-H", "Authorization: Bearer client-token",
                                "-H", "X-Forwarded-For: 6.6.6.6", gateway.url("web", "/echo/a%20b?x=1&y=2")])
        #expect(result.status == 0)
        let port = gateway.port("web")
        #expect(result.output == "uri=/echo/a%20b?x=1&y=2 xff=127.0.0.1 xfp=http xfh=127.0.0.1:\(port) via=1.1 gateway secret= auth= host=127.0.0.1\n")
    }

    @Test("streams a large request body up and a large response body down, byte for byte")
    func streamsBothWays() throws {
        let upload = testBytes(6 << 20, seed: 3)
        let download = testBytes(12 << 20, seed: 9)
        let upstream = try FaultyUpstream { request in
            request.method == "POST"
                ? .respond(status: 200, headers: [], body: Data("\(request.bodyLength) \(request.bodyChecksum)".utf8))
                : .chunked(status: 200, headers: [("Content-Type", "application/octet-stream")], body: download)
        }
        let gateway = try gateway(to: upstream.url(""))
        let directory = TemporaryDirectory()
        let file = directory.write("upload.bin", upload)
        // A chunked upload (no length known up front) and one with Content-Length.
        for extra in [["-H", "Transfer-Encoding: chunked"], []] {
            let result = Tool.curl(["-X", "POST", "--data-binary", "@" + file] + extra + [gateway.url("web", "/up")])
            #expect(result.output == "\(upload.count) \(faultyChecksum(upload))")
        }
        let result = Tool.curl(["-o", directory.file("down.bin"), "-w", "%{http_code}", gateway.url("web", "/down")])
        #expect(result.output == "200")
        #expect(FileManager.default.contents(atPath: directory.file("down.bin")) == download)
    }

    @Test("an upstream that resets mid-body aborts the client's response instead of ending it cleanly")
    func resetMidBody() throws {
        let body = testBytes(4 << 20)
        let upstream = try FaultyUpstream { request in
            .reset(headers: [], body: body, after: 1 << 20, chunked: request.target.hasSuffix("chunked"))
        }
        let gateway = try gateway(to: upstream.url(""))
        for path in ["/sized", "/chunked"] {
            let result = Tool.curl(["-o", "/dev/null", "-w", "%{size_download}", gateway.url("web", path)])
            // 18: transfer closed with outstanding read data remaining (Content-Length not reached, or no last chunk).
            #expect(result.status == 18, "\(path): curl exited \(result.status): \(result.stderr)")
            #expect((Int(result.output) ?? 0) < body.count)
        }
        // With Content-Length the head promised every byte; the connection is closed short of it.
        let raw = try RawConnection(port: gateway.port("web"))
        raw.send("GET /sized HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer = raw.readAll(timeout: 10)
        #expect(String(decoding: answer.prefix(64), as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        #expect(answer.count < body.count)
        #expect(gateway.waitForLogLine { $0.contains("\"path\":\"/sized\"") && $0.contains("\"aborted\":true") })
    }

    @Test("a first byte that never comes is a 504; a body that stalls is aborted; a dead upstream is a 502 naming no host")
    func timeoutsAndFailures() throws {
        let body = testBytes(1 << 20)
        let upstream = try FaultyUpstream { request in
            request.target == "/head-stall" ? .stallBeforeHead : .stall(headers: [], body: body, after: 100_000)
        }
        let gateway = try gateway(to: upstream.url(""), #", "firstByteTimeout": "1s", "idleTimeout": "1s""#)
        let stalled = Tool.curl(["-i", gateway.url("web", "/head-stall")])
        #expect(stalled.output.hasPrefix("HTTP/1.1 504"))
        #expect(stalled.output.hasSuffix("upstream timed out\n"))
        let midway = Tool.curl(["-o", "/dev/null", gateway.url("web", "/body-stall")])
        #expect(midway.status == 18)

        let deadPort = freePort()
        let dead = try self.gateway(to: "http://127.0.0.1:\(deadPort)")
        let refused = Tool.curl(["-i", dead.url("web", "/x")])
        #expect(refused.output.hasPrefix("HTTP/1.1 502"))
        #expect(!refused.output.contains("127.0.0.1:\(deadPort)") && !refused.output.contains(String(deadPort)))
    }

    @Test("with every connection to the upstream busy, a request waits at most the connect timeout, then gets 504")
    func poolWaitIsBounded() throws {
        let body = testBytes(1 << 20)
        let upstream = try FaultyUpstream { request in
            request.target == "/slow" ? .stall(headers: [], body: body, after: 100_000) : .respond(status: 200, headers: [], body: Data("ok".utf8))
        }
        // One connection per origin and loop, one loop: /slow holds it for the 30 s idle timeout.
        let gateway = try GatewayProcess(config: """
            {"version": 1, "workers": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"proxy": {"chain": [{"type": "log"}, {"type": "upstream", "url": "\(upstream.url(""))",
                                            "maxConnections": 1, "connectTimeout": "1s", "idleTimeout": "30s"}]}}}
            """)
        let slow = try Download(["-o", "/dev/null", gateway.url("web", "/slow")])
        let started = Date()
        while upstream.requests(to: "/slow").isEmpty, Date().timeIntervalSince(started) < 20 { usleep(20_000) }
        #expect(upstream.requests(to: "/slow").count == 1)
        let waiting = Tool.curl(["-i", gateway.url("web", "/fast")])
        #expect(waiting.output.hasPrefix("HTTP/1.1 504"), "\(waiting.output)")
        #expect(gateway.waitForLogLine { $0.contains("waiting for a free connection") })
        #expect(upstream.requests(to: "/fast").isEmpty)
        slow.process.signal(SIGKILL)
    }

    @Test("the stack's timeout bounds the wait for the upstream's answer, not the body that follows it")
    func stackTimeout() throws {
        func config(_ url: String) -> String {
            """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"proxy": {"timeout": "2s", "chain": [{"type": "log"}, {"type": "upstream", "url": "\(url)"}]}}}
            """
        }
        // firstByteTimeout stays at its 60 s default: only the stack's 2 s can end the wait.
        let silent = try FaultyUpstream { _ in .stallBeforeHead }
        let waiting = try GatewayProcess(config: config(silent.url("")))
        let waited = Tool.curl(["-i", "--max-time", "20", waiting.url("web", "/never")])
        #expect(waited.output.hasPrefix("HTTP/1.1 504"), "\(waited.output)")
        #expect(waiting.waitForLogLine { $0.contains("\"upstream_error\"") && $0.contains("timed out") }, "\(waiting.stdout)")
        // A body that takes longer than the stack's timeout still arrives whole: 3 MiB at 1 MiB/s.
        let nginx = try NginxProcess(servers: "server { listen 127.0.0.1:{port0}; root {root}; limit_rate 1m; }")
        let body = testBytes(3 << 20)
        nginx.publish("body.bin", body)
        let streaming = try GatewayProcess(config: config(nginx.url("")))
        let directory = TemporaryDirectory()
        let slow = Tool.curl(["-o", directory.file("body"), "-w", "%{time_total}", streaming.url("web", "/body.bin")])
        #expect(slow.status == 0)
        #expect(FileManager.default.contents(atPath: directory.file("body")) == body)
        #expect((Double(slow.output) ?? 0) > 2, "the transfer outlasted the stack's timeout: \(slow.output) s")
    }

    @Test("a path is routed by what it means: dot segments resolve before a stack is chosen; encoded slashes are a 400")
    func traversalAcrossStacks() throws {
        let nginx = try NginxProcess(servers: "server { listen 127.0.0.1:{port0}; location / { return 200 \"upstream saw $request_uri\\n\"; } }")
        let gateway = try GatewayProcess(config: """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0", "protocols": ["http/1.1", "h2"]}],
             "stacks": {
               "public": {"match": {"pathPrefix": ["/public/"]}, "chain": [{"type": "log"}, {"type": "upstream", "url": "\(nginx.url("/"))"}]},
               "private": {"chain": [{"type": "respond", "status": 403, "body": "private"}]}},
             "run": ["public", "private"]}
            """)
        #expect(Tool.curl([gateway.url("web", "/public/page")]).output == "upstream saw /public/page\n")
        for http in ["--http1.1", "--http2-prior-knowledge"] {
            // These mean /admin/...: the private stack answers, however "public" they look.
            for path in ["/public/../admin/users", "/public/%2e%2e/admin/users", "/public/.%2E/admin"] {
                let answer = Tool.curl(["--path-as-is", http, "-w", " %{http_code}", gateway.url("web", path)])
                #expect(answer.output == "private 403", "\(http) \(path)")
            }
            for path in ["/public/..%2fadmin", "/public%2f..%2fadmin", "/public/..%5cadmin"] {
                let answer = Tool.curl(["--path-as-is", http, "-o", "/dev/null", "-w", "%{http_code}", gateway.url("web", path)])
                #expect(answer.output == "400", "\(http) \(path)")
            }
            let resolved = Tool.curl(["--path-as-is", http, gateway.url("web", "/public/x/../page")])
            #expect(resolved.output == "upstream saw /public/page\n", "\(http)")
        }
        #expect(nginx.accessLog.count == 3, "only the public paths reached the upstream: \(nginx.accessLog)")
    }

    @Test("an idempotent request that failed before any answer byte is retried once; a POST is not")
    func retriesOnce() throws {
        let upstream = try FaultyUpstream { _ in .closeWithoutAnswer }
        let seen = NSLock()
        nonisolated(unsafe) var count = 0
        upstream.answer { _ in
            let first = seen.withLock { () -> Bool in
                count += 1
                return count % 2 == 1
            }
            return first ? .closeWithoutAnswer : .respond(status: 200, headers: [], body: Data("second try\n".utf8))
        }
        let gateway = try gateway(to: upstream.url(""))
        #expect(Tool.curl([gateway.url("web", "/get")]).output == "second try\n")
        #expect(upstream.requests(to: "/get").count == 2)
        let post = Tool.curl(["-i", "-X", "POST", "--data", "x", gateway.url("web", "/post")])
        #expect(post.output.hasPrefix("HTTP/1.1 502"))
        #expect(upstream.requests(to: "/post").count == 1)
    }

    @Test("a redirect into the upstream's url reaches the client as its own path; one elsewhere is passed on as it is")
    func rewritesLocation() throws {
        let upstream = try FaultyUpstream { _ in .respond(status: 200, headers: [], body: Data()) }
        let origin = upstream.url("")
        upstream.answer { request in
            switch request.target {
            case "/base/old": .respond(status: 301, headers: [("Location", origin + "/base/new?x=1")], body: Data())
            case "/base/away": .respond(status: 302, headers: [("Location", "https://example.com/elsewhere")], body: Data())
            default: .respond(status: 200, headers: [], body: Data("ok".utf8))
            }
        }
        let gateway = try gateway(to: upstream.url("/base"), #", "stripPrefix": "/mirror""#)
        let moved = Tool.curl(["-o", "/dev/null", "-w", "%{http_code} %header{location}", gateway.url("web", "/mirror/old")])
        #expect(moved.output == "301 /mirror/new?x=1")
        let away = Tool.curl(["-o", "/dev/null", "-w", "%{http_code} %header{location}", gateway.url("web", "/mirror/away")])
        #expect(away.output == "302 https://example.com/elsewhere")
        let plain = try self.gateway(to: upstream.url("/base"), #", "stripPrefix": "/mirror", "rewriteLocation": false"#)
        let kept = Tool.curl(["-o", "/dev/null", "-w", "%header{location}", plain.url("web", "/mirror/old")])
        #expect(kept.output == origin + "/base/new?x=1")
    }

    @Test("a redirect to another origin is followed without the Authorization header; the first origin got it")
    func redirectDropsCredentials() throws {
        let nginx = try NginxProcess(servers: """
            server { listen 127.0.0.1:{port0};
              location /same { return 302 /final; }
              location /cross { return 302 http://localhost:{port1}/final; }
              location /final { return 200 "first origin\\n"; } }
            server { listen 127.0.0.1:{port1};
              location /final { return 200 "second origin\\n"; } }
            """, portCount: 2)
        let gateway = try gateway(to: nginx.url("/"), #", "followRedirects": true, "authorization": "Bearer upstream-secret""#)
        let cross = Tool.curl([gateway.url("web", "/cross")])
        #expect(cross.output == "second origin\n")
        let same = Tool.curl([gateway.url("web", "/same")])
        #expect(same.output == "first origin\n")
        let log = nginx.accessLog
        #expect(log.contains("GET /cross 302 auth=Bearer upstream-secret inm=-"))
        // The second origin is another port: the credential stays behind.
        #expect(log.filter { $0.hasPrefix("GET /final 200") }.count == 2)
        #expect(log.contains("GET /same 302 auth=Bearer upstream-secret inm=-"))
        #expect(log.contains("GET /final 200 auth=Bearer upstream-secret inm=-"), "a same-origin redirect keeps it")
        #expect(log.contains("GET /final 200 auth=- inm=-"), "the cross-origin hop arrives without it")
    }

    @Test("https upstreams are verified: a CA file is trusted, an unknown CA or a wrong name is a 502")
    func tlsVerification() throws {
        let certs = TemporaryDirectory()
        let made = Tool.run(Paths.gateway, ["cert", "--dev", "--dir", certs.path, "--name", "localhost"])
        #expect(made.status == 0)
        let nginx = try NginxProcess(servers: """
            server { listen 127.0.0.1:{port0} ssl; ssl_certificate \(certs.file("gateway.pem")); ssl_certificate_key \(certs.file("gateway-key.pem"));
              ssl_protocols TLSv1.2 TLSv1.3; root {root};
              location / { return 200 "over tls sni=$ssl_server_name\\n"; }
              location /downgrade { return 302 http://127.0.0.1:{port1}/plain; }
              location /files/ { } }
            server { listen 127.0.0.1:{port1}; location /plain { return 200 "in the clear\\n"; } }
            """, portCount: 2)
        let large = testBytes(5 << 20, seed: 11)
        nginx.publish("files/large.bin", large)
        let port = nginx.ports[0]
        let trusted = try gateway(to: "https://localhost:\(port)", #", "caFile": "\#(certs.file("ca.pem"))""#)
        #expect(Tool.curl([trusted.url("web", "/")]).output == "over tls sni=localhost\n")
        let download = TemporaryDirectory()
        #expect(Tool.curl(["-o", download.file("large.bin"), trusted.url("web", "/files/large.bin")]).status == 0)
        #expect(FileManager.default.contents(atPath: download.file("large.bin")) == large)
        // Asked for over TLS, never fetched in the clear: a redirect from https to http is a 502.
        let following = try gateway(to: "https://localhost:\(port)", #", "caFile": "\#(certs.file("ca.pem"))", "followRedirects": true"#)
        #expect(Tool.curl(["-i", following.url("web", "/downgrade")]).output.hasPrefix("HTTP/1.1 502"))
        #expect(nginx.accessLog.filter { $0.contains("/plain") }.isEmpty)
        let unknownCA = try gateway(to: "https://localhost:\(port)")
        #expect(Tool.curl(["-i", unknownCA.url("web", "/")]).output.hasPrefix("HTTP/1.1 502"))
        let wrongName = try gateway(to: "https://127.0.0.1:\(port)", #", "caFile": "\#(certs.file("ca.pem"))""#)
        let refused = Tool.curl(["-i", wrongName.url("web", "/")])
        #expect(refused.output.hasPrefix("HTTP/1.1 502"))
        #expect(wrongName.waitForLogLine { $0.contains("\"upstream_error\":\"TLS") })
    }
}
