import Synchronization
import Testing
import Pipeline
@testable import Middlewares
#if canImport(Glibc)
import Glibc
#endif

/// A terminal that reports what the auth gate let through: who, how, and the query it saw.
struct Echo: Middleware {
    static let type = MiddlewareType(name: "test.echo", summary: "echoes the identity", phase: .behaviour, isTerminal: true, options: []) { _, _ in
        Echo()
    }

    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        let identity = context.identity
        var text = "user=\(identity?.subject ?? "-") auth=\(identity?.method ?? "-") query=\(request.query ?? "-")"
        for (key, value) in (identity?.claims ?? [:]).sorted(by: { $0.key < $1.key }) { text += " \(key)=\(value)" }
        return .text(text)
    }
}

/// A pipeline.json loaded in memory with the built-in types plus `test.echo`.
struct TestPipeline {
    let pipeline: LoadedPipeline?
    let diagnostics: Diagnostics

    init(_ json: String, directory: String = "/tmp", sourceLocation: SourceLocation = #_sourceLocation) {
        let registry = TypeRegistry(middlewares: Builtins.middlewareTypes + [Echo.type], sources: Builtins.sourceTypes)
        (pipeline, diagnostics) = PipelineLoader.load(Array(json.utf8), environment: ConfigEnvironment(variables: [:], baseDirectory: directory),
                                                      registry: registry)
    }

    var errors: [String] { diagnostics.errors.map(\.description) }
    var warnings: [String] { diagnostics.warnings.map(\.description) }

    /// Runs `request` through the stack that accepts it; the response, its body text and the context.
    func send(_ request: Request, clientAddress: String = "127.0.0.1", sourceLocation: SourceLocation = #_sourceLocation) async throws -> Answer {
        let pipeline = try #require(pipeline, "pipeline has errors: \(errors)", sourceLocation: sourceLocation)
        let stack = try #require(pipeline.stack(for: request, listener: "main"), sourceLocation: sourceLocation)
        let context = Context(requestID: "test", clientAddress: clientAddress, stack: stack.name)
        let response = await stack.chain.handle(request, context: context)
        return Answer(response: response, body: String(decoding: try await response.body.collect(upTo: 1 << 20), as: UTF8.self), context: context)
    }

    func send(_ target: String, method: HTTPMethod = .get, headers: HTTPFields = [:], clientAddress: String = "127.0.0.1") async throws -> Answer {
        var request = Request(method: method, target: target, headers: headers)
        request.method = method
        return try await send(request, clientAddress: clientAddress)
    }
}

struct Answer {
    let response: Response
    let body: String
    let context: Context
    var status: Int { response.status.code }
    var challenges: [String] { response.headers.values("WWW-Authenticate") }
    var authError: String? { context.annotations.last { $0.0 == "auth_error" }?.1 }
}

/// The `Authorization` header for Basic credentials.
func basic(_ user: String, _ password: String) -> HTTPFields {
    ["Authorization": "Basic " + Base64.encode(Array("\(user):\(password)".utf8))]
}

func bearer(_ token: String) -> HTTPFields { ["Authorization": "Bearer " + token] }

/// A directory under /tmp for config files, removed at the end.
final class ScratchDirectory: @unchecked Sendable {
    let path: String

    init() {
        var template = Array("/tmp/gateway-mw-XXXXXX".utf8CString)
        _ = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    deinit {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(dir)
        }
        rmdir(path)
    }

    @discardableResult
    func write(_ name: String, _ text: String) -> String {
        let full = path + "/" + name
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
        return full
    }
}

/// An OpenID provider in memory: discovery and JWKS documents, with a count of fetches per URL.
final class MemoryIssuer: OIDCDocumentFetcher, Sendable {
    static let issuer = "https://token.actions.githubusercontent.com"
    static let jwksURL = issuer + "/.well-known/jwks"
    private let documents = Mutex<[String: JSONValue]>([:])
    private let counts = Mutex<[String: Int]>([:])
    let key = try! PrivateKey.generate(.rsa(bits: 2048))

    init(kid: String = "k1") {
        publish(keys: [(kid, key)])
        set(Self.issuer + "/.well-known/openid-configuration", ["issuer": .string(Self.issuer), "jwks_uri": .string(Self.jwksURL)])
    }

    func publish(keys: [(String, PrivateKey)]) {
        set(Self.jwksURL, ["keys": .array(keys.map { try! $0.1.publicKey.jwk(kid: $0.0) })])
    }

    func set(_ url: String, _ document: JSONValue?) { documents.withLock { $0[url] = document } }

    func fetches(_ url: String = MemoryIssuer.jwksURL) -> Int { counts.withLock { $0[url] ?? 0 } }

    /// While held (nil = open), fetches are counted and then wait until `release()`.
    private let held = Mutex<[CheckedContinuation<Void, Never>]?>(nil)

    func hold() { held.withLock { if $0 == nil { $0 = [] } } }

    func release() {
        let waiters = held.withLock { list in
            defer { list = nil }
            return list ?? []
        }
        for waiter in waiters { waiter.resume() }
    }

    func fetchJSON(_ url: String) async throws -> JSONValue {
        counts.withLock { $0[url, default: 0] += 1 }
        await withCheckedContinuation { continuation in
            let waiting = held.withLock { list -> Bool in
                guard list != nil else { return false }
                list!.append(continuation)
                return true
            }
            if !waiting { continuation.resume() }
        }
        guard let document = documents.withLock({ $0[url] }) else { throw FetchError("404 from \(url)") }
        return document
    }

    /// A GitHub Actions token (apt.md §6 claims) signed with `key`.
    func token(audience: String = "https://apt.example.com", kid: String = "k1", key: PrivateKey? = nil,
               _ changes: [(String, JSONValue?)] = []) -> String {
        let now = HTTPDate.now
        var claims = JSONObject([
            ("sub", "repo:acme/tool:ref:refs/heads/main"), ("aud", .string(audience)), ("ref", "refs/heads/main"),
            ("repository", "acme/tool"), ("repository_id", "74"), ("repository_owner", "acme"), ("repository_owner_id", "65"),
            ("run_id", "42"), ("environment", "prod"), ("iss", .string(Self.issuer)),
            ("nbf", .number(Double(now - 600))), ("exp", .number(Double(now + 300))), ("iat", .number(Double(now))),
        ])
        for (name, value) in changes { claims[name] = value }
        return try! JWT.encode(claims: claims, key: key ?? self.key, algorithm: .rs256, keyID: kid)
    }
}
