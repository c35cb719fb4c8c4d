#if canImport(Glibc)
internal import Glibc
#endif

/// IMF-fixdate formatting and parsing (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
public enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    private static let dayBytes: [UInt8] = Array("SunMonTueWedThuFriSat".utf8)
    private static let monthBytes: [UInt8] = Array("JanFebMarAprMayJunJulAugSepOctNovDec".utf8)

    /// Formats seconds since 1970.
    public static func format(_ seconds: Int64) -> String {
        String(unsafeUninitializedCapacity: 29) { fill($0, seconds) }
    }

    /// The 29 bytes of the date, for writers that build heads as bytes.
    public static func formatBytes(_ seconds: Int64) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 29) { buffer, count in count = fill(buffer, seconds) }
    }

    /// Writes `Sun, 06 Nov 1994 08:49:37 GMT` into `out` (29 bytes) without building strings:
    /// every file response carries one.
    private static func fill(_ out: UnsafeMutableBufferPointer<UInt8>, _ seconds: Int64) -> Int {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func put(_ byte: UInt8, _ i: Int) { out[i] = byte }
        func two(_ value: Int32, _ i: Int) {
            out[i] = UInt8(48 + value / 10 % 10)
            out[i + 1] = UInt8(48 + value % 10)
        }
        let day = Int(parts.tm_wday) * 3, month = Int(parts.tm_mon) * 3
        for k in 0..<3 {
            out[k] = dayBytes[day + k]
            out[8 + k] = monthBytes[month + k]
        }
        put(0x2C, 3); put(0x20, 4); two(parts.tm_mday, 5); put(0x20, 7); put(0x20, 11)
        let year = parts.tm_year + 1900
        two(year / 100, 12); two(year % 100, 14)
        put(0x20, 16); two(parts.tm_hour, 17); put(0x3A, 19); two(parts.tm_min, 20); put(0x3A, 22); two(parts.tm_sec, 23)
        put(0x20, 25); put(0x47, 26); put(0x4D, 27); put(0x54, 28)
        return 29
    }

    /// Parses an IMF-fixdate; nil for anything else (the obsolete forms are not worth the risk here).
    public static func parse(_ string: String) -> Int64? {
        let parts = string.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int32(parts[1]),
              let month = months.firstIndex(of: String(parts[2])), let year = Int32(parts[3]) else { return nil }
        let clock = parts[4].split(separator: ":")
        guard clock.count == 3, let h = Int32(clock[0]), let m = Int32(clock[1]), let s = Int32(clock[2]) else { return nil }
        var value = tm()
        value.tm_year = year - 1900
        value.tm_mon = Int32(month)
        value.tm_mday = day
        value.tm_hour = h
        value.tm_min = m
        value.tm_sec = s
        return Int64(timegm(&value))
    }

    /// Seconds since 1970, now.
    public static var now: Int64 { Int64(time(nil)) }
}
