import Foundation
import Testing

/// A real haproxy in the foreground (`-db`) with a test's config, logging to its stdout, with an
/// admin socket to read server states (`show stat`). `{port0}`, `{port1}`, ... in the config are
/// replaced by free loopback ports (the frontends), `{dir}` by its directory.
final class HAProxyProcess: @unchecked Sendable {
    let directory: TemporaryDirectory
    let process: Subprocess
    let ports: [Int]

    init(config: String, portCount: Int = 1, directory: TemporaryDirectory = TemporaryDirectory("haproxy"),
         sourceLocation: SourceLocation = #_sourceLocation) throws {
        self.directory = directory
        ports = (0..<portCount).map { _ in freePort() }
        guard let haproxy = Tool.require("haproxy", sourceLocation: sourceLocation) else { throw ToolMissing(name: "haproxy") }
        var text = config.replacing("{dir}", with: directory.path)
        for (i, port) in ports.enumerated() { text = text.replacing("{port\(i)}", with: String(port)) }
        let path = directory.write("haproxy.cfg", """
            global
                log stdout format raw local0 info
                stats socket \(directory.path)/admin.sock mode 600 level admin
            \(text)

            """)
        let check = Tool.run(haproxy, ["-c", "-f", path])
        guard check.status == 0 else { throw HAProxyFailed(log: check.output + check.stderr) }
        process = try Subprocess(haproxy, ["-f", path, "-db"], directory: directory.path, stderr: .stdout)
        for port in ports where !waitForPort(port) {
            stop()
            throw HAProxyFailed(log: log)
        }
    }

    deinit { stop() }

    func url(_ path: String, frontend: Int = 0) -> String { "http://127.0.0.1:\(ports[frontend])\(path)" }

    /// What haproxy logged (requests, health checks, server state changes).
    var log: String { String(decoding: process.output.out, as: UTF8.self) }

    /// `backend/server` to its status (`UP`, `DOWN`, `UP 1/2`, ...), from `show stat` on the admin socket.
    func serverStates() -> [String: String] {
        guard let reply = adminCommand("show stat") else { return [:] }
        var states: [String: String] = [:]
        for line in reply.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count > 17, fields[1] != "FRONTEND", fields[1] != "BACKEND" else { continue }
            states["\(fields[0])/\(fields[1])"] = String(fields[17])
        }
        return states
    }

    /// Waits until `server` (`backend/server`) reports `status`.
    func waitForState(_ server: String, _ status: String, timeout: TimeInterval = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if serverStates()[server] == status { return true }
            usleep(50_000)
        }
        return false
    }

    private func adminCommand(_ command: String) -> String? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(directory.file("admin.sock").utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return nil }
        let line = Array((command + "\n").utf8)
        guard write(fd, line, line.count) == line.count else { return nil }
        var reply = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            reply += chunk[..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        if !process.waitUntilExit(timeout: 10) {
            process.signal(SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct HAProxyFailed: Error, CustomStringConvertible {
    let log: String
    var description: String { "haproxy did not start:\n\(log)" }
}
