import Dispatch
import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// `gateway serve [--config FILE] [--pid-file PATH]`: runs the pipeline. SIGHUP reloads (keeping
/// the old pipeline when the new one has any error), SIGTERM and SIGINT drain and exit. The pid
/// file lets `gateway reload` and `gateway stop` find this instance.
enum ServeCommand {
    static let spec = CommandSpec(
        "serve",
        summary: """
            Runs the pipeline; logs JSON lines on stderr. SIGHUP (gateway reload) loads the file again,
            SIGTERM or SIGINT (gateway stop) drains and exits.
            """,
        options: [
            .init(name: "config", value: "FILE", help: "the pipeline file (default ./pipeline.json)"),
            .init(name: "pid-file", value: "PATH",
                  help: "where reload and stop find this process (default: FILE's name with .pid, in $RUNTIME_DIRECTORY or beside FILE)"),
        ])

    static func run(_ arguments: [String]) -> Never {
        // Block the signals in this thread before any other thread exists, so every thread inherits
        // the mask: the main thread takes them with sigwaitinfo (below), and a thread that did not
        // block them would take the default action (exit) instead.
        var handled = sigset_t()
        sigemptyset(&handled)
        for number in [SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGUSR2] { sigaddset(&handled, number) }
        pthread_sigmask(SIG_BLOCK, &handled, nil)
        let parsed = CLI.parse(arguments, spec)
        let path = CLI.absolute(parsed.values["config"]?.last ?? "pipeline.json")
        let explicitPidFile = parsed.values["pid-file"]?.last.map(PidFile.init(path:))
        // The first pipeline is not held here: this function never returns, and a reference in its
        // scope kept the first pipeline (its caches, open directories and files) alive after a reload.
        let (server, stacks) = Self.start(path)
        // Written once the listeners are bound, so a second instance that cannot bind leaves the
        // first one's file alone. Only a pid file asked for by name is worth refusing to run for.
        var pidFile: PidFile? = explicitPidFile ?? PidFile(forConfig: path)
        do {
            try pidFile?.write(pid: getpid())
        } catch {
            if explicitPidFile != nil { CLI.fail("\(error)") }
            Log.warning("no pid file; gateway reload and stop need --pid-file", [("reason", "\(error)")])
            pidFile = nil
        }
        let supervisor = Supervisor(server: server, path: path, pidFile: pidFile)
        let serveArguments = Array(CommandLine.arguments.dropFirst())
        var started = [("config", path), ("version", GatewayVersion.string), ("stacks", stacks.joined(separator: ","))]
        if let pidFile { started.append(("pid_file", pidFile.path)) }
        if let predecessor = ProcessHandover.predecessor { started.append(("took_over_from", String(predecessor))) }
        Log.info("started", started)
        ServiceNotifier.notify("READY=1\nSTATUS=serving \(stacks.count) stack(s)\nMAINPID=\(getpid())")
        ProcessHandover.notifyPredecessor()
        // The main thread takes the signals, which every thread blocks, one at a time with
        // sigwaitinfo: one sent the moment "started" appears stays pending until it is taken here.
        // (dispatchMain parks this thread in sigsuspend with an empty mask, and libdispatch installs
        // its signal handlers later on its manager thread: a SIGHUP landing in between met SIG_IGN
        // on this thread and was lost.) Nothing runs on the main queue, so nothing needs dispatchMain.
        while true {
            var info = siginfo_t()
            let number = sigwaitinfo(&handled, &info)
            guard number > 0 else { continue }  // EINTR
            Task {
                switch number {
                case SIGHUP: await supervisor.reload()
                // A new process on the same sockets (SIGUSR2), which says when it serves (SIGUSR1).
                case SIGUSR2: await supervisor.startSuccessor(arguments: serveArguments)
                case SIGUSR1: await supervisor.successorServes()
                // SIGINT is someone at a terminal: no balancer to wait for.
                default: await supervisor.shutdown(announce: number == SIGTERM)
                }
            }
        }
    }

    /// Loads `path` and starts serving it; the names of its stacks. Exits with one line when the
    /// file has errors or a listener cannot be bound.
    private static func start(_ path: String) -> (Server, [String]) {
        let (loaded, issues) = CLI.load(path)
        for issue in issues {
            Log.write(issue.severity == .error ? .error : .warning, "config", [("at", issue.pointer.description), ("problem", issue.message)])
        }
        guard let pipeline = loaded else {
            CLI.fail("\(path) has \(issues.count { $0.severity == .error }) error(s); nothing started (see `gateway check \(path)`)")
        }
        do {
            // Sockets systemd (a socket unit, systemd-socket-activate) bound for us are used as given.
            let server = try Server(pipeline: pipeline, inherited: SocketActivation.takeInherited())
            try server.start()
            return (server, pipeline.stacks.map(\.name))
        } catch {
            CLI.fail("cannot start: \(error)")
        }
    }
}

