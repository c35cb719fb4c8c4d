import Pipeline
import Synchronization

/// The disk tier: one file per stored response under `<directory>/<2 hex>/<sha256(key)>-<id>`, least
/// recently used evicted first within a byte budget. A fill writes under `tmp/` and the file is
/// fsynced and renamed into place only once complete, so a crash never leaves a partial object where
/// a lookup could find it. The index lives in memory and is rebuilt from the files at start, which is
/// what makes the tier survive a restart. One store per directory per process, shared across reloads.
/// Several processes may share a directory: a published file never changes (a new version gets a
/// new name), so a reader has either a whole object or none; a fill holds `locks/<digest>` so the
/// other processes wait for it and then `discover` what it published instead of fetching again.
final class DiskStore: Sendable {
    struct Record: Sendable {
        var head: StoredHead
        let path: String
        let size: Int64
    }

    let directory: String
    private let budgetBytes: Atomic<Int>
    private let index = Mutex(LRUIndex<Record>())

    private struct WeakStore: @unchecked Sendable { weak var store: DiskStore? }
    private static let stores = Mutex<[String: WeakStore]>([:])

    /// The store for `directory` (created when missing), shared with any other cache using it.
    static func open(directory: String, budget: Int) throws -> DiskStore {
        try stores.withLock { stores in
            if let existing = stores[directory]?.store {
                existing.budgetBytes.store(budget, ordering: .relaxed)
                return existing
            }
            let store = try DiskStore(directory: directory, budget: budget)
            stores[directory] = WeakStore(store: store)
            return store
        }
    }

    private init(directory: String, budget: Int) throws {
        self.directory = directory
        budgetBytes = Atomic(budget)
        try FileSystem.makeDirectory(directory)
        try FileSystem.makeDirectory(directory + "/tmp")
        try FileSystem.makeDirectory(directory + "/locks")
        // What a crashed process left half-written is garbage; what another process on this
        // directory (an old one still draining) is writing now is not. A fill writes at least once
        // per upstream idle timeout, so a file untouched for an hour belongs to nobody.
        let now = Int64(WallClock.now)
        for name in FileSystem.names(in: directory + "/tmp") {
            let path = directory + "/tmp/" + name
            if let status = FileSystem.status(path), now - status.modified >= Self.orphanAge { FileSystem.remove(path) }
        }
        rebuildIndex()
    }

    /// Seconds after which a file in `tmp/` is taken for a crashed process's leftover.
    static let orphanAge: Int64 = 3600

    var budget: Int { budgetBytes.load(ordering: .relaxed) }

    /// The stored response for `key`, marked as used.
    func get(_ key: String) -> CacheEntry? {
        index.withLock { $0.get(key) }.map { CacheEntry(head: $0.head, body: .disk(path: $0.path)) }
    }

    // MARK: Other processes on this directory

    /// The lock file a fill of `key` holds (flock) in every process on this directory, so a fill
    /// in progress in one process is seen by the others: `locks/<sha256(key)>`, removed by its
    /// holder when the fill ends (`FileLock`).
    func lockPath(_ key: CacheKey) -> String { directory + "/locks/" + key.digest }

    /// The newest complete object for `key` on disk, also when another process on this directory
    /// published it (it is then indexed here too, replacing an older one). nil when there is none.
    /// Reads the key's folder: for a miss, not for every hit.
    func discover(_ key: String) -> CacheEntry? {
        let digest = CacheKey(text: key).digest
        let folder = directory + "/" + String(digest.prefix(2))
        let known = index.withLock { $0.peek(key) }
        var newest = known.flatMap { record in OpenFile(path: record.path) != nil ? record : nil }
        for name in FileSystem.names(in: folder) where name.hasPrefix(digest + "-") {
            let path = folder + "/" + name
            guard path != known?.path, let file = OpenFile(path: path), let head = DiskObject.readHead(file), head.key == key else { continue }
            if newest == nil || head.storedAt > newest!.head.storedAt { newest = Record(head: head, path: path, size: file.size) }
        }
        guard let newest else {
            // Evicted by another process: forget it here too.
            if known != nil { index.withLock { _ = $0.remove(key) } }
            return nil
        }
        if newest.path != known?.path { _ = insert(newest) }
        return CacheEntry(head: newest.head, body: .disk(path: newest.path))
    }

