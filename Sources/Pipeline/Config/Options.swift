/// Reads one config object for a builder, recording every problem in `Diagnostics` with its
/// JSON pointer instead of stopping. Missing required values come back as nil (or a default) and
/// the build is discarded afterwards if any error was recorded.
///
/// ```swift
/// let url = options.string("url", required: true)
/// let ttl = options.duration("ttl")
/// let memory = options.size("memory", default: 64 << 20)
/// ```
public final class Options: @unchecked Sendable {
    // Used by one builder on one thread during a load.
    public let pointer: JSONPointer
    public let object: JSONObject
    public let diagnostics: Diagnostics
    public let environment: ConfigEnvironment

    /// Reads `object`, reporting keys outside `allowed` (and `type`) as unknown.
    public init(_ object: JSONObject, at pointer: JSONPointer, allowed: [String], diagnostics: Diagnostics,
                environment: ConfigEnvironment) {
        self.object = object
        self.pointer = pointer
        self.diagnostics = diagnostics
        self.environment = environment
        for key in object.keys where key != "type" && !allowed.contains(key) {
            diagnostics.error(pointer.appending(key), "unknown option \"\(key)\"" + DidYouMean.hint(for: key, among: allowed))
        }
    }

    public func has(_ key: String) -> Bool { object[key] != nil }

    /// Records an error about `key` (or the object itself).
    public func error(_ key: String?, _ message: String) {
        diagnostics.error(key.map { pointer.appending($0) } ?? pointer, message)
    }

    public func warning(_ key: String?, _ message: String) {
        diagnostics.warning(key.map { pointer.appending($0) } ?? pointer, message)
    }

    public func raw(_ key: String) -> JSONValue? { object[key] }

    private func expanded(_ text: String, at key: String) -> String {
        let (value, missing) = environment.expand(text)
        for name in missing { error(key, "environment variable \(name) is not set") }
        return value
    }

    private func typeError(_ key: String, expected: String, got value: JSONValue) {
        error(key, "expected \(expected), got \(value.typeName)")
    }

    public func string(_ key: String, required: Bool = false) -> String? {
        guard let value = object[key] else {
            if required { error(key, "required") }
            return nil
        }
        guard case .string(let text) = value else {
            typeError(key, expected: "a string", got: value)
            return nil
        }
        let result = expanded(text, at: key)
        if required, result.isEmpty { error(key, "must not be empty") }
        return result
    }

    public func string(_ key: String, default fallback: String) -> String { string(key) ?? fallback }

