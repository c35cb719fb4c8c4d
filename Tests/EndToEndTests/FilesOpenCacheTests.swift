import Foundation
import Testing

/// `files` keeps small files open per loop (`openFiles`): through the real binary, with both loops
/// holding a file, every change to the file is seen by the next request on any connection.
@Suite("files: kept-open files on a running gateway")
struct FilesOpenCacheTests {
    /// `count` requests for `path`, each on its own connection (so both loops answer some).
    func bodies(_ gateway: GatewayProcess, _ path: String, count: Int = 6) -> [String] {
        (0..<count).map { _ in Tool.curl([gateway.url("web", path)]).output }
    }

    /// Status codes of `count` requests for `path` on one keep-alive connection.
    func statuses(_ gateway: GatewayProcess, _ path: String, count: Int) -> [String] {
        let urls = Array(repeating: gateway.url("web", path), count: count)
        let result = Tool.curl(["-o", "/dev/null", "-w", "%{http_code}\\n"] + urls.flatMap { [$0, "-o", "/dev/null"] })
        return result.output.split(separator: "\n").map(String.init)
    }

    @Test("rewritten, replaced, renamed and removed files are seen by the next request")
    func changes() throws {
        let dir = TemporaryDirectory()
        let file = dir.write("www/a.txt", "one\n")
        let gateway = try GatewayProcess(config: """
            {"version": 1, "workers": 2, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"site": {"chain": [{"type": "files", "root": "www"}]}}}
            """, directory: dir)
        #expect(bodies(gateway, "/a.txt", count: 8) == Array(repeating: "one\n", count: 8))
        #expect(statuses(gateway, "/a.txt", count: 20).allSatisfy { $0 == "200" })

        dir.write("www/a.txt", "two, longer\n")
        #expect(bodies(gateway, "/a.txt") == Array(repeating: "two, longer\n", count: 6))

        let fresh = dir.write("www/a.txt.new", "three\n")
        #expect(rename(fresh, file) == 0)
        #expect(bodies(gateway, "/a.txt") == Array(repeating: "three\n", count: 6))

        #expect(rename(file, dir.path + "/www/b.txt") == 0)
        #expect(bodies(gateway, "/b.txt") == Array(repeating: "three\n", count: 6))
        let missing = (0..<6).map { _ in Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", gateway.url("web", "/a.txt")]).output }
        #expect(missing == Array(repeating: "404", count: 6))

        #expect(unlink(dir.path + "/www/b.txt") == 0)
        let removed = (0..<6).map { _ in Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", gateway.url("web", "/b.txt")]).output }
        #expect(removed == Array(repeating: "404", count: 6))
    }

    @Test("out of descriptors, a loop closes its kept files instead of failing the request")
    func descriptorLimit() throws {
        let dir = TemporaryDirectory()
        for index in 0..<120 { dir.write("www/f\(index).txt", "\(index)\n") }
        let gateway = try GatewayProcess(config: """
            {"version": 1, "workers": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"site": {"chain": [{"type": "files", "root": "www", "openFiles": 1000}]}}}
            """, directory: dir, launcher: ["prlimit", "--nofile=64"])
        // One connection, 120 distinct files: far more than 64 descriptors if all were kept.
        let urls = (0..<120).flatMap { [gateway.url("web", "/f\($0).txt"), "-o", "/dev/null"] }
        let codes = Tool.curl(["-w", "%{http_code}\\n"] + urls).output.split(separator: "\n").map(String.init)
        #expect(codes.count == 120)
        #expect(codes.allSatisfy { $0 == "200" }, "\(codes)")
        #expect(Tool.curl([gateway.url("web", "/f7.txt")]).output == "7\n")
    }

    @Test("a reload that drops the files stack closes its kept descriptors")
    func reloadCloses() throws {
        let dir = TemporaryDirectory()
        dir.write("www/kept.txt", "kept\n")
        let config = { (root: String) in """
            {"version": 1, "workers": 2, "drainTimeout": "1s", "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"site": {"chain": [{"type": "files", "root": "\(root)"}]}}}
            """ }
        dir.write("other/kept.txt", "other\n")
        let gateway = try GatewayProcess(config: config("www"), directory: dir)
        #expect(bodies(gateway, "/kept.txt") == Array(repeating: "kept\n", count: 6))
        let held = { () -> Int in
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(gateway.process.pid)/fd")) ?? []
            return fds.filter { ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(gateway.process.pid)/fd/\($0)")) ?? "").hasSuffix("/www/kept.txt") }.count
        }
        #expect(held() >= 1)
        dir.write("pipeline.json", config("other"))
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("\"msg\":\"reloaded\""))
        #expect(bodies(gateway, "/kept.txt") == Array(repeating: "other\n", count: 6))
        // The old pipeline is let go after drainTimeout (requests in flight may still use it): a
        // bounded wait, not a timing check.
        let deadline = Date().addingTimeInterval(20)
        while held() > 0, Date() < deadline { usleep(20_000) }
        #expect(held() == 0)
    }
}
