import Pipeline

/// `h1:` hashes of provider packages (Go's dirhash Hash1 over the zip's files, terraform.md §4.3),
/// computed once per zip and kept, keyed by the zip's sha256. Concurrent asks for one zip share
/// one computation.
public actor ProviderHashes {
    private var known: [String: String] = [:]
    private var running: [String: Task<String?, Never>] = [:]

    public init() {}

    /// The h1 hash for the zip whose sha256 is `shasum`, computing it with `open` if needed.
    /// With `wait` false a missing hash is computed in the background and nil is returned now
    /// (metadata answers must stay fast; the next answer carries it).
    public func h1(for shasum: String, wait: Bool, open: @escaping @Sendable () async throws -> OpenFile) async -> String? {
        if let hash = known[shasum] { return hash }
        let task: Task<String?, Never>
        if let existing = running[shasum] {
            task = existing
        } else {
            task = Task.detached {
                guard let file = try? await open() else { return nil }
                // Reading and hashing a whole package takes a while: on the blocking pool, not on the
                // few threads every task shares (two hashes there starved everything else on 2 cores).
                let hash = try? await BlockingPool.shared.run { () -> String? in
                    guard let zip = try? ZipArchive(file: file) else { return nil }
                    return try? Self.hash1(zip)
                }
                return hash ?? nil
            }
            running[shasum] = task
            Task {
                let hash = await task.value
                self.record(shasum, hash)
            }
        }
        return wait ? await task.value : nil
    }

    private func record(_ shasum: String, _ hash: String?) {
        running[shasum] = nil
        if let hash { known[shasum] = hash }
    }

    /// dirhash.Hash1: sorted file names, `"<sha256 hex>  <name>\n"` per file, sha256 of that, base64.
    /// Directory entries are left out, as Terraform does for an unpacked package.
    public static func hash1(_ zip: ZipArchive) throws -> String {
        var lines: [(name: String, hex: String)] = []
        for entry in zip.entries where !entry.isDirectory {
            guard !entry.name.contains("\n") else { throw ArchiveError("file name with a newline in zip") }
            let hasher = SHA256Hasher()
            try zip.read(entry) { hasher.update($0) }
            lines.append((entry.name, Hex.encode(hasher.finalize())))
        }
        lines.sort { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        let summary = SHA256Hasher()
        for line in lines { summary.update(Array("\(line.hex)  \(line.name)\n".utf8)) }
        return "h1:" + Base64.encode(summary.finalize())
    }
}
