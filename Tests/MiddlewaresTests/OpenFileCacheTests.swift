import Foundation
import Testing
@testable import Pipeline

/// The open-file cache behind `files`: a file served again is not opened again, and yet every change
/// made to the file itself is seen on the next request. (Each test runs on one thread without
/// suspending, so every lookup uses the same per-thread table.)
@Suite("files: open-file cache")
struct OpenFileCacheTests {
    let site = SiteDirectory()
    let outside = SiteDirectory()

    func cache(capacity: Int = 256, maxFileSize: Int64 = 256 << 10, validFor: Duration = .seconds(60)) throws -> OpenFileCache {
        OpenFileCache(root: try DirectoryHandle(path: site.path), capacity: capacity, maxFileSize: maxFileSize, validFor: validFor)
    }

    func file(_ lookup: DirectoryHandle.Lookup) -> OpenFile? {
        if case .file(let file) = lookup { return file }
        return nil
    }

    func text(_ lookup: DirectoryHandle.Lookup) -> String? {
        guard let file = file(lookup) else { return nil }
        return String(decoding: try! file.read(at: 0, count: Int(file.size)), as: UTF8.self)
    }

    @Test("a file served again is the same open file")
    func reuse() throws {
        site.write("a.txt", "one\n")
        let cache = try cache()
        let first = file(cache.open("a.txt")), second = file(cache.open("a.txt"))
        #expect(first != nil && first === second)
        #expect(cache.count == 1)
        #expect(text(cache.open("a.txt")) == "one\n")
    }

    @Test("a file rewritten, appended to or truncated is read anew at once")
    func rewritten() throws {
        let path = site.write("a.txt", "one\n")
        let cache = try cache()
        let first = file(cache.open("a.txt"))
        site.write("a.txt", "two, longer\n")
        #expect(text(cache.open("a.txt")) == "two, longer\n")
        #expect(file(cache.open("a.txt")) !== first)
        let handle = FileHandle(forWritingAtPath: path)!
        handle.seekToEndOfFile()
        handle.write(Data("three\n".utf8))
        try handle.close()
        #expect(text(cache.open("a.txt")) == "two, longer\nthree\n")
        truncate(path, 3)
        #expect(text(cache.open("a.txt")) == "two")
    }

    @Test("a file replaced by a rename over it is the new file at once")
    func replaced() throws {
        site.write("a.txt", "old\n")
        let cache = try cache()
        #expect(text(cache.open("a.txt")) == "old\n")
        let fresh = site.write("a.txt.tmp", "new\n")
        #expect(rename(fresh, site.path + "/a.txt") == 0)
        #expect(text(cache.open("a.txt")) == "new\n")
    }

    @Test("a removed or renamed file is missing at once")
    func removed() throws {
        let path = site.write("a.txt", "one\n")
        site.write("b.txt", "two\n")
        let cache = try cache()
        #expect(text(cache.open("a.txt")) == "one\n")
        #expect(text(cache.open("b.txt")) == "two\n")
        #expect(unlink(path) == 0)
        guard case .missing = cache.open("a.txt") else { Issue.record("removed file still served"); return }
        #expect(rename(site.path + "/b.txt", site.path + "/c.txt") == 0)
        guard case .missing = cache.open("b.txt") else { Issue.record("renamed file still served"); return }
        #expect(text(cache.open("c.txt")) == "two\n")
    }

    @Test("a file whose mode changed is opened again by path")
    func chmodded() throws {
        let path = site.write("a.txt", "one\n")
        let cache = try cache()
        let first = file(cache.open("a.txt"))
        #expect(chmod(path, 0o600) == 0)
        let second = file(cache.open("a.txt"))
        #expect(second != nil && second !== first)
    }

    @Test("past its window an entry is opened again by path: a folder renamed above it is seen")
    func window() throws {
        site.write("dir/a.txt", "one\n")
        let cache = try cache(validFor: .zero)
        let first = file(cache.open("dir/a.txt"))
        #expect(first != nil && file(cache.open("dir/a.txt")) !== first)
        #expect(rename(site.path + "/dir", site.path + "/moved") == 0)
        guard case .missing = cache.open("dir/a.txt") else { Issue.record("file under a renamed folder still served"); return }
        #expect(text(cache.open("moved/a.txt")) == "one\n")
    }

    @Test("missing files, folders and files above maxFileSize are not kept")
    func notKept() throws {
        site.mkdir("folder")
        site.write("big.bin", String(repeating: "x", count: 100))
        let cache = try cache(maxFileSize: 99)
        guard case .missing = cache.open("later.txt") else { Issue.record("expected missing"); return }
        site.write("later.txt", "here\n")
        #expect(text(cache.open("later.txt")) == "here\n")
        guard case .directory = cache.open("folder") else { Issue.record("expected a folder"); return }
        #expect(file(cache.open("big.bin")) !== file(cache.open("big.bin")))
        #expect(cache.count == 1)
    }

    @Test("symlinks out of the root stay refused")
    func beneath() throws {
        outside.write("secret.txt", "secret\n")
        site.symlink("escape.txt", to: outside.path + "/secret.txt")
        let cache = try cache()
        for _ in 0..<2 {
            #expect(file(cache.open("escape.txt")) == nil)
            #expect(file(cache.open("../" + (outside.path as NSString).lastPathComponent + "/secret.txt")) == nil)
        }
        #expect(cache.count == 0)
    }

    @Test("at most capacity files per thread, every answer right")
    func capacity() throws {
        for index in 0..<10 { site.write("f\(index).txt", "\(index)\n") }
        let cache = try cache(capacity: 4)
        for round in 0..<3 {
            for index in 0..<10 {
                #expect(text(cache.open("f\(index).txt")) == "\(index)\n", "round \(round)")
                #expect(cache.count <= 4)
            }
        }
        let off = try self.cache(capacity: 0)
        #expect(text(off.open("f1.txt")) == "1\n")
        #expect(off.count == 0)
    }

    @Test("each thread has its own table; the descriptors close with the cache")
    func threadsAndRelease() throws {
        site.write("a.txt", "one\n")
        var cache: OpenFileCache? = try self.cache()
        weak var kept = file(cache!.open("a.txt"))
        // A thread of its own, joined: nothing of it holds the cache afterwards.
        var thread = pthread_t()
        let made = pthread_create(&thread, nil, { raw in
            let cache = Unmanaged<OpenFileCache>.fromOpaque(raw!).takeRetainedValue()
            _ = cache.open("a.txt")
            return nil
        }, Unmanaged.passRetained(cache!).toOpaque())
        #expect(made == 0)
        pthread_join(thread, nil)
        #expect(cache!.count == 2)
        #expect(kept != nil)
        cache = nil
        #expect(kept == nil)
    }
}
