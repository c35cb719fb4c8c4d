import Pipeline

/// Who is calling the stand-in's API, from the `Authorization` header.
enum Caller: Sendable {
    case anonymous(address: String)
    case installation(IssuedToken)
    case user(index: Int, drafts: Bool)

    /// The rate-limit bucket.
    var key: String {
        switch self {
        case .anonymous(let address): "ip:\(address)"
        case .installation(let token): "installation:\(token.installation)"
        case .user(let index, _): "user:\(index)"
        }
    }

    /// Whether `repo` is visible: public ones to everyone, private ones to an installation on their
    /// owner and to configured user tokens (GitHub answers 404, not 403, to anyone else).
    func canSee(_ repo: FixtureRepo) -> Bool {
        guard repo.isPrivate else { return true }
        switch self {
        case .anonymous: return false
        case .installation(let token): return token.account.lowercased() == repo.owner.lowercased()
        case .user: return true
        }
    }

    /// Draft releases are listed only to users with push access.
    var seesDrafts: Bool {
        if case .user(_, let drafts) = self { return drafts }
        return false
    }

    /// What GitHub's primary-limit message names.
    var limitSubject: String {
        switch self {
        case .anonymous(let address): "API rate limit exceeded for \(address)."
        case .installation(let token): "API rate limit exceeded for installation ID \(token.installation)."
        case .user: "API rate limit exceeded for user ID 1."
        }
    }

    /// Reads `Authorization` (`Bearer X` or `token X`): nil when it names no valid credential,
    /// which GitHub answers with 401 `Bad credentials`.
    static func authenticate(_ request: Request, context: Context, state: StandInState, now: Double) -> Caller? {
        guard let header = request.headers["Authorization"] else { return .anonymous(address: context.clientAddress) }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, ["bearer", "token"].contains(parts[0].lowercased()) else { return nil }
        let token = String(parts[1]).trimmingASCIIWhitespace()
        if let issued = state.issuedToken(token) {
            return issued.expiresAt > now ? .installation(issued) : nil
        }
        if let index = state.config.tokens.firstIndex(where: { ConstantTime.equals(Array($0.token.utf8), Array(token.utf8)) }) {
            return .user(index: index, drafts: state.config.tokens[index].drafts)
        }
        return nil
    }
}
