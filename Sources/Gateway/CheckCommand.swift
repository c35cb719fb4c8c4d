import Pipeline

/// `gateway check [FILE]`: prints every error and warning; exit 0 when valid, 1 when not.
enum CheckCommand {
    static let spec = CommandSpec(
        "check", arguments: "[FILE]", positional: 1,
        summary: """
            Prints every error and warning in the pipeline file with its JSON pointer; exit 0 when it is
            valid, 1 when not. Changes nothing on disk. FILE defaults to ./pipeline.json.
            """,
        options: [.init(name: "config", value: "FILE", help: "the pipeline file, as an option instead of FILE")])

    static func run(_ arguments: [String]) -> Int32 {
        let parsed = CLI.parse(arguments, spec)
        let path = parsed.positional.first ?? parsed.values["config"]?.last ?? "pipeline.json"
        let (pipeline, issues) = CLI.load(path, checkOnly: true)
        for issue in issues { print(issue.line) }
        guard let pipeline else {
            let errors = issues.count { $0.severity == .error }
            print("\(path): \(errors) error\(errors == 1 ? "" : "s")")
            return 1
        }
        print("\(path): ok (\(pipeline.listeners.count) listener\(pipeline.listeners.count == 1 ? "" : "s"), "
            + "\(pipeline.stacks.count) stack\(pipeline.stacks.count == 1 ? "" : "s") running)")
        return 0
    }
}
