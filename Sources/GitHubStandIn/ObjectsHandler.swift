import Pipeline

/// The "objects" listener: release asset bytes behind presigned URLs, like GitHub's S3-backed
/// storage host. A request that carries an `Authorization` header is refused with 400, as S3
/// refuses a second authentication mechanism; an expired or forged signature gets 403.
/// Single ranges are served (206).
struct ObjectsHandler: Middleware {
    let state: StandInState
    static let linkLifetime = 300

    /// The presigned URL the API's asset endpoint redirects to.
    static func presignedURL(state: StandInState, repo: FixtureRepo, asset: FixtureAsset) -> String {
        let date = WallClock.format(WallClock.now).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        let signature = sign(state: state, asset: asset.id, date: date)
        let disposition = PercentEncoding.encodeComponent("attachment; filename=\(asset.name)")
        return state.urls.objects + "/github-production-release-asset-2e65be/\(repo.id)/\(asset.id)"
            + "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=STANDIN%2F\(date.prefix(8))%2Fus-east-1%2Fs3%2Faws4_request"
            + "&X-Amz-Date=\(date)&X-Amz-Expires=\(linkLifetime)&X-Amz-Signature=\(signature)&X-Amz-SignedHeaders=host"
            + "&actor_id=0&key_id=0&repo_id=\(repo.id)&response-content-disposition=\(disposition)"
            + "&response-content-type=application%2Foctet-stream"
    }

    static func sign(state: StandInState, asset: Int, date: String) -> String {
        Hex.encode(HMAC.sha256(key: state.urlKey, data: Array("objects:\(asset):\(date)".utf8)))
    }

    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        state.count("objects")
        if request.headers["Authorization"] != nil {
            state.count("objects.refusedAuthorization")
            return Self.s3Error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                                + "Signature query string parameter or the Authorization header should be specified")
        }
        let segments = request.path.split(separator: "/")
        guard request.method == .get || request.method == .head, segments.count == 3, let id = Int(segments[2]),
              let date = request.query("X-Amz-Date"), let signature = request.query("X-Amz-Signature"),
              ConstantTime.equals(Array(signature.utf8), Array(Self.sign(state: state, asset: id, date: date).utf8)) else {
            state.count("objects.denied")
            return Self.s3Error(403, "AccessDenied", "Access Denied")
        }
        guard let signed = Self.parse(date), signed + Double(Self.linkLifetime) > WallClock.now else {
            state.count("objects.denied")
            return Self.s3Error(403, "AccessDenied", "Request has expired")
        }
        guard let found = state.fixtures.asset(id: id), let file = OpenFile(path: found.asset.path) else {
            return Self.s3Error(404, "NoSuchKey", "The specified key does not exist.")
        }
        state.count("objects.served", "objects.served.\(found.asset.name)")
        if request.headers["Range"] != nil { state.count("objects.ranged") }
        let headers: HTTPFields = [
            "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
            "Content-Disposition": "attachment; filename=\(found.asset.name)",
            "ETag": "\"\(String(found.asset.id, radix: 16))-\(String(file.size, radix: 16))\"",
            "Last-Modified": HTTPDate.format(file.modified),
        ]
        let answer = RepresentationAnswer.decide(request, etag: headers["ETag"], lastModified: file.modified, size: file.size)
        guard answer != .unsatisfiable else {
            var response = Self.s3Error(416, "InvalidRange", "The requested range is not satisfiable")
            response.headers["Content-Range"] = "bytes */\(file.size)"
            return response
        }
        return answer.response(headers: headers, size: file.size) { range in
            guard let range else { return ResponseBody(file: file.region()) }
            return ResponseBody(file: file.region(offset: range.lowerBound, length: range.upperBound - range.lowerBound))
        }
    }

    /// `20240102T030405Z` to seconds since 1970.
    static func parse(_ date: String) -> Double? {
        let c = Array(date)
        guard c.count == 16 else { return nil }
        return WallClock.parse("\(String(c[0..<4]))-\(String(c[4..<6]))-\(String(c[6..<8]))T\(String(c[9..<11])):\(String(c[11..<13])):\(String(c[13..<15]))Z")
    }

    /// S3's XML error document.
    static func s3Error(_ status: Int, _ code: String, _ message: String) -> Response {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>\(code)</Code><Message>\(message)</Message>"
            + "<RequestId>\(SecureRandom.hex(8).uppercased())</RequestId></Error>"
        return Response(status: HTTPStatus(status), headers: ["Content-Type": "application/xml"], body: ResponseBody(string: body))
    }
}
