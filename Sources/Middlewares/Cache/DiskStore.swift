import Dispatch
import Pipeline
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The disk tier: one file per stored response under `<directory>/<2 hex>/<sha256(key)>-<id>`, least
/// recently used evicted first within a byte budget. A fill writes under `tmp/` and the file is
/// fsynced and renamed into place only once complete, so a crash never leaves a partial object where
/// a lookup could find it. The index lives in memory and is rebuilt from the files at start, which is
/// what makes the tier survive a restart. One store per directory per process, shared across reloads.
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
        try Self.makeDirectory(directory)
        try Self.makeDirectory(directory + "/tmp")
        // What a crashed process left half-written is garbage; what another process on this
        // directory (an old one still draining) is writing now is not. A fill writes at least once
        // per upstream idle timeout, so a file untouched for an hour belongs to nobody.
        let now = time(nil)
        for name in Self.list(directory + "/tmp") {
            var info = stat()
            let path = directory + "/tmp/" + name
            if stat(path, &info) == 0, now - info.st_mtim.tv_sec >= Self.orphanAge { unlink(path) }
        }
        rebuildIndex()
    }

    /// Seconds after which a file in `tmp/` is taken for a crashed process's leftover.
    static let orphanAge = 3600

    var budget: Int { budgetBytes.load(ordering: .relaxed) }

    /// The stored response for `key`, marked as used.
    func get(_ key: String) -> CacheEntry? {
        index.withLock { $0.get(key) }.map { CacheEntry(head: $0.head, body: .disk(path: $0.path)) }
    }

    /// A new, empty file under `tmp/` for a fill, opened for reading and writing.
    func makeTemporary() throws -> (file: OpenFile, path: String) {
        let path = directory + "/tmp/" + SecureRandom.hex(12)
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError.errno("open \(path)") }
        guard let file = OpenFile(descriptor: fd) else { throw SystemError.errno("fstat") }
        return (file, path)
    }

    /// Completes a temporary file whose first `head.length` bytes are the body: appends the head,
    /// flushes it to disk off the event loop, renames it into place and indexes it. Returns the
    /// number of entries evicted to make room.
    func commit(_ file: OpenFile, temporaryPath: String, head: StoredHead, key: CacheKey) async throws -> Int {
        let trailer = DiskObject.trailer(for: head)
        try trailer.withUnsafeBytes { try DiskObject.write(file.descriptor, $0, at: head.length) }
        let digest = key.digest
        let folder = directory + "/" + String(digest.prefix(2))
        let path = folder + "/" + digest + "-" + SecureRandom.hex(6)
        let descriptor = file.descriptor
        // fsync can take a while for a large object; it runs on a Dispatch worker, never on a loop.
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    guard fsync(descriptor) == 0 else { throw SystemError.errno("fsync") }
                    try Self.makeDirectory(folder)
                    guard rename(temporaryPath, path) == 0 else { throw SystemError.errno("rename") }
                })
            }
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
        for path in doomed { unlink(path) }
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

    func remove(_ key: String) {
        if let record = index.withLock({ $0.remove(key) }) { unlink(record.path) }
    }

    var usage: (entries: Int, bytes: Int) {
        index.withLock { ($0.count, $0.totalCost) }
    }

    // MARK: Start

    /// Reads the head of every object file, drops what is not a complete object for the name it has,
    /// keeps the newest file per key, and evicts the oldest beyond the budget.
    private func rebuildIndex() {
        var found: [Record] = []
        for folder in Self.list(directory) where folder.utf8.count == 2 && Hex.decode(folder) != nil {
            let folderPath = directory + "/" + folder
            for name in Self.list(folderPath) {
                let path = folderPath + "/" + name
                let digest = name.split(separator: "-").first.map(String.init) ?? ""
                guard digest.utf8.count == 64, digest.hasPrefix(folder), let file = OpenFile(path: path),
                      let head = DiskObject.readHead(file), CacheKey(text: head.key).digest == digest else {
                    unlink(path)
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

    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw SystemError.errno("mkdir \(path)") }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { throw SystemError(call: "mkdir \(path)", code: ENOTDIR) }
        guard access(path, W_OK | X_OK) == 0 else { throw SystemError.errno("access \(path)") }
    }

    static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
