import Pipeline

/// One repository of a release feed's owner.
public struct Repository: Sendable, Equatable {
    /// The repository name without the owner (`terraform-aws-vpc`).
    public var name: String
    /// `owner/name` as the feed spells it.
    public var fullName: String
    public var isPrivate: Bool
    public var topics: [String]
    public var defaultBranch: String
    public var archived: Bool
    public var description: String?

    public init(name: String, fullName: String, isPrivate: Bool = false, topics: [String] = [], defaultBranch: String = "main",
                archived: Bool = false, description: String? = nil) {
        self.name = name
        self.fullName = fullName
        self.isPrivate = isPrivate
        self.topics = topics
        self.defaultBranch = defaultBranch
        self.archived = archived
        self.description = description
    }
}

/// One entry of a folder in a repository (`ReleaseFeed.folder`).
public struct RepositoryEntry: Sendable, Equatable {
    public enum Kind: String, Sendable { case file, folder, other }

    public var name: String
    /// The path from the repository's root.
    public var path: String
    public var kind: Kind
    public var size: Int
    /// The git object id (blob or tree SHA): it changes exactly when the content does.
    public var sha: String

    public init(name: String, path: String, kind: Kind, size: Int, sha: String) {
        self.name = name
        self.path = path
        self.kind = kind
        self.size = size
        self.sha = sha
    }
}
