import Pipeline
import Synchronization
import Testing
@testable import Middlewares

@Suite("OCI names, challenges and layouts")
struct OCITests {
    @Test("WWW-Authenticate challenges: scheme, quoted and bare parameters, escapes")
    func challenges() {
        let bearer = OCIChallenge(#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#)
        #expect(bearer?.scheme == "bearer")
        #expect(bearer?.parameters["realm"] == "https://auth.example.com/token")
        #expect(bearer?.parameters["service"] == "registry.example.com")
        #expect(bearer?.parameters["scope"] == "repository:a/b:pull")
        let basic = OCIChallenge(#"Basic realm="test \"realm\"", charset=UTF-8"#)
        #expect(basic?.scheme == "basic")
        #expect(basic?.parameters["realm"] == #"test "realm""#)
        #expect(basic?.parameters["charset"] == "UTF-8")
        #expect(OCIChallenge("")?.scheme == nil)
        // A token realm with an error and a comma inside quotes.
        let scoped = OCIChallenge(#"Bearer realm="http://h/t?a=1,b=2", error="insufficient_scope""#)
        #expect(scoped?.parameters["realm"] == "http://h/t?a=1,b=2")
        #expect(scoped?.parameters["error"] == "insufficient_scope")
    }

    @Test("repository names as the distribution spec allows them", arguments: [
        ("terraform-providers/registry.terraform.io/hashicorp/aws", true), ("a/xn--bcher-kva.example/b", true),
        ("a__b/c", true), ("a---b", true), ("a___b", false), ("A/b", false), ("a//b", false), ("/a", false),
        ("a/b/", false), ("a:5000/b", false), ("-a", false), ("a.", false), ("", false),
    ])
    func repositoryNames(_ name: String, _ valid: Bool) {
        #expect(OCIName.isValidRepository(name) == valid)
    }

    @Test("tags: word characters, dots and dashes, not starting with either, at most 128")
    func tags() {
        #expect(OCIName.isValidTag("1.0.0_build.5"))
        #expect(OCIName.isValidTag("latest"))
        #expect(!OCIName.isValidTag("1.0.0+build"))
        #expect(!OCIName.isValidTag(".hidden"))
        #expect(!OCIName.isValidTag(String(repeating: "a", count: 129)))
    }

    @Test("templates: every variable replaced, values lower-cased, unknown variables and bad names refused")
    func templates() {
        #expect(OCISource.expand("p/${hostname}/${namespace}/${type}", ["hostname": "h", "namespace": "n", "type": "t"]) == "p/h/n/t")
        #expect(OCISource.expand("p/${nope}", [:]) == nil)
        #expect(OCISource.expand("p/${open", ["open": "x"]) == nil)
        #expect(OCISource.expand("plain", [:]) == "plain")
    }

    @Test("versions from tags: _ read as +, non-versions left out, newest first")
    func versions() {
        let versions = OCIProviderLayout.versions(["1.0.0", "latest", "2.0.0-beta.1", "1.0.0_build.5", "sha256-" + String(repeating: "a", count: 64),
                                                    "1.1", "v1.2.0", "1.10.0"])
        #expect(versions.map(\.version.description) == ["2.0.0-beta.1", "1.10.0", "1.0.0+build.5", "1.0.0"] || versions.map(\.version.description) == ["2.0.0-beta.1", "1.10.0", "1.0.0", "1.0.0+build.5"])
        #expect(versions.first { $0.version.description == "1.0.0+build.5" }?.tag == "1.0.0_build.5")
    }

    @Test("digests: sha256 with 64 lower-case hex only")
    func digests() {
        #expect(OCIDigest.hex(of: "sha256:" + String(repeating: "ab", count: 32)) == String(repeating: "ab", count: 32))
        #expect(OCIDigest.hex(of: "sha256:" + String(repeating: "AB", count: 32)) == nil)
        #expect(OCIDigest.hex(of: "sha512:" + String(repeating: "ab", count: 64)) == nil)
        #expect(OCIDigest.hex(of: "sha256:abc") == nil)
        #expect(OCIDigest.of(Array("{}".utf8)) == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    }

    @Test("the metadata cache answers within freshFor without loading, reloads after with the previous answer, once for many")
    func metadataCache() async throws {
        let cache = OCIMetadataCache(freshFor: .seconds(3600), maxEntries: 10)
        let loads = OCILoadCounter()
        let first = try await cache.value("k") { previous in
            loads.add()
            return OCIMetadataCache.Loaded(value: "v\(previous == nil ? 1 : 2)", etag: "e")
        }
        let second = try await cache.value("k") { _ in
            loads.add()
            return OCIMetadataCache.Loaded(value: "other", etag: nil)
        }
        #expect(first as? String == "v1" && second as? String == "v1")
        #expect(loads.value == 1)
        let stale = OCIMetadataCache(freshFor: .zero, maxEntries: 10)
        _ = try await stale.value("k") { _ in OCIMetadataCache.Loaded(value: "v1", etag: "e1") }
        let again = try await stale.value("k") { previous in
            OCIMetadataCache.Loaded(value: "etag was \(previous?.etag ?? "none")", etag: "e2")
        }
        #expect(again as? String == "etag was e1")
    }
}

/// A count shared with closures.
final class OCILoadCounter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
