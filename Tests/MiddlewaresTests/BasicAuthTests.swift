import Testing
import Pipeline
@testable import Middlewares

@Suite("auth.basic")
struct BasicAuthTests {
    // Cheap parameters keep the suite fast; production hashes use the defaults.
    static let alice = try! PasswordHash.create(Array("wonderland".utf8), scheme: .scrypt(logN: 10, r: 8, p: 1)).encoded
    static let bob = try! PasswordHash.create(Array("builder".utf8), scheme: .pbkdf2SHA256(iterations: 10_000)).encoded

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
        let stack = Self.pipeline(#"{"type": "auth.basic", "hashAttemptsPerAddress": 3, "hashAttemptsPerUser": 0, "users": {"alice": "\#(Self.alice)", "bob": "\#(Self.bob)"}}"#)
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
        let stack = Self.pipeline(#"{"type": "auth.basic", "hashAttemptsPerUser": 2, "users": {"alice": "\#(Self.alice)", "bob": "\#(Self.bob)"}}"#)
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

    @Test("config without users, or with a bad inline hash, is refused")
    func badConfig() {
        #expect(Self.pipeline(#"{"type": "auth.basic"}"#).errors == [#"/stacks/apt/chain/0: no users: give "usersFile" or "users""#])
        #expect(Self.pipeline(#"{"type": "auth.basic", "users": {"a:b": "\#(Self.alice)"}}"#).errors
            == ["/stacks/apt/chain/0/users/a:b: user names must be non-empty, without ':' or control characters"])
        #expect(Self.pipeline(#"{"type": "auth.basic", "usersFile": "/nonexistent/users"}"#).errors.first?.contains("cannot read file") == true)
    }
}
