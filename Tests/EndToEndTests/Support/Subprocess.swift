import CSpawn
import Foundation

/// A child process for the tests (curl, nginx, the gateway, the stand-in, openssl, terraform).
///
/// Not Foundation's `Process`: on Linux it hands each child one end of a socketpair and reaps the
/// child with a blocking `waitpid` when that socket closes, and its pipes are inheritable. With
/// many tests spawning at once, one child inherited another's descriptors: a curl that had exited
/// was never noticed (a zombie, its test waiting forever) while Foundation's one monitor thread sat
/// in `waitpid` for a gateway that was still running, and every later `waitUntilExit` hung with it.
/// Here every descriptor is close-on-exec, the child closes everything above 2, exit is polled with
/// `WNOHANG` by whoever asks, and output is read to end of file by a thread per pipe.
final class Subprocess: @unchecked Sendable {
    enum Stream {
        /// /dev/null.
        case discard
        /// Collected into `output` (stdout into `out`, stderr into `err`).
        case capture
        /// stderr only: the same pipe as stdout (into `out`).
        case stdout
    }

    let pid: pid_t
    /// What the child wrote, as far as it has been read.
    let output = Collected()
    private let lock = NSLock()
    private var waitStatus: Int32?
    private var stdinWriter: Int32
    private let drained = DispatchGroup()

    /// Starts `executable` (an absolute path). `environment` nil inherits the test process's.
    /// With `input`, the child's stdin is a pipe fed by `write(_:)` and ended by `closeInput()`;
    /// otherwise it reads /dev/null.
    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
         input: Bool = false, stdout: Stream = .capture, stderr: Stream = .capture) throws {
        _ = Self.ignoreSIGPIPE
        var parentEnds: [Int32] = []
        var childEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        func pipePair() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard cspawn_pipe(&fds) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE) }
            return (fds[0], fds[1])
        }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard null >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ENOENT) }
        childEnds.append(null)
        do {
            var stdinFD = null
            stdinWriter = -1
            if input {
                let pair = try pipePair()
                childEnds.append(pair.read)
                stdinWriter = pair.write
                stdinFD = pair.read
            }
            var stdoutFD = null
            var stderrFD = null
            var readers: [(fd: Int32, isErr: Bool)] = []
            if stdout == .capture || stderr == .stdout {
                let pair = try pipePair()
                childEnds.append(pair.write)
                parentEnds.append(pair.read)
                readers.append((pair.read, false))
                stdoutFD = pair.write
                if stderr == .stdout { stderrFD = pair.write }
            }
            if stderr == .capture {
                let pair = try pipePair()
                childEnds.append(pair.write)
                parentEnds.append(pair.read)
                readers.append((pair.read, true))
                stderrFD = pair.write
            }
            var env = ProcessInfo.processInfo.environment
            if let environment { env = environment }
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer {
                for pointer in argv { free(pointer) }
                for pointer in envp { free(pointer) }
            }
            var child: pid_t = 0
            let result = cspawn_start(&child, executable, argv, envp, directory, stdinFD, stdoutFD, stderrFD)
            guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .ENOEXEC) }
            pid = child
            let output = self.output
            for reader in readers {
                drained.enter()
                let group = drained
                Thread.detachNewThread {
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    while true {
                        let count = buffer.withUnsafeMutableBytes { read(reader.fd, $0.baseAddress, $0.count) }
                        if count < 0, errno == EINTR { continue }
                        if count <= 0 { break }
                        let data = Data(buffer[0..<count])
                        if reader.isErr { output.appendErr(data) } else { output.appendOut(data) }
                    }
                    close(reader.fd)
                    group.leave()
                }
            }
        } catch {
            for fd in parentEnds { close(fd) }
            if stdinWriter >= 0 { close(stdinWriter) }
            throw error
        }
    }

    /// A write to a child that has gone is an error to see, not a signal that ends the test run.
    private static let ignoreSIGPIPE: Void = { _ = Glibc.signal(SIGPIPE, SIG_IGN) }()

    deinit {
        if stdinWriter >= 0 { close(stdinWriter) }
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        }
    }

    /// True until the child has exited (and been reaped by this call or an earlier one).
    var isRunning: Bool {
        lock.withLock {
            if waitStatus != nil { return false }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { waitStatus = status }
            return waitStatus == nil
        }
    }

    /// The exit code, or the number of the signal that ended the child (as Foundation reports it);
    /// -1 while it runs.
    var terminationStatus: Int32 {
        guard !isRunning, let status = lock.withLock({ waitStatus }) else { return -1 }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    /// Sends `number` unless the child has already been reaped (its pid may belong to another by then).
    func signal(_ number: Int32) {
        lock.withLock { if waitStatus == nil { _ = kill(pid, number) } }
    }

    func terminate() { signal(SIGTERM) }

    /// Waits for the child to exit and for its output to reach end of file (a grandchild that keeps
    /// the pipe open is given 5 s). False when `timeout` passed first.
    @discardableResult
    func waitUntilExit(timeout: TimeInterval? = nil) -> Bool {
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while isRunning {
            if let deadline, Date() >= deadline { return false }
            usleep(5_000)
        }
        _ = drained.wait(timeout: .now() + 5)
        return true
    }

    /// Writes to the child's stdin (started with `input: true`).
    func write(_ data: Data) {
        let fd = lock.withLock { stdinWriter }
        guard fd >= 0 else { return }
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let count = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if count < 0, errno == EINTR { continue }
                if count <= 0 { return }
                offset += count
            }
        }
    }

    /// Ends the child's stdin.
    func closeInput() {
        let fd = lock.withLock { () -> Int32 in
            defer { stdinWriter = -1 }
            return stdinWriter
        }
        if fd >= 0 { close(fd) }
    }
}
