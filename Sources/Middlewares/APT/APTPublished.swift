import Pipeline

/// What an `apt.repository` shows the other behaviours of its load (the catalog's APT section):
/// its index state — the very one its requests use, so reading the packages builds and reads
/// nothing twice — its shape, where its stack serves it and whether it sits behind auth.
/// Registered by stack name in `BuildContext.shared` when the repository is built.
struct APTPublished: Sendable {
    /// The stack the repository is in.
    let stack: String
    /// Nil in branch mode (`metadata`): `dists/` comes from a branch and no index is built here.
    let state: APTIndexState?
    let shape: APTRepositoryShape
    /// The stack's `pathPrefix`es as declared (the repository roots, with their `/`).
    let pathPrefixes: [String]
    /// Whether an auth middleware comes before it (clients then need an auth.conf entry).
    let behindAuth: Bool

    /// The repositories built so far in one load, by stack (a stack may hold several).
    final class Table: @unchecked Sendable {
        // Touched only while a load builds (one thread).
        var byStack: [String: [APTPublished]] = [:]
        var stacks: [String] = []

        static let key = "apt.repositories"

        static func of(_ context: BuildContext) -> Table {
            if let table = context.shared[key] as? Table { return table }
            let table = Table()
            context.shared[key] = table
            return table
        }

        func add(_ repository: APTPublished) {
            if byStack[repository.stack] == nil { stacks.append(repository.stack) }
            byStack[repository.stack, default: []].append(repository)
        }
    }

    /// Records the repository being built in `context` (nothing outside a stack: a named
    /// middleware has no path of its own).
    static func publish(state: APTIndexState?, shape: APTRepositoryShape, context: BuildContext) {
        guard let stack = context.stackName else { return }
        Table.of(context).add(APTPublished(stack: stack, state: state, shape: shape, pathPrefixes: context.stackPathPrefixes,
                                           behindAuth: context.isBehindAuth))
    }
}

/// Debian's version order (dpkg's `verrevcmp`, Debian policy §5.6.12): epoch, then the upstream
/// version, then the revision; `~` sorts before everything, even the end.
enum DebianVersion {
    /// Negative, zero or positive as `a` sorts before, with or after `b`.
    static func compare(_ a: String, _ b: String) -> Int {
        let (ae, au, ar) = parts(a), (be, bu, br) = parts(b)
        if ae != be { return ae < be ? -1 : 1 }
        let upstream = verrevcmp(Array(au.utf8), Array(bu.utf8))
        return upstream != 0 ? upstream : verrevcmp(Array(ar.utf8), Array(br.utf8))
    }

    static func parts(_ version: String) -> (epoch: Int, upstream: Substring, revision: Substring) {
        var rest = Substring(version)
        var epoch = 0
        if let colon = rest.firstIndex(of: ":") {
            epoch = Int(rest[..<colon]) ?? 0
            rest = rest[rest.index(after: colon)...]
        }
        guard let dash = rest.lastIndex(of: "-") else { return (epoch, rest, "") }
        return (epoch, rest[..<dash], rest[rest.index(after: dash)...])
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    private static func order(_ c: UInt8?) -> Int {
        guard let c else { return 0 }
        if c == UInt8(ascii: "~") { return -1 }
        if isDigit(c) { return 0 }
        if (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) { return Int(c) }
        return Int(c) + 256
    }

    private static func verrevcmp(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var i = 0, j = 0
        while i < a.count || j < b.count {
            while (i < a.count && !isDigit(a[i])) || (j < b.count && !isDigit(b[j])) {
                let ac = order(i < a.count ? a[i] : nil), bc = order(j < b.count ? b[j] : nil)
                if ac != bc { return ac < bc ? -1 : 1 }
                i += 1
                j += 1
            }
            while i < a.count && a[i] == UInt8(ascii: "0") { i += 1 }
            while j < b.count && b[j] == UInt8(ascii: "0") { j += 1 }
            var first = 0
            while i < a.count && isDigit(a[i]) && j < b.count && isDigit(b[j]) {
                if first == 0 { first = Int(a[i]) - Int(b[j]) }
                i += 1
                j += 1
            }
            if i < a.count && isDigit(a[i]) { return 1 }
            if j < b.count && isDigit(b[j]) { return -1 }
            if first != 0 { return first < 0 ? -1 : 1 }
        }
        return 0
    }
}
