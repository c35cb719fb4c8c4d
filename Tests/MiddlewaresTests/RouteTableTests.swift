import Testing
@testable import Middlewares
@testable import Pipeline

enum RouteTableEndpoint: Sendable, Equatable { case versions, download, file, manifest, blob, anything }

@Suite("route table: named parts inside a behaviour")
struct RouteTableTests {
    static let routes = RouteTable<RouteTableEndpoint>([
        ("/v2/*name/manifests/:reference", .manifest),
        ("/v2/*name/blobs/:digest", .blob),
        ("/modules/:namespace/:name/:system/versions", .versions),
        ("/modules/:namespace/:name/:system/:version/download", .download),
        ("/files/*path", .anything),
        ("/files/special/:name", .file),
    ])

    @Test("parts are named and percent-decoded")
    func namedParts() throws {
        let found = try #require(Self.routes.match("/modules/acme/vpc/aws/1.2.0%2Bbuild/download"))
        #expect(found.route == .download)
        #expect(found["namespace"] == "acme")
        #expect(found["system"] == "aws")
        #expect(found["version"] == "1.2.0+build")
        #expect(found["missing"] == "")
    }

    @Test("a name with slashes sits between the parts before and after it")
    func restInTheMiddle() throws {
        let manifest = try #require(Self.routes.match("/v2/terraform-providers/example.com/acme/hello/manifests/v1.0.0"))
        #expect(manifest.route == .manifest)
        #expect(manifest["name"] == "terraform-providers/example.com/acme/hello")
        #expect(manifest["reference"] == "v1.0.0")
        #expect(Self.routes.match("/v2/x/blobs/sha256:ab")?["name"] == "x")
        #expect(Self.routes.match("/v2/manifests/v1") == nil, "the name takes at least one segment")
    }

    @Test("literals win over parameters, which win over a rest; empty segments match nothing")
    func precedenceAndStrictness() {
        #expect(Self.routes.match("/files/special/a")?.route == .file)
        #expect(Self.routes.match("/files/other/a")?.route == .anything)
        #expect(Self.routes.match("/modules/acme/vpc/aws/versions/") == nil)
        #expect(Self.routes.match("/modules/acme//aws/versions") == nil)
        #expect(Self.routes.match("modules/acme/vpc/aws/versions") == nil)
        #expect(Self.routes.match("/modules/acme/vpc/aws/%zz/download") == nil)
    }
}
