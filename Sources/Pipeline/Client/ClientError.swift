/// Why an upstream request failed. Messages name the failure, never credentials.
public enum ClientError: Error, CustomStringConvertible, Equatable {
    case invalidURL(String)
    case resolve(host: String, reason: String)
    case connect(host: String, reason: String)
    case tls(host: String, reason: String)
    /// A timeout in `phase` (connect, tls, first byte, idle).
    case timeout(phase: String)
    case badResponse(String)
    case tooManyRedirects
    /// The connection closed before a complete response (or body) arrived.
    case closed

    public var description: String {
        switch self {
        case .invalidURL(let url): "invalid URL \(url)"
        case .resolve(let host, let reason): "cannot resolve \(host): \(reason)"
        case .connect(let host, let reason): "cannot connect to \(host): \(reason)"
        case .tls(let host, let reason): "TLS with \(host) failed: \(reason)"
        case .timeout(let phase): "upstream \(phase) timed out"
        case .badResponse(let reason): "bad upstream response: \(reason)"
        case .tooManyRedirects: "too many redirects"
        case .closed: "upstream closed the connection early"
        }
    }

    /// Whether this is a timeout (a gateway answers 504 rather than 502).
    public var isTimeout: Bool {
        if case .timeout = self { return true }
        return false
    }
}
