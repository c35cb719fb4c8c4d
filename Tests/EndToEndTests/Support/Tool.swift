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
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let child: Subprocess
        do {
            child = try Subprocess(executable, arguments, environment: env, directory: directory, input: input != nil)
        } catch {
            Issue.record("cannot run \(name): \(error)", sourceLocation: sourceLocation)
            return Result(status: -1, stdout: Data(), stderr: "\(error)")
        }
        if let input { child.write(input) }
        child.closeInput()
        if !child.waitUntilExit(timeout: timeout) {
            child.signal(SIGKILL)
            child.waitUntilExit()
            Issue.record("\(name) \(arguments.joined(separator: " ")) did not finish in \(Int(timeout)) s", sourceLocation: sourceLocation)
        }
        return Result(status: child.terminationStatus, stdout: child.output.out, stderr: String(decoding: child.output.err, as: UTF8.self))
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
