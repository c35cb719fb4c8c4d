import Pipeline

/// `auth.bearer`: named static tokens (deploy keys, Terraform `credentials` blocks), stored in
/// config only as SHA-256 hashes. Tokens are long random strings, so a fast hash is enough and
/// every request can be checked without a cache. Each token may be limited to some stacks and
/// paths; a genuine token used elsewhere gets 403.
///
/// ```json
/// {"type": "auth.bearer", "tokens": {
///   "ci": "sha256:9f86d0…",
///   "deploy": {"hash": "sha256:…", "stacks": ["terraform"], "paths": ["/v1/modules/acme/*"]}}}
/// ```
public struct BearerAuth: Authenticator {
    struct Token: Sendable {
        let name: String
        let digest: [UInt8]
        let stacks: [String]
        let paths: PathPatterns
    }

    let tokens: [Token]
    let realm: String
    /// When set, Basic credentials with this login carry a token as the password (`.netrc` users:
    /// go-getter sends only Basic, terraform.md §2.3).
    let basicLogin: String?

    public static let type = MiddlewareType(
        name: "auth.bearer", summary: "Named static bearer tokens stored as SHA-256 hashes, optionally limited to stacks or paths.",
        phase: .auth,
        options: [
            OptionSpec("tokens", "object", "{\"name\": \"sha256:HEX\"} or {\"name\": {\"hash\", \"stacks\", \"paths\"}} "
                + "(hash with `gateway hash-password --token`)", required: true),
            OptionSpec("realm", "string", "realm in the WWW-Authenticate challenge", default: "gateway"),
            OptionSpec("basicLogin", "string", "also accept a token as the Basic password under this login (for .netrc)"),
        ],
        build: { options, _ in
            let errorsBefore = options.diagnostics.errorCount
            var tokens: [Token] = []
            if !options.has("tokens") { options.error("tokens", "required") }
            for (name, value, pointer) in options.map("tokens") {
                var hash: String?, stacks: [String] = [], paths: [String] = []
                switch value {
                case .string(let text):
                    hash = text
                case .object(let object):
                    let nested = Options(object, at: pointer, allowed: ["hash", "stacks", "paths"], diagnostics: options.diagnostics,
                                         environment: options.environment)
                    hash = nested.string("hash", required: true)
                    stacks = nested.strings("stacks")
                    paths = nested.strings("paths")
                    for path in paths {
                        if let problem = PathPatterns.problem(with: path) { nested.error("paths", problem) }
                    }
                default:
                    options.diagnostics.error(pointer, "expected \"sha256:HEX\" or an object with \"hash\", got \(value.typeName)")
                }
                guard let hash else { continue }
                guard hash.hasPrefix("sha256:"), let digest = Hex.decode(hash.dropFirst(7).lowercasedASCII()), digest.count == 32 else {
                    options.diagnostics.error(pointer, "the hash must be \"sha256:\" and 64 hex digits (`gateway hash-password --token`)")
                    continue
                }
                if tokens.contains(where: { ConstantTime.equals($0.digest, digest) }) {
                    options.diagnostics.error(pointer, "the same token is listed twice")
                }
                tokens.append(Token(name: name, digest: digest, stacks: stacks, paths: PathPatterns(paths)))
            }
            if options.has("tokens"), tokens.isEmpty, options.diagnostics.errorCount == errorsBefore { options.error("tokens", "at least one token is required") }
            return BearerAuth(tokens: tokens, realm: options.string("realm", default: "gateway"), basicLogin: options.string("basicLogin"))
        })

    public var challenges: [String] {
        [Challenge.bearer(realm: realm)] + (basicLogin == nil ? [] : [Challenge.basic(realm: realm)])
    }

    public func authenticate(_ request: Request, context: Context) async throws -> AuthOutcome {
        let presented: String
        switch Credentials.read(request) {
        case .bearer(let token):
            presented = token
        case .basic(let user, let password) where user == basicLogin:
            presented = password
        case .malformed(let reason) where request.headers["Authorization"]?.hasPrefixIgnoringASCIICase("bearer") == true:
            return .rejected("bearer: \(reason)")
        default:
            return .noCredentials
        }
        let digest = Digest.sha256(presented)
        // Compare with every token, without stopping early, so timing does not depend on the position.
        var match: Token?
        for token in tokens where ConstantTime.equals(token.digest, digest) { match = token }
        guard let match else { return .rejected("bearer: unknown token") }
        if !match.stacks.isEmpty, !match.stacks.contains(context.stack) {
            return .forbidden("bearer: token \(match.name) is not allowed on stack \(context.stack)")
        }
        if !match.paths.isEmpty, !match.paths.matches(request) {
            return .forbidden("bearer: token \(match.name) is not allowed on this path")
        }
        return .identity(Identity(subject: match.name, method: "bearer"))
    }
}
