import Pipeline
import Synchronization

/// What was read from each release asset (its control paragraph and SHA-256, or why it is not
/// a package), by a key naming the asset's id, digest and size: in memory, and in
/// `<cacheDirectory>/apt-control/` when one is configured, so a restart reads no asset again.
/// Entries never change (the key names the bytes), so there is nothing to invalidate.
final class APTControlStore: Sendable {
    struct Entry: Sendable {
        let control: ControlStanza?
        let sha256: String
        let failure: String?
    }

    let directory: String?
    private let memory = Mutex<[String: Entry]>([:])

    /// Nothing is created until the first entry is kept (`gateway check` changes nothing on disk).
    init(directory: String?) {
        self.directory = directory.map { $0 + "/apt-control" }
    }

    func lookup(_ key: String) -> Entry? {
        if let entry = memory.withLock({ $0[key] }) { return entry }
        guard let path = path(for: key), case .success(let bytes) = SmallFile.read(path, limit: 1 << 20),
              let entry = Self.decode(bytes, key: key) else { return nil }
        memory.withLock { $0[key] = entry }
        return entry
    }

    func insert(_ key: String, _ entry: Entry) {
        memory.withLock { $0[key] = entry }
        guard let path = path(for: key) else { return }
        // Written beside and renamed over, so a reader never sees half a file.
        let temporary = path + ".tmp"
        do {
            var folder = ""
            for part in directory!.split(separator: "/") {
                folder += "/" + part
                if FileSystem.status(folder)?.kind != .directory { try FileSystem.makeDirectory(folder) }
            }
            _ = FileSystem.remove(temporary)
            let file = try OpenFile.create(path: temporary)
            try file.write(Self.encode(entry, key: key), at: 0)
            try FileSystem.rename(temporary, to: path)
        } catch {
            Log.warning("apt: control data not kept on disk", [("path", path), ("reason", "\(error)")])
        }
    }

    private func path(for key: String) -> String? {
        directory.map { $0 + "/" + Hex.encode(Digest.sha256(key).prefix(20)) }
    }

    /// `key\nsha256\nfailure-or-empty\n\ncontrol text`.
    static func encode(_ entry: Entry, key: String) -> [UInt8] {
        Array("\(key)\n\(entry.sha256)\n\(entry.failure?.replacingOccurrences(of: "\n", with: " ") ?? "")\n\n\(entry.control?.text ?? "")".utf8)
    }

    static func decode(_ bytes: [UInt8], key: String) -> Entry? {
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.split(separator: "\n", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == key, parts[3].isEmpty else { return nil }
        if !parts[2].isEmpty { return Entry(control: nil, sha256: "", failure: String(parts[2])) }
        guard let control = try? ControlStanza(parsing: String(parts[4])) else { return nil }
        return Entry(control: control, sha256: String(parts[1]), failure: nil)
    }
}
