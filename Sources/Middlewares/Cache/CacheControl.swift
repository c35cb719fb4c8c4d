import Pipeline

/// The Cache-Control directives of a response that a shared cache acts on (RFC 9111 §5.2.2,
/// RFC 5861 for the two stale-* extensions, RFC 8246 for `immutable`).
///
/// ```swift
/// let control = CacheControl(["Cache-Control": "public, max-age=60, stale-if-error=600"])
/// control.maxAge         // 60
/// control.staleIfError   // 600
/// ```
struct CacheControl: Equatable, Sendable {
    var maxAge: Int64?
    var sharedMaxAge: Int64?
    var staleWhileRevalidate: Int64?
    var staleIfError: Int64?
    var noStore = false
    var noCache = false
    var isPrivate = false
    var isPublic = false
    var mustRevalidate = false
    var proxyRevalidate = false
    var immutable = false
    var mustUnderstand = false

    init() {}

    init(_ headers: HTTPFields) {
        self.init(values: headers.values("Cache-Control"), structured: false)
    }

    /// The directives this cache follows: those of the first targeted field (RFC 9213, e.g.
    /// `CDN-Cache-Control`) in `targeted` order that has a non-empty value, or else Cache-Control.
    /// `isTargeted` says which: a targeted field also overrides Expires.
    static func effective(_ headers: HTTPFields, targeted: [String]) -> (control: CacheControl, isTargeted: Bool) {
        for name in targeted {
            let values = headers.values(name).filter { !$0.trimmingASCIIWhitespace().isEmpty }
            // A value that is not a valid RFC 8941 dictionary is ignored, as if absent (RFC 9213 §2.1).
            if !values.isEmpty, values.allSatisfy(StructuredDictionary.isValid) {
                return (CacheControl(values: values, structured: true), true)
            }
        }
        return (CacheControl(headers), false)
    }

    /// `structured`: the values are RFC 8941 dictionaries (targeted fields), where a boolean
    /// directive may be written `name=?1` or switched off with `name=?0`.
    private init(values: [String], structured: Bool) {
        for value in values {
            for (name, argument) in Self.directives(value, keepQuotes: structured) {
                if structured, argument == "?0" { continue }
                // In a dictionary a number is an integer: `max-age="60"` is a string and means nothing.
                if structured, let argument, argument.hasPrefix("\"") { continue }
                switch name {
                case "max-age": maxAge = Self.seconds(argument) ?? maxAge
                case "s-maxage": sharedMaxAge = Self.seconds(argument) ?? sharedMaxAge
                case "stale-while-revalidate": staleWhileRevalidate = Self.seconds(argument) ?? staleWhileRevalidate
                case "stale-if-error": staleIfError = Self.seconds(argument) ?? staleIfError
                // Qualified forms (`no-cache="Set-Cookie"`, `private="X"`) are treated like the plain
                // ones: storing less is always allowed (RFC 9111 §5.2.2.4, §5.2.2.7).
                case "no-store": noStore = true
                case "no-cache": noCache = true
                case "private": isPrivate = true
                case "public": isPublic = true
                case "must-revalidate": mustRevalidate = true
                case "proxy-revalidate": proxyRevalidate = true
                case "immutable": immutable = true
                case "must-understand": mustUnderstand = true
                default: break
                }
            }
        }
    }

    /// Splits one field value into lower-cased directive names and their arguments, honouring quoted
    /// strings so `no-cache="a, b"` stays one directive (RFC 9110 §5.6.2).
    static func directives(_ value: String, keepQuotes: Bool = false) -> [(String, String?)] {
        var result: [(String, String?)] = []
        var current: [UInt8] = []
        var inQuotes = false
        var escaped = false
        func flush() {
            let text = String(decoding: current, as: UTF8.self).trimmingASCIIWhitespace()
            current.removeAll(keepingCapacity: true)
            guard !text.isEmpty else { return }
            if let eq = text.firstIndex(of: "=") {
                var argument = String(text[text.index(after: eq)...]).trimmingASCIIWhitespace()
                if !keepQuotes, argument.count >= 2, argument.hasPrefix("\""), argument.hasSuffix("\"") {
                    argument = String(argument.dropFirst().dropLast())
                }
                result.append((String(text[..<eq]).trimmingASCIIWhitespace().lowercasedASCII(), argument))
            } else {
                result.append((text.lowercasedASCII(), nil))
            }
        }
        for byte in value.utf8 {
            if escaped {
                escaped = false
            } else if inQuotes && byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if byte == UInt8(ascii: ","), !inQuotes {
                flush()
                continue
            }
            current.append(byte)
        }
        flush()
        return result
    }

