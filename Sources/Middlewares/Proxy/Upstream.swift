import Pipeline

/// `upstream`: the terminal that fetches. With `url` it is a reverse proxy: the request's path is
/// appended to the URL, hop-by-hop fields are removed, X-Forwarded-For/-Proto/-Host and Via are
/// added, and the client's own Authorization stays here (it was meant for the gateway). Without
/// `url` it fetches the upstream request a behaviour prepared (through the request's own `fetch`
/// when it has one: a GitHub download's API call). Bodies stream both ways; failures
/// become 502 (bad answer) or 504 (timeout) with a short body naming no host or credential. A body
/// that dies midway aborts the client's response instead of ending it cleanly. A `Location` that
/// points into `url` is rewritten to the path the client uses (nginx's `proxy_redirect default`),
/// so such redirects neither name the upstream nor send clients around the gateway; a Location
/// anywhere else (even elsewhere on the upstream's origin) has no client path and passes unchanged.
public struct Upstream: Middleware {
    let base: HTTPURL?
    let client: HTTPClient
    let stripPrefix: String?
    let followRedirects: Bool
    let forwardAuthorization: Bool
    let authorization: Secret?
    let rewriteLocation: Bool
    /// Answers, failures and time to head, labelled with this middleware's JSON pointer.
    let metrics: UpstreamMetrics

