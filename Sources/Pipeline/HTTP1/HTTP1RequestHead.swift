/// How the body of an HTTP/1.1 message is delimited (RFC 9112 §6).
public enum BodyFraming: Sendable, Equatable {
    case none
    case contentLength(Int)
    case chunked
}

/// A parsed request head: request line, fields and what they imply for the connection.
public struct HTTP1RequestHead: Sendable, Equatable {
    public var method: HTTPMethod
    /// The request target as sent.
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPFields
    public var framing: BodyFraming
    /// Whether the client lets the connection stay open after this exchange.
    public var keepAlive: Bool
    /// `Expect: 100-continue` was sent.
    public var expectsContinue: Bool
}

/// Why a request head was refused. Each maps to the status the client gets before the connection closes.
public enum HTTP1ParseError: Error, Equatable, CustomStringConvertible {
    case badRequest(String)
    case uriTooLong
    case headersTooLarge
    case tooManyHeaders
    case versionNotSupported
    case notImplemented(String)
    /// An `Expect` other than 100-continue (RFC 9110 §10.1.1).
    case expectationFailed

    public var status: HTTPStatus {
        switch self {
        case .badRequest: .badRequest
        case .uriTooLong: .uriTooLong
        case .headersTooLarge, .tooManyHeaders: .requestHeaderFieldsTooLarge
        case .versionNotSupported: .httpVersionNotSupported
        case .notImplemented: .notImplemented
        case .expectationFailed: .expectationFailed
        }
    }

    public var description: String {
        switch self {
        case .badRequest(let reason): "bad request: \(reason)"
        case .uriTooLong: "request target too long"
        case .headersTooLarge: "request header fields too large"
        case .tooManyHeaders: "too many request header fields"
        case .versionNotSupported: "HTTP version not supported"
        case .notImplemented(let what): "not implemented: \(what)"
        case .expectationFailed: "only Expect: 100-continue is supported"
        }
    }
}
