import Pipeline

/// Packs a folder into a tar stream that is the same bytes on every replica: entries sorted
/// by path, owner 0, mtime 0, mode 0644 (0755 when executable or a directory). Only regular files
/// and directories are packed (a `DirectoryHandle` listing leaves symlinks and special files out).
public enum TarWriter {
    /// Writes the tar of `entries` (a recursive listing of a folder, paths relative to it, in the
    /// order to pack them) to `output` in chunks; `open` opens an entry's file by that path. Files
    /// are read on the blocking pool.
    public static func write(entries: [DirectoryEntry], open: (String) async throws -> OpenFile?,
                             to output: ([UInt8]) async throws -> Void) async throws {
        for entry in entries {
            let isDirectory = entry.isDirectory, size = entry.status.size
            var header = TarHeader(name: isDirectory ? entry.path + "/" : entry.path, size: Int(size),
                                   mode: entry.status.executable || isDirectory ? 0o755 : 0o644, isDirectory: isDirectory)
            if Array((isDirectory ? entry.path + "/" : entry.path).utf8).count > 100, !header.setPath(entry.path) {
                try await output(TarRerooter.paxHeader([("path", entry.path)]))
            }
            header.updateChecksum()
            try await output(header.block)
            guard !isDirectory else { continue }
            guard let file = try await open(entry.path) else { throw ArchiveError("cannot read \(entry.path)") }
            var offset: Int64 = 0
            while offset < size {
                let start = offset
                let chunk = try await BlockingPool.shared.run { try file.read(at: start, count: Int(min(256 * 1024, size - start))) }
                if chunk.isEmpty { throw ArchiveError("\(entry.path) shrank while it was packed") }
                try await output(chunk)
                offset += Int64(chunk.count)
            }
            let padding = Int((512 - size % 512) % 512)
            if padding > 0 { try await output([UInt8](repeating: 0, count: padding)) }
        }
        try await output([UInt8](repeating: 0, count: 1024))
    }
}
