/// A semantic version (semver 2.0.0), read leniently from git tags the way Terraform's
/// go-version reads module versions: an optional `v`, and `1.2` meaning `1.2.0`
/// (terraform.md §2.1: listing `v2.1` makes Terraform ask for `2.1.0`).
public struct Semver: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let patch: Int
    /// Dot-separated pre-release identifiers (`beta.1`), empty for a release.
    public let prerelease: [String]
    /// Build metadata (`+build.5`): kept in the text, ignored in ordering.
    public let build: String?

    public init(major: Int, minor: Int, patch: Int, prerelease: [String] = [], build: String? = nil) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease
        self.build = build
    }

    /// Parses `1.2.3`, `v1.2.3`, `1.2`, `v1`, `1.2.3-rc.1`, `1.2.3+meta`. Nil for anything else.
    public init?(lenient text: some StringProtocol) {
        var rest = Substring(text)
        if rest.first == "v" || rest.first == "V" { rest = rest.dropFirst() }
        self.init(rest, strict: false)
    }

    /// Parses exactly `MAJOR.MINOR.PATCH[-pre][+build]` (what providers.v1 requires).
    public init?(strict text: some StringProtocol) {
        self.init(Substring(text), strict: true)
    }

    private init?(_ text: Substring, strict: Bool) {
        var core = text
        var build: String?
        if let plus = core.firstIndex(of: "+") {
            build = String(core[core.index(after: plus)...])
            guard let b = build, !b.isEmpty, b.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(Self.isIdentifier) else { return nil }
            core = core[..<plus]
        }
        var prerelease: [String] = []
        if let dash = core.firstIndex(of: "-") {
            let pre = core[core.index(after: dash)...]
            let parts = pre.split(separator: ".", omittingEmptySubsequences: false)
            guard !pre.isEmpty, parts.allSatisfy(Self.isIdentifier) else { return nil }
            for part in parts where part.allSatisfy(\.isASCIIDigit) && part.count > 1 && part.first == "0" { return nil }
            prerelease = parts.map(String.init)
            core = core[..<dash]
        }
        let numbers = core.split(separator: ".", omittingEmptySubsequences: false)
        guard (strict ? numbers.count == 3 : (1...3).contains(numbers.count)) else { return nil }
        var values: [Int] = []
        for number in numbers {
            guard !number.isEmpty, number.count <= 9, number.allSatisfy(\.isASCIIDigit), !(number.count > 1 && number.first == "0") else { return nil }
            values.append(Int(number)!)
        }
        while values.count < 3 { values.append(0) }
        self.init(major: values[0], minor: values[1], patch: values[2], prerelease: prerelease, build: build)
    }

    static func isIdentifier(_ part: Substring) -> Bool {
        !part.isEmpty && part.allSatisfy { $0.isASCIIDigit || ($0.isASCII && $0.isLetter) || $0 == "-" }
    }

    public var isPrerelease: Bool { !prerelease.isEmpty }

    /// The normalised form clients see and ask for: `1.2.0`, `1.2.3-rc.1`, `1.0.0+meta`.
    public var description: String {
        var text = "\(major).\(minor).\(patch)"
        if !prerelease.isEmpty { text += "-" + prerelease.joined(separator: ".") }
        if let build { text += "+" + build }
        return text
    }

    /// Semver precedence (§11): build metadata does not count; a pre-release sorts before its release.
    public static func < (a: Semver, b: Semver) -> Bool {
        if a.major != b.major { return a.major < b.major }
        if a.minor != b.minor { return a.minor < b.minor }
        if a.patch != b.patch { return a.patch < b.patch }
        switch (a.prerelease.isEmpty, b.prerelease.isEmpty) {
        case (true, true): return (a.build ?? "") < (b.build ?? "")
        case (true, false): return false
        case (false, true): return true
        case (false, false): break
        }
        for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
            switch (Int(x), Int(y)) {
            case let (i?, j?): return i < j
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return x < y
            }
        }
        return a.prerelease.count < b.prerelease.count
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// Versions read from tags, newest first, with the way back from a normalised version to the tag
/// that produced it (`2.1.0` → `v2.1`).
public struct VersionIndex: Sendable {
    public struct Entry: Sendable, Hashable {
        public let version: Semver
        /// The original tag or folder name.
        public let ref: String
    }

    /// Newest first. When two tags normalise to the same version (`v1.2` and `1.2.0`), the first
    /// listed wins.
    public let entries: [Entry]

    public init(refs: [String], parse: (String) -> Semver? = { Semver(lenient: $0) }) {
        var seen: Set<String> = []
        var entries: [Entry] = []
        for ref in refs {
            guard let version = parse(ref), seen.insert(version.description).inserted else { continue }
            entries.append(Entry(version: version, ref: ref))
        }
        self.entries = entries.sorted { $1.version < $0.version }
    }

    public func ref(for version: String) -> String? {
        guard let wanted = Semver(lenient: version) else { return nil }
        return entries.first { $0.version == wanted && $0.version.description == wanted.description }?.ref
            ?? entries.first { $0.version == wanted }?.ref
    }
}
