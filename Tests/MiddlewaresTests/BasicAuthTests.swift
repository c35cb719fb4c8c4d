import Testing
import Pipeline
@testable import Middlewares

@Suite("auth.basic")
struct BasicAuthTests {
    // Cheap parameters keep the suite fast; production hashes use the defaults.
    static let alice = try! PasswordHash.create(Array("wonderland".utf8), scheme: .scrypt(logN: 10, r: 8, p: 1)).encoded
    static let bob = try! PasswordHash.create(Array("builder".utf8), scheme: .pbkdf2SHA256(iterations: 10_000)).encoded

    static func fresh(_ password: String) -> String {
        try! PasswordHash.create(Array(password.utf8), scheme: .scrypt(logN: 10, r: 8, p: 1)).encoded
    }

    static func pipeline(_ auth: String) -> TestPipeline {
        TestPipeline("""
            {"version": 1, "listeners": [{"name": "main", "listen": "127.0.0.1:0"}],
             "stacks": {"apt": {"chain": [\(auth), {"type": "test.echo"}]}}}
            """)
    }

    let stack = BasicAuthTests.pipeline(#"{"type": "auth.basic", "realm": "apt", "users": {"alice": "\#(alice)", "bob": "\#(bob)"}}"#)

    @Test("no credentials: 401 with a Basic challenge")
    func challenge() async throws {
        let answer = try await stack.send("/dists/stable/InRelease")
        #expect(answer.status == 401)
        #expect(answer.challenges == [#"Basic realm="apt", charset="UTF-8""#])
        #expect(answer.body == "authentication required\n")
    }

    @Test("the right password (scrypt or PBKDF2) passes and names the user")
    func accepted() async throws {
        #expect(try await stack.send("/x", headers: basic("alice", "wonderland")).body == "user=alice auth=basic query=-")
        #expect(try await stack.send("/x", headers: basic("bob", "builder")).body == "user=bob auth=basic query=-")
        // Again, now from the verified-credential cache.
        #expect(try await stack.send("/x", headers: basic("alice", "wonderland")).body == "user=alice auth=basic query=-")
    }

    @Test("a wrong password, an unknown user or a malformed header get 401 without saying which")
    func refused() async throws {
        for (headers, reason) in [(basic("alice", "wonderlanD"), "basic: wrong password"), (basic("alice", ""), "basic: wrong password"),
                                  (basic("mallory", "wonderland"), "basic: unknown user"),
                                  (["Authorization": "Basic !!!!"], "basic: Basic credentials are not base64 of user:password"),
                                  (["Authorization": "Basic " + Base64.encode(Array("nocolon".utf8))], "basic: Basic credentials are not base64 of user:password")] as [(HTTPFields, String)] {
            let answer = try await stack.send("/x", headers: headers)
            #expect(answer.status == 401)
            #expect(answer.body == "invalid credentials\n")
            #expect(answer.authError == reason)
            #expect(answer.challenges.count == 1)
        }
    }

    @Test("wrong passwords past the per-address budget get 429 with Retry-After and no hash; other addresses still log in")
    func throttledPerAddress() async throws {
        // Fresh hashes: a password other tests verified against the same stored hash is remembered process-wide.
        let (alice, bob) = (Self.fresh("wonderland"), Self.fresh("builder"))
        let stack = Self.pipeline(#"{"type": "auth.basic", "hashAttemptsPerAddress": 3, "hashAttemptsPerUser": 0, "users": {"alice": "\#(alice)", "bob": "\#(bob)"}}"#)
        let before = AuthThrottleMetrics.shared.values.address
        for _ in 0..<3 {
            #expect(try await stack.send("/x", headers: basic("alice", "guess"), clientAddress: "203.0.113.9").status == 401)
        }
        let refused = try await stack.send("/x", headers: basic("bob", "builder"), clientAddress: "203.0.113.9")
        #expect(refused.status == 429)
        #expect(Int(refused.response.headers["Retry-After"] ?? "") ?? 0 >= 1)
        #expect(refused.authError == "basic: too many password checks per address")
        #expect(AuthThrottleMetrics.shared.values.address > before)
        #expect(AuthThrottleMetrics.shared.renderMetrics().contains("gateway_auth_throttled_total{limit=\"address\"}"))
        // Unknown names count against the address too.
        #expect(try await stack.send("/x", headers: basic("mallory", "x"), clientAddress: "203.0.113.9").status == 429)
        // Another client address is not held up.
        #expect(try await stack.send("/x", headers: basic("bob", "builder"), clientAddress: "198.51.100.7").status == 200)
    }

    @Test("guesses at one user from many addresses stop at the per-user budget; a cached login is never throttled")
    func throttledPerUser() async throws {
        let (alice, bob) = (Self.fresh("wonderland"), Self.fresh("builder"))
        let stack = Self.pipeline(#"{"type": "auth.basic", "hashAttemptsPerUser": 2, "users": {"alice": "\#(alice)", "bob": "\#(bob)"}}"#)
        #expect(try await stack.send("/x", headers: basic("alice", "wonderland"), clientAddress: "192.0.2.1").status == 200)
        #expect(try await stack.send("/x", headers: basic("alice", "guess"), clientAddress: "192.0.2.2").status == 401)
        #expect(try await stack.send("/x", headers: basic("alice", "guess2"), clientAddress: "192.0.2.3").status == 429)
        // The remembered password costs no hash.
        #expect(try await stack.send("/x", headers: basic("alice", "wonderland"), clientAddress: "192.0.2.4").status == 200)
        #expect(try await stack.send("/x", headers: basic("bob", "builder"), clientAddress: "192.0.2.5").status == 200)
    }

    @Test("the cache does not accept a different password for a cached user")
    func cacheIsPerPassword() async throws {
        #expect(try await stack.send("/x", headers: basic("alice", "wonderland")).status == 200)
        #expect(try await stack.send("/x", headers: basic("alice", "wonderland2")).status == 401)
    }

    @Test("a users file is read, with line numbers for its mistakes")
    func usersFile() async throws {
        let dir = ScratchDirectory()
        dir.write("users", "# apt users\n\nalice:\(Self.alice)\r\nbob:\(Self.bob)\n")
        let good = TestPipeline("""
            {"version": 1, "listeners": [{"name": "main", "listen": "127.0.0.1:0"}],
             "stacks": {"apt": {"chain": [{"type": "auth.basic", "usersFile": "users"}, {"type": "test.echo"}]}}}
            """, directory: dir.path)
        #expect(good.errors.isEmpty)
        #expect(try await good.send("/x", headers: basic("bob", "builder")).status == 200)

        dir.write("bad", "alice:\(Self.alice)\nbroken line\ncarol:plaintext\nalice:\(Self.bob)\n")
        let bad = TestPipeline("""
            {"version": 1, "listeners": [{"name": "main", "listen": "127.0.0.1:0"}],
             "stacks": {"apt": {"chain": [{"type": "auth.basic", "usersFile": "bad"}, {"type": "test.echo"}]}}}
            """, directory: dir.path)
        #expect(bad.pipeline == nil)
        #expect(bad.errors.contains { $0.hasPrefix("/stacks/apt/chain/0/usersFile: ") && $0.contains("line 2: expected user:hash") })
        #expect(bad.errors.contains { $0.contains("line 3: user \"carol\": not a password hash") })
        #expect(bad.errors.contains { $0.contains("line 4: user \"alice\" is listed twice") })
        #expect(!bad.errors.joined().contains(Self.alice), "hashes are not echoed")
    }

    /// An `auth.basic` as one pipeline build makes it, over `verifier` (the process-wide one in production).
    static func build(_ users: [(String, String)], verifier: PasswordVerifier, ttl: Int64 = 300,
                      throttle: HashThrottle = HashThrottle(perAddress: 20, perUser: 20)) -> BasicAuth {
        var list = UserList()
        for (name, hash) in users { #expect(list.add(user: name, hash: hash) == nil) }
        return BasicAuth(users: list, realm: "apt", cacheTTL: ttl, verifier: verifier,
                         decoy: try! PasswordHash(parsing: users[0].1), throttle: throttle)
    }

    static func check(_ auth: BasicAuth, _ user: String, _ password: String, from address: String = "127.0.0.1") async throws -> AuthOutcome {
        try await auth.authenticate(Request(target: "/x", headers: basic(user, password)), context: Context(requestID: "t", clientAddress: address, stack: "apt"))
    }

    static let verified = AuthOutcome.identity(Identity(subject: "alice", method: "basic"))

    @Test("a reload keeps a verified password: the new auth.basic with the same stored hash costs no hash")
    func survivesReload() async throws {
        let verifier = PasswordVerifier()
        let before = Self.build([("alice", Self.alice), ("bob", Self.bob)], verifier: verifier)
        #expect(try await Self.check(before, "alice", "wonderland") == Self.verified)
        #expect(verifier.hashes == 1)
        // What SIGHUP does: a new pipeline builds a new auth.basic from the same users.
        let after = Self.build([("bob", Self.bob), ("alice", Self.alice)], verifier: verifier)
        #expect(try await Self.check(after, "alice", "wonderland") == Self.verified)
        #expect(verifier.hashes == 1)
        // A wrong password is never remembered.
        #expect(try await Self.check(after, "alice", "wonderland!") == .rejected("basic: wrong password"))
        #expect(try await Self.check(after, "alice", "wonderland!") == .rejected("basic: wrong password"))
        #expect(verifier.hashes == 3)
        // cacheTTL 0 in the new configuration: nothing remembered is used.
        let uncached = Self.build([("alice", Self.alice)], verifier: verifier, ttl: 0)
        #expect(try await Self.check(uncached, "alice", "wonderland") == Self.verified)
        #expect(verifier.hashes == 4)
    }

    @Test("after a reload, a user whose hash changed or who was removed is not let in by the remembered password")
    func reloadInvalidates() async throws {
        let verifier = PasswordVerifier()
        let first = Self.build([("alice", Self.alice), ("bob", Self.bob)], verifier: verifier)
        #expect(try await Self.check(first, "alice", "wonderland") == Self.verified)
        #expect(try await Self.check(first, "bob", "builder") == .identity(Identity(subject: "bob", method: "basic")))
        #expect(verifier.hashes == 2)

        let newHash = try PasswordHash.create(Array("looking-glass".utf8), scheme: .scrypt(logN: 10, r: 8, p: 1)).encoded
        let changed = Self.build([("bob", Self.bob), ("alice", newHash)], verifier: verifier)
        #expect(try await Self.check(changed, "alice", "wonderland") == .rejected("basic: wrong password"))
        #expect(verifier.hashes == 3)
        #expect(try await Self.check(changed, "alice", "looking-glass") == Self.verified)
        #expect(try await Self.check(changed, "bob", "builder") == .identity(Identity(subject: "bob", method: "basic")))
        #expect(verifier.hashes == 4)

        // Removed: the old verification of alice's old and new passwords must not count.
        let removed = Self.build([("bob", Self.bob)], verifier: verifier)
        #expect(try await Self.check(removed, "alice", "wonderland") == .rejected("basic: unknown user"))
        #expect(try await Self.check(removed, "alice", "looking-glass") == .rejected("basic: unknown user"))
        // And the same hash given back verifies again, from memory.
        let restored = Self.build([("alice", Self.alice)], verifier: verifier)
        let hashes = verifier.hashes
        #expect(try await Self.check(restored, "alice", "wonderland") == Self.verified)
        #expect(verifier.hashes == hashes)
    }

    @Test("once cacheTTL has passed, a password that verified before is hashed again without a throttle token; guesses still take one")
    func knownLoginNotThrottled() async throws {
        let verifier = PasswordVerifier()
        let stored = try PasswordHash(parsing: Self.alice)
        struct Throttled: Error {}
        var tokens = 0
        let take = { tokens += 1 }
        let refuse: () throws -> Void = { throw Throttled() }
        #expect(try await verifier.verify(user: "alice", stored: stored, password: "wonderland", ttl: 300, now: 1_000, beforeHashing: take))
        #expect(tokens == 1 && verifier.hashes == 1)
        // Within cacheTTL: from memory.
        #expect(try await verifier.verify(user: "alice", stored: stored, password: "wonderland", ttl: 300, now: 1_299, beforeHashing: refuse))
        #expect(verifier.hashes == 1)
        // Past cacheTTL, with the budget spent (by a guesser at the same address): hashed again, not refused.
        #expect(try await verifier.verify(user: "alice", stored: stored, password: "wonderland", ttl: 300, now: 1_400, beforeHashing: refuse))
        #expect(verifier.hashes == 2)
        // The renewed entry answers from memory again.
        #expect(try await verifier.verify(user: "alice", stored: stored, password: "wonderland", ttl: 300, now: 1_600, beforeHashing: refuse))
        #expect(verifier.hashes == 2)
        // A guess, and a password never verified, still take a token (and are refused here).
        await #expect(throws: Throttled.self) { try await verifier.verify(user: "alice", stored: stored, password: "guess", ttl: 300, now: 1_700, beforeHashing: refuse) }
        let other = try PasswordHash(parsing: Self.bob)
        await #expect(throws: Throttled.self) { try await verifier.verify(user: "bob", stored: other, password: "builder", ttl: 300, now: 1_700, beforeHashing: refuse) }
        // Known for a day after its last verification, then a login like any other.
        await #expect(throws: Throttled.self) {
            try await verifier.verify(user: "alice", stored: stored, password: "wonderland", ttl: 300, now: 1_400 + PasswordVerifier.knownFor, beforeHashing: refuse)
        }
        // cacheTTL 0 uses nothing remembered, this exemption included.
        await #expect(throws: Throttled.self) { try await verifier.verify(user: "alice", stored: stored, password: "wonderland", ttl: 0, now: 1_450, beforeHashing: refuse) }
        #expect(verifier.hashes == 2)
    }

    @Test("50 concurrent requests with one uncached credential cost one hash and one throttle token")
    func singleFlight() async throws {
        let verifier = PasswordVerifier()
        // A hash slow enough that the requests overlap it (16 MiB scrypt).
        let slow = try PasswordHash.create(Array("wonderland".utf8), scheme: .scrypt(logN: 14, r: 8, p: 1)).encoded
        // The default per-address budget (20) is below 50: without sharing the hash, most would get 429.
        let auth = Self.build([("alice", slow)], verifier: verifier)
        let outcomes = try await withThrowingTaskGroup(of: AuthOutcome.self) { group in
            for _ in 0..<50 { group.addTask { try await Self.check(auth, "alice", "wonderland") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count == 50)
        #expect(outcomes.allSatisfy { $0 == Self.verified })
        #expect(verifier.hashes == 1)

        // Wrong passwords share a hash too while it runs, and are not remembered afterwards.
        let wrong = try await withThrowingTaskGroup(of: AuthOutcome.self) { group in
            for _ in 0..<10 { group.addTask { try await Self.check(auth, "alice", "guess", from: "192.0.2.8") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(wrong.allSatisfy { $0 == .rejected("basic: wrong password") })
        #expect((2...11).contains(verifier.hashes))
        // Not remembered: the same wrong password hashes again.
        let hashes = verifier.hashes
        #expect(try await Self.check(auth, "alice", "guess", from: "192.0.2.9") == .rejected("basic: wrong password"))
        #expect(verifier.hashes == hashes + 1)
    }

    @Test("the process-wide verifier shows its counts in /metrics")
    func metrics() {
        let text = PasswordVerifier.shared.renderMetrics()
        #expect(text.contains("# TYPE gateway_auth_password_hashes_total counter\ngateway_auth_password_hashes_total "))
        #expect(text.contains("# TYPE gateway_auth_password_joined_total counter\ngateway_auth_password_joined_total "))
    }

    @Test("config without users, or with a bad inline hash, is refused")
    func badConfig() {
        #expect(Self.pipeline(#"{"type": "auth.basic"}"#).errors == [#"/stacks/apt/chain/0: no users: give "usersFile" or "users""#])
        #expect(Self.pipeline(#"{"type": "auth.basic", "users": {"a:b": "\#(Self.alice)"}}"#).errors
            == ["/stacks/apt/chain/0/users/a:b: user names must be non-empty, without ':' or control characters"])
        #expect(Self.pipeline(#"{"type": "auth.basic", "usersFile": "/nonexistent/users"}"#).errors.first?.contains("cannot read file") == true)
    }
}
