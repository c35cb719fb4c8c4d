import Pipeline
import Middlewares
#if canImport(Glibc)
import Glibc
#endif

// gateway: serve | check | reload | stop | upgrade | list-types | cert --dev | hash-password | oci push | apt keygen|index | version | help
let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else {
    CLI.usageError("missing command (one of \(CLI.commands.joined(separator: ", "))); see `gateway help`")
}
let rest = Array(arguments.dropFirst())

switch command {
case "serve": ServeCommand.run(rest)
case "check": exit(CheckCommand.run(rest))
case "reload": exit(SignalCommand.run(rest, SignalCommand.reload))
case "stop": exit(SignalCommand.run(rest, SignalCommand.stop))
case "upgrade": exit(SignalCommand.run(rest, SignalCommand.upgrade))
case "list-types": exit(ListTypesCommand.run(rest))
case "cert": exit(CertCommand.run(rest))
case "hash-password": exit(HashPasswordCommand.run(rest))
case "oci": exit(OCICommand.run(rest))
case "apt": exit(APTCommand.run(rest))
case "version", "--version", "-v":
    _ = CLI.parse(rest, CLI.versionSpec)
    print("gateway \(GatewayVersion.string)")
    exit(0)
case "help", "--help", "-h":
    let topic = CLI.parse(rest, CLI.helpSpec).positional.first
    guard let topic else {
        print(CLI.usage, terminator: "")
        exit(0)
    }
    let name = topic == "apt" && rest.count > 1 ? "apt " + rest[1] : topic
    guard let spec = CLI.specs.first(where: { $0.name == name }) else {
        CLI.usageError("unknown command \"\(topic)\"" + DidYouMean.hint(for: topic, among: CLI.commands))
    }
    print(spec.help, terminator: "")
    exit(0)
default: CLI.usageError("unknown command \"\(command)\"" + DidYouMean.hint(for: command, among: CLI.commands))
}
