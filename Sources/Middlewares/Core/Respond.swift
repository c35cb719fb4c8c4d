import Pipeline

/// `respond`: answers every request with a fixed status, headers and body.
public struct Respond: Middleware {
    let status: HTTPStatus
    let headers: HTTPFields
    let body: [UInt8]

    public static let type = MiddlewareType(
        name: "respond", summary: "Answers with a fixed status, headers and body.", phase: .behaviour, isTerminal: true,
        options: [
            OptionSpec("status", "int", "status code", default: "200"),
            OptionSpec("headers", "object", "header names to values"),
            OptionSpec("body", "string", "response body text"),
            OptionSpec("json", "any", "a JSON value sent as the body with Content-Type application/json"),
        ],
        build: { options, _ in
            let status = options.int("status", default: 200, range: 200...599)
            var headers = HTTPFields()
            for (name, value, pointer) in options.map("headers") {
                guard case .string(let text) = value else {
                    options.diagnostics.error(pointer, "expected a string, got \(value.typeName)")
                    continue
                }
                headers.append(name, text)
            }
            var body = Array((options.string("body") ?? "").utf8)
            if let json = options.raw("json") {
                if options.has("body") { options.error("json", "give either \"body\" or \"json\", not both") }
                body = Array(json.serialized().utf8)
                if headers["Content-Type"] == nil { headers["Content-Type"] = "application/json" }
            } else if headers["Content-Type"] == nil, !body.isEmpty {
                headers["Content-Type"] = "text/plain; charset=utf-8"
            }
            return Respond(status: HTTPStatus(status), headers: headers, body: body)
        })

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        Response(status: status, headers: headers, body: ResponseBody(bytes: body))
    }
}
