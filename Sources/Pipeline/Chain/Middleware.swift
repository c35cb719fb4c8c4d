/// The rest of the chain after a middleware.
public typealias Next = @Sendable (Request, Context) async throws -> Response

/// The one protocol every element of a chain implements: TLS policy, auth, cache, the product
/// behaviours and the terminal `upstream` alike. A middleware answers itself, changes the request
/// and calls `next`, or wraps what `next` returns.
///
/// ```swift
/// struct AddHeader: Middleware {
///     func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
///         var response = try await next(request, context)
///         response.headers["X-Served-By"] = "gateway"
///         return response
///     }
/// }
/// ```
public protocol Middleware: Sendable {
    func handle(_ request: Request, context: Context, next: Next) async throws -> Response
}

/// A middleware that holds resources beyond memory (background tasks, open files) and must be told
/// when the pipeline that owns it is replaced or the process stops.
public protocol Stoppable: Sendable {
    func stop() async
}
