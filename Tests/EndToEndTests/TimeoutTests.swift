import Foundation
import Testing

/// Head, keep-alive and first-request timeouts of the real binary, and a slowloris attack.
/// Timeouts are short here; the assertions only bound them loosely (the machine is shared).
@Suite("timeouts and slowloris (real binary)")
struct TimeoutTests {
    static let timeouts = #", "timeouts": {"requestHead": "1s", "keepAlive": "2s"}"#

    @Test("slowloris connections are closed by the head timeout while other clients are served")
    func slowloris() throws {
        let (dir, config) = filesSite(listenerExtra: #", "timeouts": {"requestHead": "5s"}"#)
        let gateway = try GatewayProcess(config: config, directory: dir)
        let port = gateway.port("web")
        let attackers = try (0..<20).map { _ in try RawConnection(port: port) }
        for attacker in attackers { attacker.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n") }
        let started = Date()
        var served = 0
        var servedWhileAttacked = 0
        var closed = Set<Int>()
        var replies: [Int: String] = [:]
        // Trickle one header byte per attacker every 200 ms for up to 20 s; serve real clients meanwhile.
        while Date().timeIntervalSince(started) < 20, closed.count < attackers.count {
            for (i, attacker) in attackers.enumerated() where !closed.contains(i) {
                attacker.send("X")
                let reply = attacker.readAll(timeout: 0.01)
                if !reply.isEmpty { replies[i, default: ""] += String(decoding: reply, as: UTF8.self) }
                if attacker.isClosedByPeer(within: 0.01) { closed.insert(i) }
            }
            let attacked = closed.count < attackers.count
            if Tool.curl(["-s", "--max-time", "5", gateway.url("web", "/hello.txt")]).output == "hello\n" {
                served += 1
                if attacked { servedWhileAttacked += 1 }
            }
            usleep(200_000)
        }
        #expect(closed.count == attackers.count, "\(attackers.count - closed.count) slow connections still open after 20 s")
        #expect(servedWhileAttacked >= 1)
        #expect(Tool.curl(["-s", gateway.url("web", "/hello.txt")]).output == "hello\n")
        // Each got a 408 before the close (some may have been closed mid-read; most must show it).
        #expect(replies.values.filter { $0.hasPrefix("HTTP/1.1 408 Request Timeout") }.count >= attackers.count / 2)
    }

    @Test("a connection that sends nothing is closed by the head timeout, not the keep-alive one")
    func silentConnection() throws {
        let (dir, config) = filesSite(listenerExtra: #", "timeouts": {"requestHead": "1s", "keepAlive": "60s"}"#)
        let gateway = try GatewayProcess(config: config, directory: dir)
        let silent = try RawConnection(port: gateway.port("web"))
        #expect(silent.isClosedByPeer(within: 15))
    }

    @Test("an idle keep-alive connection is closed after the keep-alive timeout, not before a second request")
    func keepAliveIdle() throws {
        let (dir, config) = filesSite(listenerExtra: Self.timeouts)
        let gateway = try GatewayProcess(config: config, directory: dir)
        let raw = try RawConnection(port: gateway.port("web"))
        raw.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(raw.read(untilContains: "hello\n").hasPrefix("HTTP/1.1 200 OK"))
        raw.send("GET /data.json HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(raw.read(untilContains: "true}").contains("{\"ok\":true}"))
        let idleSince = Date()
        #expect(raw.isClosedByPeer(within: 20))
        #expect(Date().timeIntervalSince(idleSince) >= 1.5)
    }

    @Test("out of file descriptors, the listener pauses instead of spinning, logs once, and accepts again when some are free")
    func outOfDescriptors() throws {
        let (dir, config) = filesSite()
        // A descriptor limit the gateway starts under but that 80 connections exhaust.
        let gateway = try GatewayProcess(config: config, directory: dir, launcher: ["prlimit", "--nofile=48"])
        var connections: [RawConnection] = []
        for _ in 0..<80 { if let raw = try? RawConnection(port: gateway.port("web")) { connections.append(raw) } }
        #expect(connections.count == 80, "the kernel's backlog takes what the gateway cannot accept")
        #expect(gateway.waitForLog("out of file descriptors"))
        // A level-triggered listener left registered wakes its loop at once, over and over: one
        // error line per wake-up. Paused, it tries again every 250 ms and says so once per 10 s.
        Thread.sleep(forTimeInterval: 2)
        let lines = gateway.stderr.components(separatedBy: "out of file descriptors").count - 1
        #expect(lines >= 1 && lines <= 2, "\(lines) log lines in 2 s")
        connections.removeAll()
        let answer = Tool.curl(["--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}", gateway.url("web", "/hello.txt")])
        #expect(answer.output == "200", "accepting again once descriptors are free")
    }
}
