import Synchronization
#if canImport(Glibc)
internal import Glibc
#endif

/// Open descriptors of small files beneath a `DirectoryHandle`, kept per thread so that a file
/// served again is not opened again: openat2 with RESOLVE_BENEATH and close were half of the
/// system calls of a small-file request and a sixth of its CPU time (nginx's `open_file_cache`).
///
/// What a cached descriptor may serve is checked on every use with `fstat` on the descriptor (the
/// call an uncached request makes anyway): a file written, truncated, appended to, chmod-ed,
/// renamed, replaced by a rename over it or removed has a new change time or no links left, and is
/// opened again by path at once. Only a change above the file (a folder on its path renamed, a
/// symlink on its path pointed elsewhere) keeps no trace on the file itself: every entry is
/// therefore opened again by path once it is `validFor` old (1 s by default), so such a change
/// is seen within that window. Paths that are missing, forbidden or folders are never cached.
///
/// Each thread has its own table (no lock on the request path); the tables belong to the cache,
/// so its descriptors close when the cache goes away (a reload that drops its `files`). A table
/// holds at most `capacity` files of at most `maxFileSize` bytes; entries past their window are
/// dropped on the next use of that thread's table once per window, so a removed file's space is
/// held only while its table sees no requests at all. When the process runs out of descriptors,
/// a lookup empties its table before it gives up.
public final class OpenFileCache: Sendable {
    public let root: DirectoryHandle
    public let capacity: Int
    public let maxFileSize: Int64
    /// Milliseconds an entry may be used after it was opened by path.
    let validFor: UInt64
    let id: UInt64
    private let tables = Mutex<[Table]>([])

    private static let nextID = Atomic<UInt64>(1)
    /// Caches alive, by id: a thread's list of tables drops those of caches that are gone.
    private static let alive = Mutex<Set<UInt64>>([])

    fileprivate static var aliveIDs: Set<UInt64> { alive.withLock { $0 } }

    public init(root: DirectoryHandle, capacity: Int = 64, maxFileSize: Int64 = 256 << 10, validFor: Duration = .seconds(1)) {
        self.root = root
        self.capacity = max(0, capacity)
        self.maxFileSize = maxFileSize
        let milliseconds = validFor.components.seconds * 1000 + validFor.components.attoseconds / 1_000_000_000_000_000
        self.validFor = UInt64(max(0, milliseconds))
        id = Self.nextID.add(1, ordering: .relaxed).oldValue
        Self.alive.withLock { _ = $0.insert(id) }
    }

    deinit {
        let id = self.id
        Self.alive.withLock { _ = $0.remove(id) }
    }

    /// `root.open(relative)`, from this thread's table when the file is there and unchanged.
    public func open(_ relative: String) -> DirectoryHandle.Lookup {
        guard capacity > 0 else { return root.open(relative) }
        let table = ThreadTables.table(of: self)
        let now = Monotonic.coarse
        if now &- table.swept >= validFor { table.sweep(now: now, validFor: validFor) }
        if let entry = table.entries[relative] {
            if now &- entry.opened < validFor, entry.isCurrent() { return .file(entry.file) }
            table.entries[relative] = nil
        }
        var info = stat()
        errno = 0
        var lookup = root.open(relative, status: &info)
        if case .missing = lookup, errno == EMFILE || errno == ENFILE, !table.entries.isEmpty {
            // Out of descriptors: this table's go first, then the file gets its chance.
            table.entries.removeAll()
            lookup = root.open(relative, status: &info)
        }
        if case .file(let file) = lookup, file.size <= maxFileSize {
            if table.entries.count >= capacity {
                table.sweep(now: now, validFor: validFor)
                if table.entries.count >= capacity { table.entries.removeAll(keepingCapacity: true) }
            }
            table.entries[relative] = Entry(file: file, info: info, opened: now)
        }
        return lookup
    }

    /// Descriptors held now, all threads (tests, while no other thread uses the cache).
    var count: Int { tables.withLock { $0.reduce(0) { $0 + $1.entries.count } } }

    fileprivate func makeTable() -> Table {
        let table = Table(swept: Monotonic.coarse)
        tables.withLock { $0.append(table) }
        return table
    }

    /// One cached file and what fstat said of it when it was opened by path.
    struct Entry {
        let file: OpenFile
        let device: UInt64
        let inode: UInt64
        let changed: timespec
        let modified: timespec
        /// Monotonic.coarse when it was opened by path.
        let opened: UInt64

        init(file: OpenFile, info: stat, opened: UInt64) {
            self.file = file
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            changed = info.st_ctim
            modified = info.st_mtim
            self.opened = opened
        }

        /// Still the file (linked, same inode) with the same change time, modification time and size.
        func isCurrent() -> Bool {
            var info = stat()
            guard fstat(file.descriptor, &info) == 0 else { return false }
            return info.st_nlink > 0 && UInt64(info.st_ino) == inode && UInt64(info.st_dev) == device
                && info.st_ctim.tv_sec == changed.tv_sec && info.st_ctim.tv_nsec == changed.tv_nsec
                && info.st_mtim.tv_sec == modified.tv_sec && info.st_mtim.tv_nsec == modified.tv_nsec
                && Int64(info.st_size) == file.size
        }
    }

    /// One thread's entries: only that thread reads or changes them.
    final class Table: @unchecked Sendable {
        var entries: [String: Entry] = [:]
        /// When entries past their window were last dropped.
        var swept: UInt64

        init(swept: UInt64) { self.swept = swept }

        func sweep(now: UInt64, validFor: UInt64) {
            swept = now
            guard !entries.isEmpty else { return }
            entries = entries.filter { now &- $0.value.opened < validFor }
        }
    }
}

/// The calling thread's tables, one per `OpenFileCache` it has served from, found through a
/// thread-specific key. The list holds them unretained: a table belongs to its cache, and the list
/// is only read for a cache that is alive (the caller holds it), matched by id.
private final class ThreadTables {
    private var list: [(id: UInt64, table: Unmanaged<OpenFileCache.Table>)] = []

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { raw in
            guard let raw else { return }
            Unmanaged<ThreadTables>.fromOpaque(raw).release()
        }
        precondition(rc == 0, "pthread_key_create failed")
        return key
    }()

    static func table(of cache: OpenFileCache) -> OpenFileCache.Table {
        let tables: ThreadTables
        if let raw = pthread_getspecific(key) {
            tables = Unmanaged<ThreadTables>.fromOpaque(raw).takeUnretainedValue()
        } else {
            tables = ThreadTables()
            pthread_setspecific(key, Unmanaged.passRetained(tables).toOpaque())
        }
        let id = cache.id
        for item in tables.list where item.id == id { return item.table.takeUnretainedValue() }
        // Tables of caches that are gone (a reload, tests) leave the list first, unread.
        let alive = OpenFileCache.aliveIDs
        tables.list.removeAll { !alive.contains($0.id) }
        let table = cache.makeTable()
        tables.list.append((id, Unmanaged.passUnretained(table)))
        return table
    }
}
