import Pipeline
import Middlewares
#if canImport(Glibc)
import Glibc
#endif

/// Shared CLI plumbing: usage text, one-line errors, argument parsing, config loading.
enum CLI {
    /// Every command, in the order `gateway help` lists them.
    static let specs: [CommandSpec] = [
        ServeCommand.spec, CheckCommand.spec, SignalCommand.reload, SignalCommand.stop, SignalCommand.upgrade, ListTypesCommand.spec,
        CertCommand.spec, HashPasswordCommand.spec, OCICommand.spec, APTCommand.keygen, APTCommand.index, versionSpec, helpSpec,
    ]

    static let versionSpec = CommandSpec("version", summary: "Prints the version.")
    static let helpSpec = CommandSpec("help", arguments: "[COMMAND]", positional: 2,
                                      summary: "Prints every command with its options, or one command's help.")

    static var commands: [String] { specs.map(\.name) }

    /// What `gateway help` (and `gateway --help`) prints: every command with every option.
    static var usage: String {
        var text = "usage: gateway <command> [options]   (gateway <command> --help for one command)\n\ncommands:\n"
        for spec in specs {
            text += "\n  \(spec.synopsis)\n"
            text += spec.summary.split(separator: "\n").map { "      \($0)\n" }.joined()
            if !spec.options.isEmpty { text += CommandSpec.table(spec.options.map { ($0.usage, $0.help) }, indent: 6) }
        }
        return text
    }

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

    /// Splits `--flag value` options by `spec`; unknown flags are usage errors, and `-h`/`--help`
    /// prints the command's help and exits 0.
    static func parse(_ arguments: [String], _ spec: CommandSpec)
        -> (values: [String: [String]], switches: Set<String>, positional: [String]) {
        if arguments.contains(where: { $0 == "--help" || $0 == "-h" }) {
            print(spec.help, terminator: "")
            exit(0)
        }
        let flags = spec.flags, switches = spec.switches
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
                    usageError("unknown option --\(name)" + DidYouMean.hint(for: name, among: flags + switches)
                               + "; see `gateway \(spec.name) --help`")
                }
            } else {
                rest.append(argument)
            }
            i += 1
        }
        if rest.count > spec.positional { usageError("unexpected argument \"\(rest[spec.positional])\"; see `gateway \(spec.name) --help`") }
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
        let bytes: [UInt8]
        switch readConfig(absolutePath) {
        case .success(let read): bytes = read
        case .failure(let problem): return (nil, [ConfigIssue(severity: .error, pointer: .root, message: problem.description)])
        }
        var environment = ConfigEnvironment.process(baseDirectory: directory(of: absolutePath))
        environment.checkOnly = checkOnly
        let (pipeline, diagnostics) = PipelineLoader.load(bytes, environment: environment, registry: Builtins.registry)
        return (pipeline, diagnostics.all)
    }

    /// The bytes of a pipeline file, or why there are none in words a person can act on.
    static func readConfig(_ path: String) -> Result<[UInt8], CLIError> {
        switch SmallFile.read(path, limit: 16 << 20) {
        case .success(let bytes):
            return .success(bytes)
        case .failure(let problem) where problem.isDirectory:
            let inside = path + (path.hasSuffix("/") ? "" : "/") + "pipeline.json"
            let hint = access(inside, F_OK) == 0 ? " (did you mean \(inside)?)" : "; give the pipeline file itself"
            return .failure(CLIError("cannot read \(path): it is a directory, not a pipeline file\(hint)"))
        case .failure(let problem):
            return .failure(CLIError("cannot read \(path): \(problem)"))
        }
    }
}

/// A reason a command cannot go on, in one line for the user.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension ConfigIssue {
    /// `error: /stacks/apt/chain/2: unknown type "cahce" (did you mean "cache"?)`
    var line: String { "\(severity.rawValue): \(pointer): \(message)" }
}
