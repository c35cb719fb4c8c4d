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
            if !values.isEmpty { return (CacheControl(values: values, structured: true), true) }
        }
        return (CacheControl(headers), false)
    }

    /// `structured`: the values are RFC 8941 dictionaries (targeted fields), where a boolean
    /// directive may be written `name=?1` or switched off with `name=?0`.
    private init(values: [String], structured: Bool) {
        for value in values {
            for (name, argument) in Self.directives(value) {
                if structured, argument == "?0" { continue }
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
                default: break
                }
            }
        }
    }

    /// Splits one field value into lower-cased directive names and their arguments, honouring quoted
    /// strings so `no-cache="a, b"` stays one directive (RFC 9110 §5.6.2).
    static func directives(_ value: String) -> [(String, String?)] {
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
                if argument.count >= 2, argument.hasPrefix("\""), argument.hasSuffix("\"") {
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
