import Pipeline

/// `auth.oidc`: accepts OpenID Connect ID tokens, made for GitHub Actions (apt.md §6). The token
/// comes as `Authorization: Bearer <jwt>` or as the Basic password under a fixed login (default
/// `github-action`), which is how apt's auth.conf and .netrc carry it. Checks, in order: size
/// cap, pinned algorithm, signature with the issuer's key for `kid` (JWKS from discovery,
/// cached, refetched at most once per `jwksRefreshInterval`), `iss` exactly, `aud`, `exp`/`nbf`/
/// `iat` with `leeway`; then the `require` rules (403 when they fail). The subject and the
/// `logClaims` become the request's identity and appear in the access log.
///
/// ```json
/// {"type": "auth.oidc", "issuer": "https://token.actions.githubusercontent.com",
///  "audience": "https://apt.example.com",
///  "require": {"repository_owner_id": ["65"], "ref": ["refs/heads/main", "refs/tags/v*"]}}
/// ```
public struct OIDCAuth: Authenticator, Stoppable {
    let verifier: JWTVerifier
    let keys: OIDCKeySource
    let rules: [ClaimRule]
    let basicLogins: [String]
    let logClaims: [String]
    let realm: String
    let clock: @Sendable () -> Int64

    /// Stops the key source's background refreshes.
    public func stop() async { await keys.stop() }

    /// Claims logged when `logClaims` is not given.
    public static let defaultLogClaims = ["repository", "ref", "environment", "run_id"]

    public static let type = MiddlewareType(
        name: "auth.oidc", summary: "OpenID Connect ID tokens (GitHub Actions) as Bearer or as the Basic password.", phase: .auth,
        options: [
            OptionSpec("issuer", "string", "exact https issuer, e.g. https://token.actions.githubusercontent.com", required: true),
            OptionSpec("audience", "[string]", "accepted aud values (the token's aud must contain one)", required: true),
            OptionSpec("require", "object", "claim -> allowed values (glob * and ?), e.g. {\"repository_owner_id\": [\"65\"]}"),
            OptionSpec("algorithms", "[string]", "accepted algorithms: RS256, ES256, EdDSA (none and HS* never)", default: "[\"RS256\"]"),
            OptionSpec("leeway", "duration", "clock skew allowed on exp, nbf and iat", default: "60s"),
            OptionSpec("maxAge", "duration", "refuse tokens issued longer ago than this (requires iat)"),
            OptionSpec("maxTokenBytes", "size", "largest token accepted", default: "8KiB"),
            OptionSpec("basicLogin", "[string]", "Basic logins whose password is a token (apt auth.conf, .netrc)", default: "[\"github-action\"]"),
            OptionSpec("logClaims", "[string]", "claims copied to the identity and the access log",
                       default: "[\"repository\", \"ref\", \"environment\", \"run_id\"]"),
            OptionSpec("realm", "string", "realm in the WWW-Authenticate challenges", default: "gateway"),
            OptionSpec("jwksRefreshInterval", "duration", "least time between JWKS fetches (unknown kid, failures)", default: "60s"),
            OptionSpec("jwksMaxAge", "duration", "how long fetched keys are used before they are refreshed", default: "1h"),
            OptionSpec("caFile", "path", "PEM CA bundle for the issuer's TLS certificate (default: system store)"),
        ],
        build: { options, context in
            let issuer = options.string("issuer", required: true) ?? ""
            if !issuer.isEmpty, !issuer.hasPrefix("https://") { options.error("issuer", "must be an https URL") }
            let audiences = options.strings("audience", required: true)
            if options.has("audience"), audiences.isEmpty { options.error("audience", "at least one audience is required") }
            var algorithms: Set<SignatureAlgorithm> = [.rs256]
            if options.has("algorithms") {
                let errorsBefore = options.diagnostics.errorCount
                algorithms = []
                for name in options.strings("algorithms") {
                    if let algorithm = SignatureAlgorithm(rawValue: name) {
                        algorithms.insert(algorithm)
                    } else if name.lowercasedASCII() == "none" || name.uppercased().hasPrefix("HS") {
                        options.error("algorithms", "\"\(name)\" is never accepted (unsigned or shared-secret tokens)")
                    } else {
                        options.error("algorithms", "unknown algorithm \"\(name)\" (use RS256, ES256 or EdDSA)")
                    }
                }
                if algorithms.isEmpty, options.diagnostics.errorCount == errorsBefore { options.error("algorithms", "at least one algorithm is required") }
            }
            var rules: [ClaimRule] = []
            for (claim, value, pointer) in options.map("require") {
                var patterns: [String] = []
                switch value {
                case .string(let text): patterns = [text]
                case .array(let items):
                    patterns = items.compactMap(\.string)
                    if patterns.count != items.count || patterns.isEmpty {
                        options.diagnostics.error(pointer, "expected a non-empty list of strings")
                    }
                default:
                    options.diagnostics.error(pointer, "expected a string or a list of strings, got \(value.typeName)")
                }
                rules.append(ClaimRule(claim: claim, allowed: patterns.map { GlobPattern(options.environment.expand($0).0) }))
            }
            let leeway = options.duration("leeway", default: .seconds(60))
            let maxAge = options.duration("maxAge")
            let verifier = JWTVerifier(issuer: issuer, audiences: audiences, algorithms: algorithms, leeway: Int64(leeway.seconds),
                                       maxAge: maxAge.map { Int64($0.seconds) },
                                       maxTokenBytes: options.size("maxTokenBytes", default: 8192))
            var configuration = HTTPClient.Configuration()
            configuration.caFile = options.pemFile("caFile", .caCertificates)
            configuration.connectTimeout = .seconds(5)
            configuration.firstByteTimeout = .seconds(10)
            configuration.idleTimeout = .seconds(10)
            configuration.maxConnectionsPerOrigin = 4
            let fetcher = HTTPSDocumentFetcher(client: try HTTPClient(configuration))
            let keys = OIDCKeySource(issuer: issuer, fetcher: fetcher,
                                     minInterval: options.duration("jwksRefreshInterval", default: .seconds(60)),
                                     maxAge: options.duration("jwksMaxAge", default: .seconds(3600)))
            let logins = options.has("basicLogin") ? options.strings("basicLogin") : ["github-action"]
            let logClaims = options.has("logClaims") ? options.strings("logClaims") : defaultLogClaims
            return OIDCAuth(verifier: verifier, keys: keys, rules: rules, basicLogins: logins, logClaims: logClaims,
                            realm: options.string("realm", default: "gateway"))
        })

