import Foundation
import Testing

/// A site behind a balancer: `health` on /healthz and /readyz, files with an access log.
func balancedSite(listenerExtra: String = "", extraListeners: String = "", extra: String = "") -> (TemporaryDirectory, String) {
    let dir = TemporaryDirectory()
    dir.write("www/hello.txt", "hello\n")
    dir.write("www/v1.txt", "v1\n")
    let config = """
        {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"\(listenerExtra)}\(extraListeners)],
         "stacks": {"health": {"match": {"pathPrefix": ["/healthz", "/readyz"]}, "chain": [{"type": "health"}]},
                    "site": {"chain": [{"type": "log"}, {"type": "files", "root": "www"}]}}\(extra)}
        """
    return (dir, config)
}

/// The PROXY v2 signature (proxy-protocol.txt §2.1).
let proxyV2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

/// Waits until `condition` holds (access-log lines are written once a response is complete,
/// a moment after the client has it); false after `timeout`.
@discardableResult
func waitUntil(timeout: TimeInterval = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        guard Date() < deadline else { return false }
        usleep(20_000)
    }
    return true
}

/// A steady load that leaves the machine to the other suites running beside it: `clients` curl
/// processes, each making `count` GETs of `url` at `rate` per second over its kept-alive
/// connection, every status recorded (`000`: a connection error, a reset, a timeout).
final class SteadyLoad: @unchecked Sendable {
    let clients: [Subprocess]
    let count: Int
    /// Holds curl's config file for as long as the load runs.
    let directory = TemporaryDirectory("load")

    init(_ url: String, clients: Int = 2, count: Int, rate: Int = 100) throws {
        let config = directory.write("load.curl", String(repeating: "url = \"\(url)\"\noutput = \"/dev/null\"\n", count: count))
        let curl = Tool.require("curl") ?? "/usr/bin/curl"
        self.count = count
        self.clients = try (0..<clients).map { _ in
            try Subprocess(curl, ["--silent", "--rate", "\(rate)/s", "--max-time", "10", "-w", "%{http_code}\\n", "-K", config])
        }
    }

    /// Waits for every client; the statuses that were not 200 (empty when none failed), or nil if
    /// a client did not finish.
    func failures(timeout: TimeInterval = 120) -> [String]? {
        var failed: [String] = []
        for client in clients {
            guard client.waitUntilExit(timeout: timeout) else { return nil }
            let lines = String(decoding: client.output.out, as: UTF8.self).split(separator: "\n").map(String.init)
            failed += lines.filter { $0 != "200" }
            if lines.count != count { failed.append("\(count - lines.count) requests missing") }
        }
        return failed
    }
}

/// Status and body of one curl request, as "STATUS BODY".
private func fetch(_ url: String, _ extra: [String] = []) -> String {
    let result = Tool.curl(extra + ["--max-time", "10", "-w", "%{http_code}", "-o", "/dev/stderr", url])
    return "\(result.output) \(result.stderr)"
}

