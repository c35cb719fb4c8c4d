/// Rewrites a tar stream so the single top-level directory disappears: GitHub's
/// `owner-repo-sha/main.tf` becomes `main.tf`, so every client finds the module at the root without
/// go-getter's `//*` (terraform.md §2.3, §6.5). Works chunk by chunk in bounded memory: headers
/// are renamed (ustar name/prefix, pax `path`/`linkpath` records, GNU long names), data passes
/// through untouched, the pax global header (GitHub's commit comment) is kept. Entries outside
/// the top directory, absolute paths and `..` are refused. A symbolic link whose target is absolute
/// or climbs out of the re-rooted tree is dropped (a module must not hand Terraform a link to
/// `/etc/passwd`, or above its own folder once re-rooted), and so are device and FIFO entries.
public struct TarRerooter {
    private enum State {
        case header
        case data(remaining: Int, padding: Int, keep: Bool)
        case extended(header: TarHeader, remaining: Int, padding: Int, collected: [UInt8])
        case end
    }

    private var state = State.header
    private var pending: [UInt8] = []
    private var top: String?
    /// A pending pax/GNU path that applies to the next entry.
    private var overridePath: String?
    private var overrideLink: String?
    /// Components under the top directory to extract from (a module in a monorepo folder);
    /// entries outside it are dropped.
    private let subdirectory: [Substring]
    private static let maxExtendedBytes = 64 * 1024

    /// `subdirectory` (e.g. `modules/vpc`) re-roots at that folder below the top directory.
    public init(subdirectory: String = "") {
        self.subdirectory = subdirectory.split(separator: "/", omittingEmptySubsequences: true)
    }

    /// Consumes tar bytes and returns rewritten tar bytes.
    public mutating func feed(_ chunk: [UInt8]) throws -> [UInt8] {
        pending += chunk
        var out: [UInt8] = []
        var offset = 0
        loop: while true {
            switch state {
            case .end:
                offset = pending.count
                break loop
            case .header:
                guard pending.count - offset >= 512 else { break loop }
                let header = TarHeader(block: Array(pending[offset..<(offset + 512)]))
                offset += 512
                if header.isEndOfArchive {
                    out += [UInt8](repeating: 0, count: 1024)
                    state = .end
                    continue
                }
                guard header.checksumIsValid, let size = header.size else { throw ArchiveError("corrupt tar header") }
                let padding = (512 - size % 512) % 512
                switch header.typeflag {
                case UInt8(ascii: "x"), UInt8(ascii: "L"), UInt8(ascii: "K"):
                    guard size <= Self.maxExtendedBytes else { throw ArchiveError("extended header too large") }
                    state = .extended(header: header, remaining: size, padding: padding, collected: [])
                case UInt8(ascii: "g"):
                    out += header.block
                    state = .data(remaining: size, padding: padding, keep: true)
                default:
                    let (rewritten, keep) = try rewrite(header)
                    if keep, let rewritten { out += rewritten }
                    state = .data(remaining: size, padding: padding, keep: keep)
                }
            case .data(let remaining, let padding, let keep):
                let available = pending.count - offset
                let total = remaining + padding
                let n = min(available, total)
                if keep { out += pending[offset..<(offset + n)] }
                offset += n
                if n == total { state = .header } else { state = .data(remaining: remaining - min(n, remaining), padding: padding - max(0, n - remaining), keep: keep) ; break loop }
            case .extended(let header, let remaining, let padding, var collected):
                let available = pending.count - offset
                let take = min(available, remaining + padding)
                let dataPart = min(take, remaining)
                collected += pending[offset..<(offset + dataPart)]
                offset += take
                if take < remaining + padding {
                    state = .extended(header: header, remaining: remaining - dataPart, padding: padding - (take - dataPart), collected: collected)
                    break loop
                }
                out += try rewriteExtended(header, collected)
                state = .header
            }
        }
        pending.removeFirst(offset)
        return out
    }

    /// Whether the end-of-archive marker was seen.
    public var isComplete: Bool { if case .end = state { true } else { false } }

    private mutating func strip(_ path: String) throws -> String? {
        var components = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !path.hasPrefix("/"), !components.contains("..") else { throw ArchiveError("unsafe path in archive") }
        if components.first == "." { components.removeFirst() }
        guard let first = components.first else { return nil }
        if top == nil { top = String(first) }
        guard String(first) == top else { throw ArchiveError("archive has more than one top-level directory") }
        var below = components.dropFirst()
        if !subdirectory.isEmpty {
            guard below.starts(with: subdirectory) else { return nil }
            below = below.dropFirst(subdirectory.count)
        }
        let rest = below.joined(separator: "/")
        return rest.isEmpty ? nil : rest + (path.hasSuffix("/") ? "/" : "")
    }

