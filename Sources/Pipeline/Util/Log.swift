#if canImport(Glibc)
internal import Glibc
#endif

/// One JSON object per line on stderr for the gateway's own messages (start, reload, errors);
/// the access log is the `log` middleware's. Values are never secrets: callers pass only what is safe.
/// Keys are snake_case (`connections_left`), durations are written as pipeline.json writes them
/// (`Units.format`: `30s`). Debug lines (detail behind an error, such as OpenSSL's error chain)
/// are written only when the environment has `GATEWAY_LOG_LEVEL=debug`.
public enum Log {
    public enum Level: String, Sendable { case debug, info, warning, error }

    /// Read once: `GATEWAY_LOG_LEVEL=debug`.
    public static let debugEnabled: Bool = getenv("GATEWAY_LOG_LEVEL").map { String(cString: $0) == "debug" } ?? false

    public static func debug(_ message: String, _ fields: [(String, String)] = []) {
        if debugEnabled { write(.debug, message, fields) }
    }

    public static func info(_ message: String, _ fields: [(String, String)] = []) { write(.info, message, fields) }
    public static func warning(_ message: String, _ fields: [(String, String)] = []) { write(.warning, message, fields) }
    public static func error(_ message: String, _ fields: [(String, String)] = []) { write(.error, message, fields) }

    public static func write(_ level: Level, _ message: String, _ fields: [(String, String)]) {
        var line = "{\"time\":"
        JSONValue.quote(timestamp(), into: &line)
        line += ",\"level\":\"\(level.rawValue)\",\"msg\":"
        JSONValue.quote(message, into: &line)
        for (key, value) in fields {
            line += ","
            JSONValue.quote(key, into: &line)
            line += ":"
            JSONValue.quote(value, into: &line)
        }
        line += "}\n"
        writeLine(line, to: 2)
    }

    /// Writes a whole line with one write(2), so lines from different threads never interleave.
    public static func writeLine(_ line: String, to fd: Int32) {
        var line = line
        line.withUTF8 { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 {
                    if n < 0, errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }

    /// RFC 3339 UTC time with milliseconds.
    public static func timestamp() -> String {
        WallClock.format(WallClock.now, milliseconds: true)
    }
}
