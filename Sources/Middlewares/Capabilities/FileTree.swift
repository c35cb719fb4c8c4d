import Pipeline

/// A capability: a tree of files the source holds (the `directory` source: a folder on disk).
/// Paths are relative and `/`-separated (`.` is the root); an implementation keeps every path
/// beneath its root, whatever a path contains. Everything here runs off the event loops.
///
/// Behaviours read it through views of their own: the Terraform registry reads
/// `modules/<namespace>/<name>/<system>/<version>` (Terraform/FileTreeRegistry.swift); an APT
/// repository would walk it for `.deb` files.
public protocol FileTree: Source {
    /// The files and folders in the folder `path`, sorted by path; with `recursive`, everything
    /// beneath it too (paths relative to `path`). Nil when `path` is not a folder. Symlinks,
    /// sockets and devices are left out.
    func list(_ path: String, recursive: Bool) async throws -> [DirectoryEntry]?

    /// What `path` is, or nil when it does not exist.
    func status(_ path: String) async throws -> FileStatus?

    /// The regular file at `path`, open for reading (to stream it whole or a range of it); nil when
    /// there is no such file.
    func open(_ path: String) async throws -> OpenFile?
}

extension FileTree {
    /// A value that changes whenever a file or folder beneath `path` is added, removed, resized
    /// or touched: a digest of the names, kinds, sizes and times of a recursive listing. Nil when
    /// `path` is not a folder. A behaviour compares it to know when to rebuild what it derived.
    public func generation(of path: String) async throws -> String? {
        guard let entries = try await list(path, recursive: true) else { return nil }
        return try await BlockingPool.shared.run {
            let hasher = SHA256Hasher()
            for entry in entries {
                let status = entry.status
                hasher.update(Array("\(entry.path)\u{0}\(status.kind)\u{0}\(status.size)\u{0}\(status.modified)\u{0}\(status.executable)\n".utf8))
            }
            return Hex.encode(hasher.finalize().prefix(16))
        }
    }

    /// The bytes of the file at `path` when it is no larger than `limit`; nil when there is no
    /// such file. For small metadata (a SHA256SUMS file, a manifest).
    public func read(_ path: String, limit: Int) async throws -> [UInt8]? {
        guard let file = try await open(path) else { return nil }
        guard file.size <= Int64(limit) else { throw BodyTooLarge(limit: limit) }
        return try await BlockingPool.shared.run { try file.read(at: 0, count: Int(file.size)) }
    }
}
