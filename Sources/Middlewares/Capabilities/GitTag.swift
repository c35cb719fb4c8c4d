import Pipeline

/// A git tag: its name and the commit it points at (annotated tags are peeled to their commit).
public struct GitTag: Sendable, Equatable {
    public var name: String
    /// The full 40-hex commit SHA.
    public var sha: String

    public init(name: String, sha: String) {
        self.name = name
        self.sha = sha
    }
}
