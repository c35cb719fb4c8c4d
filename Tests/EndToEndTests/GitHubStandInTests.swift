import Foundation
import Pipeline
import Testing

/// The stand-in itself, driven with curl: it must behave like the parts of GitHub the gateway
/// relies on, or passing against it would prove nothing.
@Suite("github-standin behaves like GitHub")
struct GitHubStandInTests {
    /// An App JWT as GitHub documents it, with claims the test may bend.
    static func appJWT(_ fixtures: GitHubFixtures, key: PrivateKey? = nil, iss: JSONValue? = nil, exp: Double = 540, iat: Double = -60) throws -> String {
        let now = Double(Int(WallClock.now))
        let claims = JSONObject([("iat", .number(now + iat)), ("exp", .number(now + exp)), ("iss", iss ?? .number(Double(fixtures.appID)))])
        return try JWT.encode(claims: claims, key: key ?? fixtures.appKey, algorithm: .rs256)
    }

    static func mint(_ standIn: StandInProcess, jwt: String, installation: Int? = nil) -> (status: String, body: String) {
        let result = Tool.curl(["-X", "POST", "-w", "\n%{http_code}", "-H", "Authorization: Bearer \(jwt)", "-H", "Accept: application/vnd.github+json",
                                standIn.api + "/app/installations/\(installation ?? standIn.fixtures.installation)/access_tokens"])
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
    }

    @Test("App JWTs are checked as GitHub checks them, and tokens expire")
    func appAuthentication() throws {
        let fixtures = GitHubFixtures(tokenLifetime: 2)
        fixtures.repo("secret", private: true)
        let standIn = try StandInProcess(fixtures: fixtures)

        let good = Self.mint(standIn, jwt: try Self.appJWT(fixtures))
        #expect(good.status == "201")
        let json = try JSONParser.parse(good.body)
        let token = try #require(json["token"]?.string)
        #expect(token.hasPrefix("ghs_"))
        let expires = try #require(json["expires_at"]?.string.flatMap(WallClock.parse))
        #expect(expires > WallClock.now - 1 && expires <= WallClock.now + 2)
        #expect(json["permissions"]?["contents"] == "read")
        // Used at once: the token lives 2 s, and the refused mints below (an RSA key generated
        // among them) can take longer than that on a loaded machine.
        let url = standIn.api + "/repos/acme/secret"
        #expect(Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(token)", url]).output == "200")

        #expect(Self.mint(standIn, jwt: try Self.appJWT(fixtures, key: try PrivateKey.generate(.rsa(bits: 2048)))).status == "401")
        #expect(Self.mint(standIn, jwt: try Self.appJWT(fixtures, exp: 1200)).status == "401", "exp more than 10 minutes ahead")
        #expect(Self.mint(standIn, jwt: try Self.appJWT(fixtures, exp: -30, iat: -300)).status == "401", "expired")
        #expect(Self.mint(standIn, jwt: try Self.appJWT(fixtures, iss: "9999")).status == "401", "another App")
        #expect(Self.mint(standIn, jwt: try Self.appJWT(fixtures, iss: .string(String(fixtures.appID)))).status == "201", "iss as a string")
        #expect(Self.mint(standIn, jwt: try Self.appJWT(fixtures), installation: 1).status == "404")
        #expect(Self.mint(standIn, jwt: "not.a.jwt").status == "401")

        #expect(Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", url]).output == "404", "private repositories are invisible, not forbidden")
        #expect(Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer ghs_unknown", url]).output == "401")
        Thread.sleep(forTimeInterval: max(0, expires - WallClock.now) + 0.5)
        let expired = Tool.curl(["-w", "\n%{http_code}", "-H", "Authorization: token \(token)", url])
        #expect(expired.output.hasSuffix("\n401"))
        #expect(expired.output.contains("Bad credentials"))
    }

    @Test("lists paginate with Link, answers carry ETags and 304s, and rate-limit headers count down")
    func paginationAndConditionalRequests() throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc").tags((1...45).map { "v0.\($0).0" })
        let standIn = try StandInProcess(fixtures: fixtures)
        let auth = ["-H", "Authorization: Bearer \(fixtures.userToken)"]

