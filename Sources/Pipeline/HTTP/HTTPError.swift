/// An error that becomes a response: a status and a short reason a client can act on.
/// It never carries internal detail (hosts, credentials, stack traces).
///
/// ```swift
/// throw HTTPError(.notFound, "no such module")
/// ```
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPStatus
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPStatus, _ message: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message ?? status.reasonPhrase.lowercased()
        self.headers = headers
    }

    public var description: String { "\(status.code) \(message)" }

    /// The plain-text response clients see.
    public var response: Response {
        var response = Response(status: status, headers: headers, body: .init(string: message + "\n"))
        if response.headers["Content-Type"] == nil {
            response.headers["Content-Type"] = "text/plain; charset=utf-8"
        }
        return response
    }
}
