// libFuzzer entry for the OpenPGP readers: ASCII armor (OpenPGPArmor), packets, public keys and
// certificates, secret keys, signatures and their subpackets (OpenPGPFuzzing.parse runs every
// reader on the input and on what its armor decodes to), then a verification of the input as a
// detached signature over fixed data with a fixed key (the seed key below, a throwaway).
// Built by `make fuzz` (scripts/fuzz.sh lists the sources; links libcrypto).
//
// Besides "never crash" (ASan on), it checks:
// - every block the armor reader accepts armors again (OpenPGPArmor.encode) to text that decodes
//   to the same block, and decodeSingle agrees with decode;
// - the key ID read from an armored public key is 16 upper-case hex digits.

import Foundation

let openPGPFuzzPublicKey = """
    -----BEGIN PGP PUBLIC KEY BLOCK-----
    
    mDMEaxQNjRYJKwYBBAHaRw8BAQdAQr6kP8Gkc4clV3LrqCf1CSZc5OY6BTZ7jMzP
    CACyE6O0HEZ1enogU2VlZCA8ZnV6ekBleGFtcGxlLmNvbT6IkAQTFggAOBYhBEzR
    4tIXWj1VjtLlF/hQKz1nBv1SBQJrFA2NAhsDBQsJCAcCBhUKCQgLAgQWAgMBAh4B
    AheAAAoJEPhQKz1nBv1SEFMA+gNnnBMghO9wrBLzzpCMJOxAFLVuPbmIIDG7tDxQ
    elARAQDEVHV4LHj9N/xB0q/7oOJjvrJxljQ4z0t/d0EmS+TEBrgzBGsUDY4WCSsG
    AQQB2kcPAQEHQHxJbcah6bQSdIJAJRiHYwFBlr7XmxwENmrzwHXvTWqhiO8EGBYI
    ACAWIQRM0eLSF1o9VY7S5Rf4UCs9Zwb9UgUCaxQNjgIbAgCBCRD4UCs9Zwb9UnYg
    BBkWCAAdFiEEE2/L6r14CX0/N/SWFgA2nIhc3GEFAmsUDY4ACgkQFgA2nIhc3GE2
    +AEA0ahD/4GQFIQH1LkcfZ1WgSzubJ1pIu1TVo5nKxmhWdgA/2110lc4eI/mICJy
    l/NQe0NtV/X5zg9PpQAFYeO03KIMChkA/i1m+v1wMamy2CF2AXCYSGXtpP6gSYou
    W90dhzJxwsdZAP0Wqd1vL4ZsXcwI4FEeHiX5E7btzY4SqWlkzDadq3bbCg==
    =g7NX
    -----END PGP PUBLIC KEY BLOCK-----
    """

let openPGPFuzzData = Array("Origin: Example\nLabel: Example\n".utf8)

let openPGPFuzzVerifier: OpenPGPVerifier = {
    let block = try! OpenPGPArmor.decodeSingle(openPGPFuzzPublicKey, as: .publicKey)
    return try! OpenPGPVerifier(keys: [block])
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    OpenPGPFuzzing.parse(bytes)

    let text = String(decoding: bytes, as: UTF8.self)
    if let blocks = try? OpenPGPArmor.decode(text) {
        for block in blocks {
            let again = try? OpenPGPArmor.decode(OpenPGPArmor.encode(block.bytes, as: block.kind))
            precondition(again == [block], "an accepted block does not survive encode and decode")
        }
        if blocks.count == 1 {
            precondition((try? OpenPGPArmor.decodeSingle(text, as: blocks[0].kind)) == blocks[0].bytes, "decodeSingle disagrees with decode")
        }
    }
    if let id = OpenPGPArmor.keyID(ofArmoredPublicKey: text) {
        precondition(id.utf8.count == 16 && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) }, "bad key ID \(id)")
    }
    let signature = OpenPGPArmor.looksArmored(bytes) ? ((try? OpenPGPArmor.decodeSingle(text, as: .signature)) ?? []) : bytes
    if !signature.isEmpty { _ = try? openPGPFuzzVerifier.verify(signature: signature, over: openPGPFuzzData, at: Date(timeIntervalSince1970: 1_800_000_000)) }
    return 0
}
