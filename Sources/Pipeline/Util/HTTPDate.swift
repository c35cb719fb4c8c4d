#if canImport(Glibc)
internal import Glibc
#endif

/// IMF-fixdate formatting (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`; parsing of every HTTP-date form.
public enum HTTPDate {
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
        let parts = civil(seconds)
        func put(_ byte: UInt8, _ i: Int) { out[i] = byte }
        func two(_ value: Int64, _ i: Int) {
            out[i] = UInt8(48 + value / 10 % 10)
            out[i + 1] = UInt8(48 + value % 10)
        }
        let day = Int(parts.weekday) * 3, month = Int(parts.month - 1) * 3
        for k in 0..<3 {
            out[k] = dayBytes[day + k]
            out[8 + k] = monthBytes[month + k]
        }
        put(0x2C, 3); put(0x20, 4); two(parts.day, 5); put(0x20, 7); put(0x20, 11)
        two(parts.year / 100, 12); two(parts.year % 100, 14)
        put(0x20, 16); two(parts.hour, 17); put(0x3A, 19); two(parts.minute, 20); put(0x3A, 22); two(parts.second, 23)
        put(0x20, 25); put(0x47, 26); put(0x4D, 27); put(0x54, 28)
        return 29
    }

    /// The UTC calendar fields of `seconds` since 1970 (proleptic Gregorian), computed rather than
    /// asked of `gmtime_r`, which takes glibc's process-wide time-zone lock on every call.
    public static func civil(_ seconds: Int64) -> (year: Int64, month: Int64, day: Int64, weekday: Int64, hour: Int64, minute: Int64, second: Int64) {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let clock = seconds - days * 86400
        // Days to civil date (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shifted = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shifted + 2) / 5 + 1
        let month = shifted < 10 ? shifted + 3 : shifted - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        // 1 January 1970 was a Thursday (4, with Sunday 0).
        let weekday = (days % 7 + 11) % 7
        return (year, month, day, weekday, clock / 3600, clock / 60 % 60, clock % 60)
    }

    /// Parses an HTTP-date (RFC 9110 §5.6.7): the IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT` exactly
    /// (two-digit day and clock fields, single spaces, the comma), and the obsolete forms a recipient
    /// must accept, RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT` and asctime `Sun Nov  6 08:49:37 1994`.
    /// Day, month and zone names match without regard to case (as every major cache does). Anything
    /// else, out-of-range fields included, is nil: for `Expires` that means already expired (RFC 9111 §5.3).
    public static func parse(_ string: String) -> Int64? {
        let bytes = Array(string.utf8)
        if bytes.count == 29 { return parseFixdate(bytes) }
        if bytes.count == 24 { return parseAsctime(bytes) }
        return parseRFC850(bytes)
    }

    private static let longDays = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]

    /// `Sun, 06 Nov 1994 08:49:37 GMT`
    private static func parseFixdate(_ b: [UInt8]) -> Int64? {
        guard dayName(b, 0) != nil, b[3] == 0x2C, b[4] == 0x20, b[7] == 0x20, b[11] == 0x20, b[16] == 0x20, b[25] == 0x20,
              let day = digits(b, 5, 2), let month = monthName(b, 8), let year = digits(b, 12, 4),
              let clock = clock(b, 17), isGMT(b, 26) else { return nil }
        return timestamp(year: year, month: month, day: day, clock)
    }

    /// `Sun Nov  6 08:49:37 1994` (the day padded with a space)
    private static func parseAsctime(_ b: [UInt8]) -> Int64? {
        guard dayName(b, 0) != nil, b[3] == 0x20, b[7] == 0x20, b[10] == 0x20, b[19] == 0x20,
              let month = monthName(b, 4), let clock = clock(b, 11), let year = digits(b, 20, 4) else { return nil }
        let day: Int
        if b[8] == 0x20, let units = digits(b, 9, 1) { day = units } else if let both = digits(b, 8, 2) { day = both } else { return nil }
        return timestamp(year: year, month: month, day: day, clock)
    }

    /// `Sunday, 06-Nov-94 08:49:37 GMT`: a two-digit year more than 50 years ahead is taken as the
    /// most recent past year with those digits (RFC 9110 §5.6.7).
    private static func parseRFC850(_ b: [UInt8]) -> Int64? {
        guard let comma = b.firstIndex(of: 0x2C), comma >= 6, comma <= 9, b.count == comma + 24,
              longDays.contains(String(decoding: b[0..<comma], as: UTF8.self).lowercasedASCII()) else { return nil }
        let s = comma + 1
        guard b[s] == 0x20, b[s + 3] == 0x2D, b[s + 7] == 0x2D, b[s + 10] == 0x20, b[s + 19] == 0x20,
              let day = digits(b, s + 1, 2), let month = monthName(b, s + 4), let yy = digits(b, s + 8, 2),
              let clock = clock(b, s + 11), isGMT(b, s + 20) else { return nil }
        var t = time_t(now)
        var parts = tm()
        gmtime_r(&t, &parts)
        let thisYear = Int(parts.tm_year) + 1900
        var year = thisYear / 100 * 100 + yy
        if year > thisYear + 50 { year -= 100 }
        return timestamp(year: year, month: month, day: day, clock)
    }

    private static func digits(_ b: [UInt8], _ at: Int, _ count: Int) -> Int? {
        var value = 0
        for i in at..<(at + count) {
            guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
            value = value * 10 + Int(b[i] - 0x30)
        }
        return value
    }

    private static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte + 32 : byte }

    private static func name(_ b: [UInt8], _ at: Int, in table: [UInt8]) -> Int? {
        let name = (lower(b[at]), lower(b[at + 1]), lower(b[at + 2]))
        for i in 0..<(table.count / 3) where (lower(table[3 * i]), lower(table[3 * i + 1]), lower(table[3 * i + 2])) == name { return i }
        return nil
    }

    private static func dayName(_ b: [UInt8], _ at: Int) -> Int? { name(b, at, in: dayBytes) }
    private static func monthName(_ b: [UInt8], _ at: Int) -> Int? { name(b, at, in: monthBytes) }
    private static func isGMT(_ b: [UInt8], _ at: Int) -> Bool {
        lower(b[at]) == 0x67 && lower(b[at + 1]) == 0x6D && lower(b[at + 2]) == 0x74
    }

    /// `08:49:37`: two digits each, hour 0-23, minute 0-59, second 0-60 (a leap second).
    private static func clock(_ b: [UInt8], _ at: Int) -> (Int, Int, Int)? {
        guard b[at + 2] == 0x3A, b[at + 5] == 0x3A, let h = digits(b, at, 2), let m = digits(b, at + 3, 2), let s = digits(b, at + 6, 2),
              h <= 23, m <= 59, s <= 60 else { return nil }
        return (h, m, s)
    }

    private static func timestamp(year: Int, month: Int, day: Int, _ clock: (Int, Int, Int)) -> Int64? {
        let lengths = [31, year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard year >= 1900, day >= 1, day <= lengths[month] else { return nil }
        var value = tm()
        value.tm_year = Int32(year - 1900)
        value.tm_mon = Int32(month)
        value.tm_mday = Int32(day)
        value.tm_hour = Int32(clock.0)
        value.tm_min = Int32(clock.1)
        value.tm_sec = Int32(clock.2)
        return Int64(timegm(&value))
    }

    /// Seconds since 1970, now.
    public static var now: Int64 { Int64(time(nil)) }
}
