import Pipeline
import Synchronization

/// A read-only OCI Distribution client on the project's HTTP client (oci.md §2): every request to
/// the registry goes through `send`, which adds the right credentials for the repository.
///
/// Auth (oci.md §2.5): a request goes out with what worked before for its repository (nothing at
/// first). A 401 names the scheme in `WWW-Authenticate`: `Basic` gets the configured username and
/// password; `Bearer realm=…,service=…` gets a token from the realm for the repository's pull scope
/// (anonymous, or with Basic credentials to the realm), kept per scope until `expires_in`. The
/// request is then sent once more; a second 401 is the registry refusing the credentials, logged
/// with its reason and answered 502 (a client never learns the registry's credentials or host).
/// Redirects (a blob's 307 to storage) are followed by `HTTPClient`, which drops `Authorization`
/// when the origin changes.
final class OCIRegistryClient: Sendable {
    /// The registry's origin (scheme, host, port); paths start at `/v2/`.
    let base: HTTPURL
    let client: HTTPClient
    let username: String?
    let password: Secret?
    /// Which source this is, for log lines.
    let sourceName: String

    struct Token: Sendable {
        let value: String
        let expires: ContinuousClock.Instant
    }

    enum Scheme: Sendable {
        case basic
        case bearer(realm: String, service: String?)
    }

    private struct State {
        /// The scheme the registry asked for (learned from its first 401).
        var scheme: Scheme?
        /// Bearer tokens by scope (`repository:<name>:pull`).
        var tokens: [String: Token] = [:]
        /// Token requests in flight, by scope (one per scope however many ask).
        var fetching: [String: Task<Token, any Error>] = [:]
    }

    private let state = Mutex(State())
    private let requestCounter = Atomic<Int>(0)

    init(base: HTTPURL, client: HTTPClient, username: String?, password: Secret?, sourceName: String) {
        self.base = base
        self.client = client
        self.username = username
        self.password = password
        self.sourceName = sourceName
    }

    /// How many requests were sent to the registry (token requests included).
    var requests: Int { requestCounter.load(ordering: .relaxed) }

    /// The absolute URL of `path` (which starts with `/v2/`) on the registry.
    func url(_ path: String, query: String? = nil) -> String {
        var basePath = base.path
        if basePath.hasSuffix("/") { basePath.removeLast() }
        return "\(base.origin)\(basePath)\(path)" + (query.map { "?" + $0 } ?? "")
    }

    /// A GET or HEAD of `url` for `repository`, with credentials, retried once after a 401 taught
    /// the scheme (or the token expired). Returns the final response, whatever its status, except
    /// a 401 after the retry, which throws 502.
    func send(_ original: Request, repository: String, actions: String = "pull",
              deadline: ContinuousClock.Instant? = nil) async throws -> ClientResponse {
        var request = original
        request.headers.remove("Authorization")
        let scope = "repository:\(repository):\(actions)"
        if let authorization = try await authorization(scope: scope, refresh: false) {
            request.headers["Authorization"] = authorization
        }
        requestCounter.add(1, ordering: .relaxed)
        let first = try await client.execute(request, followRedirects: true, deadline: deadline)
        guard first.status == .unauthorized else { return first }
        _ = try? await first.body.collect(upTo: 64 * 1024)
        let hadCredentials = request.headers["Authorization"] != nil
        learn(first.headers["WWW-Authenticate"], hadCredentials: hadCredentials)
        guard let authorization = try await authorization(scope: scope, refresh: true) else {
            throw refused("the registry asks for credentials and none are configured")
        }
        request.headers["Authorization"] = authorization
        requestCounter.add(1, ordering: .relaxed)
        let second = try await client.execute(request, followRedirects: true, deadline: deadline)
        guard second.status == .unauthorized else { return second }
        let body = (try? await second.body.collect(upTo: 64 * 1024)) ?? []
        throw refused("the registry refused the credentials: \(Self.errorMessage(body))")
    }

    /// A 502 for the client; the reason only in the log.
    private func refused(_ reason: String) -> HTTPError {
        Log.error("oci registry refused access", [("source", sourceName), ("reason", reason)])
        return HTTPError(.badGateway, "the OCI registry refused access")
    }

    /// The Authorization value for a request in `scope` (`repository:<name>:pull`), or nil to send none.
    private func authorization(scope: String, refresh: Bool) async throws -> String? {
        switch state.withLock({ $0.scheme }) {
        case nil:
            return nil
        case .basic?:
            return basicCredentials
        case .bearer(let realm, let service)?:
            return "Bearer " + (try await token(scope: scope, realm: realm, service: service, refresh: refresh)).value
        }
    }

    private var basicCredentials: String? {
        guard let username, let password else { return nil }
        return "Basic " + Base64.encode(Array("\(username):\(password.value)".utf8))
    }

