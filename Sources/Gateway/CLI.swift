import Pipeline
import Middlewares
#if canImport(Glibc)
import Glibc
#endif

/// Shared CLI plumbing: usage text, one-line errors, argument parsing, config loading.
enum CLI {
    static let commands = ["serve", "check", "list-types", "cert", "hash-password", "version", "help"]

    static let usage = """
        usage: gateway <command> [options]

          serve [--config FILE]        run the pipeline (default ./pipeline.json)
          check [FILE]                 print every error and warning in FILE; exit 1 if invalid
          list-types                   every middleware and source type with its options
          cert --dev [--dir DIR] [--name NAME]...
                                       create a local CA and a server certificate (default certs/, localhost)
          hash-password [--user NAME] [--pbkdf2] [--token]
                                       hash a password (or token) read from stdin or a prompt
          version                      print the version
        """

    /// A usage mistake: one line on stderr, exit 2.
    static func usageError(_ message: String) -> Never {
        Log.writeLine("gateway: \(message)\n", to: 2)
        exit(2)
    }

    /// A failure: one line on stderr, exit 1.
    static func fail(_ message: String) -> Never {
        Log.writeLine("gateway: \(message)\n", to: 2)
        exit(1)
    }

    /// Splits `--flag value` options; unknown flags are usage errors.
    static func options(_ arguments: [String], flags: [String], switches: [String] = [], positional: Int = 0)
        -> (values: [String: [String]], switches: Set<String>, positional: [String]) {
        var values: [String: [String]] = [:]
        var on: Set<String> = []
        var rest: [String] = []
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            if argument.hasPrefix("--") {
                var name = String(argument.dropFirst(2))
                var inline: String?
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                if switches.contains(name) {
                    on.insert(name)
                } else if flags.contains(name) {
                    if let inline {
                        values[name, default: []].append(inline)
                    } else {
                        guard i + 1 < arguments.count else { usageError("--\(name) needs a value") }
                        i += 1
                        values[name, default: []].append(arguments[i])
                    }
                } else {
                    usageError("unknown option --\(name)" + DidYouMean.hint(for: name, among: flags + switches))
                }
            } else {
                rest.append(argument)
            }
            i += 1
        }
        if rest.count > positional { usageError("unexpected argument \"\(rest[positional])\"") }
        return (values, on, rest)
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + path
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Reads and builds a pipeline file. Nil pipeline when it has errors (or cannot be read).
    static func load(_ path: String, checkOnly: Bool = false) -> (LoadedPipeline?, [ConfigIssue]) {
        let absolutePath = absolute(path)
        guard let file = OpenFile(path: absolutePath) else {
            return (nil, [ConfigIssue(severity: .error, pointer: .root, message: "cannot read \(absolutePath): \(String(cString: strerror(errno)))")])
        }
        guard let bytes = try? file.read(at: 0, count: Int(min(file.size, 16 << 20))) else {
            return (nil, [ConfigIssue(severity: .error, pointer: .root, message: "cannot read \(absolutePath)")])
        }
        var environment = ConfigEnvironment.process(baseDirectory: directory(of: absolutePath))
        environment.checkOnly = checkOnly
        let (pipeline, diagnostics) = PipelineLoader.load(bytes, environment: environment, registry: Builtins.registry)
        return (pipeline, diagnostics.all)
    }
}

extension ConfigIssue {
    /// `error: /stacks/apt/chain/2: unknown type "cahce" (did you mean "cache"?)`
    var line: String { "\(severity.rawValue): \(pointer): \(message)" }
}
