import Pipeline

/// `gateway check [FILE]`: prints every error and warning; exit 0 when valid, 1 when not.
enum CheckCommand {
    static func run(_ arguments: [String]) -> Int32 {
        let parsed = CLI.options(arguments, flags: ["config"], positional: 1)
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
