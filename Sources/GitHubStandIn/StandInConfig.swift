import Pipeline

/// `standin.json` in the fixture folder: who the App is, which installations and tokens exist,
/// and the limits the stand-in starts with. Everything else (repositories, tags, releases) is read
/// from the folder on every request, so tests can change fixtures while the stand-in runs.
///
/// ```json
/// {"owners": {"acme": {"type": "Organization"}},
///  "app": {"id": 1001, "clientId": "Iv23liStandIn", "publicKeyFile": "app.pub.pem",
///          "installations": [{"id": 2002, "account": "acme"}]},
///  "tokens": [{"token": "ghp_test", "drafts": true, "login": "alice"}],
///  "tokenLifetimeSeconds": 3600, "rateLimit": 5000, "anonymousRateLimit": 60,
///  "webhookSecret": "s3cret", "oidc": {"requestToken": "runner-token", "claims": {"repository_owner": "acme"}}}
/// ```
struct StandInConfig: Sendable {
    struct Installation: Sendable {
        let id: Int
        let account: String
    }

    struct StaticToken: Sendable {
        let token: String
        /// Whether the token's user may see draft releases (push access).
        let drafts: Bool
        /// The user the token belongs to (`/user/repos?affiliation=owner` lists that user's repositories).
        let login: String?
    }

    var owners: [String: String] = [:]
    var appID: Int?
    /// The App's Client ID, which GitHub accepts (and recommends) as the JWT's `iss`.
    var appClientID: String?
    var appPublicKey: PublicKey?
    var installations: [Installation] = []
    var tokens: [StaticToken] = []
    var tokenLifetime: Double = 3600
    var rateLimit = 5000
    var anonymousRateLimit = 60
    var oidcRequestToken: String?
    var oidcClaims = JSONObject()

    /// Reads `standin.json` in `root`; a missing file gives the defaults.
    static func load(root: String) throws -> StandInConfig {
        var config = StandInConfig()
        guard let file = OpenFile(path: root + "/standin.json") else { return config }
        let bytes = try file.read(at: 0, count: Int(file.size))
        let json = try JSONParser.parse(bytes)
        if let owners = json["owners"]?.object {
            for (login, value) in owners { config.owners[login] = value["type"]?.string ?? "Organization" }
        }
        if let app = json["app"] {
            config.appID = app["id"]?.int
            config.appClientID = app["clientId"]?.string
            if let path = app["publicKeyFile"]?.string {
                let resolved = path.hasPrefix("/") ? path : root + "/" + path
                guard let key = OpenFile(path: resolved) else { throw StandInError("cannot read \(resolved)") }
                config.appPublicKey = try PublicKey(pem: String(decoding: try key.read(at: 0, count: Int(key.size)), as: UTF8.self))
            }
            for installation in app["installations"]?.array ?? [] {
                guard let id = installation["id"]?.int, let account = installation["account"]?.string else { continue }
                config.installations.append(Installation(id: id, account: account))
            }
        }
        for token in json["tokens"]?.array ?? [] {
            guard let value = token["token"]?.string else { continue }
            config.tokens.append(StaticToken(token: value, drafts: token["drafts"]?.bool ?? false, login: token["login"]?.string))
        }
        if let lifetime = json["tokenLifetimeSeconds"]?.number { config.tokenLifetime = lifetime }
        if let limit = json["rateLimit"]?.int { config.rateLimit = limit }
        if let limit = json["anonymousRateLimit"]?.int { config.anonymousRateLimit = limit }
        config.oidcRequestToken = json["oidc"]?["requestToken"]?.string
        config.oidcClaims = json["oidc"]?["claims"]?.object ?? JSONObject()
        return config
    }

    /// `Organization` or `User` for a login with fixtures.
    func ownerType(_ login: String) -> String {
        owners.first { $0.key.lowercased() == login.lowercased() }?.value ?? "Organization"
    }
}

/// A startup or fixture problem, said plainly.
struct StandInError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
