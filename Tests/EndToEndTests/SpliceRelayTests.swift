import Foundation
import Testing

/// Which path an upstream body takes to the client: splice(2) when both sockets are plain, the copy
/// path when TLS is on either side. Observed through `/metrics`.
@Suite("upstream relay: splice between plain sockets, copy with TLS, bounded memory")
struct SpliceRelayTests {
    /// A gateway with `/metrics` and a stack forwarding everything else to `url`.
    func gateway(to url: String, options: String = "", listener: String = "", directory: TemporaryDirectory = TemporaryDirectory()) throws -> GatewayProcess {
        try GatewayProcess(config: """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}\(listener)],
             "stacks": {
               "metrics": {"match": {"pathPrefix": ["/metrics"]}, "chain": [{"type": "metrics"}]},
               "proxy": {"chain": [{"type": "log"}, {"type": "upstream", "url": "\(url)"\(options)}]}},
             "run": ["metrics", "proxy"]}
            """, directory: directory)
    }

    /// The value of a `gateway_relayed_*` sample with `path`.
    func relayed(_ gateway: GatewayProcess, _ family: String, _ path: String) -> Int? {
        let metrics = Tool.curl(["-f", gateway.url("web", "/metrics")]).output
        let prefix = "gateway_relayed_\(family)_total{path=\"\(path)\"} "
        return metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) }
    }

    @Test("plain to plain: the body is spliced, byte for byte, and counted as spliced")
    func plainIsSpliced() throws {
        let nginx = try NginxProcess(servers: "server { listen 127.0.0.1:{port0}; root {root}; }")
        let body = testBytes(5 << 20, seed: 21)
        nginx.publish("big.bin", body)
        nginx.publish("small.txt", Data("small\n".utf8))
        let gateway = try gateway(to: nginx.url(""))
        let directory = TemporaryDirectory()
        // Twice: the second goes over the pooled connection the first gave back.
        for round in 1...2 {
            let result = Tool.curl(["-o", directory.file("big.bin"), "-w", "%{http_code}", gateway.url("web", "/big.bin")])
            #expect(result.output == "200")
            #expect(FileManager.default.contents(atPath: directory.file("big.bin")) == body, "round \(round)")
        }
        // A body below 64 KiB is copied (a pipe is not worth it).
        #expect(Tool.curl([gateway.url("web", "/small.txt")]).output == "small\n")
        #expect(relayed(gateway, "bodies", "splice") == 2)
        #expect(relayed(gateway, "bytes", "splice") == 2 * body.count)
        #expect(relayed(gateway, "bodies", "copy") == 1)
        #expect(relayed(gateway, "bytes", "copy") == 6)
        // A Range request is relayed the same way (206 with its own Content-Length).
        let range = Tool.curl(["-r", "100000-299999", "-o", directory.file("part"), "-w", "%{http_code}", gateway.url("web", "/big.bin")])
        #expect(range.output == "206")
        #expect(FileManager.default.contents(atPath: directory.file("part")) == body[100_000..<300_000])
    }

    @Test("TLS on either side: the body takes the copy path and arrives whole")
    func tlsIsCopied() throws {
        let certs = TemporaryDirectory()
        makeCertificate(in: certs.path, names: ["localhost", "127.0.0.1"], out: "site")
        let nginx = try NginxProcess(servers: """
            server { listen 127.0.0.1:{port0} ssl; ssl_certificate \(certs.file("site.pem")); ssl_certificate_key \(certs.file("site-key.pem")); root {root}; }
            server { listen 127.0.0.1:{port1}; root {root}; }
            """, portCount: 2)
        let body = testBytes(3 << 20, seed: 22)
        nginx.publish("big.bin", body)
        let directory = TemporaryDirectory()
        makeCertificate(in: directory.file("certs"), names: ["localhost", "127.0.0.1"], out: "listener")
        let tlsListener = #", {"name": "tls", "listen": "127.0.0.1:0", "tls": {"certificate": "certs/listener.pem", "key": "certs/listener-key.pem"}, "protocols": ["http/1.1"]}"#
        // TLS to the upstream, plain to the client.
        let tlsUpstream = try gateway(to: "https://localhost:\(nginx.ports[0])", options: #", "caFile": "\#(certs.file("ca.pem"))""#)
        let out = TemporaryDirectory()
        #expect(Tool.curl(["-o", out.file("a"), tlsUpstream.url("web", "/big.bin")]).status == 0)
        #expect(FileManager.default.contents(atPath: out.file("a")) == body)
        #expect(relayed(tlsUpstream, "bodies", "copy") == 1)
        #expect(relayed(tlsUpstream, "bodies", "splice") == 0)
        // Plain upstream, TLS to the client.
        let tlsClient = try gateway(to: "http://127.0.0.1:\(nginx.ports[1])", listener: tlsListener, directory: directory)
        let download = Tool.curl(["-o", out.file("b"), "--cacert", directory.file("certs/ca.pem"),
                                  tlsClient.url("tls", "/big.bin", scheme: "https", host: "localhost")])
        #expect(download.status == 0, "\(download.stderr)")
        #expect(FileManager.default.contents(atPath: out.file("b")) == body)
        #expect(relayed(tlsClient, "bodies", "copy") == 1)
        #expect(relayed(tlsClient, "bodies", "splice") == 0)
    }

    @Test("a relayed 3 GiB (sparse) object keeps the gateway's resident memory under 64 MiB")
    func largeRelayStaysSmall() throws {
        let nginx = try NginxProcess(servers: "server { listen 127.0.0.1:{port0}; root {root}; }")
        let path = nginx.publish("sparse.bin", Data())
        let size: UInt64 = 3 << 30
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: size)
        try handle.close()
        let gateway = try gateway(to: nginx.url(""))
        let download = try Download(["-o", "/dev/null", "-w", "%{http_code} %{size_download}", gateway.url("web", "/sparse.bin")])
        var peak = 0
        while download.process.isRunning {
            peak = max(peak, residentBytes(gateway))
            usleep(20_000)
        }
        let finished = download.finish()
        #expect(finished.status == 0, "\(finished.error)")
        #expect(finished.output == "200 \(size)")
        #expect(peak > 0 && peak < 64 << 20, "peak RSS \(peak) bytes")
        #expect(relayed(gateway, "bytes", "splice") == Int(size))
    }

    @Test("a slow client (4 MiB/s) holds the relay back and still gets the whole body by splice")
    func slowClientBackpressure() throws {
        let nginx = try NginxProcess(servers: "server { listen 127.0.0.1:{port0}; root {root}; }")
        let body = testBytes(32 << 20, seed: 23)
        nginx.publish("big.bin", body)
        let gateway = try gateway(to: nginx.url(""))
        let directory = TemporaryDirectory()
        // 4 MiB/s for 32 MiB: the gateway's pipe and socket buffers fill and it must wait on the client.
        let slow = Tool.curl(["--limit-rate", "4M", "-o", directory.file("big.bin"), gateway.url("web", "/big.bin")])
        #expect(slow.status == 0)
        #expect(FileManager.default.contents(atPath: directory.file("big.bin")) == body)
        #expect(relayed(gateway, "bodies", "splice") == 1)
    }

    /// `[cache (disk tier), upstream]` with `/metrics`.
    func diskCache(to url: String, cacheDirectory: TemporaryDirectory) throws -> GatewayProcess {
        try GatewayProcess(config: """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {
               "metrics": {"match": {"pathPrefix": ["/metrics"]}, "chain": [{"type": "metrics"}]},
               "proxy": {"chain": [{"type": "log"}, {"type": "cache", "xCache": true, "memory": "1MiB", "disk": "\(cacheDirectory.path)", "maxBytes": "256MiB"},
                                   {"type": "upstream", "url": "\(url)"}]}},
             "run": ["metrics", "proxy"]}
            """)
    }

    @Test("a disk fill splices into its file; clients arriving during it follow it; one upstream request; then HIT")
    func diskFillIsSpliced() throws {
        let nginx = try NginxProcess(servers: """
            server { listen 127.0.0.1:{port0}; root {root}; add_header Cache-Control "max-age=300"; limit_rate 3m; }
            """)
        let object = testBytes(6 << 20, seed: 24)
        nginx.publish("big.bin", object)
        let cacheDirectory = TemporaryDirectory("cache-disk")
        let gateway = try diskCache(to: nginx.url(""), cacheDirectory: cacheDirectory)
        let directory = TemporaryDirectory()
        var arguments = ["-Z", "--parallel-immediate", "--parallel-max", "20", "-w", "%{http_code} %header{x-cache}\\n"]
        for i in 0..<20 { arguments += ["-o", directory.file("out\(i)"), gateway.url("web", "/big.bin")] }
        let result = Tool.curl(arguments, timeout: 300)
        #expect(result.status == 0)
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 20 && lines.allSatisfy { $0.hasPrefix("200 ") }, "\(result.output)")
        for i in 0..<20 {
            #expect(FileManager.default.contents(atPath: directory.file("out\(i)")) == object, "body \(i)")
        }
        #expect(nginx.requests(to: "/big.bin").count == 1)
        #expect(relayed(gateway, "bodies", "splice") == 1)
        #expect(relayed(gateway, "bytes", "splice") == object.count)
        let hit = CacheTests.get(gateway.url("web", "/big.bin"))
        #expect(hit.xCache == "HIT" && hit.body == object)
    }

    @Test("a disk fill whose upstream resets midway: the client's response aborts and nothing is stored")
    func diskFillResetIsNeverStored() throws {
        let body = testBytes(2 << 20)
        let upstream = try FaultyUpstream { _ in
            .reset(headers: [("Cache-Control", "max-age=300")], body: body, after: 700_000, chunked: false)
        }
        let cacheDirectory = TemporaryDirectory("cache-disk")
        let gateway = try diskCache(to: upstream.url(""), cacheDirectory: cacheDirectory)
        for _ in 0..<2 {
            let fetched = CacheTests.get(gateway.url("web", "/object"))
            #expect(fetched.exit == 18, "curl: transfer closed with data outstanding")
            #expect(fetched.xCache == "MISS")
            #expect(fetched.body.count < body.count)
        }
        #expect(upstream.requests(to: "/object").count == 2)
        #expect(relayed(gateway, "bodies", "splice") == 2)
    }

    func residentBytes(_ gateway: GatewayProcess) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(gateway.process.pid)/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return kib * 1024
    }
}
