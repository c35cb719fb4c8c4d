import Testing
@testable import Pipeline

/// The header's length as `headerLength` reports it for `bytes`.
private func length(_ bytes: [UInt8]) throws(ProxyHeaderError) -> Int? {
    try bytes.withUnsafeBytes { raw in Result { () throws(ProxyHeaderError) in try ProxyHeaderParser.headerLength(raw) } }.get()
}

/// `bytes` parsed as exactly one header.
private func parse(_ bytes: [UInt8]) throws(ProxyHeaderError) -> ProxyHeader {
    try bytes.withUnsafeBytes { raw in Result { () throws(ProxyHeaderError) in try ProxyHeaderParser.parse(raw) } }.get()
}

private func failure(_ bytes: [UInt8]) -> ProxyHeaderError? {
    do {
        guard let n = try length(bytes) else { return .truncated }
        _ = try parse(Array(bytes[..<min(n, bytes.count)]))
        return nil
    } catch {
        return error
    }
}

private let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

/// What haproxy 2.6 sent with `send-proxy-v2` (reference/operations.md §1.4): PROXY, TCP4,
/// 127.0.0.1:48776 to 127.0.0.1:18401, then the request.
private let haproxyV2: [UInt8] = signature + [0x21, 0x11, 0x00, 0x0C, 0x7F, 0, 0, 1, 0x7F, 0, 0, 1, 0xBE, 0x88, 0x47, 0xE1]

@Suite("PROXY protocol header parser (v1 and v2)")
struct ProxyHeaderParserTests {
    @Test("v1 TCP4 as haproxy sends it: the client address and port")
    func v1TCP4() throws {
        let line = Array("PROXY TCP4 192.0.2.7 127.0.0.1 34474 18402\r\n".utf8)
        #expect(try length(line + Array("GET / HTTP/1.1\r\n".utf8)) == line.count)
        let header = try parse(line)
        #expect(header.version == .v1)
        #expect(header.source == SocketAddress(ip: "192.0.2.7", port: 34474))
        #expect(header.destination == SocketAddress(ip: "127.0.0.1", port: 18402))
    }

    @Test("v1 TCP6, and an IPv4-mapped source reads as IPv4")
    func v1TCP6() throws {
        let header = try parse(Array("PROXY TCP6 2001:db8::1 ::1 65535 443\r\n".utf8))
        #expect(header.source == SocketAddress(ip: "2001:db8::1", port: 65535))
        let mapped = try parse(Array("PROXY TCP6 ::ffff:198.51.100.4 ::1 1 443\r\n".utf8))
        #expect(mapped.source == SocketAddress(ip: "198.51.100.4", port: 1))
    }

    @Test("v1 UNKNOWN keeps the socket's address; what follows it is ignored")
    func v1Unknown() throws {
        #expect(try parse(Array("PROXY UNKNOWN\r\n".utf8)).source == nil)
        #expect(try parse(Array("PROXY UNKNOWN ffff:: ffff:: 1 2\r\n".utf8)).source == nil)
    }

    @Test("v1 needs more bytes until CRLF, within 107 bytes")
    func v1Incomplete() throws {
        #expect(try length(Array("PRO".utf8)) == nil)
        #expect(try length(Array("PROXY TCP4 1.2.3.4".utf8)) == nil)
        #expect(try length(Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r".utf8)) == nil)
        let long = Array("PROXY UNKNOWN ".utf8) + [UInt8](repeating: 0x41, count: 93)
        #expect(long.count == 107)
        #expect(throws: ProxyHeaderError.malformed("no CRLF within 107 bytes")) { try length(long) }
        // The longest valid line is exactly 107 bytes.
        let longest = Array("PROXY UNKNOWN ".utf8) + [UInt8](repeating: 0x41, count: 91) + [0x0D, 0x0A]
        #expect(try length(longest) == 107)
        let tooLong = Array("PROXY UNKNOWN ".utf8) + [UInt8](repeating: 0x41, count: 92) + [0x0D, 0x0A]
        #expect(throws: ProxyHeaderError.malformed("longer than 107 bytes")) { try length(tooLong) }
    }

    @Test("v1 is strict: fields, families, leading zeros, ports, line ends")
    func v1Malformed() {
        let bad = [
            "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",            // a field missing
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",        // one too many
            "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",         // two spaces
            "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",         // leading zero
            "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",              // IPv6 under TCP4
            "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",              // IPv4 under TCP6
            "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",      // port out of range
            "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",        // port with a leading zero
            "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
            "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",            // LF alone
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",           // CR alone
            "PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\u{7F}\r\n",
        ]
        for text in bad {
            let error = failure(Array(text.utf8))
            #expect(error != nil && error != .truncated, "accepted \(text.debugDescription)")
        }
    }

