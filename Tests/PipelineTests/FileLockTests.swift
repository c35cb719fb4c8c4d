import Foundation
import Testing
@testable import Pipeline

@Suite("file locks across processes (flock)")
struct FileLockTests {
    @Test("one holder at a time; the holder removes the file when it lets go, and the next holder gets a new one")
    func oneHolder() throws {
        let directory = NSTemporaryDirectory() + "filelock-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/key"
        var first = FileLock.tryLock(path)
        #expect(first != nil)
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(FileLock.tryLock(path) == nil, "held by the first")
        // A waiter that opened the file before the holder let go, and locks it after.
        let early = open(path, O_RDWR | O_CLOEXEC)
        defer { close(early) }
        first = nil
        #expect(!FileManager.default.fileExists(atPath: path), "removed by its holder")
        #expect(flock(early, LOCK_EX | LOCK_NB) == 0, "the removed file's lock is free, but it names nothing any more")
        let second = FileLock.tryLock(path)
        #expect(second != nil, "a new file, not the removed one")
        #expect(FileLock.tryLock(path) == nil)
        _ = second
    }
}
