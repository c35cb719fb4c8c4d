import Foundation
import Testing

/// Several gateway processes on one disk cache directory (issue 14, test 5b): one cache, not one
/// per process.
@Suite("cache: two processes sharing one disk directory")
struct SharedCacheDirectoryTests {
    @Test("concurrent misses in two processes make one upstream fetch; each finds what the other stored; eviction by one never truncates the other's answers")
    func twoProcessesOneDirectory() throws {
        // 2 MiB/s: a 6 MiB fill is in progress for about 3 s.
        let nginx = try NginxProcess(servers: """
            server { listen 127.0.0.1:{port0}; root {root}; add_header Cache-Control "max-age=3600"; limit_rate 2m; }
            """)
        let big = testBytes(6 << 20, seed: 21)
        let filler = testBytes(4 << 20, seed: 22)
        nginx.publish("big.bin", big)
        nginx.publish("filler.bin", filler)
        nginx.publish("small.txt", Data("small object\n".utf8))
        let cacheDirectory = TemporaryDirectory("shared-cache")
        let config = CacheTests.config(upstream: nginx.url(""),
                                       cache: #", "disk": "\#(cacheDirectory.path)", "maxBytes": "8MiB", "maxObjectSize": "8MiB", "memory": "1MiB""#)
        let a = try GatewayProcess(config: config)
        let b = try GatewayProcess(config: config)

        // 1. Four clients on each process miss together: one fetch, eight whole bodies.
        let outputs = TemporaryDirectory()
        var arguments = ["-Z", "--parallel-immediate", "--parallel-max", "8", "-w", "%{http_code}\\n"]
        for i in 0..<8 { arguments += ["-o", outputs.file("big\(i)"), (i % 2 == 0 ? a : b).url("web", "/big.bin")] }
        let herd = Tool.curl(arguments, timeout: 120)
        #expect(herd.status == 0, "\(herd.stderr)")
        #expect(herd.output.split(separator: "\n") == Array(repeating: "200", count: 8))
        for i in 0..<8 { #expect(FileManager.default.contents(atPath: outputs.file("big\(i)")) == big, "body \(i)") }
        #expect(nginx.requests(to: "/big.bin").count == 1, "nginx access log: \(nginx.accessLog)")

        // 2. What one process stored, the other answers without the upstream.
        #expect(CacheTests.get(a.url("web", "/small.txt")).xCache == "MISS")
        let found = CacheTests.get(b.url("web", "/small.txt"))
        #expect(found.status == 200 && found.xCache == "HIT" && found.body == Data("small object\n".utf8))
        #expect(nginx.requests(to: "/small.txt").count == 1)

        // 3. A slow client of b reads the object while a evicts it (6 + 4 MiB > 8 MiB): it still
        //    gets every byte.
        let slow = DispatchGroup()
        nonisolated(unsafe) var slowResult: Tool.Result?
        DispatchQueue.global().async(group: slow) {
            slowResult = Tool.curl(["--limit-rate", "1M", "-D", outputs.file("slow-head"), "-o", outputs.file("slow"), b.url("web", "/big.bin")],
                                   timeout: 120)
        }
        // The answer has begun (its file is open) before a evicts.
        #expect(waitUntil { ((try? FileManager.default.attributesOfItem(atPath: outputs.file("slow")))?[.size] as? Int ?? 0) > 0 })
        #expect(CacheTests.get(a.url("web", "/filler.bin")).body == filler)
        let bigStored = { CacheTests.objectFiles(cacheDirectory.path).contains { name in
            ((try? FileManager.default.attributesOfItem(atPath: cacheDirectory.file(name)))?[.size] as? Int ?? 0) > 6 << 20 } }
        #expect(waitUntil { !bigStored() }, "a evicted the big object")
        slow.wait()
        #expect(slowResult?.status == 0, "\(slowResult?.stderr ?? "")")
        let slowHead = (try? String(contentsOfFile: outputs.file("slow-head"), encoding: .utf8)) ?? ""
        #expect(slowHead.hasPrefix("HTTP/1.1 200") && slowHead.contains("X-Cache: HIT"), "\(slowHead)")
        #expect(FileManager.default.contents(atPath: outputs.file("slow")) == big)

        // 4. Evicted by a, b misses: a new fetch and the whole object, never a truncated one.
        let again = CacheTests.get(b.url("web", "/big.bin"))
        #expect(again.status == 200 && again.xCache == "MISS" && again.body == big)
        #expect(nginx.requests(to: "/big.bin").count == 2, "nginx access log: \(nginx.accessLog)")
        // A lock file lives only as long as its fill.
        #expect(waitUntil { (try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory.file("locks"))) == [] })
    }
    @Test("a stale object both processes serve within stale-while-revalidate is refreshed once, not once per process")
    func backgroundRefreshOncePerDirectory() throws {
        // No validators: a refresh is a whole download, 2 MiB at 1 MiB/s (bigger than the memory
        // tier: both processes answer from the directory), so the two refreshes overlap.
        let nginx = try NginxProcess(servers: """
            server { listen 127.0.0.1:{port0}; root {root}; etag off; if_modified_since off;
                     add_header Cache-Control "max-age=6, stale-while-revalidate=120"; limit_rate 1m; }
            """)
        let object = testBytes(2 << 20, seed: 23)
        nginx.publish("swr.bin", object)
        let cacheDirectory = TemporaryDirectory("shared-cache-swr")
        let config = CacheTests.config(upstream: nginx.url(""), cache: #", "disk": "\#(cacheDirectory.path)", "memory": "1MiB""#)
        let a = try GatewayProcess(config: config)
        let b = try GatewayProcess(config: config)

        let stored = Date()
        #expect(CacheTests.get(a.url("web", "/swr.bin")).xCache == "MISS")
        #expect(waitUntil { !CacheTests.objectFiles(cacheDirectory.path).isEmpty })
        let seen = CacheTests.get(b.url("web", "/swr.bin"))
        #expect(seen.xCache == "HIT" && seen.body == object, "b found what a stored (\(seen.xCache ?? "-"))")
        #expect(nginx.requests(to: "/swr.bin").count == 1)

        // Both copies go stale (max-age=6); both processes serve them at once and refresh behind.
        Thread.sleep(until: stored.addingTimeInterval(7.5))
        let outputs = TemporaryDirectory()
        let both = Tool.curl(["-Z", "--parallel-immediate", "-s", "-D", outputs.file("head-a"), "-o", outputs.file("a"), a.url("web", "/swr.bin"),
                              "--next", "-s", "-D", outputs.file("head-b"), "-o", outputs.file("b"), b.url("web", "/swr.bin")], timeout: 60)
        #expect(both.status == 0, "\(both.stderr)")
        for name in ["a", "b"] {
            let head = (try? String(contentsOfFile: outputs.file("head-" + name), encoding: .utf8)) ?? ""
            #expect(head.contains("X-Cache: STALE"), "\(name): \(head)")
            #expect(FileManager.default.contents(atPath: outputs.file(name)) == object)
        }
        // One refresh fills the directory; the other process waits for it and takes what it stored.
        #expect(waitUntil { (try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory.file("locks"))) == [] })
        #expect(waitUntil { CacheTests.get(b.url("web", "/swr.bin")).xCache == "HIT" })
        #expect(CacheTests.get(a.url("web", "/swr.bin")).xCache == "HIT")
        #expect(nginx.requests(to: "/swr.bin").count == 2, "nginx access log: \(nginx.accessLog)")
    }
}