    @Test("bytes that start neither version are refused at once, never read as HTTP")
    func notProxy() {
        #expect(failure(Array("GET / HTTP/1.1\r\n\r\n".utf8)) == .missing)
        #expect(failure(Array("proxy TCP4".utf8)) == .missing)
        #expect(failure([0x16, 0x03, 0x01]) == .missing)                 // a TLS ClientHello
        #expect(failure([0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B]) == .missing)
    }

    @Test("v2 from haproxy: 28 bytes, the client address, the request left after it")
    func v2Haproxy() throws {
        #expect(try length(haproxyV2 + Array("GET /a".utf8)) == 28)
        let header = try parse(haproxyV2)
        #expect(header.version == .v2)
        #expect(header.source == SocketAddress(ip: "127.0.0.1", port: 48776))
        #expect(header.destination == SocketAddress(ip: "127.0.0.1", port: 18401))
        for cut in 0..<16 { #expect(try length(Array(haproxyV2[..<cut])) == nil) }
    }

    @Test("v2 IPv6, LOCAL (a health check) and UNSPEC keep or carry the right address")
    func v2Families() throws {
        let v6 = signature + [0x21, 0x21, 0x00, 0x24] + SocketAddress(ip: "2001:db8::5", port: 0)!.bytes
            + SocketAddress(ip: "::1", port: 0)!.bytes + [0x01, 0xBB, 0x20, 0xFB]
        #expect(try parse(v6).source == SocketAddress(ip: "2001:db8::5", port: 443))
        // LOCAL skips the address block whatever its length says.
        #expect(try parse(signature + [0x20, 0x11, 0x00, 0x0C] + [UInt8](repeating: 9, count: 12)).source == nil)
        #expect(try parse(signature + [0x20, 0x00, 0x00, 0x00]).source == nil)
        #expect(try parse(signature + [0x21, 0x00, 0x00, 0x00]).source == nil)
    }

    @Test("v2 TLVs are skipped; a CRC32C TLV is checked (the bytes haproxy sent)")
    func v2TLVs() throws {
        // From reference/operations.md §1.4: mode http with authority,crc32c,unique-id.
        let uniqueID = Array("7F000001:BE10_7F000001:47E3_6B12E261_0002".utf8)
        var header = signature + [0x21, 0x11, 0x00, 0x3F, 0x7F, 0, 0, 1, 0x7F, 0, 0, 1, 0xBE, 0x10, 0x47, 0xE3]
        header += [0x03, 0x00, 0x04, 0xB4, 0xDC, 0x15, 0x15]
        header += [0x05, 0x00, 0x29] + uniqueID
        #expect(header.count == 79)
        #expect(try parse(header).source == SocketAddress(ip: "127.0.0.1", port: 0xBE10))
        var corrupted = header
        corrupted[34] ^= 1
        #expect(throws: ProxyHeaderError.malformed("CRC32C mismatch")) { try parse(corrupted) }
        var changedAddress = header
        changedAddress[19] = 2
        #expect(throws: ProxyHeaderError.malformed("CRC32C mismatch")) { try parse(changedAddress) }
        let noop = signature + [0x21, 0x11, 0x00, 0x10] + Array(haproxyV2[16...]) + [0x04, 0x00, 0x01, 0x00]
        #expect(try parse(noop).source == SocketAddress(ip: "127.0.0.1", port: 48776))
    }

    @Test("v2 malformed: version, command, family, short blocks, TLVs past the end")
    func v2Malformed() {
        let cases: [[UInt8]] = [
            signature + [0x11, 0x11, 0x00, 0x0C] + [UInt8](repeating: 1, count: 12),   // version 1 in a v2 signature
            signature + [0x22, 0x11, 0x00, 0x0C] + [UInt8](repeating: 1, count: 12),   // command 2
            signature + [0x21, 0x41, 0x00, 0x0C] + [UInt8](repeating: 1, count: 12),   // family 4
            signature + [0x21, 0x12, 0x00, 0x0C] + [UInt8](repeating: 1, count: 12),   // UDP
            signature + [0x21, 0x11, 0x00, 0x08] + [UInt8](repeating: 1, count: 8),    // IPv4 block too short
            signature + [0x21, 0x21, 0x00, 0x0C] + [UInt8](repeating: 1, count: 12),   // IPv6 block too short
            signature + [0x21, 0x11, 0x00, 0x0E] + Array(haproxyV2[16...]) + [0x04, 0x00],          // a TLV cut short
            signature + [0x21, 0x11, 0x00, 0x10] + Array(haproxyV2[16...]) + [0x04, 0x00, 0x09, 0], // a TLV past the end
            signature + [0x21, 0x11, 0x00, 0x12] + Array(haproxyV2[16...]) + [0x03, 0x00, 0x03, 0, 0, 0],
        ]
        for bytes in cases {
            let error = failure(bytes)
            #expect(error != nil && error != .truncated, "accepted \(bytes)")
        }
        #expect(failure(Array(haproxyV2[..<20])) == .truncated)
    }

    @Test("CRC-32C of the standard check string")
    func crc() {
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { CRC32C.checksum($0) } == 0xE306_9283)
    }
}