/// Runs reloads and the final drain one after another. An actor alone does not: its methods
/// interleave at every `await`, and a SIGTERM during a reload's `await` drained the listeners the
/// reload was about to close again. Each call waits for the one before it to finish.
actor Supervisor {
    let server: Server
    let path: String
    let pidFile: PidFile?
    var stopping = false
    private var last: Task<Void, Never>?
    /// The process started to take over the listening sockets, until it serves or exits.
    private var successor: Int32?

    init(server: Server, path: String, pidFile: PidFile?) {
        self.server = server
        self.path = path
        self.pidFile = pidFile
    }

    func reload() async { await afterPrevious { await self.performReload() } }

    /// Drains and exits; with `announce`, readiness turns 503 first and the gateway serves on for
    /// the pipeline's `drainDelay`.
    func shutdown(announce: Bool = true) async {
        // Readiness turns at once, not after a reload that is still running.
        if announce { server.stopBeingReady() }
        if !stopping { ServiceNotifier.notify("STOPPING=1") }
        await afterPrevious { await self.performShutdown(announce: announce) }
    }

    /// Starts a new gateway process (the executable as it is on disk now, the same arguments) with
    /// this one's listening sockets; it loads the pipeline and signals SIGUSR1 once it serves.
    func startSuccessor(arguments: [String]) {
        guard !stopping else { return }
        if let successor {
            Log.warning("handover already under way", [("successor", String(successor))])
            return
        }
        let pid: Int32
        do {
            pid = try ProcessHandover.startSuccessor(of: server, arguments: arguments)
        } catch {
            Log.error("handover failed; this process keeps serving", [("reason", "\(error)")])
            return
        }
        successor = pid
        Log.info("handover: started a new process on the listening sockets", [("successor", String(pid))])
        // Reaped here if it fails before it serves (a broken pipeline.json, a binary that does not start).
        Task {
            while self.successor == pid {
                let (exited, status) = ProcessHandover.hasExited(pid)
                if exited {
                    self.successorFailed(pid, status: status)
                    return
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    private func successorFailed(_ pid: Int32, status: Int32) {
        guard successor == pid else { return }
        successor = nil
        Log.error("handover failed: the new process exited before serving; this one keeps serving",
                  [("successor", String(pid)), ("status", String(status))])
    }

    /// The successor serves on the shared sockets: hand it the service and drain.
    func successorServes() async {
        guard let pid = successor, !stopping else {
            Log.warning("SIGUSR1 without a handover under way; ignored")
            return
        }
        successor = nil
        Log.info("handover: the new process serves; draining", [("successor", String(pid))])
        // Under systemd the main process changes to the successor (only the main process is heard).
        ServiceNotifier.notify("MAINPID=\(pid)\nREADY=1\nSTATUS=handed over to \(pid)")
        // The successor accepts from the same sockets: no delay, nothing for a balancer to notice.
        await afterPrevious { await self.performShutdown(announce: false) }
    }

    /// Starts `work` once every earlier call has finished, and waits for it.
    private func afterPrevious(_ work: @escaping @Sendable () async -> Void) async {
        let previous = last
        let task = Task {
            await previous?.value
            await work()
        }
        last = task
        await task.value
    }

    private func performReload() async {
        guard !stopping else { return }
        ServiceNotifier.notify("RELOADING=1\nMONOTONIC_USEC=\(ServiceNotifier.monotonicMicroseconds)")
        let (loaded, issues) = CLI.load(path)
        for issue in issues {
            Log.write(issue.severity == .error ? .error : .warning, "reload config", [("at", issue.pointer.description), ("problem", issue.message)])
        }
        guard let pipeline = loaded else {
            let errors = issues.count { $0.severity == .error }
            Log.error("reload refused; the previous pipeline keeps serving", [("errors", String(errors))])
            server.recordReload(succeeded: false)
            ServiceNotifier.notify("READY=1\nSTATUS=reload refused (\(errors) error(s) in \(path)); the previous pipeline serves")
            return
        }
        do {
            let old = try await server.reload(pipeline)
            Log.info("reloaded", [("stacks", pipeline.stacks.map(\.name).joined(separator: ","))])
            server.recordReload(succeeded: true)
            ServiceNotifier.notify("READY=1\nSTATUS=serving \(pipeline.stacks.count) stack(s)")
            // Requests that started on the old pipeline may still use its middlewares for a while.
            Task {
                try? await Task.sleep(for: old.drainTimeout)
                await old.stop()
                Log.info("replaced pipeline stopped", [("values", String(old.stoppables.count))])
            }
        } catch {
            // Never served: its background work (sources, caches) stops now.
            await pipeline.stop()
            Log.error("reload refused; the previous pipeline keeps serving", [("reason", "\(error)")])
            server.recordReload(succeeded: false)
            ServiceNotifier.notify("READY=1\nSTATUS=reload refused (\(error)); the previous pipeline serves")
        }
    }

    private func performShutdown(announce: Bool) async {
        guard !stopping else { return }
        stopping = true
        let pipeline = server.pipeline
        if announce, pipeline.drainDelay > .zero {
            Log.info("not ready; serving until the drain begins", [("drain_delay", Units.format(pipeline.drainDelay))])
            try? await Task.sleep(for: pipeline.drainDelay)
        }
        Log.info("draining", [("connections", String(server.openConnections)), ("timeout", Units.format(pipeline.drainTimeout))])
        await server.drain(timeout: pipeline.drainTimeout)
        await pipeline.stop()
        pidFile?.remove(ifHolding: getpid())
        Log.info("stopped", [("connections_left", String(server.openConnections))])
        exit(0)
    }
}