    /// Records the scheme a 401's challenge asks for.
    private func learn(_ challenge: String?, hadCredentials: Bool) {
        guard let challenge, let parsed = OCIChallenge(challenge) else { return }
        state.withLock { state in
            switch parsed.scheme {
            case "basic":
                state.scheme = .basic
            case "bearer":
                guard let realm = parsed.parameters["realm"] else { return }
                state.scheme = .bearer(realm: realm, service: parsed.parameters["service"])
                // A token the registry no longer takes (expired early, revoked) is not used again.
                if hadCredentials, let scope = parsed.parameters["scope"] { state.tokens[scope] = nil }
            default:
                break
            }
        }
    }

    /// A token for `scope`: the kept one while it lasts (unless `refresh`), else one fetched from the realm.
    private func token(scope: String, realm: String, service: String?, refresh: Bool) async throws -> Token {
        let task: Task<Token, any Error> = state.withLock { state in
            if !refresh, let token = state.tokens[scope], token.expires > .now {
                return Task { token }
            }
            if let running = state.fetching[scope] { return running }
            let task = Task(executorPreference: EventLoop.current) { try await self.fetchToken(scope: scope, realm: realm, service: service) }
            state.fetching[scope] = task
            return task
        }
        do {
            let token = try await task.value
            state.withLock { state in
                state.tokens[scope] = token
                state.fetching[scope] = nil
            }
            return token
        } catch {
            state.withLock { $0.fetching[scope] = nil }
            throw error
        }
    }

    /// GET `realm?service=…&scope=…` (distribution `token.md`), with Basic credentials when configured.
    private func fetchToken(scope: String, realm: String, service: String?) async throws -> Token {
        var query = [("scope", scope)]
        if let service { query.insert(("service", service), at: 0) }
        let separator = realm.contains("?") ? "&" : "?"
        let target = realm + separator + query.map { "\($0.0)=\(PercentEncoding.encodeComponent($0.1))" }.joined(separator: "&")
        guard var request = Request(url: target) else { throw refused("the token realm \"\(realm)\" is not a URL") }
        if let basic = basicCredentials { request.headers["Authorization"] = basic }
        request.headers["Accept"] = "application/json"
        requestCounter.add(1, ordering: .relaxed)
        let response: ClientResponse
        do {
            response = try await client.execute(request, followRedirects: true)
        } catch {
            Log.error("oci token request failed", [("source", sourceName), ("reason", "\(error)")])
            throw HTTPError(.badGateway, "the OCI registry's token service is unavailable")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            throw refused("the token service answered \(response.status.code): \(Self.errorMessage(body))")
        }
        guard let json = try? JSONParser.parse(body), let value = json["token"]?.string ?? json["access_token"]?.string, !value.isEmpty else {
            throw refused("the token service's answer holds no token")
        }
        // Default 60 s (token.md); a little early, so a token is not sent as it expires.
        let seconds = max(json["expires_in"]?.int ?? 60, 10)
        return Token(value: value, expires: .now + .seconds(seconds - 5))
    }

    /// The message of a registry error body (`{"errors":[{"code","message"}]}`) or its first bytes.
    static func errorMessage(_ body: [UInt8]) -> String {
        if let json = try? JSONParser.parse(body), let errors = json["errors"]?.array, !errors.isEmpty {
            return errors.compactMap { error in
                [error["code"]?.string, error["message"]?.string].compactMap { $0 }.joined(separator: " ")
            }.joined(separator: "; ")
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingASCIIWhitespace()
        return text.isEmpty ? "no reason given" : text
    }
}

/// One `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"` (RFC 9110 §11.6.1).
struct OCIChallenge: Sendable, Equatable {
    /// Lower case (`basic`, `bearer`).
    let scheme: String
    /// Parameter names lower case; values unquoted.
    let parameters: [String: String]

    init?(_ text: String) {
        var rest = Substring(text).drop { $0 == " " }
        let schemeEnd = rest.firstIndex(of: " ") ?? rest.endIndex
        let scheme = rest[..<schemeEnd].lowercasedASCII()
        guard !scheme.isEmpty else { return nil }
        self.scheme = scheme
        rest = rest[schemeEnd...]
        var parameters: [String: String] = [:]
        while true {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let equals = rest.firstIndex(of: "=") else { break }
            let name = rest[..<equals].trimmingASCIIWhitespace().lowercasedASCII()
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                var end = rest.endIndex
                for index in rest.indices {
                    let character = rest[index]
                    if escaped { value.append(character); escaped = false; continue }
                    if character == "\\" { escaped = true; continue }
                    if character == "\"" { end = index; break }
                    value.append(character)
                }
                rest = end < rest.endIndex ? rest[rest.index(after: end)...] : rest[rest.endIndex...]
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = String(rest[..<end]).trimmingASCIIWhitespace()
                rest = rest[end...]
            }
            if !name.isEmpty, parameters[name] == nil { parameters[name] = value }
        }
        self.parameters = parameters
    }
}
