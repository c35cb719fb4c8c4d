internal import CSystemShims
#if canImport(Glibc)
internal import Glibc
#endif

/// Replacing the running gateway by a new process on the same listening sockets, with no
/// connection refused (like nginx's binary upgrade, reference/operations.md §3.3 a).
///
/// The old process starts the new one with its listening sockets as descriptors 3, 4, ... and
/// `LISTEN_FDS`/`LISTEN_FDNAMES` as systemd would pass them, plus `GATEWAY_HANDOVER_FROM` (its
/// pid) in place of `LISTEN_PID`, which it cannot know before the child exists. The new process
/// loads its pipeline, serves on those sockets (the kernel's accept queue is shared, so nothing
/// queued is lost) and tells the old one with SIGUSR1; the old one then drains and exits.
public enum ProcessHandover {
    static let parentVariable = "GATEWAY_HANDOVER_FROM"

    /// The absolute path of this executable as it was at start, before an upgrade replaces the file.
    public static let executable: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// The pid of the process that handed its sockets to this one, if it did and is our parent.
    public static var predecessor: Int32? {
        guard let text = getenv(parentVariable).map({ String(cString: $0) }), let pid = Int32(text), pid == getppid() else { return nil }
        return pid
    }

    /// Starts `executable` with `arguments` (argv[1...]) and the server's listening sockets.
    public static func startSuccessor(of server: Server, executable: String = ProcessHandover.executable,
                                      arguments: [String]) throws(SystemError) -> Int32 {
        let sockets = server.listeningSockets
        var environment: [String] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            index += 1
            if ["LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", parentVariable + "="].contains(where: { text.hasPrefix($0) }) { continue }
            environment.append(text)
        }
        environment.append("LISTEN_FDS=\(sockets.count)")
        environment.append("LISTEN_FDNAMES=" + sockets.map(\.name).joined(separator: ":"))
        environment.append("\(parentVariable)=\(getpid())")
        let argv = [executable] + arguments
        var pid: pid_t = 0
        let fds = sockets.map(\.fd)
        let result = withCStrings(argv) { argvPointers in
            withCStrings(environment) { envPointers in
                csys_spawn_with_fds(&pid, executable, argvPointers, envPointers, fds, Int32(fds.count))
            }
        }
        guard result == 0 else { throw SystemError(call: "posix_spawn \(executable)", code: result) }
        return pid
    }

    /// Tells the process that handed over its sockets that this one serves now.
    public static func notifyPredecessor() {
        guard let pid = predecessor else { return }
        kill(pid, SIGUSR1)
    }

    /// Whether `pid` has exited (reaped here), without waiting.
    public static func hasExited(_ pid: Int32) -> (exited: Bool, status: Int32) {
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        guard rc == pid else { return (rc < 0, -1) }
        // WIFEXITED/WEXITSTATUS are macros Swift does not import.
        return (true, status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F))
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
