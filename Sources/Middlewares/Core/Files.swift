import Pipeline

/// `files`: serves a directory. ETag and Last-Modified with 304, a single Range with 206/416,
/// HEAD, Content-Type by extension, index files. Paths are resolved by the kernel beneath the
/// root (openat2 RESOLVE_BENEATH), so `..`, encoded `%2e%2e`, absolute paths and symlinks that
/// leave the root are all refused, whatever form they arrive in. Small files stay open per loop
/// between requests (`OpenFileCache`: checked with fstat on every request, opened again by path
/// after a second).
public struct Files: Middleware {
    let root: DirectoryHandle
    let openFiles: OpenFileCache
    let index: [String]
    let stripPrefix: String?
    let cacheControl: String?

    public static let type = MiddlewareType(
        name: "files", summary: "Serves a directory with ETag/304, Range/206 and traversal-safe paths.",
        phase: .behaviour, isTerminal: true,
        options: [
            OptionSpec("root", "path", "directory to serve (relative paths are relative to pipeline.json)", required: true),
            OptionSpec("index", "[string]", "files tried for a directory request", default: "[\"index.html\"]"),
            OptionSpec("stripPrefix", "string", "path prefix removed before looking up the file (e.g. \"/static\")"),
            OptionSpec("cacheControl", "string", "Cache-Control value for every file (e.g. \"max-age=300\")"),
            OptionSpec("openFiles", "integer", "small files (up to 256 KiB) kept open per loop between requests; 0 opens every file per request", default: "64"),
        ],
        build: { options, _ in
            let path = options.path("root", required: true) ?? ""
            var index = options.strings("index")
            if !options.has("index") { index = ["index.html"] }
            let strip = options.string("stripPrefix")
            if let strip, !strip.hasPrefix("/") { options.error("stripPrefix", "must start with /") }
            let openFiles = options.int("openFiles", default: 64, range: 0...65_536)
            guard !path.isEmpty else { return Files(root: DirectoryHandle.invalid, index: [], stripPrefix: nil, cacheControl: nil) }
            let root: DirectoryHandle
            do throws(SystemError) {
                root = try DirectoryHandle(path: path)
            } catch {
                throw ConfigError("cannot open directory \"\(path)\": \(error.reason)", at: options.pointer.appending("root"))
            }
            return Files(root: root, index: index, stripPrefix: strip.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 },
                         cacheControl: options.string("cacheControl"), openFiles: openFiles)
        })

    public init(root: DirectoryHandle, index: [String] = ["index.html"], stripPrefix: String? = nil, cacheControl: String? = nil,
                openFiles: Int = 64) {
        self.root = root
        self.openFiles = OpenFileCache(root: root, capacity: openFiles)
        self.index = index
        self.stripPrefix = stripPrefix
        self.cacheControl = cacheControl
    }

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            throw HTTPError(.methodNotAllowed, "only GET and HEAD", headers: ["Allow": "GET, HEAD"])
        }
        var path = request.path
        if let stripPrefix {
            guard path.hasPrefix(stripPrefix) else { throw HTTPError(.notFound, "not found") }
            path = String(path.dropFirst(stripPrefix.count))
            if path.isEmpty { path = "/" }
        }
        guard let decoded = PercentEncoding.decode(path) else { throw HTTPError(.badRequest, "invalid path") }
        let relative: String
        let name: Substring
        if Self.isCleanFilePath(decoded) {
            // The common case, a clean path: no segment to drop or refuse.
            relative = String(decoded.dropFirst())
            // By bytes: a Character search over the path showed in profiles of small files.
            name = relative[(relative.utf8.lastIndex(of: UInt8(ascii: "/")).map(relative.utf8.index(after:)) ?? relative.startIndex)...]
        } else {
            var segments: [Substring] = []
            for segment in decoded.split(separator: "/", omittingEmptySubsequences: true) {
                if segment == "." { continue }
                if segment == ".." { throw HTTPError(.badRequest, "invalid path") }
                segments.append(segment)
            }
            relative = segments.isEmpty ? "." : segments.joined(separator: "/")
            name = segments.last ?? ""
        }
        switch openFiles.open(relative) {
        case .file(let file):
            return respond(with: file, name: String(name), request: request)
        case .directory:
            guard decoded.hasSuffix("/") else {
                // One leading slash: "//docs/" would be a protocol-relative URL to the host "docs".
                var location = "/" + request.path.drop { $0 == "/" } + "/"
                if let query = request.query { location += "?" + query }
                return Response(status: .movedPermanently, headers: ["Location": location], body: .empty)
            }
            for name in index {
                if case .file(let file) = openFiles.open(relative == "." ? name : relative + "/" + name) {
                    return respond(with: file, name: name, request: request)
                }
            }
            throw HTTPError(.notFound, "not found")
        case .forbidden:
            throw HTTPError(.forbidden, "forbidden")
        case .missing:
            throw HTTPError(.notFound, "not found")
        }
    }

    /// `/a/b.txt`: starts with a slash, no empty, `.` or `..` segment (nor any starting with a dot)
    /// and no trailing slash, so it can be opened as it is.
    static func isCleanFilePath(_ path: String) -> Bool {
        var previous: UInt8 = 0
        var count = 0
        for byte in path.utf8 {
            if count == 0, byte != UInt8(ascii: "/") { return false }
            if previous == UInt8(ascii: "/"), byte == UInt8(ascii: "/") || byte == UInt8(ascii: ".") { return false }
            previous = byte
            count += 1
        }
        return count > 1 && previous != UInt8(ascii: "/")
    }

    /// `"<mtime hex>-<size hex>"`, written digit by digit: every file response carries one.
    static func etag(modified: Int64, size: Int64) -> String {
        guard modified >= 0, size >= 0 else { return "\"" + String(modified, radix: 16) + "-" + String(size, radix: 16) + "\"" }
        func hexDigits(_ value: Int64) -> Int { max(1, (64 - value.leadingZeroBitCount + 3) / 4) }
        let modifiedDigits = hexDigits(modified), sizeDigits = hexDigits(size)
        return String(unsafeUninitializedCapacity: modifiedDigits + sizeDigits + 3) { out in
            func put(_ value: Int64, _ count: Int, at start: Int) {
                for k in 0..<count {
                    let digit = UInt8((value >> Int64(4 * (count - 1 - k))) & 0xF)
                    out[start + k] = digit < 10 ? 0x30 + digit : 0x57 + digit
                }
            }
            out[0] = 0x22
            put(modified, modifiedDigits, at: 1)
            out[1 + modifiedDigits] = 0x2D
            put(size, sizeDigits, at: 2 + modifiedDigits)
            out[2 + modifiedDigits + sizeDigits] = 0x22
            return modifiedDigits + sizeDigits + 3
        }
    }

    func respond(with file: OpenFile, name: String, request: Request) -> Response {
        let etag = Self.etag(modified: file.modified, size: file.size)
        var headers = HTTPFields()
        headers.reserveCapacity(cacheControl == nil ? 5 : 6)
        headers.append("Content-Type", MediaTypes.forFile(name))
        headers.append("Last-Modified", HTTPDate.format(file.modified))
        headers.append("ETag", etag)
        headers.append("Accept-Ranges", "bytes")
        if let cacheControl { headers.append("Cache-Control", cacheControl) }
        let answer = RepresentationAnswer.decide(request, etag: etag, lastModified: file.modified, size: file.size)
        return answer.response(headers: headers, size: file.size) { range in
            guard let range else { return ResponseBody(file: file.region()) }
            return ResponseBody(file: file.region(offset: range.lowerBound, length: range.upperBound - range.lowerBound))
        }
    }
}