    public init(verifier: JWTVerifier, keys: OIDCKeySource, rules: [(claim: String, allowed: [String])] = [],
                basicLogins: [String] = ["github-action"], logClaims: [String] = OIDCAuth.defaultLogClaims, realm: String = "gateway",
                clock: @escaping @Sendable () -> Int64 = { HTTPDate.now }) {
        self.init(verifier: verifier, keys: keys, rules: rules.map { ClaimRule(claim: $0.claim, allowed: $0.allowed.map(GlobPattern.init)) },
                  basicLogins: basicLogins, logClaims: logClaims, realm: realm, clock: clock)
    }

    init(verifier: JWTVerifier, keys: OIDCKeySource, rules: [ClaimRule], basicLogins: [String], logClaims: [String], realm: String,
         clock: @escaping @Sendable () -> Int64 = { HTTPDate.now }) {
        self.verifier = verifier
        self.keys = keys
        self.rules = rules
        self.basicLogins = basicLogins
        self.logClaims = logClaims
        self.realm = realm
        self.clock = clock
    }

    public var challenges: [String] {
        [Challenge.bearer(realm: realm)] + (basicLogins.isEmpty ? [] : [Challenge.basic(realm: realm)])
    }

    public func authenticate(_ request: Request, context: Context) async throws -> AuthOutcome {
        let token: String
        switch Credentials.read(request) {
        case .bearer(let value):
            // Only JWT-shaped bearer values are ours; an opaque static token belongs to auth.bearer.
            guard value.utf8.count(where: { $0 == UInt8(ascii: ".") }) == 2 else { return .noCredentials }
            token = value
        case .basic(let user, let password) where basicLogins.contains(user):
            token = password
        default:
            return .noCredentials
        }
        let jwt: JWT
        do {
            let (parsed, algorithm) = try verifier.parse(token)
            let key: PublicKey?
            do {
                key = try await keys.key(id: parsed.keyID, algorithm: algorithm)
            } catch {
                context.annotate("auth_error", "oidc: \(error)")
                throw HTTPError(.serviceUnavailable, "cannot verify tokens right now", headers: ["Retry-After": "10"])
            }
            guard let key else { throw JWTError.unknownKey }
            try verifier.verify(parsed, algorithm: algorithm, key: key, now: clock())
            jwt = parsed
        } catch let error as JWTError {
            return .rejected("oidc: \(error)")
        }
        for rule in rules where !rule.allows(jwt.claims) {
            return .forbidden("oidc: claim \(rule.claim) not allowed")
        }
        var claims: [String: String] = [:]
        for name in logClaims {
            if let value = jwt.claim(name) { claims[name] = value }
        }
        return .identity(Identity(subject: jwt.claim("sub") ?? "", method: "oidc", claims: claims))
    }
}

