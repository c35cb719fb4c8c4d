import Pipeline
import Synchronization

/// The APT view of a file tree (a `directory` source): every `.deb` beneath its root, in any
/// sub-folder (hidden ones left out). A package whose first folder is named after one of the
/// repository's components belongs to it; any other to the first component.
///
/// What was read is kept per path, size and modification time, so a rescan reads only new or
/// changed files. The Release's Date is the newest modification time of any file or folder
/// (removing a file touches its folder), so it moves forward when the tree changes.
final class FileTreePackages: APTPackageSource {
    let tree: any FileTree

    private struct Known {
        let size: Int64
        let modified: Int64
        /// Nil when the file was not a readable package (logged once).
        let package: APTPackage?
    }

    private let known = Mutex<[String: Known]>([:])

    init(tree: any FileTree) { self.tree = tree }

    /// Packages read at once while scanning: two per BlockingPool thread, so each thread has the
    /// next job queued.
    static var readsAtOnce: Int { 2 * BlockingPool.shared.threads }

    func generation() async throws -> String {
        try await tree.generation(of: ".") ?? "missing"
    }

    func scan(components: [String]) async throws -> APTScan {
        guard let entries = try await tree.list(".", recursive: true) else {
            throw HTTPError(.serviceUnavailable, "the package folder is missing")
        }
        var newest: Int64 = 0
        var packages: [APTPackage?] = []
        var unread: [(slot: Int, path: String, status: FileStatus, component: String)] = []
        var seen = Set<String>()
        for entry in entries {
            if entry.path.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            newest = max(newest, entry.status.modified)
            guard entry.status.kind == .file, entry.path.hasSuffix(".deb") else { continue }
            seen.insert(entry.path)
            let status = entry.status
            if let known = known.withLock({ $0[entry.path] }), known.size == status.size, known.modified == status.modified {
                packages.append(known.package)
                continue
            }
            let first = entry.path.split(separator: "/").first.map(String.init)
            let component = entry.path.contains("/") && components.contains(first ?? "") ? first! : components[0]
            unread.append((packages.count, entry.path, status, component))
            packages.append(nil)
        }
        // New and changed files are read a few at a time (each read and hash runs on the
        // BlockingPool), so a big folder uses every core; the listing's order is kept.
        await withTaskGroup(of: (Int, APTPackage?).self) { group in
            var next = 0
            func start() {
                guard next < unread.count else { return }
                let (index, file) = (next, unread[next])
                next += 1
                group.addTask { (index, await self.read(file.path, status: file.status, component: file.component)) }
            }
            for _ in 0..<Self.readsAtOnce { start() }
            while let (index, package) = await group.next() {
                let file = unread[index]
                packages[file.slot] = package
                known.withLock { $0[file.path] = Known(size: file.status.size, modified: file.status.modified, package: package) }
                start()
            }
        }
        known.withLock { known in known = known.filter { seen.contains($0.key) } }
        if let root = try await tree.status(".") { newest = max(newest, root.modified) }
        return APTScan(packages: packages.compactMap { $0 }, newest: newest)
    }

    /// Reads one file's control data and SHA-256; nil (with a log line) when it is not a usable package.
    private func read(_ path: String, status: FileStatus, component: String) async -> APTPackage? {
        do {
            guard let file = try await tree.open(path) else { return nil }
            let control = try await DebControlReader.control(fileSize: file.size) { count in
                try await BlockingPool.shared.run { try file.read(at: 0, count: count) }
            }
            try APTPackage.validate(control)
            let sha256 = try await BlockingPool.shared.run { Hex.encode(try file.sha256()) }
            return APTPackage(control: control.removing(APTPackage.repositoryFields), size: file.size, sha256: sha256, component: component,
                              location: path, label: path, time: file.modified)
        } catch {
            Log.warning("apt: package left out", [("package", path), ("reason", "\(error)")])
            return nil
        }
    }

    func object(_ package: APTPackage) async throws -> APTObject {
        guard let file = try await tree.open(package.location) else { throw HTTPError(.notFound, "not found") }
        // A file replaced since the index was built is not what the index promised.
        guard file.size == package.size else { throw HTTPError(.notFound, "not found") }
        return .file(file)
    }
}