        let first = Tool.curl(["-i"] + auth + [standIn.api + "/repos/acme/vpc/tags?per_page=20"]).output
        #expect(first.contains("Link: <\(standIn.api)/repos/acme/vpc/tags?per_page=20&page=2>; rel=\"next\", <\(standIn.api)/repos/acme/vpc/tags?per_page=20&page=3>; rel=\"last\""))
        #expect(first.contains("X-RateLimit-Limit: 5000"))
        #expect(first.contains("X-RateLimit-Remaining: 4999"))
        let last = Tool.curl(auth + [standIn.api + "/repos/acme/vpc/tags?per_page=20&page=3"]).output
        #expect(try JSONParser.parse(last).array?.count == 5)
        let defaultPage = Tool.curl(auth + [standIn.api + "/repos/acme/vpc/tags"]).output
        #expect(try JSONParser.parse(defaultPage).array?.count == 30, "per_page defaults to 30")

        let etag = try #require(first.split(separator: "\r\n").first { $0.hasPrefix("ETag: ") }.map { String($0.dropFirst(6)) })
        #expect(etag.hasPrefix("W/\""))
        let unchanged = Tool.curl(["-i", "-H", "If-None-Match: \(etag)"] + auth + [standIn.api + "/repos/acme/vpc/tags?per_page=20"]).output
        #expect(unchanged.hasPrefix("HTTP/1.1 304"))
        #expect(unchanged.contains("X-RateLimit-Remaining: 4997"), "the authorized 304 did not count (3 calls before it)")
    }

    @Test("tarballs redirect to codeload with GitHub's top directory; private links need their token")
    func archives() throws {
        let fixtures = GitHubFixtures()
        let repo = fixtures.repo("secret", private: true, files: ["main.tf": "# x\n"])
        repo.tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let location = Tool.curl(["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", "Authorization: Bearer \(fixtures.userToken)",
                                  standIn.api + "/repos/acme/secret/tarball/v1.0.0"]).output
        #expect(location.hasPrefix("302 \(standIn.codeload)/acme/secret/legacy.tar.gz/v1.0.0?token="))
        let link = String(location.dropFirst(4))
        let directory = TemporaryDirectory()
        #expect(Tool.curl(["-o", directory.file("a.tar.gz"), "-w", "%{http_code}", link]).output == "200")
        let listing = Tool.run("tar", ["-tzf", directory.file("a.tar.gz")]).output
        #expect(listing.contains("acme-secret-\(repo.head.prefix(7))/main.tf"))
        let unsigned = String(link.prefix { $0 != "?" })
        #expect(Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", unsigned]).output == "404")
        #expect(Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(fixtures.userToken)",
                           standIn.api + "/repos/acme/secret/tarball/no-such-ref"]).output == "404")
    }

    @Test("knobs: spent rate limit, secondary limit, 5xx and a body cut by a reset")
    func knobs() async throws {
        let fixtures = GitHubFixtures()
        let repo = fixtures.repo("vpc")
        repo.tag("v1.0.0")
        repo.release("v1.0.0", assets: ["big.bin": SecureRandom.bytes(200_000)])
        let standIn = try StandInProcess(fixtures: fixtures)
        let url = standIn.api + "/repos/acme/vpc/tags"

        try await standIn.knobs(["rateLimit": ["exhausted": true, "resetInSeconds": 3600]])
        let limited = Tool.curl(["-i", url]).output
        #expect(limited.hasPrefix("HTTP/1.1 403"))
        #expect(limited.contains("X-RateLimit-Remaining: 0"))
        #expect(limited.contains("API rate limit exceeded"))
        try await standIn.knobs(["rateLimit": ["exhausted": false]])

        try await standIn.knobs(["secondaryLimit": ["status": 429, "retryAfter": 17, "count": 1]])
        let secondary = Tool.curl(["-i", url]).output
        #expect(secondary.hasPrefix("HTTP/1.1 429"))
        #expect(secondary.contains("Retry-After: 17"))
        #expect(secondary.contains("secondary rate limit"))
        #expect(Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", url]).output == "200", "count 1: the next call passes")

        try await standIn.knobs(["serverErrors": ["status": 502, "count": 1, "on": "api"]])
        #expect(Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", url]).output == "502")
        #expect(Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", url]).output == "200")

        try await standIn.knobs(["resetBodies": ["afterBytes": 1000, "count": 1, "on": "objects"]])
        let assetID = try #require(try JSONParser.parse(Tool.curl([standIn.api + "/repos/acme/vpc/releases"]).output).array?.first?["assets"]?.array?.first?["id"]?.int)
        let cut = Tool.curl(["-L", "-o", "/dev/null", "-w", "%{size_download}", "-H", "Accept: application/octet-stream",
                             standIn.api + "/repos/acme/vpc/releases/assets/\(assetID)"])
        #expect(cut.status != 0, "curl saw the body end early")
        #expect(Int(cut.output) == 1000)
        let whole = Tool.curl(["-L", "-o", "/dev/null", "-w", "%{size_download}", "-H", "Accept: application/octet-stream",
                               standIn.api + "/repos/acme/vpc/releases/assets/\(assetID)"])
        #expect(whole.output == "200000")
        let counters = try await standIn.counters()
        #expect(counters["api.limited"] == 1)
        #expect(counters["api.secondaryLimited"] == 1)
        #expect(counters["api.serverErrors"] == 1)
        #expect(counters["objects.resetBodies"] == 1)
    }

    @Test("the OIDC issuer: discovery, JWKS, minted tokens that verify, rotation, and the runner's idtoken endpoint")
    func oidcIssuer() async throws {
        let fixtures = GitHubFixtures()
        let standIn = try StandInProcess(fixtures: fixtures)
        let discovery = try JSONParser.parse(Tool.curl([standIn.oidc + "/.well-known/openid-configuration"]).output)
        #expect(discovery["issuer"]?.string == standIn.oidc)
        let jwksURI = try #require(discovery["jwks_uri"]?.string)
        #expect(discovery["id_token_signing_alg_values_supported"] == ["RS256"])
        let keys = try JWKSet(try JSONParser.parse(Tool.curl([jwksURI]).output))
        #expect(keys.count == 1)

        let token = try await standIn.oidcToken(claims: JSONObject([("aud", "https://apt.example.com"), ("repository", "acme/infra"),
                                                                    ("environment", "prod")]))
        let verifier = JWTVerifier(issuer: standIn.oidc, audiences: ["https://apt.example.com"], maxAge: 600)
        let jwt = try verifier.verify(token, keys: keys, now: Int64(WallClock.now))
        #expect(jwt.claim("repository") == "acme/infra")
        #expect(jwt.claim("repository_owner") == "acme")
        #expect(jwt.claim("sub") == "repo:acme/infra:environment:prod")
        #expect(jwt.claim("repository_owner_id")?.allSatisfy(\.isNumber) == true, "ids are strings of digits")
        #expect(jwt.header["alg"] == "RS256")

        let forged = try await standIn.oidcToken(claims: JSONObject([("aud", "https://apt.example.com")]), unknownKey: true)
        #expect(throws: JWTError.badSignature) { try verifier.verify(forged, keys: keys, now: Int64(WallClock.now)) }

        let rotate = Tool.curl(["-X", "POST", "-d", "{}", standIn.oidc + "/_standin/oidc/rotate"]).output
        #expect(try JSONParser.parse(rotate)["kid"] == "standin-2")
        #expect(try JWKSet(try JSONParser.parse(Tool.curl([jwksURI]).output)).count == 2)

        let runner = Tool.curl(["-H", "Authorization: bearer \(fixtures.oidcRequestToken)",
                                standIn.oidc + "/_apis/idtoken?api-version=2.0&audience=https%3A%2F%2Fapt.example.com"]).output
        let value = try #require(try JSONParser.parse(runner)["value"]?.string)
        let keysNow = try JWKSet(try JSONParser.parse(Tool.curl([jwksURI]).output))
        #expect(try verifier.verify(value, keys: keysNow, now: Int64(WallClock.now)).claim("aud") == "https://apt.example.com")
        #expect(Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", standIn.oidc + "/_apis/idtoken?audience=x"]).output == "401")
        #expect(try await standIn.counter("oidc.jwks") == 3)
    }

    @Test("GitHub's refusals: no User-Agent, an unsupported API version, a secondary limit without Retry-After, too many at once")
    func strictRefusals() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc").tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let url = standIn.api + "/repos/acme/vpc/tags"
        func status(_ extra: [String]) -> String { Tool.curl(["-o", "/dev/null", "-w", "%{http_code}"] + extra + [url]).output }

        let anonymousAgent = Tool.curl(["-i", "-H", "User-Agent:", url]).output
        #expect(anonymousAgent.hasPrefix("HTTP/1.1 403"))
        #expect(anonymousAgent.contains("Please make sure your request has a User-Agent header"))
        #expect(status(["-H", "X-GitHub-Api-Version: 2021-01-01"]) == "400", "an unsupported version")
        #expect(Tool.curl(["-H", "X-GitHub-Api-Version: v3", url]).output.contains("is not a supported version"))
        #expect(status(["-H", "X-GitHub-Api-Version: 2022-11-28"]) == "200")
        #expect(status([]) == "200", "without the header GitHub picks the default version")

        try await standIn.knobs(["secondaryLimit": ["status": 403, "retryAfter": .null, "count": 1]])
        let secondary = Tool.curl(["-i", url]).output
        #expect(secondary.hasPrefix("HTTP/1.1 403") && secondary.contains("secondary rate limit"))
        #expect(!secondary.lowercased().contains("retry-after"), "GitHub may leave Retry-After out")

        // One request at a time: the second of two parallel requests is refused as a secondary limit.
        try await standIn.knobs(["maxConcurrent": 1, "latencyMs": 3000])
        let both = Tool.curl(["--parallel", "--parallel-immediate", "-w", "%{http_code}\n", "-o", "/dev/null", "-o", "/dev/null", url, url]).output
        #expect(both.split(separator: "\n").sorted() == ["200", "403"], "\(both)")
        try await standIn.knobs(["maxConcurrent": .null, "latencyMs": 0])
        let counters = try await standIn.counters()
        #expect(counters["api.noUserAgent"] == 1 && counters["api.unsupportedVersion"] == 2 && counters["api.concurrencyLimited"] == 1)
        #expect(counters["api.peakConcurrency"] == 1)

        // Date is GitHub's clock, which the skew knob moves.
        try await standIn.knobs(["clockSkewSeconds": -3600])
        let date = try #require(Tool.curl(["-i", url]).output.split(separator: "\r\n").first { $0.hasPrefix("Date: ") })
        let seconds = try #require(HTTPDate.parse(String(date.dropFirst(6))))
        #expect(abs(Double(seconds) - (WallClock.now - 3600)) < 10)
    }

    @Test("App tokens for a Client-ID issuer and in the long stateless format; a renamed repository answers 301")
    func tokensAndRenames() async throws {
        let fixtures = GitHubFixtures()
        let repo = fixtures.repo("old-name", private: true)
        repo.tag("v1.0.0")
        repo.rename(to: "new-name")
        let standIn = try StandInProcess(fixtures: fixtures)

        let byClientID = Self.mint(standIn, jwt: try Self.appJWT(fixtures, iss: .string(fixtures.clientID)))
        #expect(byClientID.status == "201")
        #expect(Self.mint(standIn, jwt: try Self.appJWT(fixtures, iss: "Iv23liSomeoneElse")).status == "401")
        #expect(Self.mint(standIn, jwt: try Self.appJWT(fixtures, iat: 5)).status == "401", "issued in GitHub's future")
        #expect(Self.mint(standIn, jwt: try Self.appJWT(fixtures, exp: 620)).status == "401", "no leeway past 10 minutes")

        let stateless = Tool.curl(["-X", "POST", "-H", "Authorization: Bearer \(try Self.appJWT(fixtures))", "-H", "X-GitHub-Stateless-S2S-Token: enabled",
                                   standIn.api + "/app/installations/\(fixtures.installation)/access_tokens"]).output
        let long = try #require(try JSONParser.parse(stateless)["token"]?.string)
        #expect(long.hasPrefix("ghs_\(fixtures.appID)_") && long.count > 400 && long.filter { $0 == "." }.count == 2, "\(long.count)")
        let short = try #require(try JSONParser.parse(byClientID.body)["token"]?.string)
        #expect(short.count == 40 && !short.contains("."))

        let moved = Tool.curl(["-i", "-H", "Authorization: Bearer \(long)", standIn.api + "/repos/acme/old-name/tags?per_page=5"]).output
        #expect(moved.hasPrefix("HTTP/1.1 301"))
        let location = try #require(moved.split(separator: "\r\n").first { $0.hasPrefix("Location: ") }.map { String($0.dropFirst(10)) })
        #expect(location.hasPrefix(standIn.api + "/repositories/") && location.hasSuffix("/tags?per_page=5"))
        let followed = Tool.curl(["-L", "-H", "Authorization: Bearer \(long)", standIn.api + "/repos/acme/old-name/tags"]).output
        #expect(try JSONParser.parse(followed).array?.first?["name"] == "v1.0.0")
        #expect(Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", standIn.api + "/repos/acme/old-name"]).output == "404",
                "a private repository's new home is not revealed to anyone who cannot see it")
    }
}
