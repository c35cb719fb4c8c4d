import Pipeline

/// `auth.basic`: HTTP Basic (RFC 7617) against users with scrypt or PBKDF2 hashes (`gateway
/// hash-password`). The hash runs on the `BlockingPool`, never on an event loop; an unknown user
/// costs the same hash as a known one, so timing does not tell which names exist. Successful
/// checks are remembered for `cacheTTL`, because apt sends the password with every request, by the
/// process-wide `PasswordVerifier`: a reload keeps them while a user's stored hash is unchanged,
/// and requests with the same credential share one hash.
public struct BasicAuth: Authenticator {
    let users: UserList
    let realm: String
    /// Seconds a verified password is remembered (0: not at all).
    let cacheTTL: Int64
    var verifier = PasswordVerifier.shared
    /// Verified against when the user is unknown, so the time taken does not depend on the name.
    let decoy: PasswordHash
    /// Hash attempts per client address and per user name (docs/auth.md, throttling).
    var throttle = HashThrottle(perAddress: 20, perUser: 20)

    public static let type = MiddlewareType(
        name: "auth.basic", summary: "HTTP Basic auth against scrypt/PBKDF2 password hashes (gateway hash-password).", phase: .auth,
        options: [
            OptionSpec("usersFile", "path", "file of user:hash lines (as `gateway hash-password --user NAME` prints them)"),
            OptionSpec("users", "object", "inline users: {\"name\": \"$scrypt$...\"}"),
            OptionSpec("realm", "string", "realm in the WWW-Authenticate challenge", default: "gateway"),
            OptionSpec("cacheTTL", "duration", "how long a verified password is remembered (0 disables)", default: "5m"),
            OptionSpec("hashAttemptsPerAddress", "int", "password checks per minute (and as a burst) one client address may cause; over it 429 with Retry-After and no hash (0 disables)", default: "20"),
            OptionSpec("hashAttemptsPerUser", "int", "password checks per minute (and as a burst) for one user name; over it 429 (0 disables)", default: "20"),
        ],
        build: { options, _ in
            let errorsBefore = options.diagnostics.errorCount
            var users = UserList()
            if let path = options.path("usersFile") {
                do {
                    let bytes = try options.environment.readFile(path, limit: 4 << 20)
                    guard let text = String(validating: bytes, as: UTF8.self) else { throw ConfigError("file is not UTF-8 text") }
                    for problem in users.add(fileText: text) { options.error("usersFile", "\(path) line \(problem.line): \(problem.message)") }
                } catch {
                    options.error("usersFile", "\(error)")
                }
            }
            for (name, value, pointer) in options.map("users") {
                guard let hash = value.string else {
                    options.diagnostics.error(pointer, "expected a password hash string, got \(value.typeName)")
                    continue
                }
                if let problem = users.add(user: name, hash: hash) { options.diagnostics.error(pointer, problem) }
            }
            if users.isEmpty, options.diagnostics.errorCount == errorsBefore {
                options.error(nil, "no users: give \"usersFile\" or \"users\"")
            }
            let decoy = users.hashes.values.first ?? (try! PasswordHash.create([], scheme: .pbkdf2SHA256(iterations: 10_000)))
            return BasicAuth(users: users, realm: options.string("realm", default: "gateway"),
                             cacheTTL: Int64(options.duration("cacheTTL", default: .seconds(300)).seconds), decoy: decoy,
                             throttle: HashThrottle(perAddress: options.int("hashAttemptsPerAddress", default: 20, range: 0...1_000_000),
                                                    perUser: options.int("hashAttemptsPerUser", default: 20, range: 0...1_000_000)))
        })

    public var challenges: [String] { [Challenge.basic(realm: realm)] }

    public func authenticate(_ request: Request, context: Context) async throws -> AuthOutcome {
        let user: String, password: String
        switch Credentials.read(request) {
        case .basic(let u, let p):
            (user, password) = (u, p)
        case .malformed(let reason) where request.headers["Authorization"]?.hasPrefixIgnoringASCIICase("basic") == true:
            return .rejected("basic: \(reason)")
        default:
            return .noCredentials
        }
        let known = users[user]
        let valid: Bool
        do {
            valid = try await verifier.verify(user: user, stored: known ?? decoy, password: password, ttl: cacheTTL, now: HTTPDate.now,
                                              remember: known != nil) {
                if let (limit, wait) = throttle.take(address: context.clientAddress, user: known != nil ? user : nil) {
                    context.annotate("auth_error", "basic: too many password checks per \(limit.rawValue)")
                    throw HTTPError(.tooManyRequests, "too many login attempts, try again later", headers: ["Retry-After": String(wait)])
                }
            }
        } catch let error as HTTPError {
            throw error
        } catch {
            throw HTTPError(.serviceUnavailable, "busy, try again", headers: ["Retry-After": "1"])
        }
        guard known != nil else { return .rejected("basic: unknown user") }
        guard valid else { return .rejected("basic: wrong password") }
        return .identity(Identity(subject: user, method: "basic"))
    }
}
