import Foundation
import Testing
import Pipeline

/// Issue 5 end to end: the real binary, curl, a TLS OIDC issuer on loopback.
@Suite("authentication end to end", .serialized)
struct AuthTests {
    static let urlSecret = "e2e-url-signing-secret-0123456789abcdef"

    /// apt's stack: GitHub Actions tokens (`ci`) and Basic users as alternatives, `/public.key` open,
    /// signed URLs on. The users file line comes from `gateway hash-password`.
    static func startGateway(issuer: TestIssuer) throws -> GatewayProcess {
        let dir = TemporaryDirectory()
        let hashed = Tool.run(Paths.gateway, ["hash-password", "--user", "alice"], input: Data("wonderland\n".utf8))
        #expect(hashed.status == 0, "hash-password failed: \(hashed.stderr)")
        #expect(hashed.output.hasPrefix("alice:$scrypt$ln=15,r=8,p=1$"))
        dir.write("users", "# apt users\n" + hashed.output)
        dir.write("url-key", urlSecret + "\n")
        dir.write("repo/dists/stable/InRelease", "InRelease body\n")
        dir.write("repo/public.key", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
        return try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "signedURLs": {"keys": [{"id": "k1", "secretFile": "url-key"}]},
             "middlewares": {"ci": {"type": "auth.oidc", "issuer": "\(issuer.url)", "audience": "https://apt.example.com",
                                    "caFile": "\(issuer.caFile)", "require": {"repository_owner": ["acme"]}}},
             "stacks": {"apt": {"anonymous": ["/public.key"],
                                "chain": [{"type": "log"}, "ci", {"type": "auth.basic", "usersFile": "users", "realm": "apt"},
                                          {"type": "files", "root": "repo"}]}}}
            """, directory: dir)
    }

    /// `curl` printing the status code after the body.
    static func status(_ arguments: [String]) -> (code: Int, body: String, headers: String) {
        let result = Tool.curl(["-D", "-", "-w", "\n%{http_code}"] + arguments)
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        let code = Int(lines.last ?? "") ?? -1
        let text = lines.dropLast().joined(separator: "\n")
        let parts = text.components(separatedBy: "\r\n\r\n")
        return (code, parts.dropFirst().joined(separator: "\r\n\r\n"), parts.first ?? "")
    }

    @Test("one stack accepts Basic users and GitHub Actions tokens (Bearer, Basic, apt's auth.conf form) at once")
    func basicAndOIDC() throws {
        let issuer = try TestIssuer()
        let gateway = try Self.startGateway(issuer: issuer)
        let url = gateway.url("web", "/dists/stable/InRelease")

        let anonymous = Self.status([url])
        #expect(anonymous.code == 401)
        #expect(anonymous.headers.contains("WWW-Authenticate: Bearer realm=\"gateway\""))
        #expect(anonymous.headers.contains("WWW-Authenticate: Basic realm=\"gateway\", charset=\"UTF-8\""))
        #expect(anonymous.headers.contains("WWW-Authenticate: Basic realm=\"apt\", charset=\"UTF-8\""))

        let user = Self.status(["-u", "alice:wonderland", url])
        #expect(user.code == 200)
        #expect(user.body == "InRelease body\n")
        #expect(Self.status(["-u", "alice:wonderlanD", url]).code == 401)

        #expect(Self.status(["-u", "github-action:" + issuer.token(), url]).code == 200)
        #expect(Self.status(["-H", "Authorization: Bearer " + issuer.token(), url]).code == 200)

        // apt's auth.conf and .netrc share the syntax (apt.md §5.2): machine, login, password.
        let home = TemporaryDirectory()
        let netrc = home.write("auth.conf", """
            machine 127.0.0.1
            login github-action
            password \(issuer.token())
            """)
        let viaNetrc = Self.status(["--netrc-file", netrc, url])
        #expect(viaNetrc.code == 200)
        #expect(viaNetrc.body == "InRelease body\n")

        let expired = issuer.token([("exp", .number(Date().timeIntervalSince1970 - 120))])
        let stale = Self.status(["-u", "github-action:" + expired, url])
        #expect(stale.code == 401)
        #expect(stale.body == "invalid credentials\n")
        let otherOrg = Self.status(["-u", "github-action:" + issuer.token([("repository_owner", "evil")]), url])
        #expect(otherOrg.code == 403)
        #expect(otherOrg.body == "credentials valid but not allowed here\n")
        let wrongAudience = Self.status(["-H", "Authorization: Bearer " + issuer.token(audience: "https://github.com/acme"), url])
        #expect(wrongAudience.code == 401)

        // The public key needs nothing, and a stale token sent there does no harm.
        #expect(Self.status([gateway.url("web", "/public.key")]).code == 200)
        #expect(Self.status(["-u", "github-action:" + expired, gateway.url("web", "/public.key")]).code == 200)

        #expect(gateway.waitForLogLine { $0.contains("\"status\":403") })
        let log = gateway.accessLog
        let ci = log.first { ($0["auth"] as? String) == "oidc" }
        #expect(ci?["user"] as? String == "repo:acme/tool:ref:refs/heads/main")
        #expect(ci?["claim.repository"] as? String == "acme/tool")
        #expect(ci?["claim.ref"] as? String == "refs/heads/main")
        #expect(log.contains { ($0["auth"] as? String) == "basic" && ($0["user"] as? String) == "alice" })
        // "ci" is tried first, then auth.basic, which does not know the login: both verdicts are logged.
        #expect(log.contains { ($0["auth_error"] as? String) == "oidc: expired; basic: unknown user" })
        #expect(log.contains { ($0["auth_error"] as? String) == "oidc: claim repository_owner not allowed; basic: unknown user" })
        #expect(!gateway.stdout.contains(expired), "tokens never reach the log")
    }

    @Test("apt-get itself authenticates with auth.conf: login github-action, password = the token")
    func aptAuthConf() throws {
        let issuer = try TestIssuer()
        let gateway = try Self.startGateway(issuer: issuer)
        let apt = TemporaryDirectory("apt")
        // A flat repository (apt.md §1.7) with an empty index, trusted because this test is about auth.
        let repo = gateway.directory.file("repo")
        let release = Tool.run("apt-ftparchive", ["packages", "."], directory: repo)
        gateway.directory.write("repo/Packages", release.output)
        let releaseFile = Tool.run("apt-ftparchive", ["release", "."], directory: repo)
        gateway.directory.write("repo/Release", releaseFile.output)
        let port = gateway.port("web")
        apt.write("sources.list", "deb [trusted=yes] http://127.0.0.1:\(port)/ ./\n")
        // No scheme in `machine` means https only (apt.md §5.2), so http is written out.
        let authConf = apt.write("auth.conf", "machine http://127.0.0.1:\(port)\nlogin github-action\npassword \(issuer.token())\n")
        chmod(authConf, 0o600)
        try FileManager.default.createDirectory(atPath: apt.file("lists/partial"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: apt.file("cache/archives/partial"), withIntermediateDirectories: true)
        let options = ["-o", "Dir::Etc::SourceList=\(apt.file("sources.list"))", "-o", "Dir::Etc::SourceParts=/nonexistent",
                       "-o", "Dir::State::Lists=\(apt.file("lists"))", "-o", "Dir::Cache=\(apt.file("cache"))",
                       "-o", "Dir::Etc::netrc=\(authConf)", "-o", "Dir::Etc::netrcparts=/nonexistent",
                       "-o", "APT::Sandbox::User=root", "-o", "Acquire::Languages=none"]
        let update = Tool.run("apt-get", options + ["update"])
        #expect(update.status == 0, "apt-get update failed:\n\(update.output)\n\(update.stderr)")
        #expect(!update.output.contains("Unauthorized"))
        // A flat source "./" makes apt ask for /./Release, which the gateway serves (and logs) as /Release.
        #expect(gateway.waitForLogLine { $0.contains("\"path\":\"/Release\"") })
        let releaseFetch = gateway.accessLog.first { ($0["path"] as? String) == "/Release" }
        #expect(releaseFetch?["status"] as? Int == 200)
        #expect(releaseFetch?["auth"] as? String == "oidc")
        #expect(releaseFetch?["claim.repository"] as? String == "acme/tool")

        // Without the file, apt gets the 401 and fails.
        let without = Tool.run("apt-get", options.map { $0.hasPrefix("Dir::Etc::netrc=") ? "Dir::Etc::netrc=/nonexistent" : $0 } + ["update"])
        #expect(without.status != 0)
        #expect((without.output + without.stderr).contains("401  Unauthorized"))
    }

    @Test("made-up kids cost the issuer one JWKS fetch, however many arrive")
    func unknownKidFlood() throws {
        let issuer = try TestIssuer()
        let gateway = try Self.startGateway(issuer: issuer)
        let url = gateway.url("web", "/dists/stable/InRelease")
        let rogue = try PrivateKey.generate(.rsa(bits: 2048))
        // One curl process, 40 requests, each with its own made-up kid.
        var arguments: [String] = []
        for i in 0..<40 {
            if i > 0 { arguments.append("--next") }
            arguments += ["--silent", "-o", "/dev/null", "-w", "%{http_code}\n", "-H",
                          "Authorization: Bearer " + issuer.token(kid: "rotated-\(i)", key: rogue), url]
        }
        let flood = Tool.run("curl", arguments)
        let codes = flood.output.split(separator: "\n")
        #expect(codes.count == 40)
        #expect(codes.allSatisfy { $0 == "401" })
        #expect(issuer.fetches() == 1, "one fetch for the first unknown kid, none for the rest")
        #expect(issuer.fetches("/.well-known/openid-configuration") == 1)
        // The genuine key came with that fetch.
        #expect(Self.status(["-H", "Authorization: Bearer " + issuer.token(), url]).code == 200)
        #expect(issuer.fetches() == 1)
        #expect(gateway.accessLog.contains { ($0["auth_error"] as? String) == "oidc: unknown signing key" })
    }

    @Test("a signed URL opens exactly its path, for exactly its lifetime, without credentials")
    func signedURLs() throws {
        let issuer = try TestIssuer()
        let gateway = try Self.startGateway(issuer: issuer)
        // Minted here with the same key as the gateway's config: what any replica signs, all accept.
        let signer = URLSigner(keys: [URLSigner.Key(id: "k1", secret: Array(Self.urlSecret.utf8))])
        let base = gateway.url("web", "")

        let target = signer.sign(path: "/dists/stable/InRelease", query: "archive=tar.gz", ttl: .seconds(4))
        let minted = Date()
        let ok = Self.status([base + target])
        #expect(ok.code == 200)
        #expect(ok.body == "InRelease body\n")
        #expect(Self.status(["-I", base + target]).code == 200, "HEAD, as go-getter sends first")

        let query = String(target.split(separator: "?")[1])
        #expect(Self.status([base + "/dists/stable/Release?" + query]).code == 401, "another path")
        let longer = target.replacing(#/gw-expires=(\d+)/#) { "gw-expires=\(Int($0.1)! + 3600)" }
        #expect(Self.status([base + longer]).code == 401, "edited expiry")
        let edited = target.replacing(#/gw-signature=([A-Za-z0-9_-])/#) { "gw-signature=" + ($0.1 == "A" ? "B" : "A") }
        #expect(Self.status([base + edited]).code == 401, "edited signature")
        #expect(Self.status([base + signer.sign(path: "/dists/stable/InRelease", now: Int64(Date().timeIntervalSince1970) - 301)]).code == 401,
                "minted more than its lifetime ago")

        // Past its lifetime the same URL is refused.
        Thread.sleep(until: minted.addingTimeInterval(5.5))
        let late = Self.status([base + target])
        #expect(late.code == 401)
        #expect(late.body == "invalid credentials\n")
        #expect(gateway.waitForLogLine { $0.contains("signed-url: expired") })
        #expect(gateway.accessLog.contains { ($0["auth"] as? String) == "signed-url" && ($0["path"] as? String) == "/dists/stable/InRelease" })
        #expect(!gateway.stdout.contains("gw-signature"), "signatures never reach the log")
    }

    @Test("hash-password reads stdin; --token prints a sha256 for auth.bearer; empty input is refused")
    func hashPassword() {
        let pbkdf2 = Tool.run(Paths.gateway, ["hash-password", "--pbkdf2"], input: Data("s3cret\n".utf8))
        #expect(pbkdf2.status == 0)
        #expect(pbkdf2.output.hasPrefix("$pbkdf2-sha256$i=600000$"))
        let parsed = try? PasswordHash(parsing: pbkdf2.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(parsed?.verify(Array("s3cret".utf8)) == true)
        let token = Tool.run(Paths.gateway, ["hash-password", "--token"], input: Data("abc".utf8))
        #expect(token.output == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n")
        let empty = Tool.run(Paths.gateway, ["hash-password"], input: Data("\n".utf8))
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("empty password"))
    }
}
