import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// `gateway hash-password [--user NAME] [--pbkdf2] [--token]`: reads a password (or token) from
/// stdin, or prompts twice with echo off on a terminal, and prints the line to put in config:
/// a scrypt hash (PBKDF2-SHA256 with `--pbkdf2`), `NAME:hash` for a users file with `--user`, or
/// `sha256:HEX` for `auth.bearer` with `--token`.
enum HashPasswordCommand {
    static let spec = CommandSpec(
        "hash-password",
        summary: """
            Hashes a password (or token) read from stdin, or asked twice with echo off on a terminal, and
            prints the line to put in the config: a scrypt hash for auth.basic by default.
            """,
        options: [
            .init(name: "user", value: "NAME", help: "print NAME:hash, a line for an auth.basic usersFile"),
            .init(name: "pbkdf2", value: nil, help: "PBKDF2-SHA256 instead of scrypt"),
            .init(name: "token", value: nil, help: "print sha256:HEX of a token, for auth.bearer"),
        ])

    static func run(_ arguments: [String]) -> Int32 {
        let parsed = CLI.parse(arguments, spec)
        let token = parsed.switches.contains("token")
        let user = parsed.values["user"]?.last
        if token, user != nil || parsed.switches.contains("pbkdf2") { CLI.usageError("--token cannot be combined with --user or --pbkdf2") }
        if let user, user.isEmpty || user.contains(":") { CLI.usageError("--user must be non-empty and without ':'") }
        let secret = read(what: token ? "Token" : "Password")
        guard !secret.isEmpty else { CLI.fail("empty \(token ? "token" : "password"); nothing hashed") }
        if token {
            print("sha256:" + Hex.encode(Digest.sha256(secret)))
            return 0
        }
        do {
            let hash = try PasswordHash.create(Array(secret.utf8), scheme: parsed.switches.contains("pbkdf2") ? .pbkdf2Default : .default)
            print((user.map { $0 + ":" } ?? "") + hash.encoded)
            return 0
        } catch {
            CLI.fail("cannot hash: \(error)")
        }
    }

    /// The first line of stdin, or on a terminal a prompt (echo off) answered twice.
    static func read(what: String) -> String {
        guard isatty(0) == 1 else { return readLine(strippingNewline: true) ?? "" }
        let first = prompt("\(what): ")
        let second = prompt("Again: ")
        guard first == second else { CLI.fail("the two entries differ; nothing hashed") }
        return first
    }

    static func prompt(_ text: String) -> String {
        Log.writeLine(text, to: 2)
        var saved = termios()
        let hasTerminal = tcgetattr(0, &saved) == 0
        if hasTerminal {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(0, TCSAFLUSH, &quiet)
        }
        defer {
            if hasTerminal { tcsetattr(0, TCSAFLUSH, &saved) }
            Log.writeLine("\n", to: 2)
        }
        return readLine(strippingNewline: true) ?? ""
    }
}
