import Pipeline

/// A git tag as `GET /repos/{owner}/{repo}/tags` lists it: the name and the commit it points at
/// (annotated tags are peeled to their commit).
public struct GitHubTag: Sendable, Equatable {
    public var name: String
    /// The full 40-hex commit SHA.
    public var sha: String

    public init(name: String, sha: String) {
        self.name = name
        self.sha = sha
    }

    init?(json: JSONValue) {
        guard let name = json["name"]?.string, let sha = json["commit"]?["sha"]?.string else { return nil }
        self.init(name: name, sha: sha)
    }
}
