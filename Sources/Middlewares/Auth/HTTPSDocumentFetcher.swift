import Pipeline

/// Fetches an OpenID provider's discovery and JWKS documents with the upstream client: https
/// only, no redirects (a redirect could leave https or the issuer's host), status 200, at most
/// 256 KiB, JSON.
struct HTTPSDocumentFetcher: OIDCDocumentFetcher {
    static let maxBytes = 256 * 1024
    let client: HTTPClient

    func fetchJSON(_ url: String) async throws -> JSONValue {
        guard url.hasPrefix("https://"), let request = Request(url: url, headers: ["Accept": "application/json"]) else {
            throw FetchError("not an https URL: \(url)")
        }
        let response = try await client.execute(request, followRedirects: false)
        guard response.status == .ok else {
            _ = try? await response.body.collect(upTo: 16 * 1024)
            throw FetchError("\(url) answered \(response.status.code)")
        }
        let body = try await response.body.collect(upTo: Self.maxBytes)
        do {
            return try JSONParser.parse(body)
        } catch {
            throw FetchError("\(url) sent invalid JSON: \(error)")
        }
    }
}

/// Why a provider document could not be had (logged; never sent to clients).
struct FetchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
