import Testing
import Pipeline
@testable import Middlewares

@Suite("auth.bearer")
struct BearerAuthTests {
    static func hash(_ token: String) -> String { "sha256:" + Hex.encode(Digest.sha256(token)) }

    let stacks = TestPipeline("""
        {"version": 1, "listeners": [{"name": "main", "listen": "127.0.0.1:0"}],
         "middlewares": {"tokens": {"type": "auth.bearer", "basicLogin": "token", "tokens": {
            "ci": "\(hash("ci-token-0123456789"))",
            "deploy": {"hash": "\(hash("deploy-token-0123456789"))", "stacks": ["terraform"], "paths": ["/v1/modules/acme/*"]}}}},
         "stacks": {
            "terraform": {"match": {"pathPrefix": ["/v1/"]}, "chain": ["tokens", {"type": "test.echo"}]},
            "apt": {"match": {"pathPrefix": ["/apt/"]}, "chain": ["tokens", {"type": "test.echo"}]}},
         "run": ["terraform", "apt"]}
        """)

    @Test("a listed token passes under its name; an unknown one gets 401")
    func tokens() async throws {
        #expect(try await stacks.send("/apt/x", headers: bearer("ci-token-0123456789")).body == "user=ci auth=bearer query=-")
        let wrong = try await stacks.send("/apt/x", headers: bearer("ci-token-012345678"))
        #expect(wrong.status == 401)
        #expect(wrong.authError == "bearer: unknown token")
        #expect(wrong.challenges == [#"Bearer realm="gateway""#, #"Basic realm="gateway", charset="UTF-8""#])
    }

    @Test("a token limited to a stack and paths gets 403 elsewhere")
    func limits() async throws {
        #expect(try await stacks.send("/v1/modules/acme/vpc/aws/versions", headers: bearer("deploy-token-0123456789")).status == 200)
        let otherPath = try await stacks.send("/v1/modules/other/vpc/aws/versions", headers: bearer("deploy-token-0123456789"))
        #expect(otherPath.status == 403)
        #expect(otherPath.body == "credentials valid but not allowed here\n")
        #expect(otherPath.authError == "bearer: token deploy is not allowed on this path")
        #expect(try await stacks.send("/v1/modules/acme/../other/x", headers: bearer("deploy-token-0123456789")).status == 403)
        let otherStack = try await stacks.send("/apt/x", headers: bearer("deploy-token-0123456789"))
        #expect(otherStack.status == 403)
        #expect(otherStack.authError == "bearer: token deploy is not allowed on stack apt")
    }

    @Test("with basicLogin, a token also works as a Basic password (.netrc)")
    func basicLogin() async throws {
        #expect(try await stacks.send("/apt/x", headers: basic("token", "ci-token-0123456789")).body == "user=ci auth=bearer query=-")
        #expect(try await stacks.send("/apt/x", headers: basic("token", "nope")).status == 401)
        #expect(try await stacks.send("/apt/x", headers: basic("someone", "ci-token-0123456789")).body == "authentication required\n")
    }

    @Test("hashes must be sha256:HEX")
    func badHash() {
        let bad = TestPipeline("""
            {"version": 1, "listeners": [{"name": "main", "listen": "127.0.0.1:0"}],
             "stacks": {"s": {"chain": [{"type": "auth.bearer", "tokens": {"x": "plain-token"}}, {"type": "test.echo"}]}}}
            """)
        #expect(bad.errors == [#"/stacks/s/chain/0/tokens/x: the hash must be "sha256:" and 64 hex digits (`gateway hash-password --token`)"#])
    }
}
