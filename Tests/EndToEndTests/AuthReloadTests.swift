import Foundation
import Testing

/// Issue 16, the latency cliff after a reload: the real binary, curl, SIGHUP, and the hash count
/// `/metrics` shows (`gateway_auth_password_hashes_total`).
@Suite("auth.basic across reloads (real binary)")
struct AuthReloadTests {
    static func hashLine(_ user: String, _ password: String) -> String {
        let hashed = Tool.run(Paths.gateway, ["hash-password", "--user", user], input: Data((password + "\n").utf8))
        #expect(hashed.status == 0, "hash-password failed: \(hashed.stderr)")
        return hashed.output
    }

    static func config(port: Int) -> String {
        """
        {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:\(port)"}],
         "stacks": {"metrics": {"match": {"pathPrefix": ["/metrics"]}, "chain": [{"type": "metrics"}]},
                    "apt": {"chain": [{"type": "auth.basic", "usersFile": "users", "realm": "apt"}, {"type": "files", "root": "repo"}]}},
         "run": ["metrics", "apt"]}
        """
    }

    static func hashes(_ gateway: GatewayProcess) -> Int? {
        let text = Tool.curl(["-f", gateway.url("web", "/metrics")]).output
        let line = text.split(separator: "\n").first { $0.hasPrefix("gateway_auth_password_hashes_total ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") }
    }

    static func status(_ gateway: GatewayProcess, _ credentials: String) -> String {
        Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", "-u", credentials, gateway.url("web", "/dists/stable/InRelease")]).output
    }

    /// Sends SIGHUP and waits for the `count`-th `reloaded` line.
    static func reload(_ gateway: GatewayProcess, count: Int) {
        gateway.signal(SIGHUP)
        let deadline = Date().addingTimeInterval(30)
        while gateway.stderr.components(separatedBy: "\"msg\":\"reloaded\"").count - 1 < count, Date() < deadline { usleep(20_000) }
        #expect(gateway.stderr.components(separatedBy: "\"msg\":\"reloaded\"").count - 1 == count, "\(gateway.stderr)")
    }

    @Test("50 concurrent logins cost one hash; after SIGHUP the same password costs none; a changed or removed user is refused")
    func reloadKeepsVerifiedPasswords() throws {
        let dir = TemporaryDirectory()
        dir.write("users", Self.hashLine("alice", "wonderland") + Self.hashLine("bob", "builder"))
        dir.write("repo/dists/stable/InRelease", "InRelease body\n")
        let gateway = try GatewayProcess(config: Self.config(port: 0), directory: dir)
        dir.write("pipeline.json", Self.config(port: gateway.port("web")))
        #expect(Self.hashes(gateway) == 0)

        // 50 connections at once with one uncached credential (more than the 20 hash attempts an
        // address may cause): one hash, and every request answered.
        let url = gateway.url("web", "/dists/stable/InRelease")
        let parallel = Tool.curl(["--parallel", "--parallel-immediate", "--parallel-max", "50", "-u", "alice:wonderland", "-w", "%{http_code}\n"]
                                 + Array(repeating: ["-o", "/dev/null", url], count: 50).flatMap { $0 })
        #expect(parallel.output.split(separator: "\n") == Array(repeating: "200", count: 50), "\(parallel.output) \(parallel.stderr)")
        #expect(Self.hashes(gateway) == 1)

        // A reload with the same users: the verified password costs no hash.
        Self.reload(gateway, count: 1)
        #expect(Self.status(gateway, "alice:wonderland") == "200")
        #expect(Self.hashes(gateway) == 1)
        #expect(Self.status(gateway, "bob:builder") == "200")
        #expect(Self.hashes(gateway) == 2)

        // alice's password changed in the users file: the old one is refused after the reload.
        dir.write("users", Self.hashLine("alice", "looking-glass") + Self.hashLine("bob", "builder").replacing("bob:", with: "carol:"))
        Self.reload(gateway, count: 2)
        #expect(Self.status(gateway, "alice:wonderland") == "401")
        #expect(Self.status(gateway, "alice:looking-glass") == "200")
        #expect(Self.hashes(gateway) == 4)
        // bob was removed: his remembered password no longer lets him in.
        #expect(Self.status(gateway, "bob:builder") == "401")
        #expect(Self.status(gateway, "carol:builder") == "200")
    }
}
