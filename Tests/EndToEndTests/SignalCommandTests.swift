import Foundation
import HTTP2TestClient
import Testing

/// `gateway reload` and `gateway stop` find their gateway through the pid file `serve` writes, and
/// refuse (one line, exit 1, nothing signalled) when the file names no gateway.
@Suite("gateway reload and stop (real binary)")
struct SignalCommandTests {
    /// Test runs must not inherit a systemd runtime directory: the default pid file would move there.
    static let environment = ["RUNTIME_DIRECTORY": ""]

    static func run(_ arguments: [String], in directory: String? = nil, environment: [String: String] = environment,
                    sourceLocation: SourceLocation = #_sourceLocation) -> Tool.Result {
        Tool.run(Paths.gateway, arguments, environment: environment, directory: directory, timeout: 90, sourceLocation: sourceLocation)
    }

    @Test("serve writes pipeline.pid beside the config; reload takes a new listener in; stop drains, exits 0 and removes the file")
    func reloadAndStop() throws {
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir, environment: Self.environment)
        let pidFile = dir.file("pipeline.pid")
        #expect(try String(contentsOfFile: pidFile, encoding: .utf8) == "\(gateway.process.pid)\n")
        #expect(gateway.stderr.contains("\"pid_file\":\"\(pidFile)\""))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".tmp") }.isEmpty)

        dir.write("pipeline.json", """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:\(gateway.port("web"))"}, {"name": "extra", "listen": "127.0.0.1:0"}],
             "stacks": {"site": {"chain": [{"type": "files", "root": "www"}]}}}
            """)
        // From the config's directory with no options, as a person types it.
        let reload = Self.run(["reload"], in: dir.path)
        #expect(reload.status == 0, "\(reload.stderr)")
        #expect(reload.output.contains("gateway \(gateway.process.pid) is reloading"))
        #expect(gateway.waitForLog("\"msg\":\"reloaded\""))
        // The added listener says where it listens, as one at start-up does.
        #expect(gateway.waitForLog("\"msg\":\"listening\",\"listener\":\"extra\""))
        gateway.refreshPorts()
        #expect(Tool.curl([gateway.url("extra", "/hello.txt")]).output == "hello\n")

        let stop = Self.run(["stop", "--config", dir.file("pipeline.json")])
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(stop.output.contains("gateway \(gateway.process.pid) stopped"))
        #expect(gateway.waitForExit(timeout: 30) == 0)
        #expect(gateway.stderr.contains("\"msg\":\"draining\",\"connections\":\"0\",\"timeout\":\"30s\""))
        #expect(gateway.stderr.contains("\"msg\":\"stopped\",\"connections_left\":\"0\""))
        #expect(!FileManager.default.fileExists(atPath: pidFile), "the pid file outlived the gateway")

