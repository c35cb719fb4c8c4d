import Pipeline

/// One deb822 paragraph (a `.deb`'s `control` file, a `Packages` stanza): fields in their
/// original order and spelling, each value with its continuation lines kept as they are
/// (`Description`'s long text).
struct ControlStanza: Sendable, Equatable {
    /// Field name and value; a multi-line value holds its continuation lines after `\n`, each
    /// starting with its space or tab.
    var fields: [(name: String, value: String)]

    static func == (a: ControlStanza, b: ControlStanza) -> Bool {
        a.fields.elementsEqual(b.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    /// Why a control file was not read.
    struct FormatError: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads the first paragraph of `text`; comment lines (`#`) are skipped.
    init(parsing text: String) throws {
        var fields: [(name: String, value: String)] = []
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) {
                if fields.isEmpty { continue }
                break
            }
            if line.hasPrefix("#") { continue }
            if line.first == " " || line.first == "\t" {
                guard !fields.isEmpty else { throw FormatError(description: "a continuation line before any field") }
                fields[fields.count - 1].value += "\n" + line
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { throw FormatError(description: "a line without a field name: \(line.prefix(40))") }
            let name = String(line[..<colon])
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw FormatError(description: "an invalid field name: \(name.prefix(40))")
            }
            guard !fields.contains(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw FormatError(description: "the field \(name) appears twice")
            }
            fields.append((name, String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })))
        }
        guard !fields.isEmpty else { throw FormatError(description: "an empty control file") }
        self.fields = fields
    }

    init(fields: [(name: String, value: String)]) { self.fields = fields }

    /// The value of `name` (case-insensitive, as deb822 field names are); its first line only
    /// when `firstLine`.
    subscript(_ name: String) -> String? {
        let lowered = name.lowercased()
        return fields.first { $0.name.lowercased() == lowered }?.value
    }

    /// The stanza without the fields named in `names` (case-insensitive).
    func removing(_ names: Set<String>) -> ControlStanza {
        ControlStanza(fields: fields.filter { !names.contains($0.name.lowercased()) })
    }

    /// The paragraph as deb822 text, each field on its line(s), ending with a line break.
    var text: String {
        var out = ""
        for (name, value) in fields {
            out += name + ":"
            if !value.isEmpty && !value.hasPrefix("\n") { out += " " }
            out += value + "\n"
        }
        return out
    }
}
