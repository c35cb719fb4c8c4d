/// One header or trailer line: the name as the peer spelled it, and its value.
public struct HTTPField: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public var description: String { "\(name): \(value)" }
}

/// Ordered header fields that keep duplicates and compare names case-insensitively
/// (RFC 9110 §5.1), as swift-http-types' `HTTPFields` does.
///
/// ```swift
/// var fields: HTTPFields = ["Content-Type": "application/json"]
/// fields.append("Vary", "Accept")
/// fields["content-type"]  // "application/json"
/// ```
public struct HTTPFields: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    private var storage: [HTTPField]

    public init() { storage = [] }
    public init(_ fields: [HTTPField]) { storage = fields }
    public init(dictionaryLiteral elements: (String, String)...) {
        storage = elements.map { HTTPField(name: $0.0, value: $0.1) }
    }

    public var startIndex: Int { storage.startIndex }
    public var endIndex: Int { storage.endIndex }
    public subscript(position: Int) -> HTTPField { storage[position] }

    /// The first value for `name`; setting replaces every field of that name (nil removes them).
    public subscript(name: String) -> String? {
        get {
            for field in storage where field.name.equalsIgnoringASCIICase(name) { return field.value }
            return nil
        }
        set {
            guard let index = storage.firstIndex(where: { $0.name.equalsIgnoringASCIICase(name) }) else {
                if let newValue { storage.append(HTTPField(name: name, value: newValue)) }
                return
            }
            guard let newValue else {
                storage.removeAll { $0.name.equalsIgnoringASCIICase(name) }
                return
            }
            storage[index].value = newValue
            var i = storage.index(after: index)
            while i < storage.endIndex {
                if storage[i].name.equalsIgnoringASCIICase(name) { storage.remove(at: i) } else { i += 1 }
            }
        }
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        storage.compactMap { $0.name.equalsIgnoringASCIICase(name) ? $0.value : nil }
    }

    /// Every comma-separated element of every `name` field, trimmed (RFC 9110 §5.6.1).
    public func list(_ name: String) -> [String] {
        values(name).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingASCIIWhitespace() }
            .filter { !$0.isEmpty }
    }

    public func contains(_ name: String) -> Bool {
        storage.contains { $0.name.equalsIgnoringASCIICase(name) }
    }

    /// Whether the comma-separated list in `name` holds `token`, ignoring case.
    public func containsToken(_ token: String, in name: String) -> Bool {
        // Asked of every response (Connection: close): no arrays unless the field is there.
        for field in storage where field.name.equalsIgnoringASCIICase(name) {
            for element in field.value.split(separator: ",") where element.trimmingASCIIWhitespace().equalsIgnoringASCIICase(token) {
                return true
            }
        }
        return false
    }

    public mutating func append(_ name: String, _ value: String) {
        storage.append(HTTPField(name: name, value: value))
    }

    public mutating func append(_ field: HTTPField) { storage.append(field) }

    /// Room for `count` fields without growing (a parser that knows a head's usual size).
    public mutating func reserveCapacity(_ count: Int) { storage.reserveCapacity(count) }

    public mutating func remove(_ name: String) {
        storage.removeAll { $0.name.equalsIgnoringASCIICase(name) }
    }

    public mutating func removeAll(where predicate: (HTTPField) -> Bool) {
        storage.removeAll(where: predicate)
    }

    public var description: String { storage.map(\.description).joined(separator: "\n") }
}

extension StringProtocol {
    /// ASCII case-insensitive comparison without allocating: header names and tokens are ASCII.
    @inlinable
    public func equalsIgnoringASCIICase(_ other: some StringProtocol) -> Bool {
        let a = self.utf8, b = other.utf8
        guard a.count == b.count else { return false }
        var ib = b.startIndex
        for ca in a {
            let cb = b[ib]
            b.formIndex(after: &ib)
            if ca == cb { continue }
            let la = (ca >= 65 && ca <= 90) ? ca | 0x20 : ca
            let lb = (cb >= 65 && cb <= 90) ? cb | 0x20 : cb
            if la != lb { return false }
        }
        return true
    }

    /// Whether the string starts with `prefix`, ignoring ASCII case.
    public func hasPrefixIgnoringASCIICase(_ prefix: some StringProtocol) -> Bool {
        guard utf8.count >= prefix.utf8.count else { return false }
        return self.utf8.prefix(prefix.utf8.count).elementsEqual(prefix.utf8) { x, y in
            (x >= 65 && x <= 90 ? x | 0x20 : x) == (y >= 65 && y <= 90 ? y | 0x20 : y)
        }
    }

    /// The string without leading and trailing spaces and tabs.
    public func trimmingASCIIWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return String(slice)
    }

    /// The string with ASCII letters lowercased.
    public func lowercasedASCII() -> String {
        String(decoding: utf8.map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
