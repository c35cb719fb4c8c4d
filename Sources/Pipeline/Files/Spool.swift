#if canImport(Glibc)
internal import Glibc
#endif

/// Writes a body into an anonymous temporary file, computing its SHA-256 on the way, for objects
/// that must be read at random (a zip's directory is at its end) or checked against a digest
/// before they are used. Writing and hashing run on `BlockingPool.shared` in pieces of about
/// 1 MiB, never on an event loop. The file has no name: it vanishes with its last reference.
///
/// ```swift
/// let spooled = try await Spool.collect(response.body, maxBytes: 1 << 30)
/// guard spooled.sha256Hex == expected else { throw ... }
/// let zip = try ZipArchive(file: spooled.file)
/// ```
public final class Spool: ResponseBodyWriter, @unchecked Sendable {
    // Written by the one task that writes the body, one call at a time.
    private let file: OpenFile
    private let hasher = SHA256Hasher()
    private let maxBytes: Int64?
    private var pending: [UInt8] = []
    private var written: Int64 = 0
    private var finished = false
    static let pieceBytes = 1 << 20

    /// A spool in `directory` (the system's temporary directory by default) that fails once the
    /// body passes `maxBytes`.
    public init(directory: String = FileSystem.temporaryDirectory, maxBytes: Int64? = nil) throws(SystemError) {
        file = try OpenFile.temporary(in: directory)
        self.maxBytes = maxBytes
    }

    /// Spools the whole of `body`.
    public static func collect(_ body: ResponseBody, directory: String = FileSystem.temporaryDirectory,
                               maxBytes: Int64? = nil) async throws -> SpooledFile {
        let spool = try Spool(directory: directory, maxBytes: maxBytes)
        try await body.write(to: spool)
        return try await spool.finish()
    }

    public func write(_ chunk: [UInt8]) async throws {
        precondition(!finished, "Spool used after finish")
        try admit(Int64(chunk.count))
        pending += chunk
        if pending.count >= Self.pieceBytes { try await flush() }
    }

    /// Copies the region file to file on the pool (a cache hit from disk arrives this way).
    public func write(file region: FileRegion) async throws {
        precondition(!finished, "Spool used after finish")
        try admit(region.length)
        try await flush()
        let start = written
        try await BlockingPool.shared.run {
            var offset: Int64 = 0
            while offset < region.length {
                let chunk = try region.file.read(at: region.offset + offset, count: Int(min(Int64(Self.pieceBytes), region.length - offset)))
                if chunk.isEmpty { throw SystemError(call: "read (the file shrank)", code: EIO) }
                self.hasher.update(chunk)
                try self.file.write(chunk, at: start + offset)
                offset += Int64(chunk.count)
            }
        }
        written += region.length
    }

    /// Writes what is buffered and hands over the file (its size is what was written) and the digest.
    public func finish() async throws -> SpooledFile {
        try await flush()
        finished = true
        let digest = try await BlockingPool.shared.run { self.hasher.finalize() }
        return SpooledFile(file: try file.reopened(), sha256: digest)
    }

    private func admit(_ count: Int64) throws {
        if let maxBytes, written + Int64(pending.count) + count > maxBytes { throw BodyTooLarge(limit: Int(maxBytes)) }
    }

    private func flush() async throws {
        guard !pending.isEmpty else { return }
        let piece = pending, offset = written
        pending = []
        try await BlockingPool.shared.run {
            self.hasher.update(piece)
            try self.file.write(piece, at: offset)
        }
        written += Int64(piece.count)
    }
}

/// A spooled body: the file, rewound, and the SHA-256 of its bytes.
public struct SpooledFile: Sendable {
    public let file: OpenFile
    public let sha256: [UInt8]
    /// The digest as lower-case hex (as SHA256SUMS files and OCI digests write it).
    public var sha256Hex: String { Hex.encode(sha256) }
}
