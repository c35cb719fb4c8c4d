import Pipeline

/// One repository of the source's owner, as `GET /orgs/{org}/repos` (or `/users/{user}/repos`)
/// lists it.
public struct GitHubRepository: Sendable, Equatable {
    /// The repository name without the owner (`terraform-aws-vpc`).
    public var name: String
    /// `owner/name` as GitHub spells it.
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

    /// Reads GitHub's repository object; nil when required fields are missing.
    init?(json: JSONValue) {
        guard let name = json["name"]?.string else { return nil }
        self.name = name
        fullName = json["full_name"]?.string ?? name
        isPrivate = json["private"]?.bool ?? false
        topics = json["topics"]?.array?.compactMap(\.string) ?? []
        defaultBranch = json["default_branch"]?.string ?? "main"
        archived = json["archived"]?.bool ?? false
        description = json["description"]?.string
    }
}
