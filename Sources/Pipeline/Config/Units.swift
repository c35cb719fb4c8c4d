/// Parsing of the human units pipeline.json allows: sizes (`64KiB`, `20GiB`, `1MB`) and
/// durations (`250ms`, `30s`, `5m`, `1h`, `1d`). A bare number is bytes or seconds.
public enum Units {
    public static func size(_ text: String) -> Int? {
        let trimmed = text.trimmingASCIIWhitespace()
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(digits.count).trimmingASCIIWhitespace()
        guard let number = Double(digits), number >= 0 else { return nil }
        let multipliers: [String: Double] = [
            "": 1, "B": 1,
            "KiB": 1024, "MiB": 1024 * 1024, "GiB": 1024 * 1024 * 1024, "TiB": 1024 * 1024 * 1024 * 1024,
            "KB": 1e3, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
        ]
        guard let multiplier = multipliers[unit] else { return nil }
        let value = number * multiplier
        guard value < 9e18 else { return nil }
        return Int(value)
    }

    public static func duration(_ text: String) -> Duration? {
        let trimmed = text.trimmingASCIIWhitespace()
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(digits.count).trimmingASCIIWhitespace()
        guard let number = Double(digits), number >= 0 else { return nil }
        let seconds: Double
        switch unit {
        case "ms": seconds = number / 1000
        case "", "s": seconds = number
        case "m": seconds = number * 60
        case "h": seconds = number * 3600
        case "d": seconds = number * 86400
        default: return nil
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// A duration as pipeline.json writes it, in the largest unit that holds it whole:
    /// `30s`, `250ms`, `5m`, `1h`, `2d` (whole milliseconds; `0s` for zero).
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        guard milliseconds != 0 else { return "0s" }
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where milliseconds % size == 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }
}

extension Duration {
    /// The duration in seconds as a Double.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
