import Foundation
import Testing
@testable import Middlewares
@testable import Pipeline

/// A fresh directory under /tmp, removed when the value goes away.
final class SiteDirectory: @unchecked Sendable {
    let path: String

    init() {
        var template = Array("/tmp/gateway-unit-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ relative: String, _ contents: String) -> String {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! Data(contents.utf8).write(to: URL(fileURLWithPath: full))
        return full
    }

    func mkdir(_ relative: String) {
        try! FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
    }

    func symlink(_ relative: String, to target: String) {
        try! FileManager.default.createSymbolicLink(atPath: path + "/" + relative, withDestinationPath: target)
    }
}

/// A response and its body as text, from running a middleware without sockets.
struct Served {
    let response: Response
    let body: String
    var status: Int { response.status.code }
    func header(_ name: String) -> String? { response.headers[name] }
}

/// Runs `middleware` as a one-element chain (so thrown HTTPErrors become responses, as on the wire).
func serve(_ middleware: any Middleware, _ target: String, method: HTTPMethod = .get, headers: HTTPFields = [:],
           context: Context = Context(requestID: "test")) async throws -> Served {
    var fields = headers
    if fields["Host"] == nil { fields["Host"] = "localhost" }
    let request = Request(method: method, target: target, headers: fields)
    let response = await Chain([middleware]).handle(request, context: context)
    let bytes = try await response.body.collect(upTo: 1 << 20)
    return Served(response: response, body: String(decoding: bytes, as: UTF8.self))
}

/// Loads a pipeline with the built-in types (plus `extra`), in `directory`.
func loadPipeline(_ json: String, directory: String = "/tmp", extra: [MiddlewareType] = []) -> (LoadedPipeline?, Diagnostics) {
    let registry = TypeRegistry(middlewares: Builtins.middlewareTypes + extra, sources: Builtins.sourceTypes)
    return PipelineLoader.load(Array(json.utf8), environment: ConfigEnvironment(variables: [:], baseDirectory: directory), registry: registry)
}
