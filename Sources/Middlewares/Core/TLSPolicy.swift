import Pipeline

/// `tls`: requires https. Plain requests are refused (403) or redirected (308) to https.
/// `X-Forwarded-Proto` counts only from addresses the listener or this middleware trusts, so a
/// client cannot claim https by sending the header itself. Optionally adds HSTS.
public struct TLSPolicy: Middleware {
    let require: Bool
    let redirect: Bool
    let httpsPort: Int?
    let hsts: String?
    let trusted: [CIDR]

    public static let type = MiddlewareType(
        name: "tls", summary: "Requires https: refuses or redirects plain requests; optional HSTS.", phase: .transport,
        options: [
            OptionSpec("require", "bool", "refuse plain-http requests", default: "true"),
            OptionSpec("redirect", "bool", "redirect plain requests to https (308) instead of refusing them", default: "false"),
            OptionSpec("httpsPort", "int", "port for redirect URLs", default: "443"),
            OptionSpec("hsts", "duration", "send Strict-Transport-Security with this max-age on https responses"),
            OptionSpec("hstsIncludeSubdomains", "bool", "add includeSubDomains to HSTS", default: "false"),
            OptionSpec("trustForwardedFrom", "[string]", "proxies (addresses or CIDR) whose X-Forwarded-Proto is believed"),
        ],
        build: { options, _ in
            var trusted: [CIDR] = []
            for text in options.strings("trustForwardedFrom") {
                if let cidr = CIDR(text) { trusted.append(cidr) } else { options.error("trustForwardedFrom", "\"\(text)\" is not an address or CIDR range") }
            }
            var hsts: String?
            if let age = options.duration("hsts") {
                hsts = "max-age=\(Int(age.seconds))" + (options.bool("hstsIncludeSubdomains", default: false) ? "; includeSubDomains" : "")
            }
            return TLSPolicy(require: options.bool("require", default: true), redirect: options.bool("redirect", default: false),
                             httpsPort: options.int("httpsPort", range: 1...65535), hsts: hsts, trusted: trusted)
        })

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        if isHTTPS(request, context) {
            var response = try await next(request, context)
            if let hsts { response.headers["Strict-Transport-Security"] = hsts }
            return response
        }
        guard require else { return try await next(request, context) }
        guard redirect, !request.authority.isEmpty else { throw HTTPError(.forbidden, "https required") }
        var host = request.host
        if host.contains(":") { host = "[\(host)]" }
        if let httpsPort, httpsPort != 443 { host += ":\(httpsPort)" }
        return Response(status: .permanentRedirect, headers: ["Location": "https://\(host)\(request.target)"], body: .empty)
    }

    func isHTTPS(_ request: Request, _ context: Context) -> Bool {
        if context.scheme(of: request) == "https" { return true }
        guard !trusted.isEmpty, let peer = SocketAddress(ip: context.clientAddress, port: 0), trusted.contains(where: { $0.contains(peer) }),
              let proto = request.headers["X-Forwarded-Proto"]?.split(separator: ",").first else { return false }
        return proto.trimmingASCIIWhitespace().lowercasedASCII() == "https"
    }
}
