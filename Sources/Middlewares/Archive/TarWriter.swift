import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// Packs a directory into a tar stream that is the same bytes on every replica: entries sorted
/// by path, owner 0, mtime 0, mode 0644 (0755 when executable or a directory). Only regular files
/// and directories are packed; symlinks and special files are left out.
public enum TarWriter {
    /// A file or directory to pack, relative to the root.
    public struct Entry: Sendable, Hashable {
        public let path: String
        public let size: Int64
        public let executable: Bool
        public let isDirectory: Bool
        public let modified: Int64
    }

    /// Every entry beneath `root`, sorted, without following symlinks.
    public static func entries(of root: String) throws -> [Entry] {
        var result: [Entry] = []
        try walk(root, relative: "", into: &result)
        return result.sorted { $0.path < $1.path }
    }

    private static func walk(_ root: String, relative: String, into result: inout [Entry]) throws {
        let path = relative.isEmpty ? root : root + "/" + relative
        guard let dir = opendir(path) else { throw ArchiveError("cannot read directory \(relative.isEmpty ? "." : relative)") }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let child = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(root + "/" + child, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                result.append(Entry(path: child, size: 0, executable: true, isDirectory: true, modified: Int64(info.st_mtim.tv_sec)))
                try walk(root, relative: child, into: &result)
            case S_IFREG:
                result.append(Entry(path: child, size: Int64(info.st_size), executable: info.st_mode & 0o111 != 0, isDirectory: false,
                                    modified: Int64(info.st_mtim.tv_sec)))
            default:
                continue
            }
        }
    }

    /// Writes the tar of `entries` (read from `root`) to `output` in chunks.
    public static func write(root: String, entries: [Entry], to output: ([UInt8]) async throws -> Void) async throws {
        for entry in entries {
            var header = TarHeader(name: entry.isDirectory ? entry.path + "/" : entry.path, size: Int(entry.size),
                                   mode: entry.executable ? 0o755 : 0o644, isDirectory: entry.isDirectory)
            if Array((entry.isDirectory ? entry.path + "/" : entry.path).utf8).count > 100, !header.setPath(entry.path) {
                try await output(TarRerooter.paxHeader([("path", entry.path)]))
            }
            header.updateChecksum()
            try await output(header.block)
            guard !entry.isDirectory else { continue }
            guard let file = OpenFile(path: root + "/" + entry.path) else { throw ArchiveError("cannot read \(entry.path)") }
            var offset: Int64 = 0
            while offset < entry.size {
                let chunk = try file.read(at: offset, count: Int(min(256 * 1024, entry.size - offset)))
                if chunk.isEmpty { throw ArchiveError("\(entry.path) shrank while it was packed") }
                try await output(chunk)
                offset += Int64(chunk.count)
            }
            let padding = Int((512 - entry.size % 512) % 512)
            if padding > 0 { try await output([UInt8](repeating: 0, count: padding)) }
        }
        try await output([UInt8](repeating: 0, count: 1024))
    }
}
