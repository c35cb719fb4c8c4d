import Pipeline

/// gunzip → drop the archive's top directory (and optionally a folder below it) → gzip, one
/// chunk at a time: how a GitHub tarball becomes a module archive with the module at its root.
/// Output is handed back in pieces of at least 64 KiB (except the last), so writes stay large.
public final class ReRootingTransform: @unchecked Sendable {
    // Used by the one task that streams the archive.
    private let inflater: Inflater
    private let deflater: Deflater
    private var rerooter: TarRerooter
    private var pending: [UInt8] = []

    public init(subdirectory: String = "") throws {
        inflater = try Inflater(.gzip)
        deflater = try Deflater()
        rerooter = TarRerooter(subdirectory: subdirectory)
    }

    /// Takes compressed input; returns compressed output once enough has built up.
    public func process(_ chunk: [UInt8]) throws -> [UInt8] {
        var tar: [UInt8] = []
        try inflater.inflate(chunk) { tar += try rerooter.feed($0) }
        if !tar.isEmpty { pending += deflater.deflate(tar) }
        guard pending.count >= 64 * 1024 else { return [] }
        defer { pending = [] }
        return pending
    }

    /// The rest of the output; throws when the input was not a complete archive, so a truncated
    /// upstream never becomes a module archive that looks whole.
    public func finish() throws -> [UInt8] {
        guard inflater.isFinished, rerooter.isComplete else { throw ArchiveError("the repository archive ended early") }
        defer { pending = [] }
        return pending + deflater.finish()
    }
}
