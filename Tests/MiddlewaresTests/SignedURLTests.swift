import Testing
import Pipeline
@testable import Middlewares

@Suite("signed URLs")
struct SignedURLTests {
    static let oldSecret = "old-secret-0123456789abcdef0123456789abcdef"
    static let newSecret = "new-secret-0123456789abcdef0123456789abcdef"
    static let password = try! PasswordHash.create(Array("pw".utf8), scheme: .scrypt(logN: 10, r: 8, p: 1)).encoded

    /// A second replica with the same keys: what it signs, this pipeline must accept.
    let replica = URLSigner(keys: [URLSigner.Key(id: "k2", secret: Array(newSecret.utf8)), URLSigner.Key(id: "k1", secret: Array(Self.oldSecret.utf8))])
    let retired = URLSigner(keys: [URLSigner.Key(id: "k1", secret: Array(Self.oldSecret.utf8))])
    let stack = TestPipeline("""
        {"version": 1, "listeners": [{"name": "main", "listen": "127.0.0.1:0"}],
         "signedURLs": {"keys": [{"id": "k2", "secret": "\(SignedURLTests.newSecret)"}, {"id": "k1", "secret": "\(SignedURLTests.oldSecret)"}], "ttl": "5m"},
         "stacks": {"tf": {"chain": [{"type": "auth.basic", "users": {"u": "\(SignedURLTests.password)"}}, {"type": "test.echo"}]}}}
        """)

    @Test("a signed URL opens its path without credentials; the gate strips its parameters")
    func valid() async throws {
        let target = replica.sign(path: "/archives/acme/vpc/1.2.0.tar.gz")
        #expect(target.contains("gw-key=k2"))
        let answer = try await stack.send(target)
        #expect(answer.body == "user=signed-url auth=signed-url query=- key=k2")
        let withQuery = replica.sign(path: "/archives/acme/vpc/1.2.0.tar.gz", query: "archive=tar.gz")
        #expect(try await stack.send(withQuery).body == "user=signed-url auth=signed-url query=archive=tar.gz key=k2")
    }

    @Test("parameter order does not matter (go-getter sorts the query)")
    func reordered() async throws {
        let target = replica.sign(path: "/a.zip", query: "x=1")
        let (path, query) = (String(target.split(separator: "?")[0]), target.split(separator: "?")[1])
        let shuffled = path + "?" + query.split(separator: "&").reversed().joined(separator: "&")
        #expect(try await stack.send(shuffled).status == 200)
    }

    @Test("HEAD is accepted for a GET URL (go-getter sends HEAD first); other methods are not")
    func methods() async throws {
        let target = replica.sign(path: "/a.zip")
        #expect(try await stack.send(target, method: .head).status == 200)
        #expect(try await stack.send(target, method: .post).status == 401)
    }

    @Test("a URL signed with the old key still works during rotation")
    func rotation() async throws {
        #expect(try await stack.send(retired.sign(path: "/a.zip")).status == 200)
        let unknown = URLSigner(keys: [URLSigner.Key(id: "k9", secret: Array(Self.oldSecret.utf8))])
        let answer = try await stack.send(unknown.sign(path: "/a.zip"))
        #expect(answer.status == 401)
        #expect(answer.authError == "signed-url: unknown key")
    }

    @Test("swapped path, past expiry, edited expiry or edited signature get 401")
    func tampering() async throws {
        let target = replica.sign(path: "/archives/a.zip")
        let query = String(target.split(separator: "?")[1])
        var cases: [(String, String)] = [
            ("/archives/b.zip?" + query, "signed-url: bad signature"),
            ("/archives/a.zip/?" + query, "signed-url: bad signature"),
            ("/archives/%61.zip?" + query, "signed-url: bad signature"),
            (replica.sign(path: "/archives/a.zip", now: HTTPDate.now - 301), "signed-url: expired"),
            (target.replacing(#/gw-expires=(\d+)/#) { "gw-expires=\(Int($0.1)! + 3600)" }, "signed-url: bad signature"),
            (target + "&gw-key=k1", "signed-url: repeated gw-key"),
            ("/archives/a.zip?gw-expires=99999999999&gw-key=k2", "signed-url: incomplete signature parameters"),
        ]
        let signature = try #require(target.firstMatch(of: #/gw-signature=([A-Za-z0-9_-]+)/#)?.1)
        var flipped = Array(signature)
        flipped[5] = flipped[5] == "A" ? "B" : "A"
        cases.append((target.replacing(signature, with: String(flipped)), "signed-url: bad signature"))
        cases.append((target.replacing(signature, with: signature.dropLast()), "signed-url: bad signature"))
        for (tampered, reason) in cases {
            let answer = try await stack.send(tampered)
            #expect(answer.status == 401, "\(tampered)")
            #expect(answer.body == "invalid credentials\n")
            #expect(answer.authError == reason, "\(tampered)")
        }
    }

    @Test("a URL is valid for exactly its lifetime")
    func lifetime() async throws {
        let now = HTTPDate.now
        #expect(try await stack.send(replica.sign(path: "/a.zip", ttl: .seconds(60), now: now - 59)).status == 200)
        #expect(try await stack.send(replica.sign(path: "/a.zip", ttl: .seconds(60), now: now - 61)).status == 401)
        let target = replica.sign(path: "/a.zip", ttl: .seconds(300), now: now)
        let request = Request(target: target)
        #expect(replica.check(request, now: now + 300) == .valid(keyID: "k2", query: nil))
        #expect(replica.check(request, now: now + 301) == .invalid("expired"))
    }

    @Test("real credentials still work when a stale signature is attached")
    func credentialsBeatBadSignature() async throws {
        let stale = replica.sign(path: "/a.zip", now: HTTPDate.now - 1000)
        #expect(try await stack.send(stale, headers: basic("u", "pw")).body.hasPrefix("user=u auth=basic"))
    }

    @Test("signedURLs config is checked")
    func config() {
        let bad = TestPipeline("""
            {"version": 1, "listeners": [{"name": "main", "listen": "127.0.0.1:0"}],
             "signedURLs": {"keys": [{"id": "a b", "secret": "short"}, {"id": "k", "secret": "\(Self.oldSecret)"}, {"id": "k", "secret": "\(Self.newSecret)"}], "ttl": "48h"},
             "stacks": {"s": {"chain": [{"type": "test.echo"}]}}}
            """)
        #expect(bad.errors == [
            "/signedURLs/ttl: must be between 1s and 24h",
            "/signedURLs/keys/0/id: use 1 to 32 characters of A-Z a-z 0-9 . _ -",
            "/signedURLs/keys/0/secret: too short: use at least 32 characters (e.g. `openssl rand -hex 32`)",
            #"/signedURLs/keys/2/id: duplicate key id "k""#,
        ])
    }
}