        // Stopped means stopped: the file is gone, so a second stop says so.
        let again = Self.run(["stop"], in: dir.path)
        #expect(again.status == 1)
        #expect(again.stderr == "gateway: no pid file \(pidFile) (is a gateway serving that config? `gateway serve` writes it; or pass --pid-file)\n")
    }

    @Test("--pid-file and $RUNTIME_DIRECTORY place the file; reload and stop find it the same way")
    func pidFileLocations() throws {
        let (dir, config) = filesSite()
        let chosen = dir.file("run/custom.pid")
        try FileManager.default.createDirectory(atPath: dir.file("run"), withIntermediateDirectories: true)
        let named = try GatewayProcess(config: config, directory: dir, environment: Self.environment, arguments: ["--pid-file", chosen])
        #expect(try String(contentsOfFile: chosen, encoding: .utf8) == "\(named.process.pid)\n")
        #expect(!FileManager.default.fileExists(atPath: dir.file("pipeline.pid")))
        #expect(Self.run(["stop", "--pid-file", chosen]).status == 0)
        #expect(named.waitForExit(timeout: 30) == 0)
        #expect(!FileManager.default.fileExists(atPath: chosen))

        let runtime = ["RUNTIME_DIRECTORY": dir.file("run")]
        let systemd = try GatewayProcess(config: config, directory: dir, environment: runtime)
        #expect(try String(contentsOfFile: dir.file("run/pipeline.pid"), encoding: .utf8) == "\(systemd.process.pid)\n")
        let reload = Self.run(["reload", "--config", dir.file("pipeline.json")], environment: runtime)
        #expect(reload.status == 0, "\(reload.stderr)")
        #expect(systemd.waitForLog("\"msg\":\"reloaded\""))
        #expect(Self.run(["stop", "--config", dir.file("pipeline.json")], environment: runtime).status == 0)
        #expect(systemd.waitForExit(timeout: 30) == 0)
    }

    @Test("a gateway started under another name (a symlink, argv[0]) is found by its executable")
    func renamedGateway() throws {
        let (dir, config) = filesSite()
        // bash's `exec -a` runs the binary with argv[0] = /usr/local/bin/gw, as a symlink would.
        let gateway = try GatewayProcess(config: config, directory: dir, environment: Self.environment,
                                         launcher: ["bash", "-c", #"exec -a /usr/local/bin/gw "$@""#, "bash"])
        let reload = Self.run(["reload"], in: dir.path)
        #expect(reload.status == 0, "\(reload.stderr)")
        #expect(gateway.waitForLog("\"msg\":\"reloaded\""))
    }

    @Test("a pid file that cannot be written: serve --pid-file refuses to start in one line")
    func unwritablePidFile() {
        let (dir, config) = filesSite()
        dir.write("pipeline.json", config)
        let result = Self.run(["serve", "--config", dir.file("pipeline.json"), "--pid-file", dir.file("missing/dir/gateway.pid")])
        #expect(result.status == 1)
        #expect(result.stderr.hasSuffix("gateway: cannot write \(dir.file("missing/dir/gateway.pid")): No such file or directory\n"), "\(result.stderr)")
    }

    @Test("a second serve of the same config that cannot bind leaves the first one's pid file alone")
    func secondInstanceKeepsPidFile() throws {
        let (dir, config) = filesSite()
        let first = try GatewayProcess(config: config, directory: dir, environment: Self.environment)
        let blocker = Loopback.occupyPort()
        defer { close(blocker.fd) }
        dir.write("pipeline.json", config.replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(blocker.port)"))
        let second = Self.run(["serve", "--config", dir.file("pipeline.json")])
        #expect(second.status == 1)
        #expect(second.stderr.contains("cannot start: bind"))
        #expect(try String(contentsOfFile: dir.file("pipeline.pid"), encoding: .utf8) == "\(first.process.pid)\n")
    }

    @Test("stale or foreign pid files: one line, exit 1, and no process is signalled", arguments: ["reload", "stop"])
    func stalePidFiles(command: String) throws {
        let dir = TemporaryDirectory()
        let pidFile = dir.file("pipeline.pid")
        func attempt() -> Tool.Result {
            let result = Self.run([command], in: dir.path)
            #expect(result.status == 1)
            #expect(result.output.isEmpty)
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            return result
        }
        #expect(attempt().stderr.hasPrefix("gateway: no pid file \(pidFile)"))

        dir.write("pipeline.pid", "12ab\n")
        #expect(attempt().stderr == "gateway: \(pidFile) does not hold a process id\n")

        // A process that has exited and been reaped.
        let gone = try Subprocess("/bin/true", [])
        #expect(gone.waitUntilExit(timeout: 10))
        dir.write("pipeline.pid", "\(gone.pid)\n")
        #expect(attempt().stderr == "gateway: stale pid file \(pidFile): no process \(gone.pid) (the gateway is not running)\n")

        // A live process that is not a gateway (its pid reused, say) is never signalled.
        let stranger = try Subprocess("/bin/sleep", ["60"])
        defer { stranger.signal(SIGKILL); _ = stranger.waitUntilExit(timeout: 10) }
        dir.write("pipeline.pid", "\(stranger.pid)\n")
        let refused = attempt()
        #expect(refused.stderr.hasPrefix("gateway: stale pid file \(pidFile): process \(stranger.pid) is not a gateway"), "\(refused.stderr)")
        #expect(refused.stderr.hasSuffix("nothing signalled\n"))
        usleep(200_000)
        #expect(stranger.isRunning, "the stranger was signalled")
    }
}
