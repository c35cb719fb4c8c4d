#if canImport(Glibc)
internal import Glibc
#endif

/// What a config load may read besides the JSON: environment variables and files beside it.
public struct ConfigEnvironment: Sendable {
    /// Variables for `${NAME}` expansion.
    public var variables: [String: String]
    /// Relative paths in the config resolve against this directory (the config file's own).
    public var baseDirectory: String
    /// `gateway check`: build to validate only. Factories skip what would change the machine
    /// (creating directories and files, cleaning or evicting a cache that a running gateway may be
    /// using) and check instead that it could be done.
    public var checkOnly = false

    public init(variables: [String: String], baseDirectory: String) {
        self.variables = variables
        self.baseDirectory = baseDirectory
    }

    /// The process environment, relative to `baseDirectory`.
    public static func process(baseDirectory: String) -> ConfigEnvironment {
        var variables: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                variables[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            pointer += 1
        }
        return ConfigEnvironment(variables: variables, baseDirectory: baseDirectory)
    }

    /// Why `path` could not be created or written (as a directory when `directory`), or nil when it
    /// could: it exists with the right kind and is writable, or its parent directory is.
    public static func unwritable(_ path: String, directory: Bool) -> String? {
        var info = stat()
        if stat(path, &info) == 0 {
            let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
            if directory != isDirectory { return directory ? "not a directory" : "is a directory" }
            return access(path, directory ? W_OK | X_OK : W_OK) == 0 ? nil : String(cString: strerror(errno))
        }
        let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let folder = parent.isEmpty ? (path.hasPrefix("/") ? "/" : ".") : parent
        guard stat(folder, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return "\(folder) does not exist" }
        return access(folder, W_OK | X_OK) == 0 ? nil : "\(folder): \(String(cString: strerror(errno)))"
    }

    /// `path` made absolute against `baseDirectory`.
    public func resolve(path: String) -> String {
        if path.hasPrefix("/") || baseDirectory.isEmpty { return path }
        return baseDirectory.hasSuffix("/") ? baseDirectory + path : baseDirectory + "/" + path
    }

    /// Expands `${NAME}` for upper-case names (`[A-Z_][A-Z0-9_]*`); other `${...}` stay as written,
    /// because some options are templates (`${namespace}`). `$${` writes a literal `${`.
    /// Returns the names that are not set.
    public func expand(_ text: String) -> (String, missing: [String]) {
        guard text.contains("${") else { return (text, []) }
        var out = ""
        var missing: [String] = []
        var rest = Substring(text)
        while let start = rest.firstRange(of: "${") {
            if start.lowerBound > rest.startIndex, rest[rest.index(before: start.lowerBound)] == "$" {
                out += rest[..<rest.index(before: start.lowerBound)] + "${"
                rest = rest[start.upperBound...]
                continue
            }
            out += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                out += rest[start.lowerBound...]
                rest = ""
                break
            }
            let name = String(rest[start.upperBound..<end])
            if ConfigEnvironment.isVariableName(name) {
                if let value = variables[name] { out += value } else { missing.append(name) }
            } else {
                out += "${" + name + "}"
            }
            rest = rest[rest.index(after: end)...]
        }
        out += rest
        return (out, missing)
    }

    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || (first >= 65 && first <= 90) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) }
    }

    /// Reads a whole small file (a secret, a key, a users list).
    public func readFile(_ path: String, limit: Int = 4 * 1024 * 1024) throws -> [UInt8] {
        let resolved = resolve(path: path)
        guard let file = OpenFile(path: resolved) else {
            throw ConfigError("cannot read file \"\(resolved)\": \(String(cString: strerror(errno)))")
        }
        guard file.size <= limit else { throw ConfigError("file \"\(resolved)\" is larger than \(limit) bytes") }
        return try file.read(at: 0, count: Int(file.size))
    }
}
