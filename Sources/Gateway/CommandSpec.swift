/// One subcommand as the command line knows it: its name, options and help. The parser, the
/// command's `--help` and `gateway help` all read this one value, so they cannot disagree.
struct CommandSpec: Sendable {
    /// A `--name VALUE` option (`value` set) or a `--name` switch (`value` nil).
    struct Option: Sendable {
        let name: String
        let value: String?
        let help: String
        var repeatable = false
        /// Shown without brackets in the usage line (`cert --dev`).
        var required = false

        var usage: String { "--\(name)" + (value.map { " \($0)" } ?? "") }
    }

    let name: String
    /// The positional arguments in the usage line, e.g. `[FILE]`; empty for none.
    let arguments: String
    let positional: Int
    let summary: String
    let options: [Option]

    init(_ name: String, arguments: String = "", positional: Int = 0, summary: String, options: [Option] = []) {
        self.name = name
        self.arguments = arguments
        self.positional = positional
        self.summary = summary
        self.options = options
    }

    var flags: [String] { options.filter { $0.value != nil }.map(\.name) }
    var switches: [String] { options.filter { $0.value == nil }.map(\.name) }

    /// `serve [--config FILE] [--pid-file PATH]`
    var synopsis: String {
        var parts = [name]
        for option in options {
            parts.append((option.required ? option.usage : "[\(option.usage)]") + (option.repeatable ? "..." : ""))
        }
        if !arguments.isEmpty { parts.append(arguments) }
        return parts.joined(separator: " ")
    }

    /// What `gateway COMMAND --help` prints.
    var help: String {
        var text = "usage: gateway \(synopsis)\n\n\(summary)\n"
        let rows = options.map { ($0.usage, $0.help) } + [("-h, --help", "print this help")]
        text += "\noptions:\n" + Self.table(rows, indent: 2)
        return text
    }

    /// Two columns, the second aligned.
    static func table(_ rows: [(String, String)], indent: Int) -> String {
        let width = (rows.map(\.0.count).max() ?? 0) + 3
        let pad = String(repeating: " ", count: indent)
        return rows.map { pad + $0.0 + String(repeating: " ", count: width - $0.0.count) + $0.1 + "\n" }.joined()
    }
}
