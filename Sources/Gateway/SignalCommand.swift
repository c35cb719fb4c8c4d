import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// `gateway reload` and `gateway stop`: send SIGHUP or SIGTERM to the gateway serving a pipeline,
/// found through its pid file, like `nginx -s reload`. A pid file naming no process, or a process
/// that is not a `gateway serve`, is an error and nothing is signalled: pids are reused, and a
/// stale file must never make us signal a stranger.
enum SignalCommand {
    static let configOption = CommandSpec.Option(name: "config", value: "FILE", help: "the pipeline file the gateway serves (default ./pipeline.json)")
    static let pidFileOption = CommandSpec.Option(name: "pid-file", value: "PATH",
                                                  help: "the pid file it was started with (default: derived from --config, as serve does)")

    static let reload = CommandSpec(
        "reload",
        summary: """
            Sends SIGHUP to the gateway serving FILE: it loads the file again and swaps the new pipeline in
            without dropping a connection; a file with errors is logged and the old pipeline keeps serving.
            """,
        options: [configOption, pidFileOption])

    static let stop = CommandSpec(
        "stop",
        summary: """
            Sends SIGTERM to the gateway serving FILE: it stops accepting, finishes the requests in flight
            (up to its drainTimeout) and exits. Waits until it has exited.
            """,
        options: [configOption, pidFileOption,
                  .init(name: "timeout", value: "DURATION", help: "how long to wait for the exit (default 60s; 0: do not wait)")])

    static let upgrade = CommandSpec(
        "upgrade",
        summary: """
            Sends SIGUSR2 to the gateway serving FILE: it starts a new process of the executable now on disk
            on the same listening sockets; once that one serves, the old one drains and exits. No connection
            is refused. Waits until the new process serves; a new process that fails leaves the old serving.
            """,
        options: [configOption, pidFileOption,
                  .init(name: "timeout", value: "DURATION", help: "how long to wait for the new process (default 60s)")])

    static func run(_ arguments: [String], _ spec: CommandSpec) -> Int32 {
        let parsed = CLI.parse(arguments, spec)
        let config = parsed.values["config"]?.last ?? "pipeline.json"
        let pidFile = parsed.values["pid-file"]?.last.map(PidFile.init(path:)) ?? PidFile(forConfig: config)
        var timeout = Duration.seconds(60)
        if let text = parsed.values["timeout"]?.last {
            guard let value = Units.duration(text) else { CLI.usageError("--timeout: expected a duration such as 30s or 5m") }
            timeout = value
        }
        let pid: pid_t
        switch RunningGateway.find(pidFile) {
        case .success(let found): pid = found
        case .failure(let problem): CLI.fail(problem.description)
        }
        let signal = spec.name == "reload" ? SIGHUP : spec.name == "upgrade" ? SIGUSR2 : SIGTERM
        guard kill(pid, signal) == 0 else {
            CLI.fail("cannot signal process \(pid) (\(pidFile.path)): \(String(cString: strerror(errno)))")
        }
        if signal == SIGHUP {
            print("gateway \(pid) is reloading \(CLI.absolute(config)); its log says whether the new pipeline was taken")
            return 0
        }
        if signal == SIGUSR2 { return awaitSuccessor(of: pid, pidFile: pidFile, timeout: timeout) }
        guard timeout > .zero else {
            print("gateway \(pid) is draining")
            return 0
        }
        let deadline = ContinuousClock.now + timeout
        while RunningGateway.isAlive(pid) {
            guard ContinuousClock.now < deadline else {
                CLI.fail("gateway \(pid) is still draining after \(Units.format(timeout)); it exits by itself after its drainTimeout")
            }
            usleep(50_000)
        }
        print("gateway \(pid) stopped")
        return 0
    }
}

extension SignalCommand {
    /// The successor writes its pid to the pid file once its listeners are up; then the old one drains.
    static func awaitSuccessor(of pid: pid_t, pidFile: PidFile, timeout: Duration) -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if case .success(let successor) = RunningGateway.find(pidFile), successor != pid {
                print("gateway \(pid) handed its listening sockets to \(successor), which serves now; \(pid) drains and exits")
                return 0
            }
            usleep(50_000)
        }
        CLI.fail("no new process serves after \(Units.format(timeout)); gateway \(pid) keeps serving (its log says why)")
    }
}

/// What /proc says about the process a pid file names.
enum RunningGateway {
    /// The pid in `pidFile` if it is a live `gateway serve` of this executable's name.
    static func find(_ pidFile: PidFile) -> Result<pid_t, CLIError> {
        let pid: pid_t
        switch pidFile.read() {
        case .success(let value): pid = value
        case .failure(let problem): return .failure(problem)
        }
        guard isAlive(pid) else {
            return .failure(CLIError("stale pid file \(pidFile.path): no process \(pid) (the gateway is not running)"))
        }
        guard let arguments = commandLine(of: pid) else {
            return .failure(CLIError("cannot read /proc/\(pid)/cmdline to see whether process \(pid) is a gateway; nothing signalled"))
        }
        // Our own kind: the same executable file name, resolved (/proc/PID/exe) or as invoked
        // (argv[0], which may be a symlink such as /usr/local/bin/gw).
        let ours = Set([executableName(of: "self"), lastComponent(CommandLine.arguments[0])].compactMap { $0 })
        let theirs = [executableName(of: "\(pid)"), arguments.first.map(lastComponent)].compactMap { $0 }
        guard arguments.count >= 2, arguments[1] == "serve", theirs.contains(where: ours.contains) else {
            let shown = arguments.prefix(2).joined(separator: " ")
            return .failure(CLIError("stale pid file \(pidFile.path): process \(pid) is not a gateway (it is \"\(shown)\"); nothing signalled"))
        }
        return .success(pid)
    }

    /// True while the process exists and has not exited (a zombie waiting for its parent has).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = readProc("/proc/\(pid)/stat") else { return kill(pid, 0) == 0 || errno == EPERM }
        // "pid (comm) S ...": the state follows the last ')' (comm may hold anything).
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")), close + 2 < stat.count else { return false }
        let state = stat[close + 2]
        return state != UInt8(ascii: "Z") && state != UInt8(ascii: "X")
    }

    /// The process's argv, or nil when it is gone.
    static func commandLine(of pid: pid_t) -> [String]? {
        guard let bytes = readProc("/proc/\(pid)/cmdline") else { return nil }
        return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    /// The file name of `/proc/WHO/exe` (`gateway`), nil when it cannot be read (another user's process).
    static func executableName(of who: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/\(who)/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        var path = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if path.hasSuffix(" (deleted)") { path.removeLast(10) }   // the binary was rebuilt since it started
        return lastComponent(path)
    }

    static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// A small /proc file whole (they report a size of 0, so read until the end).
    static func readProc(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            result += chunk.prefix(n)
        }
        return result
    }
}
