// libFuzzer entry for the PROXY protocol header parser (Sources/Pipeline/Server/ProxyHeader.swift),
// built by `make fuzz` from this file and the parser's own sources (scripts/fuzz.sh lists them).
//
// Besides "never crash", it checks what a reader taking the header off a socket relies on:
// - the verdict on a prefix never changes as more bytes arrive (a length, once known, stays the
//   same; a refusal stays a refusal), so peeking and reading again is safe;
// - a v1 header is never longer than 107 bytes, a v2 one never shorter than 16;
// - a header parses only from exactly the bytes its length names.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var verdict: Verdict?
    for cut in 0...min(size, 300) {
        let now = Verdict(UnsafeRawBufferPointer(rebasing: bytes[..<cut]))
        if let earlier = verdict, earlier != .needMore {
            precondition(now == earlier, "prefix of \(cut) bytes: \(now), a shorter one said \(earlier)")
        }
        verdict = now
    }
    guard case .length(let length)? = verdict else { return 0 }
    precondition(length >= 8, "a header of \(length) bytes")
    if bytes.first == 0x50 { precondition(length <= ProxyHeaderParser.maxV1Length, "a v1 header of \(length) bytes") }
    if bytes.first == 0x0D { precondition(length >= ProxyHeaderParser.v2PrefixLength, "a v2 header of \(length) bytes") }
    guard length <= size else { return 0 }
    let header = UnsafeRawBufferPointer(rebasing: bytes[..<length])
    if let parsed = try? ProxyHeaderParser.parse(header) {
        precondition(parsed.version == (bytes.first == 0x50 ? .v1 : .v2))
        if length < size { precondition((try? ProxyHeaderParser.parse(UnsafeRawBufferPointer(rebasing: bytes[..<(length + 1)]))) == nil) }
    }
    return 0
}

private enum Verdict: Equatable {
    case needMore, length(Int), refused

    init(_ bytes: UnsafeRawBufferPointer) {
        do {
            self = try ProxyHeaderParser.headerLength(bytes).map(Verdict.length) ?? .needMore
        } catch {
            self = .refused
        }
    }
}
