/// A list of middleware folded once into nested closures, so a request walks no array.
public struct Chain: Sendable {
    public let middlewares: [any Middleware]
    /// Calls the first middleware; each `next` is the following one.
    public let respond: Next

    /// Builds the chain; `end` answers when the last middleware calls `next`
    /// (validation makes that impossible for a chain that ends in a terminal).
    public init(_ middlewares: [any Middleware], end: Next? = nil) {
        var next: Next = end ?? { _, _ in throw HTTPError(.notFound, "not found") }
        for middleware in middlewares.reversed() {
            let rest = next
            // A tap is where a `Downstream` starts: it gets the rest and takes no place in the chain.
            if let tap = middleware as? DownstreamTap {
                tap.downstream.bind(rest, stack: tap.stack)
                continue
            }
            next = { request, context in try await middleware.handle(request, context: context, next: rest) }
        }
        self.middlewares = middlewares.filter { !($0 is DownstreamTap) }
        respond = next
    }

    /// Runs the request through the chain and turns thrown errors into responses: an `HTTPError`
    /// becomes its status and short message; `BlockingPool.Busy` a 503; a `ClientError` from a
    /// fetch a behaviour made becomes 502 or 504; anything else becomes a 500 whose detail stays
    /// in the log.
    public func handle(_ request: Request, context: Context) async -> Response {
        do {
            return try await respond(request, context)
        } catch let error as HTTPError {
            return error.response
        } catch is BlockingPool.Busy {
            // Slow work (hashing, file scans) is queued beyond its cap: shed load rather than queue more.
            return HTTPError(.serviceUnavailable, "busy, try again", headers: ["Retry-After": "1"]).response
        } catch is CancellationError {
            return HTTPError(.serviceUnavailable, "request cancelled").response
        } catch let error as ClientError {
            // A fetch a behaviour made failed: the upstream's fault (502/504), not ours (500).
            context.annotate("upstream_error", error.description)
            return (error.isTimeout ? HTTPError(.gatewayTimeout, "upstream timed out") : HTTPError(.badGateway, "upstream unavailable")).response
        } catch {
            context.annotate("error", "\(error)")
            return HTTPError(.internalServerError, "internal error (request \(context.requestID))").response
        }
    }
}
