import Foundation
import Testing
import Pipeline

/// A stand-in for `token.actions.githubusercontent.com`: a second gateway serving static discovery
/// and JWKS files over TLS (a throwaway CA), and RS256 tokens with GitHub Actions claims minted
/// here with the matching private key. Its access log counts the fetches.
final class TestIssuer: @unchecked Sendable {
    let certificates: TestCertificates
    let gateway: GatewayProcess
    let key: PrivateKey
    let kid = "gh-key-1"
    var url: String { "https://127.0.0.1:\(gateway.port("tls"))" }
    var caFile: String { certificates.ca }

    init() throws {
        certificates = TestCertificates()
        let dir = certificates.directory
        dir.write("issuer/.well-known/openid-configuration", "{}")
        dir.write("issuer/.well-known/jwks", "{}")
        gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "tls", "listen": "127.0.0.1:0", "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "stacks": {"issuer": {"chain": [{"type": "log"}, {"type": "files", "root": "issuer"}]}}}
            """, directory: dir)
        key = try PrivateKey.generate(.rsa(bits: 2048))
        // The issuer URL holds the port the kernel chose, so the documents are written now.
        dir.write("issuer/.well-known/openid-configuration",
                  JSONValue.object(JSONObject([("issuer", .string(url)), ("jwks_uri", .string(url + "/.well-known/jwks"))])).serialized())
        dir.write("issuer/.well-known/jwks", JSONValue.object(JSONObject([("keys", .array([try key.publicKey.jwk(kid: kid)]))])).serialized())
    }

    /// GETs of `path` the issuer has logged.
    func fetches(_ path: String = "/.well-known/jwks") -> Int {
        gateway.accessLog.count { ($0["path"] as? String) == path }
    }

    /// A GitHub Actions ID token (apt.md §6) for `audience`, valid now, with `changes` applied.
    func token(audience: String = "https://apt.example.com", kid: String? = nil, key: PrivateKey? = nil,
               _ changes: [(String, JSONValue?)] = []) -> String {
        let now = Int64(Date().timeIntervalSince1970)
        var claims = JSONObject([
            ("jti", .string(UUID().uuidString)), ("sub", "repo:acme/tool:ref:refs/heads/main"), ("aud", .string(audience)),
            ("ref", "refs/heads/main"), ("ref_type", "branch"), ("repository", "acme/tool"), ("repository_id", "74"),
            ("repository_owner", "acme"), ("repository_owner_id", "65"), ("run_id", "5001"), ("event_name", "push"),
            ("runner_environment", "github-hosted"), ("iss", .string(url)),
            ("nbf", .number(Double(now - 600))), ("exp", .number(Double(now + 300))), ("iat", .number(Double(now))),
        ])
        for (name, value) in changes { claims[name] = value }
        return try! JWT.encode(claims: claims, key: key ?? self.key, algorithm: .rs256, keyID: kid ?? self.kid)
    }
}
