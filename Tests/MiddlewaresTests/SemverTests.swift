import Testing
@testable import Middlewares

@Suite("semver as Terraform reads tags")
struct SemverTests {
    @Test("tags with v and short forms normalise", arguments: [
        ("v1.2.3", "1.2.3"), ("1.2", "1.2.0"), ("v2", "2.0.0"), ("v1.0.0-rc.1", "1.0.0-rc.1"), ("1.0.0+build.5", "1.0.0+build.5"),
    ])
    func normalises(tag: String, expected: String) {
        #expect(Semver(lenient: tag)?.description == expected)
    }

    @Test("non-version tags are ignored", arguments: ["latest", "v1.2.3.4", "1.02.0", "release-1", "v", "1.2.3-", "1.2.3-01", ""])
    func rejects(tag: String) {
        #expect(Semver(lenient: tag) == nil)
    }

    @Test("providers need strict semver: no v, three parts")
    func strict() {
        #expect(Semver(strict: "1.0.0") != nil)
        #expect(Semver(strict: "v1.0.0") == nil)
        #expect(Semver(strict: "1.0") == nil)
    }

    @Test("precedence follows semver §11")
    func ordering() {
        let sorted = ["1.0.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
                      "1.0.0-rc.1", "0.9.9", "1.10.0", "1.2.0"].compactMap { Semver(strict: $0) }.sorted()
        #expect(sorted.map(\.description) == ["0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                                               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0"])
    }

    @Test("the index maps a normalised version back to its tag, newest first")
    func index() {
        let index = VersionIndex(refs: ["v1.0.0", "v2.1", "latest", "v1.10.0", "2.0.0-beta.1", "1.0.0"])
        #expect(index.entries.map(\.version.description) == ["2.1.0", "2.0.0-beta.1", "1.10.0", "1.0.0"])
        #expect(index.ref(for: "2.1.0") == "v2.1")
        #expect(index.ref(for: "1.0.0") == "v1.0.0")
        #expect(index.ref(for: "3.0.0") == nil)
    }
}
