import Pipeline

/// The users of `auth.basic`: a `usersFile` of `user:hash` lines (as `gateway hash-password --user`
/// prints them; `#` comments and blank lines allowed) plus inline `users`. Every problem is
/// reported with its line number; hashes are never echoed.
struct UserList: Sendable {
    private(set) var hashes: [String: PasswordHash] = [:]

    var isEmpty: Bool { hashes.isEmpty }

    subscript(user: String) -> PasswordHash? { hashes[user] }

    /// Parses the file's text; problems come back as `(line, message)`.
    mutating func add(fileText text: String) -> [(line: Int, message: String)] {
        var problems: [(Int, String)] = []
        // `\r\n` is one Character in Swift, so split on newline characters, not on "\n".
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingASCIIWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                problems.append((index + 1, "expected user:hash"))
                continue
            }
            if let problem = add(user: String(line[..<colon]), hash: String(line[line.index(after: colon)...])) {
                problems.append((index + 1, problem))
            }
        }
        return problems
    }

    /// Adds one user; the problem, if any.
    mutating func add(user: String, hash: String) -> String? {
        guard !user.isEmpty, !user.contains(":"), user.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
            return "user names must be non-empty, without ':' or control characters"
        }
        guard hashes[user] == nil else { return "user \"\(user)\" is listed twice" }
        do {
            hashes[user] = try PasswordHash(parsing: hash)
            return nil
        } catch {
            return "user \"\(user)\": \(error)"
        }
    }
}
