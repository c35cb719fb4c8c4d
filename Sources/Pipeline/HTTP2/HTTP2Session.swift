internal import CNghttp2

/// What a stream's data provider hands nghttp2 for one DATA frame.
enum HTTP2Fill {
    /// Bytes copied; more follow.
    case data(Int)
    /// The last bytes; with trailers the stream ends on a HEADERS frame after them.
    case end(Int, trailers: HTTP2ResponseHead?)
    /// Nothing yet: nghttp2 parks the stream until `resume`.
    case deferred
    /// The body failed: the stream is reset with INTERNAL_ERROR.
    case failed
}

/// The nghttp2 1.52 server session of one connection: bytes in with `receive`, frames out with
/// `send`, and the C callbacks routed to the connection through `user_data` (proxy.md §3.2).
/// Streams are found through nghttp2's stream user data; the connection's table keeps them alive.
/// Only this file and `HTTP2ResponseHead` touch CNghttp2; everything runs on the connection's loop.
final class HTTP2Session {
    private let raw: OpaquePointer

    init(connection: HTTP2Connection, settings: HTTP2Settings) throws {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { throw HTTP2SessionError("cannot allocate callbacks") }
        defer { nghttp2_session_callbacks_del(callbacks) }
        Self.install(callbacks)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { throw HTTP2SessionError("cannot allocate options") }
        defer { nghttp2_option_del(option) }
        // Windows open as handlers consume request bodies, not as bytes arrive (proxy.md §3.2).
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_no_closed_streams(option, 1)
        // The library's own reset limiter (Debian's CVE-2023-44487 backport) is only a backstop:
        // the connection's flood guard answers first, with ENHANCE_YOUR_CALM.
        let backstop = UInt64(settings.maxResetsPerSecond) * 4
        nghttp2_option_set_stream_reset_rate_limit(option, backstop, backstop)

        var session: OpaquePointer?
        let user = Unmanaged.passUnretained(connection).toOpaque()
        guard nghttp2_session_server_new2(&session, callbacks, user, option) == 0, let session else {
            throw HTTP2SessionError("cannot create session")
        }
        raw = session

        let entries = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: UInt32(settings.maxConcurrentStreams)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(settings.initialWindowBytes)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(settings.maxHeaderListBytes)),
            // No RFC 7540 priority tree: nothing to walk for a client that reshuffles it (CVE-2019-9513).
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        guard nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count) == 0,
              nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(settings.connectionWindowBytes)) == 0
        else {
            // Every property is set, so deinit runs for this throw and deletes the session.
            throw HTTP2SessionError("cannot submit settings")
        }
    }

    deinit { nghttp2_session_del(raw) }

    // MARK: Bytes in and out

    /// Processes received bytes; a negative result is a fatal nghttp2 error code.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        return nghttp2_session_mem_recv(raw, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    /// Appends frames ready to go to `out` until it holds `limit` bytes or nothing is left;
    /// false on a fatal error.
    func send(into out: inout [UInt8], limit: Int) -> Bool {
        while out.count < limit {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(raw, &data)
            if n < 0 { return false }
            guard n > 0, let data else { return true }
            // The pointer is valid only until the next session call: copy now (proxy.md §3.2).
            out.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
        }
        return true
    }

    var wantsRead: Bool { nghttp2_session_want_read(raw) != 0 }
    var wantsWrite: Bool { nghttp2_session_want_write(raw) != 0 }

    static func describe(_ code: Int) -> String { String(cString: nghttp2_strerror(Int32(code))) }
    static func isBadPreface(_ code: Int) -> Bool { code == Int(NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue) }
    static func isFlood(_ code: Int) -> Bool { code == Int(NGHTTP2_ERR_FLOODED.rawValue) }

    // MARK: Streams

    func attach(_ stream: HTTP2Stream) {
        nghttp2_session_set_stream_user_data(raw, stream.id, Unmanaged.passUnretained(stream).toOpaque())
    }

    private static func stream(_ session: OpaquePointer?, _ id: Int32) -> HTTP2Stream? {
        guard let pointer = nghttp2_session_get_stream_user_data(session, id) else { return nil }
        return Unmanaged<HTTP2Stream>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Submits the response head; with `body` the stream's writer provides DATA (and trailers).
    func submitResponse(_ id: Int32, head: HTTP2ResponseHead, body: Bool) -> Bool {
        head.withNameValues { nva, count in
            if body {
                var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: Self.read)
                return nghttp2_submit_response(raw, id, nva, count, &provider) == 0
            }
            return nghttp2_submit_response(raw, id, nva, count, nil) == 0
        }
    }

    /// Submits an interim (1xx) head such as `100 Continue`.
    func submitInformational(_ id: Int32, head: HTTP2ResponseHead) {
        _ = head.withNameValues { nva, count in
            nghttp2_submit_headers(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, nil, nva, count, nil)
        }
    }

    /// Puts a deferred stream back in the send queue; the caller must flush (proxy.md §3.2).
    func resume(_ id: Int32) { _ = nghttp2_session_resume_data(raw, id) }

    /// The handler took `count` bytes of the stream's body: they may be replaced (WINDOW_UPDATE).
    func consume(_ id: Int32, _ count: Int) { _ = nghttp2_session_consume(raw, id, count) }

    /// Returns `count` bytes to the connection window only (their stream is gone).
    func consumeConnection(_ count: Int) { _ = nghttp2_session_consume_connection(raw, count) }

    func reset(_ id: Int32, _ code: HTTP2ErrorCode) {
        _ = nghttp2_submit_rst_stream(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, code.rawValue)
    }

    /// GOAWAY that lets streams up to the last one processed finish (drain).
    func goAway(_ code: HTTP2ErrorCode) {
        _ = nghttp2_submit_goaway(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(raw), code.rawValue, nil, 0)
    }

    /// GOAWAY after which nothing more is processed; the connection closes once it is sent.
    func terminate(_ code: HTTP2ErrorCode) { _ = nghttp2_session_terminate_session(raw, code.rawValue) }

    /// How much DATA the client lets the stream send now.
    func sendWindow(_ id: Int32) -> Int {
        Int(min(nghttp2_session_get_stream_remote_window_size(raw, id), nghttp2_session_get_remote_window_size(raw)))
    }

    // MARK: Callbacks

    private static func connection(_ user: UnsafeMutableRawPointer?) -> HTTP2Connection {
        Unmanaged<HTTP2Connection>.fromOpaque(user!).takeUnretainedValue()
    }

    private static let failure = Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
    private static let temporalFailure = Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
    private static let endStream = UInt8(NGHTTP2_FLAG_END_STREAM.rawValue)
    private static let requestCategory = NGHTTP2_HCAT_REQUEST.rawValue

    private static let read: nghttp2_data_source_read_callback = { session, id, buffer, length, flags, _, user in
        guard let stream = stream(session, id), let buffer, let flags else { return ssize_t(temporalFailure) }
        switch connection(user).fill(stream, UnsafeMutableRawBufferPointer(start: buffer, count: length)) {
        case .data(let count):
            return count
        case .end(let count, let trailers):
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            if let trailers {
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                let rc = trailers.withNameValues { nva, n in nghttp2_submit_trailer(session, id, nva, n) }
                if rc != 0 { return ssize_t(temporalFailure) }
            }
            return count
        case .deferred:
            return ssize_t(NGHTTP2_ERR_DEFERRED.rawValue)
        case .failed:
            return ssize_t(temporalFailure)
        }
    }

    private static func install(_ callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks) { _, hd, user in
            guard let hd else { return 0 }
            let frame = hd.pointee
            return HTTP2Session.connection(user).frameBegins(type: frame.type, flags: frame.flags, length: frame.length, streamID: frame.stream_id) ? 0 : HTTP2Session.failure
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { session, frame, user in
            guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
                  frame.pointee.headers.cat.rawValue == HTTP2Session.requestCategory else { return 0 }
            let connection = HTTP2Session.connection(user)
            guard let stream = connection.streamBegins(frame.pointee.hd.stream_id) else { return HTTP2Session.temporalFailure }
            nghttp2_session_set_stream_user_data(session, stream.id, Unmanaged.passUnretained(stream).toOpaque())
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { session, frame, name, nameLength, value, valueLength, _, user in
            // Trailers of a request are accepted and dropped (charged to the client's budget);
            // only the request head is kept.
            guard let frame else { return 0 }
            let stream = frame.pointee.headers.cat.rawValue == HTTP2Session.requestCategory ? HTTP2Session.stream(session, frame.pointee.hd.stream_id) : nil
            if stream == nil, frame.pointee.headers.cat.rawValue == HTTP2Session.requestCategory { return 0 }
            let accepted = HTTP2Session.connection(user).headerField(stream, name: UnsafeBufferPointer(start: name, count: nameLength),
                                                                     value: UnsafeBufferPointer(start: value, count: valueLength))
            return accepted ? 0 : HTTP2Session.failure
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { session, frame, user in
            guard let frame else { return 0 }
            let hd = frame.pointee.hd
            guard let stream = HTTP2Session.stream(session, hd.stream_id) else { return 0 }
            let ends = hd.flags & HTTP2Session.endStream != 0
            switch UInt32(hd.type) {
            case NGHTTP2_HEADERS.rawValue:
                if frame.pointee.headers.cat.rawValue == HTTP2Session.requestCategory {
                    if !HTTP2Session.connection(user).requestHeadComplete(stream, endStream: ends) { return HTTP2Session.failure }
                } else if ends {
                    HTTP2Session.connection(user).requestBodyEnded(stream)
                }
            case NGHTTP2_DATA.rawValue:
                if ends { HTTP2Session.connection(user).requestBodyEnded(stream) }
            default:
                break
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { session, _, id, data, length, user in
            let bytes = UnsafeBufferPointer(start: data, count: length)
            if let stream = HTTP2Session.stream(session, id) {
                HTTP2Session.connection(user).requestData(stream, bytes)
            } else {
                // A stream we refused or forgot: its bytes must not shrink the connection window.
                _ = nghttp2_session_consume_connection(session, length)
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { session, frame, user in
            guard let frame else { return 0 }
            let hd = frame.pointee.hd
            let type = UInt32(hd.type)
            if hd.flags & HTTP2Session.endStream != 0, type == NGHTTP2_DATA.rawValue || type == NGHTTP2_HEADERS.rawValue,
               let stream = HTTP2Session.stream(session, hd.stream_id) {
                HTTP2Session.connection(user).responseEnded(stream)
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { session, id, code, user in
            if let stream = HTTP2Session.stream(session, id) { HTTP2Session.connection(user).streamClosed(stream, code: code) }
            return 0
        }
    }
}

/// nghttp2 could not set up a session (out of memory).
struct HTTP2SessionError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
