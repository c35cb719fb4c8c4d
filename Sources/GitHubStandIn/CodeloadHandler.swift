import Foundation
import Pipeline

/// The "codeload" listener: archives of a ref made with `git archive`, with GitHub's top
/// directory `owner-repo-<sha7>/`. Private repositories need the short-lived `token` the API put
/// in the redirect; without it codeload answers 404, as GitHub's does.
struct CodeloadHandler: Middleware {
    let state: StandInState
    /// How long a private archive link stays valid (GitHub: five minutes).
    static let linkLifetime = 300.0

    /// The codeload URL the API redirects `tarball`/`zipball` to.
    static func url(state: StandInState, repo: FixtureRepo, ref: String, zip: Bool) -> String {
        let path = "/\(repo.owner)/\(repo.name)/legacy.\(zip ? "zip" : "tar.gz")/\(PercentEncoding.encodePath(ref))"
        guard repo.isPrivate else { return state.urls.codeload + path }
        let expires = Int64(WallClock.now + linkLifetime)
        return state.urls.codeload + path + "?token=\(expires).\(signature(state: state, path: path, expires: expires))"
    }

    static func signature(state: StandInState, path: String, expires: Int64) -> String {
        Hex.encode(HMAC.sha256(key: state.urlKey, data: Array("codeload:\(path):\(expires)".utf8)))
    }

    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        state.count("codeload")
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true).map { PercentEncoding.decode($0) ?? String($0) }
        guard request.method == .get || request.method == .head, segments.count >= 4,
              segments[2] == "legacy.tar.gz" || segments[2] == "legacy.zip",
              let repo = state.fixtures.repo(owner: segments[0], name: segments[1]) else {
            return refuse()
        }
        if repo.isPrivate {
            let parts = request.query("token")?.split(separator: ".") ?? []
            guard parts.count == 2, let expires = Int64(parts[0]), Double(expires) > WallClock.now,
                  ConstantTime.equals(Array(parts[1].utf8), Array(Self.signature(state: state, path: request.path, expires: expires).utf8)) else {
                return refuse()
            }
        }
        let zip = segments[2] == "legacy.zip"
        let ref = segments.dropFirst(3).joined(separator: "/")
        guard let sha = await state.fixtures.resolve(repo, ref: ref) else { return refuse() }
        let archive = try await state.fixtures.archive(repo, sha: sha, zip: zip)
        guard let file = OpenFile(path: archive.path) else { throw HTTPError(.internalServerError, "archive vanished") }
        // The open descriptor keeps the bytes; the name can go now.
        unlink(archive.path)
        state.count(zip ? "codeload.zipball" : "codeload.tarball")
        let headers: HTTPFields = [
            "Content-Type": zip ? "application/zip" : "application/x-gzip",
            "Content-Disposition": "attachment; filename=\(archive.prefix).\(zip ? "zip" : "tar.gz")",
            "ETag": "\"\(sha)\"",
            "Cache-Control": "no-cache",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody(file: file.region()))
    }

    private func refuse() -> Response {
        state.count("codeload.refused")
        return Response(status: .notFound, headers: ["Content-Type": "text/plain; charset=utf-8"], body: ResponseBody(string: "404: Not Found"))
    }
}
