import Foundation
import Testing

/// Runs real command-line tools (curl, openssl, terraform, ...). A missing tool is a test
/// failure, never a skip: the README's test command installs everything the suites need.
enum Tool {
    struct Result: Sendable {
        let status: Int32
        let stdout: Data
        let stderr: String
        var output: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// The absolute path of `name` on PATH, or a recorded failure.
    static func require(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        for extra in [Paths.root + "/.venv/bin/\(name)", "/usr/sbin/\(name)"] where FileManager.default.isExecutableFile(atPath: extra) {
            return extra
        }
        Issue.record("\(name) is not installed; run `make test` (it installs the test tools)", sourceLocation: sourceLocation)
        return nil
    }

    /// Runs `name` with `arguments` and waits for it (up to `timeout`).
    static func run(_ name: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
                    input: Data? = nil, timeout: TimeInterval = 120, sourceLocation: SourceLocation = #_sourceLocation) -> Result {
        guard let executable = name.hasPrefix("/") ? name : require(name, sourceLocation: sourceLocation) else {
            return Result(status: -1, stdout: Data(), stderr: "\(name) missing")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        let collected = Collected()
        out.fileHandleForReading.readabilityHandler = { handle in collected.appendOut(handle.availableData) }
        err.fileHandleForReading.readabilityHandler = { handle in collected.appendErr(handle.availableData) }
        do {
            try process.run()
        } catch {
            Issue.record("cannot run \(name): \(error)", sourceLocation: sourceLocation)
            return Result(status: -1, stdout: Data(), stderr: "\(error)")
        }
        if let input { inPipe.fileHandleForWriting.write(input) }
        try? inPipe.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            Issue.record("\(name) \(arguments.joined(separator: " ")) did not finish in \(Int(timeout)) s", sourceLocation: sourceLocation)
        }
        process.waitUntilExit()
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        collected.appendOut(out.fileHandleForReading.readDataToEndOfFile())
        collected.appendErr(err.fileHandleForReading.readDataToEndOfFile())
        return Result(status: process.terminationStatus, stdout: collected.out, stderr: String(decoding: collected.err, as: UTF8.self))
    }

    /// curl with `--silent --show-error`; `-w '%{http_code}'` style options are the caller's.
    static func curl(_ arguments: [String], timeout: TimeInterval = 60, sourceLocation: SourceLocation = #_sourceLocation) -> Result {
        run("curl", ["--silent", "--show-error"] + arguments, timeout: timeout, sourceLocation: sourceLocation)
    }
}

final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var outData = Data()
    private var errData = Data()

    func appendOut(_ data: Data) { lock.withLock { outData.append(data) } }
    func appendErr(_ data: Data) { lock.withLock { errData.append(data) } }
    var out: Data { lock.withLock { outData } }
    var err: Data { lock.withLock { errData } }
}
