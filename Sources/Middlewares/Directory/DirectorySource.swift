import Pipeline

/// `directory`: a folder on disk as a source, for air-gapped sites and the embedded example. It
/// is a file tree and nothing more: each behaviour reads it through a view of its own (the
/// Terraform registry's layout is in Terraform/FileTreeRegistry.swift). Every path is resolved
/// beneath the folder by the kernel (`DirectoryHandle`), and scans run on the blocking pool.
///
/// ```json
/// "local": {"type": "directory", "path": "examples/registry"}
/// ```
public final class DirectorySource: FileTree {
    public let root: DirectoryHandle

    public static let type = SourceType(
        name: "directory", summary: "A folder on disk, read as a file tree (list, stat, open, a generation).",
        capabilities: ["a file tree"],
        options: [OptionSpec("path", "path", "the folder (relative to pipeline.json)", required: true)],
        build: { options, _ in
            let path = options.path("path", required: true) ?? ""
            guard !path.isEmpty else { throw ConfigError("required", at: options.pointer.appending("path")) }
            do throws(SystemError) {
                return DirectorySource(root: try DirectoryHandle(path: path))
            } catch {
                throw ConfigError("cannot open directory \"\(path)\": \(error.reason)", at: options.pointer.appending("path"))
            }
        })

    public init(root: DirectoryHandle) { self.root = root }

    public func list(_ path: String, recursive: Bool) async throws -> [DirectoryEntry]? {
        try await root.list(path, recursive: recursive)
    }

    public func status(_ path: String) async throws -> FileStatus? {
        try await BlockingPool.shared.run { self.root.status(path) }
    }

    public func open(_ path: String) async throws -> OpenFile? {
        guard case .file(let file) = root.open(path) else { return nil }
        return file
    }
}