    private mutating func rewrite(_ original: TarHeader) throws -> ([UInt8]?, Bool) {
        var header = original
        let sourcePath = overridePath ?? header.path
        let link = overrideLink
        overridePath = nil
        overrideLink = nil
        guard !sourcePath.contains("\0"), !(link?.contains("\0") ?? false) else { throw ArchiveError("NUL in a tar path") }
        guard let path = try strip(sourcePath) else { return (nil, false) }   // the top directory itself
        switch header.typeflag {
        case UInt8(ascii: "3"), UInt8(ascii: "4"), UInt8(ascii: "6"):
            return (nil, false)   // character and block devices, FIFOs: nothing a module needs
        case UInt8(ascii: "2"):
            guard Self.staysInside(link ?? header.linkName, linkAt: path) else { return (nil, false) }
        default:
            break
        }
        var out: [UInt8] = []
        var extended: [(String, String)] = []
        if !header.setPath(path) {
            extended.append(("path", path))
            _ = header.setPath(String(path.suffix(90)))
        }
        // Hard links name another entry of the archive, so their target is re-rooted too.
        if header.typeflag == UInt8(ascii: "1") {
            let target = try strip(link ?? header.linkName) ?? ""
            if !header.setLinkName(target) { extended.append(("linkpath", target)) }
        } else if let link {
            if !header.setLinkName(link) { extended.append(("linkpath", link)) }
        }
        header.updateChecksum()
        if !extended.isEmpty { out += Self.paxHeader(extended) }
        out += header.block
        return (out, true)
    }

    /// Whether a symbolic link at `path` (re-rooted) pointing to `target` resolves inside the tree.
    static func staysInside(_ target: String, linkAt path: String) -> Bool {
        guard !target.isEmpty, !target.hasPrefix("/") else { return false }
        var depth = path.split(separator: "/", omittingEmptySubsequences: true).count - 1
        for component in target.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                depth -= 1
                if depth < 0 { return false }
            default: depth += 1
            }
        }
        return true
    }

    private mutating func rewriteExtended(_ header: TarHeader, _ data: [UInt8]) throws -> [UInt8] {
        switch header.typeflag {
        case UInt8(ascii: "L"):
            overridePath = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
            return []
        case UInt8(ascii: "K"):
            overrideLink = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
            return []
        default:
            // pax records: "<len> key=value\n". Paths move to the next header; others are kept.
            var kept: [(String, String)] = []
            for (key, value) in try Self.parsePax(data) {
                switch key {
                case "path": overridePath = value
                case "linkpath": overrideLink = value
                default: kept.append((key, value))
                }
            }
            return kept.isEmpty ? [] : Self.paxHeader(kept)
        }
    }

    static func parsePax(_ data: [UInt8]) throws -> [(String, String)] {
        var records: [(String, String)] = []
        var i = 0
        while i < data.count {
            guard let space = data[i...].firstIndex(of: 0x20), let length = Int(String(decoding: data[i..<space], as: UTF8.self)),
                  length > 0, i + length <= data.count, data[i + length - 1] == 0x0A else { throw ArchiveError("corrupt pax header") }
            let record = data[(space + 1)..<(i + length - 1)]
            guard let eq = record.firstIndex(of: UInt8(ascii: "=")) else { throw ArchiveError("corrupt pax record") }
            records.append((String(decoding: record[..<eq], as: UTF8.self), String(decoding: record[(eq + 1)...], as: UTF8.self)))
            i += length
        }
        return records
    }

    static func paxHeader(_ records: [(String, String)]) -> [UInt8] {
        var data: [UInt8] = []
        for (key, value) in records {
            let body = " \(key)=\(value)\n"
            var length = body.utf8.count + 1
            while String(length).utf8.count + body.utf8.count != length { length = String(length).utf8.count + body.utf8.count }
            data += Array((String(length) + body).utf8)
        }
        var header = TarHeader(name: "././@PaxHeader", size: data.count, mode: 0o644, isDirectory: false)
        header.block[156] = UInt8(ascii: "x")
        header.updateChecksum()
        return header.block + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }
}
