import Foundation
import Pipeline
import Testing

extension APTEndToEnd {
    /// A private APT repository: apt's auth.conf with a user's password, or a GitHub Actions OIDC
    /// token from the stand-in's issuer as the password (issue 12, run 2).
    @Suite("apt repository behind auth", .serialized)
    struct APTAuthTests {
        static let audience = "https://apt.example.com"

        struct World {
            let fixture: APTDirectoryTests.Fixture
            let standIn: StandInProcess
            let gateway: GatewayProcess
            let issuerCerts: TemporaryDirectory
        }

        static func world() async throws -> World {
            let fixture = try APTDirectoryTests.Fixture()
            let issuerCerts = TemporaryDirectory("standin-certs")
            let standIn = try StandInProcess(fixtures: GitHubFixtures(), arguments: ["--tls", issuerCerts.path])
            let hash = await APTTool.run(Paths.gateway, ["hash-password", "--user", "alice"], input: Data("alice-apt-password\n".utf8)).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
            fixture.work.write("users", hash + "\n")
            let gateway = try GatewayProcess(config: """
                {"version": 1,
                 "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                                "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
                 "sources": {"debs": {"type": "directory", "path": "\(fixture.debs)"}},
                 "middlewares": {"ci": {"type": "auth.oidc", "issuer": "\(standIn.oidc)", "audience": ["\(audience)"],
                                        "caFile": "\(issuerCerts.file("ca.pem"))", "require": {"repository_owner": ["acme"]}}},
                 "stacks": {"apt": {"match": {"pathPrefix": ["/apt/"]}, "chain": [
                    {"type": "log"},
                    "ci",
                    {"type": "auth.basic", "usersFile": "\(fixture.work.file("users"))"},
                    {"type": "apt.repository", "source": "debs", "signingKeyFile": "\(fixture.keyFile)"},
                    {"type": "upstream"}]}}}
                """, directory: fixture.certificates.directory)
            return World(fixture: fixture, standIn: standIn, gateway: gateway, issuerCerts: issuerCerts)
        }

        static func update(_ world: World, login: String?, password: String?) async -> Tool.Result {
            let apt = world.fixture.client(world.gateway)
            if let login, let password { apt.setCredentials(machine: "localhost:\(world.gateway.port("https"))", login: login, password: password) }
            return await apt.update()
        }

        @Test("a user's password works; none, or a wrong one, fails on the 401; the public key stays anonymous")
        func basicAuth() async throws {
            let world = try await Self.world()
            let good = await Self.update(world, login: "alice", password: "alice-apt-password")
            #expect(good.status == 0 && APTClient.problems(good).isEmpty, "\(good.output)\n\(good.stderr)")
            let none = await Self.update(world, login: nil, password: nil)
            #expect(none.status != 0)
            #expect((none.output + none.stderr).contains("401"), "\(none.output)\n\(none.stderr)")
            let wrong = await Self.update(world, login: "alice", password: "not-her-password")
            #expect(wrong.status != 0)
            let key = await APTTool.curl(["--cacert", world.fixture.certificates.ca, "-o", "/dev/null", "-w", "%{http_code}",
                                 world.gateway.url("https", "/apt/key.asc", scheme: "https", host: "localhost")])
            #expect(key.output == "200")
        }

        @Test("a GitHub Actions token as the password works; another owner's or an expired one is refused")
        func actionsToken() async throws {
            let world = try await Self.world()
            let token = try await world.standIn.oidcToken(claims: JSONObject([("aud", .string(Self.audience))]))
            let good = await Self.update(world, login: "github-action", password: token)
            #expect(good.status == 0 && APTClient.problems(good).isEmpty, "\(good.output)\n\(good.stderr)")
            let download = world.fixture.client(world.gateway)
            download.setCredentials(machine: "localhost:\(world.gateway.port("https"))", login: "github-action", password: token)
            #expect(await download.update().status == 0)
            #expect(await download.run("apt-get", ["download", "hello"]).status == 0)

            let otherOwner = try await world.standIn.oidcToken(claims: JSONObject([("aud", .string(Self.audience)), ("repository_owner", "evil")]))
            #expect(await Self.update(world, login: "github-action", password: otherOwner).status != 0)
            let expired = try await world.standIn.oidcToken(claims: JSONObject([("aud", .string(Self.audience)),
                                                                               ("iat", .number(WallClock.now - 900)),
                                                                               ("nbf", .number(WallClock.now - 900)),
                                                                               ("exp", .number(WallClock.now - 300))]))
            #expect(await Self.update(world, login: "github-action", password: expired).status != 0)
        }
    }
}
