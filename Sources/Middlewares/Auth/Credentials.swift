import Pipeline

/// What a request's `Authorization` header carries (RFC 9110 §11.6.2): Basic (RFC 7617),
/// Bearer (RFC 6750 §2.1), another scheme, or nothing.
enum Credentials: Equatable {
    case none
    case basic(user: String, password: String)
    case bearer(String)
    /// A scheme none of the auth middlewares speak (Digest, Negotiate, ...).
    case other
    /// A Basic or Bearer header that cannot be read; the reason is for the log.
    case malformed(String)

    static func read(_ request: Request) -> Credentials {
        let values = request.headers.values("Authorization")
        guard let value = values.first else { return .none }
        guard values.count == 1 else { return .malformed("several Authorization headers") }
        let trimmed = value.trimmingASCIIWhitespace()
        let parts = trimmed.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard let scheme = parts.first else { return .malformed("empty Authorization header") }
        let rest = parts.count > 1 ? parts[1].trimmingASCIIWhitespace() : ""
        if scheme.equalsIgnoringASCIICase("Basic") {
            // Padding is what RFC 7617 clients send; unpadded is accepted too (still canonical base64).
            guard let bytes = Base64.decode(rest, padding: true) ?? Base64.decode(rest, padding: false),
                  let text = String(validating: bytes, as: UTF8.self), let colon = text.firstIndex(of: ":") else {
                return .malformed("Basic credentials are not base64 of user:password")
            }
            return .basic(user: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        }
        if scheme.equalsIgnoringASCIICase("Bearer") {
            guard !rest.isEmpty, !rest.contains(" "), !rest.contains("\t") else { return .malformed("Bearer token is empty or has spaces") }
            return .bearer(rest)
        }
        return .other
    }
}

/// `WWW-Authenticate` values (RFC 9110 §11.6.1) with the realm as a quoted-string.
enum Challenge {
    static func basic(realm: String) -> String { "Basic realm=\(quoted(realm)), charset=\"UTF-8\"" }
    static func bearer(realm: String) -> String { "Bearer realm=\(quoted(realm))" }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
}
