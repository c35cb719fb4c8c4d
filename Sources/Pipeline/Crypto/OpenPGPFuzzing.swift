/// The entry point for fuzzing the OpenPGP readers: arbitrary bytes go through every way the
/// gateway reads OpenPGP input (armor, packets, keys, secret keys, signatures, embedded
/// signatures). It must return for any input, never trap or hang; what it returns is how many
/// of those readers accepted the input, so a harness can keep inputs that reach deeper.
///
/// ```swift
/// @_cdecl("LLVMFuzzerTestOneInput")
/// func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
///     _ = OpenPGPFuzzing.parse(Array(UnsafeBufferPointer(start: data, count: size)))
///     return 0
/// }
/// ```
public enum OpenPGPFuzzing {
    @discardableResult
    public static func parse(_ data: [UInt8]) -> Int {
        var accepted = 0
        func attempt(_ body: () throws -> Void) {
            if (try? body()) != nil { accepted += 1 }
        }
        var binaries = [data]
        attempt { binaries += try OpenPGPArmor.decode(String(decoding: data, as: UTF8.self)).map(\.bytes) }
        for bytes in binaries {
            attempt {
                for packet in try OpenPGPPacket.parse(bytes) {
                    switch packet.knownTag {
                    case .signature:
                        attempt {
                            let signature = try OpenPGPSignaturePacket(body: packet.body)
                            for embedded in signature.embeddedSignatures { attempt { _ = try OpenPGPSignaturePacket(body: embedded) } }
                        }
                    case .publicKey, .publicSubkey: attempt { _ = try OpenPGPKeyPacket(body: packet.body) }
                    case .secretKey, .secretSubkey: attempt { _ = try OpenPGPSecretKeyPacket.privateKey(ofBody: packet.body) }
                    default: break
                    }
                }
            }
            attempt { _ = try OpenPGPCertificate.read(bytes) }
            attempt { _ = try OpenPGPSecretKey(binary: bytes) }
            attempt { _ = try OpenPGPSignature.read(bytes) }
        }
        return accepted
    }
}
