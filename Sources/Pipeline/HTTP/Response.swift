/// A response head and its streamed body.
public struct Response: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPFields
    public var body: ResponseBody

    public init(status: HTTPStatus = .ok, headers: HTTPFields = [:], body: ResponseBody = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response from already-encoded bytes.
    public static func json(_ bytes: [UInt8], status: HTTPStatus = .ok) -> Response {
        Response(status: status, headers: ["Content-Type": "application/json"], body: .init(bytes: bytes))
    }

    /// A JSON response from a `JSONValue`, serialized with keys in their given order.
    public static func json(_ value: JSONValue, status: HTTPStatus = .ok) -> Response {
        json(Array(value.serialized().utf8), status: status)
    }

    /// A plain-text response.
    public static func text(_ text: String, status: HTTPStatus = .ok) -> Response {
        Response(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: .init(string: text))
    }
}
