import Foundation
import Testing
@testable import Middlewares
@testable import Pipeline

@Suite("files: conditional requests, ranges, traversal")
struct FilesTests {
    let outside = SiteDirectory()
    let site = SiteDirectory()
    let files: Files

    init() throws {
        outside.write("secret.txt", "top secret\n")
        site.write("hello.txt", "hello, world\n")
        site.write("data.json", #"{"a":1}"#)
        site.write("docs/index.html", "<h1>docs</h1>\n")
        site.write("docs/guide.txt", "guide\n")
        site.mkdir("empty")
        site.write("space name.txt", "spaced\n")
        site.symlink("escape.txt", to: outside.path + "/secret.txt")
        site.symlink("escape-dir", to: outside.path)
        site.symlink("relative-escape.txt", to: "../" + (outside.path as NSString).lastPathComponent + "/secret.txt")
        site.symlink("inside.txt", to: "hello.txt")
        files = Files(root: try DirectoryHandle(path: site.path))
    }

    @Test("200 with type, length, validators and the bytes")
    func ok() async throws {
        let served = try await serve(files, "/hello.txt")
        #expect(served.status == 200)
        #expect(served.body == "hello, world\n")
        #expect(served.response.body.length == 13)
        #expect(served.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(served.header("Accept-Ranges") == "bytes")
        #expect(served.header("ETag")?.hasPrefix("\"") == true)
        #expect(served.header("Last-Modified").flatMap(HTTPDate.parse) != nil)
        #expect(try await serve(files, "/data.json").header("Content-Type") == "application/json")
        #expect(try await serve(files, "/space%20name.txt").body == "spaced\n")
    }

    @Test("HEAD has the GET headers and length")
    func head() async throws {
        let served = try await serve(files, "/hello.txt", method: .head)
        #expect(served.status == 200)
        #expect(served.response.body.length == 13)
        #expect(served.header("ETag") == (try await serve(files, "/hello.txt").header("ETag")))
        // Range is defined for GET only (RFC 9110 §14.2): a HEAD describes the whole file.
        let ranged = try await serve(files, "/hello.txt", method: .head, headers: ["Range": "bytes=0-4"])
        #expect(ranged.status == 200)
        #expect(ranged.response.body.length == 13)
        #expect(ranged.header("Content-Range") == nil)
    }

    @Test("other methods get 405 with Allow")
    func methodNotAllowed() async throws {
        let served = try await serve(files, "/hello.txt", method: .post)
        #expect(served.status == 405)
        #expect(served.header("Allow") == "GET, HEAD")
    }

    @Test("304 for a matching If-None-Match (strong, weak, in a list, *)")
    func ifNoneMatch() async throws {
        let etag = try #require(try await serve(files, "/hello.txt").header("ETag"))
        for value in [etag, "W/" + etag, "\"other\", " + etag, "*"] {
            let served = try await serve(files, "/hello.txt", headers: ["If-None-Match": value])
            #expect(served.status == 304, "If-None-Match: \(value)")
            #expect(served.body.isEmpty)
            #expect(served.header("ETag") == etag)
        }
        #expect(try await serve(files, "/hello.txt", headers: ["If-None-Match": "\"other\""]).status == 200)
    }

    @Test("304 for If-Modified-Since at or after the file's time; If-None-Match wins over it")
    func ifModifiedSince() async throws {
        let lastModified = try #require(try await serve(files, "/hello.txt").header("Last-Modified"))
        #expect(try await serve(files, "/hello.txt", headers: ["If-Modified-Since": lastModified]).status == 304)
        #expect(try await serve(files, "/hello.txt", headers: ["If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"]).status == 200)
        #expect(try await serve(files, "/hello.txt", headers: ["If-Modified-Since": lastModified, "If-None-Match": "\"other\""]).status == 200)
    }

    @Test("If-Match that does not match is 412")
    func ifMatch() async throws {
        #expect(try await serve(files, "/hello.txt", headers: ["If-Match": "\"other\""]).status == 412)
    }

    @Test("206 for a single range: first bytes, open end, suffix")
    func ranges() async throws {
        let first = try await serve(files, "/hello.txt", headers: ["Range": "bytes=0-4"])
        #expect(first.status == 206)
        #expect(first.body == "hello")
        #expect(first.header("Content-Range") == "bytes 0-4/13")
        let open = try await serve(files, "/hello.txt", headers: ["Range": "bytes=7-"])
        #expect(open.body == "world\n")
        #expect(open.header("Content-Range") == "bytes 7-12/13")
        let suffix = try await serve(files, "/hello.txt", headers: ["Range": "bytes=-3"])
        #expect(suffix.body == "ld\n")
        #expect(suffix.header("Content-Range") == "bytes 10-12/13")
        let past = try await serve(files, "/hello.txt", headers: ["Range": "bytes=10-999"])
        #expect(past.body == "ld\n")
        // Several ranges would need multipart/byteranges: the whole file is a valid answer.
        #expect(try await serve(files, "/hello.txt", headers: ["Range": "bytes=0-1,3-4"]).status == 200)
        #expect(try await serve(files, "/hello.txt", headers: ["Range": "lines=1-2"]).status == 200)
    }

    @Test("416 with Content-Range */size for a range past the end")
    func unsatisfiable() async throws {
        let served = try await serve(files, "/hello.txt", headers: ["Range": "bytes=13-"])
        #expect(served.status == 416)
        #expect(served.header("Content-Range") == "bytes */13")
        #expect(try await serve(files, "/hello.txt", headers: ["Range": "bytes=-0"]).status == 416)
    }

    @Test("If-Range: a matching validator gives the range, a stale one the whole file")
    func ifRange() async throws {
        let plain = try await serve(files, "/hello.txt")
        let etag = try #require(plain.header("ETag")), date = try #require(plain.header("Last-Modified"))
        #expect(try await serve(files, "/hello.txt", headers: ["Range": "bytes=0-4", "If-Range": etag]).status == 206)
        #expect(try await serve(files, "/hello.txt", headers: ["Range": "bytes=0-4", "If-Range": date]).status == 206)
        let stale = try await serve(files, "/hello.txt", headers: ["Range": "bytes=0-4", "If-Range": "\"old\""])
        #expect(stale.status == 200)
        #expect(stale.body == "hello, world\n")
        #expect(try await serve(files, "/hello.txt", headers: ["Range": "bytes=0-4", "If-Range": "W/" + etag]).status == 200)
    }

    @Test("a directory without a slash redirects; with one it serves the index or 404")
    func directories() async throws {
        let redirect = try await serve(files, "/docs?x=1")
        #expect(redirect.status == 301)
        #expect(redirect.header("Location") == "/docs/?x=1")
        // Never a protocol-relative Location ("//docs/" would send a browser to the host "docs").
        let doubled = try await serve(files, "//docs")
        #expect(doubled.status == 301)
        #expect(doubled.header("Location") == "/docs/")
        let index = try await serve(files, "/docs/")
        #expect(index.status == 200)
        #expect(index.body == "<h1>docs</h1>\n")
        #expect(index.header("Content-Type") == "text/html; charset=utf-8")
        #expect(try await serve(files, "/empty/").status == 404)
        #expect(try await serve(files, "/").status == 404)
        #expect(try await serve(files, "/missing.txt").status == 404)
    }

    /// Every way out of the root: none may serve the secret.
    static let traversals: [(String, [Int])] = [
        ("/../secret.txt", [400]),
        ("/docs/../../secret.txt", [400]),
        ("/%2e%2e/secret.txt", [400]),
        ("/%2E%2E/%2e%2e/secret.txt", [400]),
        ("/docs%2f..%2f..%2fsecret.txt", [400]),
        ("/..%2fsecret.txt", [400]),
        ("/.%2e/secret.txt", [400]),
        ("/%252e%252e/secret.txt", [404]),
        ("//etc/passwd", [404]),
        ("/%2fetc%2fpasswd", [404]),
        ("/..\\secret.txt", [404]),
        ("/hello.txt%00.html", [400]),
        ("/hello.txt\u{0}", [400]),
        ("/%zz", [400]),
        ("/%c0%ae%c0%ae/secret.txt", [400]),
        ("/escape.txt", [404]),
        ("/relative-escape.txt", [404]),
        ("/escape-dir/secret.txt", [404]),
        ("/escape-dir/", [404]),
    ]

    @Test("traversal attempts never leave the root", arguments: traversals.indices)
    func traversal(_ index: Int) async throws {
        let (target, statuses) = Self.traversals[index]
        let served = try await serve(files, target)
        #expect(statuses.contains(served.status), "\(target) → \(served.status)")
        #expect(!served.body.contains("top secret"))
    }

    @Test("a symlink that stays inside the root is followed")
    func symlinkInside() async throws {
        #expect(try await serve(files, "/inside.txt").body == "hello, world\n")
    }

    @Test("stripPrefix serves /static/x from x and 404s elsewhere")
    func stripPrefix() async throws {
        let stripped = Files(root: try DirectoryHandle(path: site.path), stripPrefix: "/static")
        #expect(try await serve(stripped, "/static/hello.txt").body == "hello, world\n")
        #expect(try await serve(stripped, "/hello.txt").status == 404)
        #expect(try await serve(stripped, "/static/../static/hello.txt").status == 400)
    }

    @Test("config: root must exist, stripPrefix must start with /")
    func config() {
        let json = #"""
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"s": {"chain": [{"type": "files", "root": "/nonexistent/dir", "stripPrefix": "static"}]},
                        "t": {"chain": [{"type": "files"}]}}}
            """#
        let found = loadPipeline(json).1.errors.map(\.description)
        #expect(found.contains(#"/stacks/s/chain/0/root: cannot open directory "/nonexistent/dir": No such file or directory"#))
        #expect(found.contains("/stacks/s/chain/0/stripPrefix: must start with /"))
        #expect(found.contains("/stacks/t/chain/0/root: required"))
    }

    @Test("the ETag is the modification time and size in hex, quoted")
    func etagForm() {
        for (modified, size): (Int64, Int64) in [(0, 0), (1, 15), (16, 16), (1_733_400_000, 200), (Int64.max, 1 << 40), (-5, 3)] {
            #expect(Files.etag(modified: modified, size: size) == "\"" + String(modified, radix: 16) + "-" + String(size, radix: 16) + "\"")
        }
    }
}
