import Foundation
import Testing

/// The real gateway binary running a test's pipeline.json on loopback. Listeners should use port
/// 0; the ports the kernel chose are read from the `listening` log lines.
final class GatewayProcess: @unchecked Sendable {
    let directory: TemporaryDirectory
    let configPath: String
    let process: Subprocess
    private(set) var ports: [String: Int] = [:]

    /// Writes `config` as pipeline.json into a fresh directory (or `directory`) and starts the gateway,
    /// through `launcher` when given (e.g. `["prlimit", "--nofile=64"]`, which execs the gateway in place),
    /// with `arguments` after `serve --config FILE`.
    init(config: String, directory: TemporaryDirectory = TemporaryDirectory(), environment: [String: String] = [:],
         launcher: [String] = [], arguments: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws {
        self.directory = directory
        configPath = directory.write("pipeline.json", config)
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        var command = [Paths.gateway, "serve", "--config", configPath] + arguments
        if let tool = launcher.first {
            guard let path = Tool.require(tool, sourceLocation: sourceLocation) else { throw ToolMissing(name: tool) }
            command = [path] + launcher.dropFirst() + command
        }
        process = try Subprocess(command[0], Array(command.dropFirst()), environment: env, directory: directory.path)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if !process.isRunning { break }
            if stderr.contains("\"msg\":\"started\"") { break }
            usleep(20_000)
        }
        guard process.isRunning, stderr.contains("\"msg\":\"started\"") else {
            if process.isRunning { process.terminate() }
            throw GatewayFailedToStart(log: stderr)
        }
        refreshPorts()
    }

    /// Reads the ports of `listening` lines logged since (a reload adds listeners).
    func refreshPorts() {
        for line in stderr.split(separator: "\n") where line.contains("\"msg\":\"listening\"") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let name = object["listener"] as? String, let address = object["address"] as? String,
                  let port = address.split(separator: ":").last.flatMap({ Int($0) }) else { continue }
            if ports[name] == nil { ports[name] = port }
        }
    }

    deinit { stop() }

    /// Everything the gateway wrote to stderr so far (its own JSON log).
    var stderr: String { String(decoding: process.output.err, as: UTF8.self) }
    /// Everything the gateway wrote to stdout so far (the access log with `{"type":"log"}`).
    var stdout: String { String(decoding: process.output.out, as: UTF8.self) }

    /// Access-log entries parsed from stdout.
    var accessLog: [[String: Any]] {
        stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func port(_ listener: String) -> Int { ports[listener] ?? 0 }

    func url(_ listener: String, _ path: String = "/", scheme: String = "http", host: String = "127.0.0.1") -> String {
        "\(scheme)://\(host):\(port(listener))\(path)"
    }

    func signal(_ number: Int32) { process.signal(number) }

    /// Waits until stderr contains `text` (e.g. a reload message).
    @discardableResult
    func waitForLog(_ text: String, timeout: TimeInterval = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stderr.contains(text) { return true }
            usleep(20_000)
        }
        return false
    }

    /// Waits for the process to exit; its status, or nil on timeout.
    func waitForExit(timeout: TimeInterval = 30) -> Int32? {
        process.waitUntilExit(timeout: timeout) ? process.terminationStatus : nil
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        if waitForExit(timeout: 10) == nil {
            process.signal(SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct GatewayFailedToStart: Error, CustomStringConvertible {
    let log: String
    var description: String { "gateway did not start:\n\(log)" }
}
