import Pipeline
import Middlewares
#if canImport(Glibc)
import Glibc
#endif

// gateway: serve | check | list-types | cert --dev | hash-password | version
let arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.first ?? "help"
let rest = Array(arguments.dropFirst())

switch command {
case "serve": ServeCommand.run(rest)
case "check": exit(CheckCommand.run(rest))
case "list-types": exit(ListTypesCommand.run(rest))
case "cert": exit(CertCommand.run(rest))
case "hash-password": exit(HashPasswordCommand.run(rest))
case "version", "--version", "-v": print("gateway \(GatewayVersion.string)"); exit(0)
case "help", "--help", "-h": print(CLI.usage); exit(0)
default: CLI.usageError("unknown command \"\(command)\"" + DidYouMean.hint(for: command, among: CLI.commands))
}
