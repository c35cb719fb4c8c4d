import Synchronization

/// The rest of a chain after one middleware, for fetches a behaviour makes outside the request it
/// is answering: hashing a provider zip in the background, reading a small metadata object from a
/// task group. What it fetches goes through the same middlewares as the behaviour's `next` (the
/// stack's `cache`, then `upstream`), so an object is fetched once and stored once whoever asks.
///
/// A factory asks for one with `BuildContext.downstream()`; the chain binds it when it is folded.
/// ```swift
/// let downstream = context.downstream()      // in a MiddlewareType's build closure
/// ...
/// let response = try await downstream.fetch(assetRequest)   // later, from any task
/// ```
public final class Downstream: Sendable {
    /// The rest of the chain, and the name of the stack whose chain it is (background contexts carry it).
    private let bound = Mutex<(next: Next, stack: String)?>(nil)

    /// An unbound downstream; the chain it is built into binds it.
    public init() {}

    /// A downstream bound to `next` now (tests, or values built outside a chain).
    public init(stack: String = "", next: @escaping Next) {
        bound.withLock { $0 = (next, stack) }
    }

    /// Binds the rest of the chain of `stack`; false when an earlier chain already did (a named
    /// middleware used in two chains fetches through the first).
    @discardableResult
    func bind(_ rest: @escaping Next, stack: String) -> Bool {
        bound.withLock { bound in
            guard bound == nil else { return false }
            bound = (rest, stack)
            return true
        }
    }

    var isBound: Bool { bound.withLock { $0 != nil } }

    /// The stack whose chain this downstream continues (nil until bound): a middleware shared by
    /// several stacks can tell whether a request's own chain is the one it fetches through.
    public var stack: String? { bound.withLock { $0?.stack } }

    /// Sends `request` down the chain. Without a `context` (work no request is waiting for), a
    /// background context of this stack is made, with `timeout` as its deadline.
    public func fetch(_ request: Request, context: Context? = nil, timeout: Duration = .seconds(300)) async throws -> Response {
        guard let (next, stack) = bound.withLock({ $0 }) else { throw HTTPError(.internalServerError, "no chain to fetch through") }
        let context = context ?? Context(requestID: "background-" + SecureRandom.hex(6), stack: stack, timeout: timeout)
        return try await next(request, context)
    }
}

/// Marks where a `Downstream` starts in a chain being built; `Chain` binds it to the closure of
/// the middlewares after it and leaves the tap out.
struct DownstreamTap: Middleware {
    let downstream: Downstream
    let stack: String

    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        try await next(request, context)
    }
}
