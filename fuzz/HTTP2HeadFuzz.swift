// libFuzzer entry for the HTTP/2 request path through nghttp2: the input is what a client sends
// after the connection preface (frames, HPACK blocks), fed to an nghttp2 server session whose
// header callback is the gateway's own `HTTP2RequestHead.add` with small listener limits.
// Built by `make fuzz` (scripts/fuzz.sh), linked with the system's libnghttp2.
//
// Besides "never crash", it checks that a head that is not refused respects every limit: no more
// fields than `maxHeaderCount`, a path no longer than `maxURIBytes`, a list within its limit.

import CNghttp2

final class FuzzSession {
    var heads: [Int32: HTTP2RequestHead] = [:]
    var limits: HTTPLimits
    init() {
        limits = HTTPLimits()
        limits.maxHeaderBytes = 512
        limits.maxHeaderCount = 8
        limits.maxURIBytes = 64
    }
}

private func session(_ user: UnsafeMutableRawPointer?) -> FuzzSession {
    Unmanaged<FuzzSession>.fromOpaque(user!).takeUnretainedValue()
}

private func check(_ head: HTTP2RequestHead, limits: HTTPLimits) {
    guard head.refusal == nil else {
        precondition(head.fields.isEmpty && head.cookies.isEmpty, "a refused head kept fields")
        return
    }
    precondition(head.fieldCount <= limits.maxHeaderCount, "\(head.fieldCount) fields passed a limit of \(limits.maxHeaderCount)")
    precondition(head.path.utf8.count <= limits.maxURIBytes, "a path of \(head.path.utf8.count) bytes passed")
    precondition(head.listBytes <= head.limit && head.lineBytes <= limits.maxHeaderBytes, "a list over its limit passed")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let state = FuzzSession()
    var callbacks: OpaquePointer?
    nghttp2_session_callbacks_new(&callbacks)
    defer { nghttp2_session_callbacks_del(callbacks) }
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
        guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
        let state = session(user)
        state.heads[frame.pointee.hd.stream_id] = HTTP2RequestHead(limit: 1024, limits: state.limits)
        return 0
    }
    nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
        guard let frame else { return 0 }
        let state = session(user)
        let id = frame.pointee.hd.stream_id
        guard var head = state.heads[id] else { return 0 }
        head.add(name: UnsafeBufferPointer(start: name, count: nameLength), value: UnsafeBufferPointer(start: value, count: valueLength))
        state.heads[id] = head
        return 0
    }
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
        guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
        let state = session(user)
        if let head = state.heads[frame.pointee.hd.stream_id] { check(head, limits: state.limits) }
        return 0
    }
    var raw: OpaquePointer?
    let user = Unmanaged.passUnretained(state).toOpaque()
    guard nghttp2_session_server_new(&raw, callbacks, user) == 0, let raw else { return 0 }
    defer { nghttp2_session_del(raw) }
    let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]
    var input = preface
    input.append(contentsOf: UnsafeBufferPointer(start: data, count: size))
    _ = input.withUnsafeBufferPointer { nghttp2_session_mem_recv(raw, $0.baseAddress, $0.count) }
    var out: UnsafePointer<UInt8>?
    while nghttp2_session_mem_send(raw, &out) > 0 {}
    for head in state.heads.values { check(head, limits: state.limits) }
    return 0
}
