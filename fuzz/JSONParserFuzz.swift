// libFuzzer entry for the strict JSON parser that reads pipeline.json (and JWT/JWKS documents).
// Built by `make fuzz` from this file plus Sources/Pipeline/JSON (scripts/fuzz.sh lists them).
//
// Besides "never crash" (deep nesting stops at the depth limit, not the stack), it checks that
// whatever parses serializes to text that parses back to the same value.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONParser.parse(bytes) else { return 0 }
    let text = value.serialized()
    guard let again = try? JSONParser.parse(text) else {
        preconditionFailure("serialized form does not parse: \(text)")
    }
    precondition(again == value, "round trip changed the value: \(text)")
    _ = value.prettySerialized()
    return 0
}
