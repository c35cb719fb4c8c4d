import Dispatch
import Foundation

/// Runs the real `git` against fixture repositories. Each call is one process on a Dispatch
/// worker, so event loops never block on it.
enum Git {
    struct Failure: Error, CustomStringConvertible {
        let arguments: [String]
        let status: Int32
        let stderr: String
        var description: String { "git \(arguments.joined(separator: " ")) exited \(status): \(stderr.prefix(400))" }
    }

    static let executable: String = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/git"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return "/usr/bin/git"
    }()

    /// Runs `git -C directory arguments…` and returns its standard output.
    static func run(_ arguments: [String], in directory: String) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(arguments, in: directory, output: nil) })
            }
        }
    }

    /// Runs git with its standard output written to the file at `output`.
    static func run(_ arguments: [String], in directory: String, output: String) async throws {
        _ = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(arguments, in: directory, output: output) })
            }
        }
    }

    /// Text output with the trailing newline removed; nil when git fails.
    static func text(_ arguments: [String], in directory: String) async -> String? {
        guard let bytes = try? await run(arguments, in: directory) else { return nil }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    private static func runBlocking(_ arguments: [String], in directory: String, output: String?) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        // safe.directory: fixtures may be owned by another user than the stand-in's.
        process.arguments = ["-c", "safe.directory=*", "-C", directory] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        environment["GIT_TERMINAL_PROMPT"] = "0"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        var outputHandle: FileHandle?
        let pipe = Pipe()
        if let output {
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            outputHandle = FileHandle(forWritingAtPath: output)
            process.standardOutput = outputHandle
        } else {
            process.standardOutput = pipe
        }
        try process.run()
        // Read stderr on another thread so neither pipe can fill up and stall git.
        let collected = ErrorCollector()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            collected.data = errors.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        var data = Data()
        if output == nil { data = pipe.fileHandleForReading.readDataToEndOfFile() }
        process.waitUntilExit()
        group.wait()
        try? outputHandle?.close()
        guard process.terminationStatus == 0 else {
            throw Failure(arguments: arguments, status: process.terminationStatus, stderr: String(decoding: collected.data, as: UTF8.self))
        }
        return [UInt8](data)
    }

    private final class ErrorCollector: @unchecked Sendable {
        // Written by one thread before the group is left, read after it waited.
        var data = Data()
    }
}
