// libFuzzer entry for the HTTP/1.1 request-head parser and the chunked body decoder.
// Built by `make fuzz` from this file plus the parser's own sources (scripts/fuzz.sh lists them),
// without the event loop, so the fuzzer exercises exactly the code that reads untrusted bytes.
//
// Besides "never crash", it checks properties that a smuggling bug would break:
// - a head is never reported from a prefix shorter than the bytes it says it consumed;
// - pipelined heads each consume at least one byte and never more than is there;
// - the chunked decoder gives the same bytes and the same end whether the input arrives whole
//   or split into pieces (as it does from a socket).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard size > 0 else { return 0 }
    // The first byte picks the split points, the rest is the input.
    let selector = Int(input[0])
    let bytes = UnsafeRawBufferPointer(rebasing: input[1...])
    checkHeads(bytes, parser: HTTP1Parser())
    var small = HTTPLimits()
    small.maxHeaderBytes = 256
    small.maxHeaderCount = 6
    small.maxURIBytes = 48
    checkHeads(bytes, parser: HTTP1Parser(limits: small))
    checkChunked(bytes, piece: 1 + selector % 7)
    return 0
}

private func checkHeads(_ bytes: UnsafeRawBufferPointer, parser: HTTP1Parser) {
    var offset = 0
    var heads = 0
    while offset < bytes.count, heads < 16 {
        let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
        guard case .head(let head, let consumed)? = try? parser.parse(rest) else { return }
        precondition(consumed > 0 && consumed <= rest.count, "consumed \(consumed) of \(rest.count)")
        precondition(head.target.utf8.count <= parser.limits.maxURIBytes, "target longer than the limit")
        // No shorter prefix may already be a complete head.
        let prefix = UnsafeRawBufferPointer(rebasing: rest[..<(consumed - 1)])
        if case .head? = try? parser.parse(prefix) {
            preconditionFailure("a prefix of \(consumed - 1) bytes parsed as a head of \(consumed)")
        }
        offset += consumed
        heads += 1
    }
}

private struct ChunkedOutcome: Equatable {
    var body: [UInt8] = []
    var ended = false
    var failed = false
    var consumed = 0
}

/// Decodes `bytes` fed `piece` bytes at a time, keeping unconsumed bytes as the body reader does.
private func decodeChunked(_ bytes: UnsafeRawBufferPointer, piece: Int) -> ChunkedOutcome {
    var decoder = ChunkedDecoder(lineLimit: 64)
    var outcome = ChunkedOutcome()
    var buffer: [UInt8] = []
    var fed = 0
    while true {
        let more = min(piece, bytes.count - fed)
        buffer += UnsafeRawBufferPointer(rebasing: bytes[fed..<(fed + more)])
        fed += more
        while !buffer.isEmpty {
            let result: (consumed: Int, event: ChunkedDecoder.Event?)
            do {
                result = try buffer.withUnsafeBytes { try decoder.decode($0) }
            } catch {
                outcome.failed = true
                return outcome
            }
            precondition(result.consumed <= buffer.count)
            switch result.event {
            case .data(let range):
                precondition(range.lowerBound >= 0 && range.upperBound <= result.consumed)
                outcome.body += buffer[range]
            case .end:
                outcome.ended = true
                outcome.consumed += result.consumed
                return outcome
            case nil:
                break
            }
            outcome.consumed += result.consumed
            buffer.removeFirst(result.consumed)
            if result.event == nil { break }
        }
        if fed == bytes.count { return outcome }
    }
}

private func checkChunked(_ bytes: UnsafeRawBufferPointer, piece: Int) {
    let whole = decodeChunked(bytes, piece: max(bytes.count, 1))
    let split = decodeChunked(bytes, piece: piece)
    precondition(whole.failed == split.failed && whole.ended == split.ended,
                 "whole: ended \(whole.ended) failed \(whole.failed); split by \(piece): ended \(split.ended) failed \(split.failed)")
    if !whole.failed {
        precondition(whole.body == split.body, "body differs when split by \(piece)")
        if whole.ended { precondition(whole.consumed == split.consumed, "end found at different offsets") }
    }
}
