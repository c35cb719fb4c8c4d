import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// The file in which `gateway serve` records its process id, so that `gateway reload` and
/// `gateway stop` signal that instance and no other (like nginx's `-s reload`).
///
/// Without `--pid-file` it is the config's name with `.pid` for `.json` (`pipeline.pid` for
/// `pipeline.json`), in `$RUNTIME_DIRECTORY` when systemd set one (`RuntimeDirectory=gateway`
/// gives `/run/gateway`), otherwise beside the config. `serve` and the signal commands derive it
/// the same way from the same `--config`.
struct PidFile {
    let path: String

    init(path: String) { self.path = CLI.absolute(path) }

    /// The default pid file for the pipeline file `config`.
    init(forConfig config: String, runtimeDirectory: String? = PidFile.runtimeDirectory) {
        let absolute = CLI.absolute(config)
        var name = absolute.split(separator: "/").last.map(String.init) ?? "pipeline.json"
        if name.hasSuffix(".json") { name.removeLast(5) }
        self.path = (runtimeDirectory ?? CLI.directory(of: absolute)) + "/" + name + ".pid"
    }

    /// systemd's `RuntimeDirectory=` (the first one when several are listed).
    static var runtimeDirectory: String? {
        guard let raw = getenv("RUNTIME_DIRECTORY") else { return nil }
        let first = String(cString: raw).split(separator: ":").first.map(String.init) ?? ""
        return first.hasPrefix("/") ? first : nil
    }

    /// Writes `pid` atomically: a temporary file beside it, renamed over it, so a reader never sees
    /// half a number.
    func write(pid: pid_t) throws(SystemError) {
        let temporary = path + ".\(pid).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw SystemError(call: "cannot write \(path)", code: errno) }
        let text = Array("\(pid)\n".utf8)
        let written = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let error = errno
        close(fd)
        guard written == text.count else {
            unlink(temporary)
            throw SystemError(call: "cannot write \(path)", code: written < 0 ? error : EIO)
        }
        guard rename(temporary, path) == 0 else {
            let error = errno
            unlink(temporary)
            throw SystemError(call: "cannot write \(path)", code: error)
        }
    }

    /// Removes the file if it still names `pid` (a newer instance may have taken it over).
    func remove(ifHolding pid: pid_t) {
        if case .success(let holder) = read(), holder == pid { unlink(path) }
    }

    /// The process id in the file, or a one-line reason it has none.
    func read() -> Result<pid_t, CLIError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let error = errno
            return .failure(error == ENOENT
                ? CLIError("no pid file \(path) (is a gateway serving that config? `gateway serve` writes it; or pass --pid-file)")
                : CLIError("cannot read pid file \(path): \(String(cString: strerror(error)))"))
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else { return .failure(CLIError("cannot read pid file \(path): \(String(cString: strerror(errno)))")) }
        let text = String(decoding: buffer.prefix(count), as: UTF8.self)
        let digits = text.hasSuffix("\n") ? String(text.dropLast()) : text
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let pid = pid_t(digits), pid > 0 else {
            return .failure(CLIError("\(path) does not hold a process id"))
        }
        return .success(pid)
    }
}