/// Health, readiness and PROXY protocol with the real binary; behind a real haproxy 2.6.
@Suite("running behind a load balancer (real binary, haproxy)")
struct LoadBalancerTests {
    @Test("/readyz is 200 while serving and across a refused reload; on SIGTERM 503 at once while files still serve for drainDelay, then the drain")
    func readinessAndDrainDelay() throws {
        let (dir, config) = balancedSite(extra: #", "drainDelay": "5s""#)
        let gateway = try GatewayProcess(config: config, directory: dir)
        #expect(fetch(gateway.url("web", "/readyz")) == "200 {\"status\":\"ready\"}\n")
        #expect(fetch(gateway.url("web", "/healthz")) == "200 {\"status\":\"alive\"}\n")

        dir.write("pipeline.json", "{ broken")
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reload refused"))
        #expect(fetch(gateway.url("web", "/readyz")) == "200 {\"status\":\"ready\"}\n")

        gateway.signal(SIGTERM)
        #expect(gateway.waitForLog("\"msg\":\"not ready; serving until the drain begins\",\"drain_delay\":\"5s\""))
        // New connections are still taken: a balancer that has not noticed yet loses nothing.
        #expect(fetch(gateway.url("web", "/readyz")) == "503 {\"status\":\"draining\"}\n")
        #expect(fetch(gateway.url("web", "/healthz")) == "200 {\"status\":\"alive\"}\n")
        #expect(fetch(gateway.url("web", "/hello.txt")) == "200 hello\n")
        #expect(!gateway.stderr.contains("\"msg\":\"draining\""))
        #expect(gateway.waitForLog("\"msg\":\"draining\""))
        #expect(gateway.waitForExit(timeout: 30) == 0)
    }

    @Test("SIGINT skips the drain delay; without a health stack there is no delay")
    func noDelay() throws {
        let (dir, config) = balancedSite(extra: #", "drainDelay": "1h""#)
        let gateway = try GatewayProcess(config: config, directory: dir)
        gateway.signal(SIGINT)
        #expect(gateway.waitForExit(timeout: 20) == 0)
        #expect(!gateway.stderr.contains("not ready; serving until the drain begins"))
    }

    @Test("PROXY v1 and v2 from a trusted peer: the access log shows the carried client; the bytes after the header are the request")
    func proxyHeaders() throws {
        let (dir, config) = balancedSite(listenerExtra: #", "proxyProtocol": true, "trustProxyFrom": ["127.0.0.0/8"]"#)
        let gateway = try GatewayProcess(config: config, directory: dir)
        let request = "GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

        let v1 = try RawConnection(port: gateway.port("web"))
        v1.send("PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n" + request)
        #expect(String(decoding: v1.readAll(), as: UTF8.self).hasPrefix("HTTP/1.1 200 OK\r\n"))

        // v2, arriving in pieces: the signature split, then the addresses with the request.
        let header = proxyV2Signature + [0x21, 0x11, 0x00, 0x0C, 198, 51, 100, 7, 127, 0, 0, 1, 0x30, 0x39, 0x00, 0x50]
        let v2 = try RawConnection(port: gateway.port("web"))
        v2.send(Data(header[..<7]))
        usleep(100_000)
        v2.send(Data(header[7...]) + Data(request.utf8))
        #expect(String(decoding: v2.readAll(), as: UTF8.self).hasPrefix("HTTP/1.1 200 OK\r\n"))

        // LOCAL (a balancer's own health check): the socket's address.
        let local = try RawConnection(port: gateway.port("web"))
        local.send(Data(proxyV2Signature + [0x20, 0x00, 0x00, 0x00]) + Data("GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8))
        #expect(String(decoding: local.readAll(), as: UTF8.self).hasSuffix("{\"status\":\"ready\"}\n"))

        #expect(waitUntil { gateway.accessLog.count == 2 })  // the health stack keeps no access log
        let clients = gateway.accessLog.compactMap { $0["client"] as? String }
        #expect(clients.contains("203.0.113.9"))
        #expect(clients.contains("198.51.100.7"))
        #expect(!clients.contains("127.0.0.1"))
    }

    @Test("PROXY v2 in front of TLS: haproxy in TCP mode passes TLS through; the gateway reads the header, then the handshake (h2 and http/1.1)")
    func proxyBeforeTLS() throws {
        let dir = TemporaryDirectory()
        dir.write("www/hello.txt", "hello\n")
        makeCertificate(in: dir.file("certs"), names: ["localhost", "127.0.0.1"], out: "site")
        let config = """
            {"version": 1, "listeners": [{"name": "tls", "listen": "127.0.0.1:0", "proxyProtocol": true, "trustProxyFrom": ["127.0.0.1"],
                                          "tls": {"certificate": "certs/site.pem", "key": "certs/site-key.pem"}}],
             "stacks": {"site": {"chain": [{"type": "log"}, {"type": "files", "root": "www"}]}}}
            """
        let gateway = try GatewayProcess(config: config, directory: dir)
        let haproxy = try HAProxyProcess(config: """
            defaults
                mode tcp
                timeout connect 1s
                timeout client 10s
                timeout server 10s
            frontend fe
                bind 127.0.0.1:{port0}
                default_backend be
            backend be
                server g 127.0.0.1:\(gateway.port("tls")) send-proxy-v2
            """)
        let url = "https://localhost:\(haproxy.ports[0])/hello.txt"
        for version in ["--http2", "--http1.1"] {
            let result = Tool.curl([version, "--interface", "127.0.0.3", "--resolve", "localhost:\(haproxy.ports[0]):127.0.0.1",
                                    "--cacert", dir.file("certs/ca.pem"), url])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.output == "hello\n")
        }
        #expect(waitUntil { gateway.accessLog.count == 2 })
        let entries = gateway.accessLog.filter { $0["client"] as? String == "127.0.0.3" }
        #expect(Set(entries.compactMap { $0["protocol"] as? String }) == ["HTTP/2", "HTTP/1.1"], "\(gateway.accessLog)")
        #expect(entries.allSatisfy { $0["tls"] as? String == "TLSv1.3" })
    }

    @Test("PROXY protocol: no header, a malformed or truncated one closes the connection with a log line; an untrusted peer is refused")
    func proxyRefused() throws {
        let (dir, config) = balancedSite(listenerExtra: #", "proxyProtocol": true, "trustProxyFrom": ["127.0.0.1"]"#,
                                         extraListeners: #", {"name": "lan", "listen": "127.0.0.1:0", "proxyProtocol": true, "trustProxyFrom": ["10.0.0.0/8"]}"#)
        let gateway = try GatewayProcess(config: config, directory: dir)
        let request = "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n"

        let plain = try RawConnection(port: gateway.port("web"))
        plain.send(request)
        #expect(plain.readAll(timeout: 10).isEmpty)
        #expect(gateway.waitForLog("\"reason\":\"no PROXY protocol header\""))

        let malformed = try RawConnection(port: gateway.port("web"))
        malformed.send("PROXY TCP4 203.0.113.9 127.0.0.1 5555\r\n" + request)
        #expect(malformed.readAll(timeout: 10).isEmpty)
        #expect(gateway.waitForLog("\"reason\":\"malformed PROXY protocol header: expected 4 fields after TCP4, got 3\""))

        let truncated = try RawConnection(port: gateway.port("web"))
        truncated.send("PROXY TCP4 203.0.113.9 127.0.0.1")
        usleep(100_000)
        shutdown(truncated.fd, Int32(SHUT_WR))
        #expect(truncated.isClosedByPeer(within: 10))
        #expect(gateway.waitForLog("\"reason\":\"truncated PROXY protocol header\""))

        let untrusted = try RawConnection(port: gateway.port("lan"))
        untrusted.send("PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n" + request)
        #expect(untrusted.readAll(timeout: 10).isEmpty)
        #expect(gateway.waitForLog("\"msg\":\"PROXY protocol: connection from an address not in trustProxyFrom refused\",\"listener\":\"lan\",\"peer\":\"127.0.0.1\""))
        #expect(gateway.accessLog.isEmpty)
    }

    @Test("haproxy send-proxy and send-proxy-v2: checks on /readyz, the client's address in the log; under load, reloads (one broken) and a SIGTERM fail no request")
    func haproxy() throws {
        let listener = #", "proxyProtocol": true, "trustProxyFrom": ["127.0.0.1"]"#
        let (dirA, configA) = balancedSite(listenerExtra: listener, extra: #", "drainDelay": "3s""#)
        let (dirB, configB) = balancedSite(listenerExtra: listener, extra: #", "drainDelay": "3s""#)
        let a = try GatewayProcess(config: configA, directory: dirA)
        let b = try GatewayProcess(config: configB, directory: dirB)
        let haproxy = try HAProxyProcess(config: """
            defaults
                mode http
                log global
                option httplog
                option log-health-checks
                timeout connect 1s
                timeout client 10s
                timeout server 10s
                timeout check 2s
                retries 3
                option redispatch 1
                retry-on conn-failure empty-response response-timeout
            frontend v2
                bind 127.0.0.1:{port0}
                default_backend be_v2
            frontend v1
                bind 127.0.0.1:{port1}
                default_backend be_v1
            backend be_v2
                balance roundrobin
                option httpchk
                http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host lb
                http-check expect status 200
                default-server inter 300ms fall 2 rise 2
                server a 127.0.0.1:\(a.port("web")) send-proxy-v2 check
                server b 127.0.0.1:\(b.port("web")) send-proxy-v2 check
            backend be_v1
                option httpchk
                http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host lb
                server a 127.0.0.1:\(a.port("web")) send-proxy check inter 300ms
            """, portCount: 2)
        #expect(haproxy.waitForState("be_v2/a", "UP"))
        #expect(haproxy.waitForState("be_v2/b", "UP"))

        // The client connects from 127.0.0.2; the gateways' sockets see haproxy at 127.0.0.1.
        #expect(fetch(haproxy.url("/v1.txt", frontend: 1), ["--interface", "127.0.0.2"]) == "200 v1\n")
        for _ in 0..<2 { #expect(fetch(haproxy.url("/hello.txt"), ["--interface", "127.0.0.2"]) == "200 hello\n") }
        #expect(waitUntil { a.accessLog.count + b.accessLog.count == 3 })
        let entries = a.accessLog + b.accessLog
        #expect(entries.contains { $0["path"] as? String == "/v1.txt" && $0["client"] as? String == "127.0.0.2" })
        #expect(entries.count { $0["path"] as? String == "/hello.txt" && $0["client"] as? String == "127.0.0.2" } == 2)

        // A rolling stop of one replica under load: haproxy sees /readyz turn 503 and moves every
        // request to the other before the listener closes.
        let load = try SteadyLoad(haproxy.url("/hello.txt"), count: 800)
        usleep(1_000_000)
        // Reloads under load: a valid one on a, a broken pipeline.json on b (which keeps its old one).
        a.signal(SIGHUP)
        dirB.write("pipeline.json", "{ broken")
        b.signal(SIGHUP)
        #expect(a.waitForLog("\"msg\":\"reloaded\""))
        #expect(b.waitForLog("reload refused"))
        #expect(haproxy.serverStates()["be_v2/b"] == "UP")
        a.signal(SIGTERM)
        #expect(haproxy.waitForState("be_v2/a", "DOWN"))
        #expect(!a.stderr.contains("\"msg\":\"draining\""), "the replica drained before haproxy took it out")
        #expect(a.waitForExit(timeout: 30) == 0)
        #expect(load.failures() == [])
        #expect(haproxy.log.contains("Server be_v2/a is DOWN"))
        let statuses = haproxy.log.split(separator: "\n").filter { $0.contains("GET /hello.txt") }.compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard let timers = fields.firstIndex(where: { $0.filter { $0 == "/" }.count == 4 }), timers + 1 < fields.count else { return nil }
            return String(fields[timers + 1])
        }
        #expect(statuses.count > 10)
        #expect(statuses.allSatisfy { $0 == "200" }, "\(Set(statuses))")
    }
}

/// systemd's socket activation and notify protocol, with systemd's own tool.
@Suite("under systemd: socket activation and notify (real binary, systemd-socket-activate)")
struct SystemdTests {
    @Test("systemd-socket-activate's socket is served as passed; NOTIFY_SOCKET gets READY=1, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM")
    func socketActivationAndNotify() throws {
        let notify = try NotifyListener()
        let port = freePort()
        let (dir, config) = balancedSite(extra: #", "drainDelay": 0"#)
        let path = dir.write("pipeline.json", config.replacing("127.0.0.1:0", with: "127.0.0.1:\(port)"))
        guard let tool = Tool.require("systemd-socket-activate") else { return }
        // The tool binds the port, waits for the first connection, then execs the gateway in its
        // place with the socket as descriptor 3; the gateway could not bind the port itself.
        let gateway = try Subprocess(tool, ["-l", "127.0.0.1:\(port)", "-E", "NOTIFY_SOCKET=\(notify.socketName)",
                                            Paths.gateway, "serve", "--config", path], directory: dir.path)
        defer {
            if gateway.isRunning {
                gateway.signal(SIGKILL)
                gateway.waitUntilExit()
            }
        }
        // The first connection makes the tool start the gateway.
        #expect(waitForPort(port))
        #expect(fetch("http://127.0.0.1:\(port)/hello.txt") == "200 hello\n")
        let ready = notify.receive()
        #expect(ready?.hasPrefix("READY=1\n") == true, "\(ready ?? "nothing")")
        #expect(ready?.contains("MAINPID=\(gateway.pid)") == true)
        let log = String(decoding: gateway.output.err, as: UTF8.self)
        #expect(log.contains("\"msg\":\"listening\",\"listener\":\"web\",\"address\":\"127.0.0.1:\(port)\""), "\(log)")

        // Sent the moment READY=1 arrives, once: a signal is never lost to startup (ServeCommand).
        gateway.signal(SIGHUP)
        let reloading = notify.receive()
        #expect(reloading?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true, "\(reloading ?? "nothing")")
        #expect(notify.receive()?.hasPrefix("READY=1\nSTATUS=serving") == true)
        #expect(fetch("http://127.0.0.1:\(port)/readyz") == "200 {\"status\":\"ready\"}\n")

        gateway.signal(SIGTERM)
        #expect(notify.receive() == "STOPPING=1")
        #expect(gateway.waitUntilExit(timeout: 30))
        #expect(gateway.terminationStatus == 0)
    }
}

/// Replacing the gateway by a new process on the same sockets, with no balancer in front.
@Suite("process handover: SIGUSR2 (real binary)")
struct HandoverTests {
    /// The pid in the gateway's pid file.
    private func pidFileValue(_ gateway: GatewayProcess) -> Int32? {
        let path = (gateway.configPath as NSString).deletingPathExtension + ".pid"
        return (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Stops a process that is not our child (the successor's parent was the old gateway).
    private func stop(_ pid: Int32) -> Bool {
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if kill(pid, 0) != 0 { return true }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        return false
    }

    @Test("gateway upgrade (SIGUSR2) during a steady load: a new process takes the listening socket, the old one drains and exits, no request fails")
    func handoverUnderLoad() throws {
        let (dir, config) = balancedSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        let old = gateway.process.pid
        let load = try SteadyLoad(gateway.url("web", "/hello.txt"), count: 500)
        usleep(1_000_000)
        // `gateway upgrade` sends SIGUSR2 and waits for the new process to serve.
        let upgrade = Tool.run(Paths.gateway, ["upgrade", "--config", gateway.configPath])
        #expect(upgrade.status == 0, "\(upgrade.stderr)")
        #expect(upgrade.output.hasPrefix("gateway \(old) handed its listening sockets to "), "\(upgrade.output)")
        #expect(gateway.waitForLog("\"msg\":\"handover: the new process serves; draining\""))
        #expect(gateway.waitForExit(timeout: 30) == 0)
        let successor = try #require(pidFileValue(gateway))
        #expect(successor != old)
        #expect(gateway.stderr.contains("\"took_over_from\":\"\(old)\""))
        #expect(load.failures() == [])
        // The same port, now served by the successor alone.
        #expect(fetch(gateway.url("web", "/readyz")) == "200 {\"status\":\"ready\"}\n")
        #expect(stop(successor))
    }

    @Test("a successor that cannot start (broken pipeline.json) is reaped; the old process keeps serving")
    func failedHandover() throws {
        let (dir, config) = balancedSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        dir.write("pipeline.json", "{ broken")
        gateway.signal(SIGUSR2)
        #expect(gateway.waitForLog("\"msg\":\"handover failed: the new process exited before serving; this one keeps serving\""))
        #expect(gateway.stderr.contains("\"status\":\"1\""))
        #expect(fetch(gateway.url("web", "/hello.txt")) == "200 hello\n")
        #expect(pidFileValue(gateway) == gateway.process.pid)
    }
}

/// The files under deploy/ are what their tools accept.
@Suite("deploy/ files")
struct DeployFilesTests {
    @Test("haproxy -c and nginx -t accept their configs in deploy/; systemd-analyze verify accepts the unit files")
    func valid() throws {
        let haproxy = Tool.run("haproxy", ["-c", "-f", Paths.root + "/deploy/haproxy.cfg"])
        #expect(haproxy.status == 0, "\(haproxy.output)\(haproxy.stderr)")
        let prefix = TemporaryDirectory("nginx-t")
        try FileManager.default.createDirectory(atPath: prefix.file("logs"), withIntermediateDirectories: true)
        let nginx = Tool.run("nginx", ["-t", "-p", prefix.path, "-c", Paths.root + "/deploy/nginx.conf"])
        #expect(nginx.status == 0, "\(nginx.stderr)")
        // The units name /usr/local/bin/gateway; verify them against the built binary.
        let dir = TemporaryDirectory()
        for unit in ["gateway.service", "gateway.socket"] {
            let text = try String(contentsOfFile: Paths.root + "/deploy/" + unit, encoding: .utf8)
            dir.write(unit, text.replacing("/usr/local/bin/gateway", with: Paths.gateway))
        }
        let verify = Tool.run("systemd-analyze", ["verify", dir.file("gateway.service"), dir.file("gateway.socket")])
        #expect(verify.status == 0)
        #expect(verify.output.isEmpty && verify.stderr.isEmpty, "\(verify.output)\(verify.stderr)")
    }
}

/// What an operator scrapes and alerts on.
@Suite("server metrics (real binary, promtool)")
struct ServerMetricsTests {
    @Test("/metrics after mixed traffic: open connections, ready, draining, reloads by result, PROXY refusals, upstream answers, errors and latency, auth failures by reason; promtool check metrics is clean")
    func promtoolClean() throws {
        let dir = TemporaryDirectory()
        dir.write("www/hello.txt", "hello\n")
        dir.write("www/private/secret.txt", "secret\n")
        let nginx = try NginxProcess(servers: "server { listen 127.0.0.1:{port0}; root {root}; }")
        nginx.publish("object.txt", Data("from upstream\n".utf8))
        let hash = Tool.run(Paths.gateway, ["hash-password"], input: Data("right\n".utf8)).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hash.hasPrefix("$"), "hash-password printed \(hash)")
        let config = """
            {"version": 1,
             "listeners": [{"name": "web", "listen": "127.0.0.1:0", "protocols": ["h2", "http/1.1"]},
                           {"name": "lb", "listen": "127.0.0.1:0", "proxyProtocol": true, "trustProxyFrom": ["10.0.0.0/8"]}],
             "stacks": {"health": {"match": {"pathPrefix": ["/healthz", "/readyz"]}, "chain": [{"type": "health"}]},
                        "metrics": {"match": {"pathPrefix": ["/metrics"]}, "chain": [{"type": "metrics"}]},
                        "private": {"match": {"pathPrefix": ["/private/"]}, "chain": [
                          {"type": "auth.basic", "users": {"alice": "\(hash)"}, "hashAttemptsPerAddress": 2},
                          {"type": "files", "root": "www"}]},
                        "proxied": {"match": {"pathPrefix": ["/up/"]}, "chain": [
                          {"type": "upstream", "url": "\(nginx.url(""))", "stripPrefix": "/up"}]},
                        "down": {"match": {"pathPrefix": ["/down/"]}, "chain": [
                          {"type": "upstream", "url": "http://127.0.0.1:1", "stripPrefix": "/down"}]},
                        "site": {"chain": [{"type": "log"}, {"type": "cache", "memory": "1MiB"}, {"type": "files", "root": "www"}]}}}
            """
        let gateway = try GatewayProcess(config: config, directory: dir)
        for path in ["/hello.txt", "/hello.txt", "/missing", "/readyz"] { _ = fetch(gateway.url("web", path)) }
        _ = fetch(gateway.url("web", "/hello.txt"), ["--http2-prior-knowledge"])
        let untrusted = try RawConnection(port: gateway.port("lb"))
        untrusted.send("PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(untrusted.isClosedByPeer(within: 10))
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("\"msg\":\"reloaded\""))
        dir.write("pipeline.json", "{ broken")
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reload refused"))
        // Traffic for the series of the pipeline serving now (the refused reload kept it).
        let secret = gateway.url("web", "/private/secret.txt")
        #expect(fetch(secret, ["-u", "alice:right"]).hasPrefix("200"))
        #expect(fetch(secret, ["-u", "alice:wrong"]).hasPrefix("401"))
        #expect(fetch(secret, ["-u", "alice:wrong"]).hasPrefix("429"), "the third password check from one address is over 2")
        #expect(fetch(secret).hasPrefix("401"))
        #expect(fetch(gateway.url("web", "/up/object.txt")).hasPrefix("200 from upstream"))
        #expect(fetch(gateway.url("web", "/up/absent.txt")).hasPrefix("404"))
        #expect(fetch(gateway.url("web", "/down/object.txt")).hasPrefix("502"))

        let scrape = Tool.curl([gateway.url("web", "/metrics")])
        let text = scrape.output
        for line in ["gateway_ready 1", "gateway_draining 0", "gateway_reloads_total{result=\"ok\"} 1",
                     "gateway_reloads_total{result=\"refused\"} 1", "gateway_proxy_protocol_refused_total{reason=\"untrusted\"} 1",
                     "gateway_proxy_protocol_refused_total{reason=\"invalid\"} 0", "# TYPE gateway_open_connections gauge",
                     "gateway_upstream_requests_total{upstream=\"/stacks/proxied/chain/0\",status=\"2xx\"} 1",
                     "gateway_upstream_requests_total{upstream=\"/stacks/proxied/chain/0\",status=\"4xx\"} 1",
                     "gateway_upstream_requests_total{upstream=\"/stacks/down/chain/0\",status=\"2xx\"} 0",
                     "gateway_upstream_errors_total{upstream=\"/stacks/proxied/chain/0\",reason=\"connect\"} 0",
                     "gateway_upstream_errors_total{upstream=\"/stacks/down/chain/0\",reason=\"connect\"} 1",
                     "gateway_upstream_response_seconds_count{upstream=\"/stacks/proxied/chain/0\"} 2",
                     "gateway_upstream_response_seconds_bucket{upstream=\"/stacks/proxied/chain/0\",le=\"+Inf\"} 2",
                     "gateway_upstream_response_seconds_count{upstream=\"/stacks/down/chain/0\"} 0",
                     "gateway_auth_failures_total{stack=\"private\",reason=\"bad_credentials\"} 1",
                     "gateway_auth_failures_total{stack=\"private\",reason=\"throttled\"} 1",
                     "gateway_auth_failures_total{stack=\"private\",reason=\"missing\"} 1",
                     "gateway_auth_failures_total{stack=\"private\",reason=\"forbidden\"} 0",
                     "# TYPE gateway_cache_bytes_served_total counter", "# TYPE gateway_cache_bytes_filled_total counter"] {
            #expect(text.contains("\n" + line + "\n"), "no \(line) in\n\(text)")
        }
        // No URL of an upstream (which may carry credentials) in any label.
        #expect(!text.contains("127.0.0.1"), "\(text)")
        let lint = Tool.run("promtool", ["check", "metrics"], input: Data(text.utf8))
        #expect(lint.status == 0, "\(lint.output)\(lint.stderr)")
        #expect(lint.output.isEmpty && lint.stderr.isEmpty, "\(lint.output)\(lint.stderr)")
        // What promtool 2.42 does not catch (reference/operations.md §6): each series once, each
        // family's samples together, every histogram with its +Inf bucket.
        let samples = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        let series = samples.map { $0.split(separator: " ").dropLast().joined(separator: " ") }
        #expect(Set(series).count == series.count, "a series appears twice")
        var seen: [String] = []
        for sample in samples {
            let name = String(sample.prefix { $0 != "{" && $0 != " " })
            let family = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0 }
            if seen.last != family {
                #expect(!seen.contains(family), "\(family) is split by another family")
                seen.append(family)
            }
        }
        let buckets = samples.filter { $0.contains("_bucket{") }.map { $0.replacing(/,?le="[^"]*"/, with: "").split(separator: " ")[0] }
        for histogram in Set(buckets) {
            let key = histogram.replacing("_bucket", with: "_count")
            #expect(samples.contains { $0.hasPrefix(key + " ") }, "no count for \(histogram)")
        }
        let histograms = ["gateway_request_duration_seconds_count", "gateway_upstream_response_seconds_count"]
        #expect(samples.count { $0.contains("le=\"+Inf\"") } == samples.count { sample in histograms.contains { sample.hasPrefix($0) } })
    }
}

/// One fetch per object across replicas, by hashing paths at the balancer.
@Suite("one upstream fetch per object across replicas (haproxy balance uri)")
struct ConsistentHashingTests {
    @Test("30 clients on one uncached 6 MiB object through haproxy balance uri over 3 caching replicas: 1 upstream fetch")
    func herd() throws {
        let nginx = try NginxProcess(servers: """
            server { listen 127.0.0.1:{port0}; root {root}; add_header Cache-Control "max-age=300"; limit_rate 3m; }
            """)
        let object = testBytes(6 << 20, seed: 14)
        nginx.publish("big.bin", object)
        let replicas = try (0..<3).map { _ in try GatewayProcess(config: CacheTests.config(upstream: nginx.url(""))) }
        let servers = replicas.enumerated().map { "    server r\($0.offset) 127.0.0.1:\($0.element.port("web"))" }.joined(separator: "\n")
        let haproxy = try HAProxyProcess(config: """
            defaults
                mode http
                timeout connect 1s
                timeout client 60s
                timeout server 60s
            frontend fe
                bind 127.0.0.1:{port0}
                default_backend be
            backend be
                balance uri
                hash-type consistent
            \(servers)
            """)
        let directory = TemporaryDirectory()
        var arguments = ["-Z", "--parallel-immediate", "--parallel-max", "30", "-w", "%{http_code}\\n"]
        for i in 0..<30 { arguments += ["-o", directory.file("out\(i)"), haproxy.url("/big.bin")] }
        let result = Tool.curl(arguments, timeout: 300)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.output.split(separator: "\n").count == 30)
        #expect(result.output.split(separator: "\n").allSatisfy { $0 == "200" })
        for i in 0..<30 { #expect(FileManager.default.contents(atPath: directory.file("out\(i)")) == object, "body \(i)") }
        #expect(nginx.requests(to: "/big.bin").count == 1, "nginx access log: \(nginx.accessLog)")
        // Every request went to the one replica the path hashes to.
        #expect(waitUntil { replicas.map(\.accessLog.count).reduce(0, +) == 30 })
        let served = replicas.map { replica in replica.accessLog.count { $0["path"] as? String == "/big.bin" } }
        #expect(served.sorted() == [0, 0, 30], "\(served)")
    }
}

/// A client may hit any replica: answers are derived from content and configured keys only.
@Suite("the same answer from every replica (real binary, two replicas)")
struct ReplicaConsistencyTests {
    static let token = "tfc-test-token-0123456789abcdef0123456789"

    static func replica(tokenHash: String) throws -> GatewayProcess {
        try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "signedURLs": {"keys": [{"id": "k1", "secret": "0123456789abcdef0123456789abcdef-test"}], "ttl": "5m"},
             "sources": {"examples": {"type": "directory", "path": "\(Paths.root)/examples/registry"}},
             "stacks": {
               "site": {"match": {"pathPrefix": ["/examples/"]}, "chain": [{"type": "files", "root": "\(Paths.root)"}]},
               "terraform": {"chain": [
                 {"type": "auth.bearer", "tokens": {"ci": "\(tokenHash)"}},
                 {"type": "terraform.registry", "modules": "examples", "providers": "examples",
                  "signingKeys": ["\(Paths.root)/examples/registry/keys/acme-signing.asc"],
                  "mirrorHostnames": ["registry.acme.test"]},
                 {"type": "upstream"}]}}}
            """)
    }

    /// Status, ETag and body of a GET, with the Host a balancer in front would pass on.
    static func get(_ url: String) -> (status: String, etag: String?, body: String) {
        let dir = TemporaryDirectory()
        let result = Tool.curl(["-H", "Host: registry.example", "-H", "Authorization: Bearer \(token)", "-D", dir.file("head"),
                                "-o", dir.file("body"), "-w", "%{http_code}", url])
        let head = (try? String(contentsOfFile: dir.file("head"), encoding: .utf8)) ?? ""
        let etag = head.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("etag:") }.map { String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces) }
        return (result.output, etag, (try? String(contentsOfFile: dir.file("body"), encoding: .utf8)) ?? "")
    }

    @Test("two replicas answer byte-identical bodies and ETags (versions documents, mirror JSON, a file); a URL signed by one verifies on the other")
    func sameAnswers() throws {
        let hash = Tool.run(Paths.gateway, ["hash-password", "--token"], input: Data((Self.token + "\n").utf8)).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let a = try Self.replica(tokenHash: hash)
        let b = try Self.replica(tokenHash: hash)
        let index = Self.get(a.url("web", "/v1/mirror/registry.acme.test/acme/hello/index.json"))
        #expect(index.status == "200", "\(index.body)")
        let versions = try #require((try JSONSerialization.jsonObject(with: Data(index.body.utf8)) as? [String: Any])?["versions"] as? [String: Any])
        let version = try #require(versions.keys.sorted().last)
        let paths = ["/v1/modules/acme/vpc/aws/versions", "/v1/providers/acme/hello/versions",
                     "/v1/mirror/registry.acme.test/acme/hello/index.json", "/v1/mirror/registry.acme.test/acme/hello/\(version).json",
                     "/examples/site/hello.json"]
        for path in paths {
            let fromA = Self.get(a.url("web", path))
            let fromB = Self.get(b.url("web", path))
            #expect(fromA.status == "200", "\(path): \(fromA.body)")
            #expect(fromA.body == fromB.body, "\(path) differs between replicas")
            #expect(fromA.etag == fromB.etag, "\(path): ETag \(fromA.etag ?? "none") vs \(fromB.etag ?? "none")")
        }
        // A download URL minted by one replica verifies on the other (shared signedURLs keys).
        let download = Tool.curl(["-H", "Host: registry.example", "-H", "Authorization: Bearer \(Self.token)", "-D", "-", "-o", "/dev/null",
                                  a.url("web", "/v1/modules/acme/vpc/aws/1.2.0/download")])
        let location = download.output.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-terraform-get:") }
            .map { String($0.dropFirst("x-terraform-get:".count)).trimmingCharacters(in: .whitespaces) }
        let signed = try #require(location)
        #expect(signed.contains("gw-signature="))
        #expect(signed.hasPrefix("http://registry.example/"), "\(signed)")
        #expect(Tool.curl(["--connect-to", "registry.example:80:127.0.0.1:\(b.port("web"))", "-o", "/dev/null", "-w", "%{http_code}", signed]).output == "200")
        #expect(Tool.curl(["--connect-to", "registry.example:80:127.0.0.1:\(b.port("web"))", "-o", "/dev/null", "-w", "%{http_code}",
                           signed.replacingOccurrences(of: "gw-signature=", with: "gw-signature=x")]).output == "401")
    }
}
