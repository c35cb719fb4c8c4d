import Pipeline

/// One `.deb` as the repository lists it: its control paragraph, size and SHA-256, the
/// component it belongs to, and where its source keeps the bytes.
struct APTPackage: Sendable {
    /// The control paragraph without the fields the repository adds (Filename, Size, hashes).
    let control: ControlStanza
    let size: Int64
    /// Lower-case hex.
    let sha256: String
    let component: String
    /// Where the source finds the bytes: a path in a file tree, a release asset's id.
    let location: String
    /// What the source calls it in log lines (a path, `owner/repo@tag/asset`).
    let label: String
    /// Seconds since 1970: the file's modification, the asset's last update. The newest one is
    /// the Release's Date.
    let time: Int64

    /// Fields a repository writes itself; a control file's own copies are dropped.
    static let repositoryFields: Set<String> = ["filename", "size", "md5sum", "sha1", "sha256", "sha512", "description-md5"]

    var name: String { control["Package"] ?? "" }
    var version: String { control["Version"] ?? "" }
    var architecture: String { control["Architecture"] ?? "" }

    /// The source package's name: `Source`'s first word (`Source: foo (1.2-1)`), else the package's.
    var sourceName: String {
        guard let source = control["Source"]?.split(separator: " ").first, !source.isEmpty else { return name }
        return String(source)
    }

    /// `pool/<component>/<prefix>/<source>/<name>_<version without epoch>_<arch>.deb`, Debian's
    /// layout (apt.md §1.1): the prefix is the first letter, or the first four for `lib*`.
    var poolPath: String {
        let source = sourceName
        let prefix = source.hasPrefix("lib") && source.count > 3 ? String(source.prefix(4)) : String(source.prefix(1))
        let version = self.version.firstIndex(of: ":").map { String(self.version[self.version.index(after: $0)...]) } ?? self.version
        return "pool/\(component)/\(prefix)/\(source)/\(name)_\(version)_\(architecture).deb"
    }

    /// Why a control paragraph cannot be listed.
    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// Checks the fields the pool path and apt rely on: names and versions as Debian policy
    /// allows them (§5.6.1, §5.6.7), so nothing in a package can steer a path.
    static func validate(_ control: ControlStanza) throws {
        func check(_ field: String, _ allowed: (Character) -> Bool, firstAlphanumeric: Bool = true) throws {
            guard let value = control[field], !value.isEmpty else { throw Invalid(description: "the control file has no \(field)") }
            guard !value.contains("\n"), value.allSatisfy({ $0.isASCII && allowed($0) }),
                  !firstAlphanumeric || value.first.map({ $0.isLetter || $0.isNumber }) == true else {
                throw Invalid(description: "invalid \(field) \"\(value.prefix(60))\"")
            }
        }
        let name: (Character) -> Bool = { $0.isLowercase || $0.isNumber || "+-.".contains($0) }
        try check("Package", name)
        try check("Version", { $0.isLetter || $0.isNumber || ".+~:-".contains($0) }, firstAlphanumeric: true)
        try check("Architecture", { $0.isLowercase || $0.isNumber || $0 == "-" })
        if let source = control["Source"]?.split(separator: " ").first.map(String.init) {
            guard !source.isEmpty, source.allSatisfy({ $0.isASCII && name($0) }), source.first?.isLetter == true || source.first?.isNumber == true else {
                throw Invalid(description: "invalid Source \"\(source.prefix(60))\"")
            }
        }
    }

    /// The Packages stanza: the control fields in their order, then Filename, Size, SHA256.
    var stanza: String {
        control.text + "Filename: \(poolPath)\nSize: \(size)\nSHA256: \(sha256)\n"
    }
}
