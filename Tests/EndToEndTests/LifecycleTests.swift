import Foundation
import HTTP2TestClient
import Testing

/// A background curl download: started at once, read back when it ends.
final class Download: @unchecked Sendable {
    let process: Subprocess

    init(_ arguments: [String]) throws {
        process = try Subprocess(Tool.require("curl") ?? "/usr/bin/curl", ["--silent", "--show-error"] + arguments)
    }

    /// Waits for curl to end; its exit status and stdout (nil status on timeout).
    func finish(timeout: TimeInterval = 120) -> (status: Int32?, output: String, error: String) {
        guard process.waitUntilExit(timeout: timeout) else {
            process.terminate()
            return (nil, "", "")
        }
        return (process.terminationStatus, String(decoding: process.output.out, as: UTF8.self),
                String(decoding: process.output.err, as: UTF8.self))
    }
}

/// Draining on SIGTERM and pipeline reloads on SIGHUP, against the real binary.
@Suite("SIGTERM drain and SIGHUP reload (real binary)")
struct LifecycleTests {
    @Test("SIGTERM during a large download: the download finishes, new connections are refused, the process exits 0")
    func drainFinishesDownload() throws {
        let (dir, config) = filesSite()
        let data = sampleBytes(24 << 20, seed: 11)
        dir.write("www/large.bin", data)
        let gateway = try GatewayProcess(config: config, directory: dir)
        let download = try Download(["--limit-rate", "8M", "-o", dir.file("got.bin"), "-w", "%{http_code} %{size_download}",
                                     gateway.url("web", "/large.bin")])
        // Wait until the download is under way, then ask the gateway to stop.
        let started = Date()
        while (try? FileManager.default.attributesOfItem(atPath: dir.file("got.bin"))[.size] as? Int) ?? 0 < 1 << 20,
              Date().timeIntervalSince(started) < 30 { usleep(50_000) }
        gateway.signal(SIGTERM)
        #expect(gateway.waitForLog("\"msg\":\"draining\""))
        usleep(300_000)
        let refused = Tool.curl(["--max-time", "5", gateway.url("web", "/hello.txt")])
        #expect(refused.status != 0, "a new connection was accepted while draining")
        #expect(gateway.process.isRunning, "the gateway exited before the download ended")

        let (status, output, error) = download.finish()
        #expect(status == 0, "\(error)")
        #expect(output == "200 \(data.count)")
        #expect(FileManager.default.contents(atPath: dir.file("got.bin")) == data)
        #expect(gateway.waitForExit(timeout: 30) == 0)
        #expect(gateway.stderr.contains("\"msg\":\"stopped\",\"connections_left\":\"0\""))
    }

    @Test("SIGTERM closes idle keep-alive connections at once")
    func drainClosesIdle() throws {
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        let idle = try RawConnection(port: gateway.port("web"))
        idle.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(idle.read(untilContains: "hello\n").hasPrefix("HTTP/1.1 200 OK"))
        gateway.signal(SIGTERM)
        #expect(idle.isClosedByPeer(within: 10))
        #expect(gateway.waitForExit(timeout: 10) == 0)
    }

    @Test("a request in flight during SIGTERM is answered with Connection: close")
    func drainAnswersInFlight() throws {
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        let raw = try RawConnection(port: gateway.port("web"))
        // The head is incomplete when the drain starts; the request still gets its answer.
        raw.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n")
        usleep(200_000)
        gateway.signal(SIGTERM)
        #expect(gateway.waitForLog("\"msg\":\"draining\""))
        raw.send("\r\n")
        let text = String(decoding: raw.readAll(timeout: 10), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.contains("\r\nConnection: close\r\n"))
        #expect(text.hasSuffix("hello\n"))
        #expect(gateway.waitForExit(timeout: 10) == 0)
    }

    @Test("a SIGHUP sent the moment the gateway says started is never lost (ten starts)")
    func signalRightAfterStart() throws {
        let (dir, config) = filesSite()
        for round in 0..<10 {
            let gateway = try GatewayProcess(config: config, directory: dir)
            gateway.signal(SIGHUP)
            #expect(gateway.waitForLog("\"msg\":\"reloaded\"", timeout: 20), "round \(round): \(gateway.stderr)")
            gateway.signal(SIGTERM)
            #expect(gateway.waitForExit() == 0, "round \(round)")
        }
    }

    @Test("SIGHUP with a broken pipeline.json logs every error and keeps the old pipeline serving")
    func brokenReload() throws {
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        #expect(Tool.curl([gateway.url("web", "/hello.txt")]).output == "hello\n")
        dir.write("pipeline.json", """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"site": {"maxBodyBytes": "lots", "chain": [{"type": "fils", "root": "www"}]}}, "run": ["site", "nothing"]}
            """)
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reload refused"))
        for pointer in ["/stacks/site/maxBodyBytes", "/stacks/site/chain/0/type", "/run/1"] {
            #expect(gateway.stderr.contains("\"at\":\"\(pointer)\""), "\(pointer) not logged")
        }
        #expect(gateway.stderr.contains("did you mean \\\"files\\\""))
        #expect(Tool.curl([gateway.url("web", "/hello.txt")]).output == "hello\n")
        #expect(gateway.process.isRunning)
    }

    @Test("SIGHUP with a valid pipeline.json swaps it; a download in flight finishes on the old one")
    func goodReload() throws {
        let (dir, config) = filesSite()
        dir.write("other/hello.txt", "hello from the new pipeline\n")
        let data = sampleBytes(8 << 20, seed: 5)
        dir.write("www/large.bin", data)
        let gateway = try GatewayProcess(config: config, directory: dir)
        let port = gateway.port("web")
        let download = try Download(["--limit-rate", "4M", "-o", dir.file("got.bin"), "-w", "%{http_code}", gateway.url("web", "/large.bin")])
        usleep(300_000)
        // Same listener address, new root.
        dir.write("pipeline.json", """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:\(port)"}],
             "stacks": {"site": {"chain": [{"type": "files", "root": "other"}]}}}
            """)
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("\"msg\":\"reloaded\""))
        #expect(Tool.curl([gateway.url("web", "/hello.txt")]).output == "hello from the new pipeline\n")
        let (status, output, _) = download.finish()
        #expect(status == 0)
        #expect(output == "200")
        #expect(FileManager.default.contents(atPath: dir.file("got.bin")) == data)
    }

    @Test("SIGHUP can add a listener; a listener whose address cannot be bound refuses the reload")
    func reloadListeners() throws {
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        let port = gateway.port("web")
        let blocker = Loopback.occupyPort()
        defer { close(blocker.fd) }
        let takenPort = blocker.port

        dir.write("pipeline.json", """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:\(port)"}, {"name": "extra", "listen": "127.0.0.1:\(takenPort)"}],
             "stacks": {"site": {"chain": [{"type": "files", "root": "www"}]}}}
            """)
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reload refused"))
        #expect(gateway.stderr.contains("bind 127.0.0.1:\(takenPort)"))
        #expect(Tool.curl([gateway.url("web", "/hello.txt")]).output == "hello\n")
    }
}