    /// A new, empty file under `tmp/` for a fill, opened for reading and writing.
    func makeTemporary() throws -> (file: OpenFile, path: String) {
        let path = directory + "/tmp/" + SecureRandom.hex(12)
        return (try OpenFile.create(path: path), path)
    }

    /// Completes a temporary file whose first `head.length` bytes are the body: appends the head,
    /// flushes it to disk off the event loop, renames it into place and indexes it. Returns the
    /// number of entries evicted to make room.
    func commit(_ file: OpenFile, temporaryPath: String, head: StoredHead, key: CacheKey) async throws -> Int {
        let trailer = DiskObject.trailer(for: head)
        try file.write(trailer, at: head.length)
        let digest = key.digest
        let folder = directory + "/" + String(digest.prefix(2))
        let path = folder + "/" + digest + "-" + SecureRandom.hex(6)
        // fsync can take a while for a large object: on the blocking pool, never on a loop.
        try await BlockingPool.shared.run {
            try file.sync()
            try FileSystem.makeDirectory(folder)
            try FileSystem.rename(temporaryPath, to: path)
        }
        let size = head.length + Int64(trailer.count)
        return insert(Record(head: head, path: path, size: size))
    }

    private func insert(_ record: Record) -> Int {
        let budget = self.budget
        var doomed: [String] = []
        let evicted = index.withLock { index -> Int in
            if let replaced = index.set(record.head.key, record, cost: Int(record.size)) { doomed.append(replaced.path) }
            var evicted = 0
            while index.totalCost > budget, let oldest = index.removeOldest() {
                doomed.append(oldest.value.path)
                if oldest.key != record.head.key { evicted += 1 }
            }
            return evicted
        }
        // Readers that already opened a file keep reading it; unlink only removes the name.
        for path in doomed { FileSystem.remove(path) }
        return evicted
    }

    /// Replaces the head kept for `key` after a 304. Only the index changes: after a restart the entry
    /// looks as old as its file says and is revalidated once more, which is safe.
    func refresh(_ key: String, head: StoredHead) {
        index.withLock { index in
            guard var record = index.peek(key) else { return }
            record.head = head
            index.update(key, record)
        }
    }

    /// Every key stored, least recently used first.
    var keys: [String] { index.withLock { $0.keysOldestFirst } }

    func contains(_ key: String) -> Bool {
        index.withLock { $0.peek(key) != nil }
    }

    /// The heads of every stored object, least recently used first.
    func heads() -> [StoredHead] {
        index.withLock { index in index.keysOldestFirst.compactMap { index.peek($0)?.head } }
    }

    func remove(_ key: String) {
        if let record = index.withLock({ $0.remove(key) }) { FileSystem.remove(record.path) }
    }

    var usage: (entries: Int, bytes: Int) {
        index.withLock { ($0.count, $0.totalCost) }
    }

    // MARK: Start

    /// Reads the head of every object file, drops what is not a complete object for the name it has,
    /// keeps the newest file per key, and evicts the oldest beyond the budget.
    private func rebuildIndex() {
        var found: [Record] = []
        for folder in FileSystem.names(in: directory) where folder.utf8.count == 2 && Hex.decode(folder) != nil {
            let folderPath = directory + "/" + folder
            for name in FileSystem.names(in: folderPath) {
                let path = folderPath + "/" + name
                let digest = name.split(separator: "-").first.map(String.init) ?? ""
                guard digest.utf8.count == 64, digest.hasPrefix(folder), let file = OpenFile(path: path),
                      let head = DiskObject.readHead(file), CacheKey(text: head.key).digest == digest else {
                    FileSystem.remove(path)
                    continue
                }
                found.append(Record(head: head, path: path, size: file.size))
            }
        }
        found.sort { $0.head.storedAt < $1.head.storedAt }
        _ = insertAll(found)
    }

    private func insertAll(_ records: [Record]) -> Int {
        var evicted = 0
        for record in records { evicted += insert(record) }
        return evicted
    }
}
