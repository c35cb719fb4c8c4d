#if canImport(Glibc)
internal import Glibc
#endif

/// Where whole lines go (an access log): standard output, standard error or a file opened for
/// appending. Each line is one write(2), so lines from different threads never interleave.
public final class LineWriter: Sendable {
    let descriptor: Int32
    let owned: Bool

    public static let standardOutput = LineWriter(descriptor: 1, owned: false)
    public static let standardError = LineWriter(descriptor: 2, owned: false)

    private init(descriptor: Int32, owned: Bool) {
        self.descriptor = descriptor
        self.owned = owned
    }

    /// Opens `path` for appending, creating it (mode 0640) when missing.
    public init(appendingTo path: String) throws(SystemError) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw SystemError.errno("open \(path)") }
        descriptor = fd
        owned = true
    }

    deinit { if owned { close(descriptor) } }

    public func write(_ line: String) { Log.writeLine(line, to: descriptor) }
}
