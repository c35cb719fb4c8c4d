import Synchronization
@testable import Pipeline

/// A `Server` on 127.0.0.1 port 0 in this process, with one loop and one stack running `handler`.
/// For codec tests whose handler must do something a shipped middleware does not.
final class InProcessServer: Sendable {
    let server: Server
    let port: Int

    init(http2: HTTP2Settings = HTTP2Settings(), timeouts: Timeouts = Timeouts(), limits: HTTPLimits = HTTPLimits(),
         _ handler: @escaping @Sendable (Request, Context) async throws -> Response) throws {
        let listener = ListenerConfig(name: "test", addresses: [SocketAddress(ip: "127.0.0.1", port: 0)!], protocols: ["h2", "http/1.1"],
                                      limits: limits, timeouts: timeouts, http2: http2)
        let stack = CompiledStack(name: "test", matches: [], chain: Chain([ClosureMiddleware(handler)]))
        server = try Server(pipeline: LoadedPipeline(listeners: [listener], stacks: [stack], workers: 1))
        try server.start()
        port = Int(server.boundPorts["test"]![0])
    }

    func stop() async { await server.drain(timeout: .seconds(5)) }
}

struct ClosureMiddleware: Middleware {
    let body: @Sendable (Request, Context) async throws -> Response
    init(_ body: @escaping @Sendable (Request, Context) async throws -> Response) { self.body = body }
    func handle(_ request: Request, context: Context, next: Next) async throws -> Response { try await body(request, context) }
}

/// Something a handler waits for until the test opens it.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A value several tasks update and a test reads.
final class Box<Value: Sendable>: Sendable {
    private let state: Mutex<Value>
    init(_ value: Value) { state = Mutex(value) }
    var value: Value { state.withLock { $0 } }
    func update(_ change: (inout Value) -> Void) { state.withLock { change(&$0) } }
}
