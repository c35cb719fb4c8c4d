import Pipeline

/// `h1:` hashes of provider packages (Go's dirhash Hash1 over the zip's files, terraform.md §4.3).
/// They are kept for the life of the process, by the zip's sha256: content-addressed, so one
/// answer serves every stack, every registry and every reload. Each zip is hashed once even when
/// many ask at once; a zip whose hash failed (download failed, bytes did not match SHA256SUMS) is
/// tried again after 30 s, then after twice as long each time up to an hour, not on every request.
public enum ProviderHashes {
    /// `h1:` by lower-case hex sha256 of the zip.
    public static let known = OutcomeCache<String, String>(maxEntries: 100_000, firstRetry: .seconds(30), maxRetry: .seconds(3600))

    /// The h1 hash of the package zip `object` (a file, or an upstream request sent down
    /// `downstream` and spooled), once its sha256 is `shasum`: its h1 is kept for every stack by
    /// that digest, so it must not vouch for other bytes. Reading and hashing run on the blocking
    /// pool (on the tasks' shared threads two hashes starved everything else).
    static func hash(_ object: RegistryObject, shasum: String, downstream: Downstream) async throws -> String {
        let file: OpenFile
        switch object {
        case .file(let local):
            guard Hex.encode(try await BlockingPool.shared.run { try local.sha256() }) == shasum else { throw mismatch }
            file = local
        case .upstream(let request, _):
            let response = try await downstream.fetch(request, timeout: .seconds(3600))
            guard response.status == .ok else { throw TerraformRegistry.failure(response.status, object: request.path) }
            // Spooled: a zip is read from its end.
            let spooled = try await Spool.collect(response.body, maxBytes: maxPackageBytes)
            guard spooled.sha256Hex == shasum else { throw mismatch }
            file = spooled.file
        case .body, .repositoryTarball:
            throw HTTPError(.badGateway, "not a package zip")
        }
        return try await BlockingPool.shared.run { try hash1(try ZipArchive(file: file)) }
    }

    /// Larger downloads are not spooled (providers are tens of MiB; this bounds the disk a spool takes).
    static let maxPackageBytes: Int64 = 4 << 30

    static let mismatch = HTTPError(.badGateway, "the package does not match its SHA256SUMS line")

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
