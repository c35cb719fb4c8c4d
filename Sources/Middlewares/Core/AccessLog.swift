import Pipeline

/// `log`: one JSON line per request once its response is written: time, request id, client,
/// method, path (no query: signed URLs carry credentials there), status, bytes, duration, stack,
/// protocol, TLS version, identity and what other middlewares annotated. No headers, no secrets.
public struct AccessLog: Middleware {
    let output: LineWriter

    public static let type = MiddlewareType(
        name: "log", summary: "Writes one JSON access-log line per request.", phase: .observe,
        options: [OptionSpec("output", "string", "\"stdout\", \"stderr\" or a file path (appended to)", default: "stdout")],
        build: { options, _ in
            let target = options.string("output") ?? "stdout"
            switch target {
            case "stdout": return AccessLog(output: .standardOutput)
            case "stderr": return AccessLog(output: .standardError)
            default:
                let path = options.environment.resolve(path: target)
                if options.environment.checkOnly {
                    if let problem = ConfigEnvironment.unwritable(path, directory: false) {
                        throw ConfigError("cannot open log file \"\(path)\": \(problem)", at: options.pointer.appending("output"))
                    }
                    return AccessLog(output: .standardError)
                }
                do throws(SystemError) {
                    return AccessLog(output: try LineWriter(appendingTo: path))
                } catch {
                    throw ConfigError("cannot open log file \"\(path)\": \(error.reason)", at: options.pointer.appending("output"))
                }
            }
        })

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        let method = request.method.rawValue, path = request.path
        let output = self.output
        context.onComplete { completion in
            output.write(Self.line(context: context, method: method, path: path, completion: completion))
        }
        return try await next(request, context)
    }

    static func line(context: Context, method: String, path: String, completion: Completion) -> String {
        var line = "{\"time\":\"" + Log.timestamp() + "\",\"id\":\"" + context.requestID + "\",\"client\":"
        JSONValue.quote(context.clientAddress, into: &line)
        line += ",\"method\":"
        JSONValue.quote(method, into: &line)
        line += ",\"path\":"
        JSONValue.quote(path, into: &line)
        line += ",\"status\":\(completion.status),\"bytes\":\(completion.bytes)"
        let millis = Double(completion.duration.components.attoseconds) / 1e15 + Double(completion.duration.components.seconds) * 1000
        line += ",\"duration_ms\":\((millis * 1000).rounded() / 1000)"
        line += ",\"stack\":"
        JSONValue.quote(context.stack, into: &line)
        line += ",\"protocol\":\"\(context.version.rawValue)\""
        if let tls = context.tlsVersion { line += ",\"tls\":\"\(tls)\"" }
        if completion.aborted { line += ",\"aborted\":true" }
        if let identity = context.identity {
            line += ",\"user\":"
            JSONValue.quote(identity.subject, into: &line)
            line += ",\"auth\":"
            JSONValue.quote(identity.method, into: &line)
            for (key, value) in identity.claims.sorted(by: { $0.key < $1.key }) {
                line += ","
                JSONValue.quote("claim." + key, into: &line)
                line += ":"
                JSONValue.quote(value, into: &line)
            }
        }
        for (key, value) in context.annotations {
            line += ","
            JSONValue.quote(key, into: &line)
            line += ":"
            JSONValue.quote(value, into: &line)
        }
        return line + "}\n"
    }
}