    /// A string that must be one of `choices`.
    public func choice(_ key: String, _ choices: [String], default fallback: String? = nil) -> String? {
        guard let value = string(key, required: fallback == nil) else { return fallback }
        guard choices.contains(value) else {
            error(key, "must be one of \(choices.map { "\"\($0)\"" }.joined(separator: ", "))" + DidYouMean.hint(for: value, among: choices))
            return fallback
        }
        return value
    }

    public func bool(_ key: String, default fallback: Bool) -> Bool {
        guard let value = object[key] else { return fallback }
        guard case .bool(let flag) = value else {
            typeError(key, expected: "true or false", got: value)
            return fallback
        }
        return flag
    }

    /// An integer, from a number or a string (so `${ENV}` can supply it).
    public func int(_ key: String, required: Bool = false, range: ClosedRange<Int>? = nil) -> Int? {
        guard let value = object[key] else {
            if required { error(key, "required") }
            return nil
        }
        var number: Int?
        switch value {
        case .number: number = value.int
        case .string(let text): number = Int(expanded(text, at: key))
        default: break
        }
        guard let number else {
            typeError(key, expected: "an integer", got: value)
            return nil
        }
        if let range, !range.contains(number) {
            error(key, "must be between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return number
    }

    public func int(_ key: String, default fallback: Int, range: ClosedRange<Int>? = nil) -> Int {
        int(key, range: range) ?? fallback
    }

    /// A byte size: a number of bytes or a string such as `"128MiB"`.
    public func size(_ key: String, default fallback: Int) -> Int {
        guard let value = object[key] else { return fallback }
        switch value {
        case .number:
            if let n = value.int, n >= 0 { return n }
        case .string(let text):
            if let n = Units.size(expanded(text, at: key)) { return n }
        default: break
        }
        error(key, "expected a size such as 65536, \"64KiB\" or \"20GiB\"")
        return fallback
    }

    /// A duration: seconds as a number, or a string such as `"250ms"`, `"30s"`, `"5m"`, `"1h"`.
    public func duration(_ key: String, default fallback: Duration) -> Duration {
        duration(key) ?? fallback
    }

    public func duration(_ key: String) -> Duration? {
        guard let value = object[key] else { return nil }
        switch value {
        case .number(let n) where n >= 0:
            return .milliseconds(Int64(n * 1000))
        case .string(let text):
            if let d = Units.duration(expanded(text, at: key)) { return d }
        default: break
        }
        error(key, "expected a duration such as 30, \"250ms\", \"30s\", \"5m\" or \"1h\"")
        return nil
    }

    /// A list of strings; a single string counts as a list of one.
    public func strings(_ key: String, required: Bool = false) -> [String] {
        guard let value = object[key] else {
            if required { error(key, "required") }
            return []
        }
        switch value {
        case .string(let text):
            return [expanded(text, at: key)]
        case .array(let items):
            var result: [String] = []
            for (i, item) in items.enumerated() {
                guard case .string(let text) = item else {
                    diagnostics.error(pointer.appending(key).appending(i), "expected a string, got \(item.typeName)")
                    continue
                }
                result.append(expanded(text, at: key))
            }
            return result
        default:
            typeError(key, expected: "a string or a list of strings", got: value)
            return []
        }
    }

    /// A file path, made absolute against the config's directory.
    public func path(_ key: String, required: Bool = false) -> String? {
        string(key, required: required).map(environment.resolve(path:))
    }

    /// A path to a PEM file that must be readable and hold `kind` (nil, with the reason recorded, when not).
    public func pemFile(_ key: String, _ kind: PEMFile.Kind, required: Bool = false) -> String? {
        guard let file = path(key, required: required) else { return nil }
        if let problem = PEMFile.problem(file, kind) {
            error(key, problem)
            return nil
        }
        return file
    }

    /// A secret given inline as `key` or read from the file named by `keyFile` (trailing newline trimmed).
    /// Exactly one of the two may be present.
    public func secret(_ key: String, required: Bool = false) -> Secret? {
        let fileKey = key + "File"
        switch (has(key), has(fileKey)) {
        case (true, true):
            error(fileKey, "give either \"\(key)\" or \"\(fileKey)\", not both")
            return nil
        case (true, false):
            return string(key, required: true).map(Secret.init)
        case (false, true):
            guard let path = string(fileKey, required: true) else { return nil }
            do {
                var bytes = try environment.readFile(path, limit: 1 << 20)
                while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    error(fileKey, "file is not UTF-8 text")
                    return nil
                }
                return Secret(text)
            } catch {
                self.error(fileKey, "\(error)")
                return nil
            }
        case (false, false):
            if required { error(key, "required (or \"\(fileKey)\")") }
            return nil
        }
    }

    /// A nested object read with its own allowed keys.
    public func object(_ key: String, allowed: [String], required: Bool = false) -> Options? {
        guard let value = object[key] else {
            if required { error(key, "required") }
            return nil
        }
        guard case .object(let nested) = value else {
            typeError(key, expected: "an object", got: value)
            return nil
        }
        return Options(nested, at: pointer.appending(key), allowed: allowed, diagnostics: diagnostics, environment: environment)
    }

    /// A list of objects (a single object counts as a list of one).
    public func objects(_ key: String, allowed: [String], required: Bool = false) -> [Options] {
        guard let value = object[key] else {
            if required { error(key, "required") }
            return []
        }
        switch value {
        case .object(let nested):
            return [Options(nested, at: pointer.appending(key), allowed: allowed, diagnostics: diagnostics, environment: environment)]
        case .array(let items):
            return items.enumerated().compactMap { i, item in
                guard case .object(let nested) = item else {
                    diagnostics.error(pointer.appending(key).appending(i), "expected an object, got \(item.typeName)")
                    return nil
                }
                return Options(nested, at: pointer.appending(key).appending(i), allowed: allowed, diagnostics: diagnostics,
                               environment: environment)
            }
        default:
            typeError(key, expected: "an object or a list of objects", got: value)
            return []
        }
    }

    /// An object whose keys are free-form names (e.g. a map of token names to hashes).
    public func map(_ key: String) -> [(name: String, value: JSONValue, pointer: JSONPointer)] {
        guard let value = object[key] else { return [] }
        guard case .object(let nested) = value else {
            typeError(key, expected: "an object", got: value)
            return []
        }
        return nested.map { ($0.key, $0.value, pointer.appending(key).appending($0.key)) }
    }
}
