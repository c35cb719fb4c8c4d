import Pipeline

/// Reads a `.deb`'s control data (deb(5), apt.md §3): the ar archive's `debian-binary` (2.x),
/// then `control.tar[.gz|.xz|.zst]` holding `./control`. Works from the file's first bytes: the
/// control member is the second one, usually within the first few KB, so a release asset is read
/// with one Range request; `neededBytes` says how far to read when it lies further in.
enum DebControlReader {
    /// How many leading bytes are asked for first (one Range request for almost every package).
    static let firstRead = 64 * 1024
    /// A control archive larger than this is refused (Debian's are a few KB; maintainer scripts can add some).
    static let maxControlArchive = 4 << 20
    /// The control archive after decompression.
    static let maxControlTar = 16 << 20

    /// Why a file is not a readable .deb.
    struct NotADeb: Error, CustomStringConvertible {
        let description: String
    }

    enum Outcome {
        /// The control paragraph.
        case control(ControlStanza)
        /// The control member ends beyond `prefix`: read the first `count` bytes and try again.
        case needBytes(Int)
    }

    /// Reads the control paragraph from `prefix`, the first bytes of a file of `fileSize` bytes.
    static func read(prefix: [UInt8], fileSize: Int64) throws -> Outcome {
        let members: [ArArchive.Member]
        do {
            members = try ArArchive.members(in: prefix, fileSize: fileSize)
        } catch {
            throw NotADeb(description: "\(error)")
        }
        guard let first = members.first else {
            if Int64(prefix.count) < fileSize { return .needBytes(min(Int(fileSize), 8 + ArArchive.headerSize + 512)) }
            throw NotADeb(description: "an empty ar archive")
        }
        guard first.name == "debian-binary" else { throw NotADeb(description: "the first member is \(first.name), not debian-binary") }
        guard first.offset + first.size <= Int64(prefix.count) else { return .needBytes(Int(first.offset + first.size) + ArArchive.headerSize) }
        let version = String(decoding: prefix[Int(first.offset)..<Int(first.offset + first.size)], as: UTF8.self)
        guard version.hasPrefix("2.") else { throw NotADeb(description: "unsupported .deb format version \(version.prefix(8))") }
        // Members starting with "_" (signatures) may come before control.tar.
        guard let control = members.dropFirst().first(where: { !$0.name.hasPrefix("_") }) else {
            let end = members.last.map { $0.offset + $0.size + ($0.size & 1) } ?? 8
            if Int64(prefix.count) < fileSize { return .needBytes(Int(min(fileSize, end + Int64(ArArchive.headerSize)))) }
            throw NotADeb(description: "no control.tar member")
        }
        guard control.name.hasPrefix("control.tar") else { throw NotADeb(description: "the second member is \(control.name), not control.tar") }
        guard control.size <= Int64(maxControlArchive) else { throw NotADeb(description: "control.tar is larger than \(maxControlArchive) bytes") }
        let end = control.offset + control.size
        guard end <= Int64(prefix.count) else { return .needBytes(Int(end)) }
        let compressed = Array(prefix[Int(control.offset)..<Int(end)])
        let format: Decompression.Format = switch control.name {
        case "control.tar": .none
        case "control.tar.gz": .gzip
        case "control.tar.xz": .xz
        case "control.tar.zst": .zstd
        default: throw NotADeb(description: "unsupported control member \(control.name)")
        }
        do {
            let tar = try Decompression.decompress(compressed, as: format, limit: maxControlTar)
            guard let file = try TarReader.file("control", in: tar) else { throw NotADeb(description: "control.tar has no ./control") }
            guard let text = String(validating: file, as: UTF8.self) else { throw NotADeb(description: "the control file is not UTF-8") }
            return .control(try ControlStanza(parsing: text))
        } catch let error as NotADeb {
            throw error
        } catch {
            throw NotADeb(description: "\(control.name): \(error)")
        }
    }

    /// Reads the control paragraph through `read(count)`, which returns the file's first `count`
    /// bytes (fewer only at its end): one call for most packages, two when the control archive is large.
    static func control(fileSize: Int64, read: (Int) async throws -> [UInt8]) async throws -> ControlStanza {
        var count = Int(min(fileSize, Int64(firstRead)))
        for _ in 0..<4 {
            let prefix = try await read(count)
            switch try Self.read(prefix: prefix, fileSize: fileSize) {
            case .control(let stanza): return stanza
            case .needBytes(let more):
                guard more > prefix.count else { throw NotADeb(description: "truncated") }
                count = more
            }
        }
        throw NotADeb(description: "the control member could not be located")
    }
}