    /// delta-seconds (RFC 9111 §1.2.2): digits only; values too large to hold become 2^31.
    static func seconds(_ argument: String?) -> Int64? {
        guard let argument, !argument.isEmpty, argument.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        guard argument.utf8.count <= 10, let value = Int64(argument) else { return 1 << 31 }
        return min(value, 1 << 31)
    }
}

/// Checks that a field value is an RFC 8941 dictionary: `key[=item][;params], ...` with keys of
/// lower-case letters, digits, `_-.*`, and items that are integers, decimals, strings, tokens,
/// byte sequences or booleans. Inner lists are refused (no cache directive takes one).
enum StructuredDictionary {
    static func isValid(_ value: String) -> Bool {
        var bytes = Array(value.utf8)[...]
        func skipSpaces() { while bytes.first == 0x20 || bytes.first == 0x09 { bytes.removeFirst() } }
        func key() -> Bool {
            guard let first = bytes.first, (first >= 0x61 && first <= 0x7A) || first == 0x2A else { return false }
            while let byte = bytes.first, (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                    || byte == 0x5F || byte == 0x2D || byte == 0x2E || byte == 0x2A { bytes.removeFirst() }
            return true
        }
        func bareItem() -> Bool {
            guard let first = bytes.first else { return false }
            switch first {
            case 0x2D, 0x30...0x39:  // integer or decimal
                if first == 0x2D { bytes.removeFirst() }
                var digits = 0, fraction = -1
                while let byte = bytes.first, (byte >= 0x30 && byte <= 0x39) || (byte == 0x2E && fraction < 0) {
                    if byte == 0x2E { fraction = 0 } else if fraction >= 0 { fraction += 1 } else { digits += 1 }
                    bytes.removeFirst()
                }
                return digits >= 1 && (fraction < 0 ? digits <= 15 : digits <= 12 && fraction >= 1 && fraction <= 3)
            case 0x22:  // string
                bytes.removeFirst()
                while let byte = bytes.popFirst() {
                    if byte == 0x22 { return true }
                    if byte == 0x5C {
                        guard let escaped = bytes.popFirst(), escaped == 0x22 || escaped == 0x5C else { return false }
                    } else if byte < 0x20 || byte > 0x7E { return false }
                }
                return false
            case 0x3F:  // boolean
                bytes.removeFirst()
                guard let bit = bytes.popFirst(), bit == 0x30 || bit == 0x31 else { return false }
                return true
            case 0x3A:  // byte sequence
                bytes.removeFirst()
                while let byte = bytes.popFirst() {
                    if byte == 0x3A { return true }
                    guard (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                        || byte == 0x2B || byte == 0x2F || byte == 0x3D else { return false }
                }
                return false
            case 0x41...0x5A, 0x61...0x7A, 0x2A:  // token
                while let byte = bytes.first, byte == 0x3A || byte == 0x2F || Cache.isTokenByte(byte | (byte >= 0x41 && byte <= 0x5A ? 0x20 : 0)) {
                    bytes.removeFirst()
                }
                return true
            default:
                return false
            }
        }
        func parameters() -> Bool {
            while bytes.first == 0x3B {
                bytes.removeFirst()
                skipSpaces()
                guard key() else { return false }
                if bytes.first == 0x3D {
                    bytes.removeFirst()
                    guard bareItem() else { return false }
                }
            }
            return true
        }
        skipSpaces()
        while true {
            guard key() else { return false }
            if bytes.first == 0x3D {
                bytes.removeFirst()
                guard bareItem() else { return false }
            }
            guard parameters() else { return false }
            skipSpaces()
            guard let separator = bytes.popFirst() else { return true }
            guard separator == 0x2C else { return false }
            skipSpaces()
            if bytes.isEmpty { return false }
        }
    }
}
