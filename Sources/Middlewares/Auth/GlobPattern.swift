import Pipeline

/// A shell-style pattern for claim values: `*` matches any run of characters (including `/`, so
/// `refs/heads/*` matches `refs/heads/release/1.0`), `?` exactly one; everything else literally.
/// The whole value must match.
struct GlobPattern: Sendable, Equatable, CustomStringConvertible {
    let pattern: String
    private let characters: [Character]

    init(_ pattern: String) {
        self.pattern = pattern
        characters = Array(pattern)
    }

    var description: String { pattern }

    func matches(_ value: String) -> Bool {
        let text = Array(value)
        // Iterative matching with one backtrack point: linear for patterns with a single `*`,
        // O(n·m) at worst, never exponential.
        var p = 0, t = 0, star = -1, mark = 0
        while t < text.count {
            if p < characters.count, characters[p] == "?" || (characters[p] != "*" && characters[p] == text[t]) {
                p += 1
                t += 1
            } else if p < characters.count, characters[p] == "*" {
                star = p
                mark = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < characters.count, characters[p] == "*" { p += 1 }
        return p == characters.count
    }
}

/// One `require` entry of `auth.oidc`: the claim must be present and match one of the patterns.
/// A claim holding an array matches when any element does. Numbers and booleans are compared in
/// their JSON spelling (GitHub sends IDs as strings, apt.md §6).
struct ClaimRule: Sendable {
    let claim: String
    let allowed: [GlobPattern]

    func allows(_ claims: JSONObject) -> Bool {
        let values: [String]
        switch claims[claim] {
        case .array(let items)?: values = items.compactMap { JWT.text($0) }
        case let value?: values = JWT.text(value).map { [$0] } ?? []
        case nil: values = []
        }
        return values.contains { value in allowed.contains { $0.matches(value) } }
    }
}
