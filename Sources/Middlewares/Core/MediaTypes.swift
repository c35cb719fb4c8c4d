/// Content-Type by file extension, for `files` and the directory source.
public enum MediaTypes {
    static let table: [String: String] = [
        "json": "application/json", "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8",
        "css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
        "txt": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8", "csv": "text/csv; charset=utf-8",
        "xml": "application/xml", "svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
        "gif": "image/gif", "webp": "image/webp", "ico": "image/x-icon", "wasm": "application/wasm", "pdf": "application/pdf",
        "zip": "application/zip", "gz": "application/gzip", "tgz": "application/gzip", "tar": "application/x-tar",
        "xz": "application/x-xz", "zst": "application/zstd", "bz2": "application/x-bzip2",
        "deb": "application/vnd.debian.binary-package", "asc": "text/plain; charset=utf-8", "sig": "application/pgp-signature",
        "gpg": "application/pgp-keys", "pem": "application/x-pem-file", "yaml": "application/yaml", "yml": "application/yaml",
        "toml": "application/toml", "tf": "text/plain; charset=utf-8", "sh": "text/x-shellscript; charset=utf-8",
    ]

    /// The media type for `name`, `application/octet-stream` when the extension is unknown.
    public static func forFile(_ name: some StringProtocol) -> String {
        // The last dot found by bytes, not Characters: this runs for every file response.
        let name = String(name)
        let utf8 = name.utf8
        guard let dot = utf8.lastIndex(of: UInt8(ascii: ".")), utf8.index(after: dot) != utf8.endIndex else {
            return "application/octet-stream"
        }
        let ext = name[utf8.index(after: dot)...]
        if let known = table[String(ext)] { return known }
        return table[ext.lowercased()] ?? "application/octet-stream"
    }
}
