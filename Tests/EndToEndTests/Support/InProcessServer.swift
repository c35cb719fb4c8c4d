import Foundation
import Testing
@testable import Pipeline

/// The real engine (event loops, HTTP/1.1 codec, optional TLS) started inside the test process on
/// 127.0.0.1 port 0, with test middlewares that read request bodies and stream responses, which
/// the built-in types do not do yet.
final class InProcessServer: @unchecked Sendable {
    let server: Server
    let port: Int

    init(stacks: [CompiledStack], limits: HTTPLimits = HTTPLimits(), timeouts: Timeouts = Timeouts(), workers: Int = 2) throws {
        let listener = ListenerConfig(name: "web", addresses: [SocketAddress(ip: "127.0.0.1", port: 0)!], limits: limits, timeouts: timeouts)
        server = try Server(pipeline: LoadedPipeline(listeners: [listener], stacks: stacks, workers: workers))
        try server.start()
        port = Int(server.boundPorts["web"]?.first ?? 0)
    }

    /// A server whose one stack runs `middlewares`.
    convenience init(_ middlewares: [any Middleware], maxBodyBytes: Int = 64 << 20, limits: HTTPLimits = HTTPLimits(),
                     timeouts: Timeouts = Timeouts()) throws {
        try self.init(stacks: [CompiledStack(name: "test", matches: [], chain: Chain(middlewares), maxBodyBytes: maxBodyBytes)],
                      limits: limits, timeouts: timeouts)
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Stops accepting and closes what is idle (the loops' threads stay, idle, until the process ends).
    func stop() async { await server.drain(timeout: .seconds(2)) }
}

/// Reads the whole request body as it streams and answers `bytes=N sum=S` (S: sum of all bytes mod 2^32).
struct UploadSummary: Middleware {
    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        var count = 0
        var sum: UInt32 = 0
        for try await chunk in request.body {
            count += chunk.count
            for byte in chunk { sum &+= UInt32(byte) }
        }
        return .text("bytes=\(count) sum=\(sum)")
    }
}

/// Answers `/stream?n=N&piece=P` with N bytes of `x` written P at a time, length unknown (chunked on
/// HTTP/1.1, close-delimited on HTTP/1.0); everything else falls through.
struct StreamBody: Middleware {
    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard request.path == "/stream" else { return try await next(request, context) }
        let total = Int(request.query("n") ?? "") ?? 1000
        let piece = max(1, Int(request.query("piece") ?? "") ?? 4096)
        return Response(status: .ok, headers: ["Content-Type": "application/octet-stream"], body: ResponseBody { writer in
            var left = total
            while left > 0 {
                let n = min(piece, left)
                try await writer.write([UInt8](repeating: UInt8(ascii: "x"), count: n))
                left -= n
            }
        })
    }
}

/// The sum-of-bytes checksum `UploadSummary` reports.
func byteSum(_ data: Data) -> UInt32 {
    data.reduce(UInt32(0)) { $0 &+ UInt32($1) }
}

/// `count` pseudo-random bytes (deterministic).
func sampleBytes(_ count: Int, seed: UInt64 = 42) -> Data {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        bytes[i] = UInt8(truncatingIfNeeded: state >> 33)
    }
    return Data(bytes)
}
