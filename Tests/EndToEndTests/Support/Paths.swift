import Foundation

/// Where the package and its built binaries are.
enum Paths {
    /// The package root, found from this file's location.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The gateway binary under test: $GATEWAY_BIN, or the debug build.
    static var gateway: String {
        ProcessInfo.processInfo.environment["GATEWAY_BIN"] ?? root + "/.build/debug/gateway"
    }

    /// A binary built from this package (e.g. the GitHub stand-in), beside the gateway.
    static func product(_ name: String) -> String {
        URL(fileURLWithPath: gateway).deletingLastPathComponent().appendingPathComponent(name).path
    }
}

/// A fresh directory under /tmp, removed when the value goes away.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init(_ label: String = "gateway-test") {
        var template = Array("/tmp/\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes a file (creating directories) and returns its path.
    @discardableResult
    func write(_ relative: String, _ contents: String) -> String {
        write(relative, Data(contents.utf8))
    }

    @discardableResult
    func write(_ relative: String, _ data: Data) -> String {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! data.write(to: URL(fileURLWithPath: full))
        return full
    }

    func file(_ relative: String) -> String { path + "/" + relative }
}
