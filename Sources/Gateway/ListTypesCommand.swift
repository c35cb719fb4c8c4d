import Pipeline
import Middlewares

/// `gateway list-types`: every type with its options and one line of help.
enum ListTypesCommand {
    static let spec = CommandSpec("list-types", summary: "Prints every middleware and source type with its options.")

    static func run(_ arguments: [String]) -> Int32 {
        _ = CLI.parse(arguments, spec)
        print("middleware types (phase; * ends a chain):")
        for type in Builtins.middlewareTypes.sorted(by: { $0.name < $1.name }) {
            print("")
            let position = type.mayPrecede.isEmpty ? "\(type.phase)"
                : "\(type.phase); may precede " + type.mayPrecede.sorted().map(\.description).joined(separator: ", ")
            print("  \(type.name)\(type.isTerminal ? " *" : "")  [\(position)]  \(type.summary)")
            printOptions(type.options)
        }
        print("")
        print("source types:")
        for type in Builtins.sourceTypes.sorted(by: { $0.name < $1.name }) {
            print("")
            print("  \(type.name)  \(type.summary)")
            if !type.capabilities.isEmpty { print("      provides: " + type.capabilities.joined(separator: ", ")) }
            printOptions(type.options)
        }
        return 0
    }

    static func printOptions(_ options: [OptionSpec]) {
        let width = (options.map(\.name.count).max() ?? 0) + 2
        for option in options {
            var line = "      " + option.name.padding(width) + option.kind.padding(12) + option.summary
            if option.required { line += " (required)" }
            if let value = option.defaultValue { line += " [default \(value)]" }
            print(line)
        }
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}
