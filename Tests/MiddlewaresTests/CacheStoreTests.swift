import Foundation
import Pipeline
import Testing
@testable import Middlewares

@Suite("cache tiers: LRU within budgets, disk objects that survive a restart")
struct CacheStoreTests {
    func entry(_ key: String, _ size: Int) -> CacheEntry {
        CacheEntry(head: StoredHead(key: key, status: 200, headers: [:], length: Int64(size), storedAt: 0, initialAge: 0,
                                    freshness: Freshness(lifetime: 60, staleWhileRevalidate: 0, staleIfError: 0), vary: []),
                   body: .memory([UInt8](repeating: 1, count: size)))
    }

    @Test("the LRU index evicts least recently used first and tracks costs")
    func lruOrder() {
        var index = LRUIndex<Int>()
        index.set("a", 1, cost: 10)
        index.set("b", 2, cost: 10)
        index.set("c", 3, cost: 10)
        #expect(index.get("a") == 1)
        #expect(index.keysOldestFirst == ["b", "c", "a"])
        #expect(index.removeOldest()?.key == "b")
        index.set("c", 4, cost: 5)
        #expect(index.totalCost == 15)
        #expect(index.keysOldestFirst == ["a", "c"])
        #expect(index.remove("a") == 1)
        index.set("d", 5, cost: 1)
        #expect(index.keysOldestFirst == ["c", "d"])
        #expect(index.count == 2)
    }

    @Test("the memory tier stays within its byte budget, evicting the least recently used")
    func memoryBudget() {
        let memory = MemoryStore(budget: 10_000, maxObjectBytes: 4_000)
        let size = entry("a", 3_000).memoryCost
        memory.put(entry("a", 3_000))
        memory.put(entry("b", 3_000))
        memory.put(entry("c", 3_000))
        _ = memory.get("a")
        #expect(memory.put(entry("d", 3_000)) == 1)
        #expect(memory.get("b") == nil)
        #expect(memory.get("a") != nil)
        #expect(memory.usage.bytes <= 10_000)
        #expect(memory.usage.bytes == 3 * size)
        #expect(!memory.accepts(length: 4_001))
    }

    @Test("a committed disk object is found again by a new store on the same directory; leftovers are removed")
    func diskSurvivesRestart() async throws {
        let directory = NSTemporaryDirectory() + "cache-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = CacheKey(text: "GET example.com/object")
        let body = [UInt8]((0..<100_000).map { UInt8($0 % 251) })
        var head = entry(key.text, 0).head
        head.headers = ["ETag": "\"x\""]
        head.length = Int64(body.count)
        do {
            let disk = try DiskStore.open(directory: directory, budget: 1 << 20)
            let temporary = try disk.makeTemporary()
            try temporary.file.write(body, at: 0)
            _ = try await disk.commit(temporary.file, temporaryPath: temporary.path, head: head, key: key)
            // A half-written fill, and a foreign file in an object folder, as a crash might leave them.
            let orphan = try disk.makeTemporary()
            #expect(FileManager.default.fileExists(atPath: orphan.path))
            // Untouched for two hours: nobody is writing it any more.
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: orphan.path)
            try FileManager.default.createDirectory(atPath: directory + "/ab", withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: directory + "/ab/" + String(repeating: "ab", count: 32) + "-1", contents: Data("junk".utf8)))
        }
        let reopened = try DiskStore.open(directory: directory, budget: 1 << 20)
        let found = try #require(reopened.get(key.text))
        #expect(found.head == head)
        guard case .disk(let path) = found.body, let file = OpenFile(path: path) else {
            Issue.record("expected a disk body")
            return
        }
        #expect(try file.read(at: 0, count: body.count) == body)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/tmp").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory + "/ab/" + String(repeating: "ab", count: 32) + "-1"))
        #expect(reopened.usage.entries == 1)
    }

    @Test("the disk tier evicts the oldest objects beyond its budget and unlinks their files")
    func diskBudget() async throws {
        let directory = NSTemporaryDirectory() + "cache-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let disk = try DiskStore.open(directory: directory, budget: 250_000)
        var paths: [String] = []
        for i in 0..<3 {
            let key = CacheKey(text: "GET h/\(i)")
            var head = entry(key.text, 0).head
            head.length = 100_000
            let temporary = try disk.makeTemporary()
            try temporary.file.write([UInt8](repeating: 7, count: 100_000), at: 0)
            let evicted = try await disk.commit(temporary.file, temporaryPath: temporary.path, head: head, key: key)
            #expect(evicted == (i == 2 ? 1 : 0))
            if case .disk(let path) = disk.get(key.text)?.body { paths.append(path) }
        }
        #expect(disk.get("GET h/0") == nil)
        #expect(disk.get("GET h/2") != nil)
        #expect(!FileManager.default.fileExists(atPath: paths[0]))
        #expect(disk.usage.bytes <= 250_000)
    }
}
