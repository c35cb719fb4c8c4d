import Foundation
import Testing

/// One long-lived TLS connection made by `openssl s_client`: write raw HTTP/1.1 requests to it
/// and wait for what comes back. For tests that must keep a connection open across a reload.
final class OpenSSLSession: @unchecked Sendable {
    private let process: Subprocess

    init(port: Int, serverName: String, caFile: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard let openssl = Tool.require("openssl", sourceLocation: sourceLocation) else { throw ToolMissing(name: "openssl") }
        process = try Subprocess(openssl, ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", serverName, "-CAfile", caFile,
                                           "-verify_return_error", "-alpn", "http/1.1", "-quiet"],
                                 input: true, stdout: .capture, stderr: .stdout)
    }

    deinit { close() }

    /// Everything received so far (and what s_client said about the handshake).
    var received: String { String(decoding: process.output.out, as: UTF8.self) }

    func send(_ text: String) { process.write(Data(text.utf8)) }

    /// Waits until `text` has been received `count` times.
    @discardableResult
    func waitFor(_ text: String, count: Int = 1, timeout: TimeInterval = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if received.components(separatedBy: text).count - 1 >= count { return true }
            usleep(20_000)
        }
        return false
    }

    var isRunning: Bool { process.isRunning }

    func close() {
        process.closeInput()
        process.terminate()
    }
}

