#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Pipeline

@Suite("HTTP date formatting")
struct HTTPDateTests {
    /// What glibc's gmtime_r says, formatted the IMF-fixdate way: the reference the computed form must equal.
    static func reference(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    @Test("the RFC 9110 example date")
    func example() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }

    @Test("formatting agrees with gmtime_r across leap years, century rules and day boundaries")
    func agreesWithGmtime() {
        // Every 6 hours and 7 seconds from 1970 to 2110 (leap days, 2000 and 2100 included), plus edges.
        var samples: [Int64] = [0, 1, 86_399, 86_400, 951_782_400, 951_868_799, 4_107_542_400, 4_107_628_799, 253_402_300_799]
        var t: Int64 = 0
        while t < 4_417_977_600 {
            samples.append(t)
            t += 21_607
        }
        for seconds in samples {
            #expect(HTTPDate.format(seconds) == Self.reference(seconds), "\(seconds)")
        }
    }

    @Test("dates before 1970 are formatted too")
    func beforeEpoch() {
        for seconds: Int64 in [-1, -86_400, -86_401, -2_208_988_800, -631_152_000] {
            #expect(HTTPDate.format(seconds) == Self.reference(seconds), "\(seconds)")
        }
    }
}