    public static let type = MiddlewareType(
        name: "upstream", summary: "Fetches from an upstream (a fixed url, or what a behaviour prepared) and streams it back.",
        phase: .upstream, isTerminal: true,
        options: [
            OptionSpec("url", "string", "base URL to forward to (path is appended); omit after a behaviour"),
            OptionSpec("stripPrefix", "string", "path prefix removed before appending to url (e.g. \"/proxy\")"),
            OptionSpec("caFile", "path", "extra CA certificates (PEM) to trust for https upstreams"),
            OptionSpec("connectTimeout", "duration", "TCP+TLS connect timeout", default: "10s"),
            OptionSpec("firstByteTimeout", "duration", "time to the response head", default: "60s"),
            OptionSpec("idleTimeout", "duration", "longest pause inside a body", default: "60s"),
            OptionSpec("maxConnections", "int", "connections per origin per event loop", default: "64"),
            OptionSpec("followRedirects", "bool", "follow redirects for GET/HEAD in url mode", default: "false"),
            OptionSpec("forwardAuthorization", "bool", "pass the client's Authorization header upstream", default: "false"),
            OptionSpec("authorization", "secret", "Authorization header value sent upstream (or authorizationFile)"),
            OptionSpec("rewriteLocation", "bool", "rewrite a Location into url to the client's path (url mode)", default: "true"),
        ],
        build: { options, context in
            var base: HTTPURL?
            if let text = options.string("url") {
                base = HTTPURL(text)
                if base == nil { options.error("url", HTTPURL.problem(with: text)) }
            }
            var configuration = HTTPClient.Configuration()
            configuration.caFile = options.pemFile("caFile", .caCertificates)
            configuration.connectTimeout = options.duration("connectTimeout", default: configuration.connectTimeout)
            configuration.firstByteTimeout = options.duration("firstByteTimeout", default: configuration.firstByteTimeout)
            configuration.idleTimeout = options.duration("idleTimeout", default: configuration.idleTimeout)
            configuration.maxConnectionsPerOrigin = options.int("maxConnections", default: 64, range: 1...10_000)
            let strip = options.string("stripPrefix")
            if let strip, !strip.hasPrefix("/") { options.error("stripPrefix", "must start with /") }
            let client = try HTTPClient(configuration)
            let metrics = UpstreamMetrics(key: options.pointer.description)
            context.metrics(metrics)
            return Upstream(base: base, client: client, stripPrefix: strip.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 },
                            followRedirects: options.bool("followRedirects", default: false),
                            forwardAuthorization: options.bool("forwardAuthorization", default: false),
                            authorization: options.secret("authorization"),
                            rewriteLocation: options.bool("rewriteLocation", default: true), metrics: metrics)
        })

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        var outgoing = request
        var client = self.client
        var follow = followRedirects
        if let prepared = request.upstream {
            client = prepared.client ?? client
            follow = prepared.followRedirects
        } else if let base {
            var path = request.path
            if let stripPrefix {
                guard path.hasPrefix(stripPrefix) else { throw HTTPError(.notFound, "not found") }
                path = String(path.dropFirst(stripPrefix.count))
            }
            if !path.hasPrefix("/") { path = "/" + path }
            let basePath = base.path.hasSuffix("/") ? String(base.path.dropLast()) : base.path
            outgoing.scheme = base.scheme
            outgoing.authority = base.authority
            outgoing.path = basePath + path
            outgoing.headers = forwardedHeaders(request, context)
        } else {
            throw HTTPError(.badGateway, "no upstream configured for this request")
        }
        let response: ClientResponse
        let started = ContinuousClock.now
        do {
            if let fetch = request.upstream?.fetch {
                response = try await fetch(outgoing, context.deadline)
            } else {
                response = try await client.execute(outgoing, followRedirects: follow, deadline: context.deadline)
            }
        } catch let error as ClientError {
            metrics.failed(UpstreamMetrics.reason(error))
            context.annotate("upstream_error", error.description)
            throw error.isTimeout ? HTTPError(.gatewayTimeout, "upstream timed out") : HTTPError(.badGateway, "upstream unavailable")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // A prepared fetch's own refusal (a GitHub API error): counted, passed on unchanged.
            metrics.failed("other")
            throw error
        }
        metrics.answered(status: response.status.code, after: started.duration(to: .now))
        var headers = response.headers
        headers.removeHopByHop()
        if request.upstream == nil, rewriteLocation, let base, let location = headers["Location"],
           let rewritten = Self.clientLocation(location, base: base, stripPrefix: stripPrefix) {
            headers["Location"] = rewritten
        }
        let upstreamBody = response.body
        var body: ResponseBody
        if request.method == .head || !response.status.allowsContent {
            // No body follows; the upstream's Content-Length still describes the representation.
            body = ResponseBody(content: .empty, length: nil)
        } else {
            // Spliced socket to socket when both are plain (IncomingBody.relay), copied otherwise.
            let metrics = self.metrics
            body = ResponseBody(length: upstreamBody.length) { writer in
                do {
                    try await upstreamBody.relay(to: writer)
                } catch let error as ClientError {
                    metrics.failed("body")
                    throw error
                }
            }
            headers.remove("Content-Length")
        }
        if request.method != .head, response.status.allowsContent, upstreamBody.isEmpty { body = .empty }
        return Response(status: response.status, headers: headers, body: body)
    }

    /// `location` as the client should see it when it points into `base` (absolute with the same
    /// origin, or an absolute path): the part after `base`'s path behind `stripPrefix`, as an
    /// absolute path. nil when it points elsewhere (kept as it is).
    static func clientLocation(_ location: String, base: HTTPURL, stripPrefix: String?) -> String? {
        let target: String
        if location.hasPrefix("/"), !location.hasPrefix("//") {
            target = location
        } else if let url = HTTPURL(location), url.scheme == base.scheme, url.host == base.host, url.port == base.port {
            target = url.path + (url.query.map { "?" + $0 } ?? "")
        } else {
            return nil
        }
        let basePath = base.path.hasSuffix("/") ? String(base.path.dropLast()) : base.path
        guard target.hasPrefix(basePath) else { return nil }
        let rest = target.dropFirst(basePath.count)
        // "/base" matches "/base", "/base/..." and "/base?...", never "/baseball".
        guard rest.isEmpty || rest.hasPrefix("/") || rest.hasPrefix("?") else { return nil }
        let path = (stripPrefix ?? "") + rest
        return path.hasPrefix("/") ? path : "/" + path
    }

    func forwardedHeaders(_ request: Request, _ context: Context) -> HTTPFields {
        var headers = request.headers
        headers.removeHopByHop()
        headers.remove("Host")
        if !forwardAuthorization { headers.remove("Authorization") }
        if let authorization { headers["Authorization"] = authorization.value }
        // Only a trusted proxy's X-Forwarded-For is extended; anyone else's is replaced.
        let prior = context.peerIsTrustedProxy ? headers["X-Forwarded-For"] : nil
        headers["X-Forwarded-For"] = prior.map { "\($0), \(context.clientAddress)" } ?? context.clientAddress
        headers["X-Forwarded-Proto"] = context.scheme(of: request)
        if !request.authority.isEmpty { headers["X-Forwarded-Host"] = request.authority }
        let via = "\(request.version == .http2 ? "2" : request.version == .http1_0 ? "1.0" : "1.1") gateway"
        headers["Via"] = headers["Via"].map { "\($0), \(via)" } ?? via
        return headers
    }
}
