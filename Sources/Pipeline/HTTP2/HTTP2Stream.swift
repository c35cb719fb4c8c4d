/// One HTTP/2 stream: the request head while it arrives, the request body as the handler pulls
/// it, the response writer, and the task running the chain. Loop-confined; the connection's
/// table keeps it alive while nghttp2 knows it, the task while the handler runs.
final class HTTP2Stream: @unchecked Sendable {
    let id: Int32
    let connection: HTTP2Connection
    var head: HTTP2RequestHead
    /// The request body, unless the request ended with its head.
    var body: HTTP2BodySource?
    /// The response, once the head arrived. Body and writer point back here; `retire` breaks that.
    var writer: HTTP2ResponseWriter?
    /// The task running the chain, cancelled when the client resets the stream.
    var task: Task<Void, Never>?
    /// nghttp2 closed the stream (both sides done, or reset by either side).
    var isClosed = false
    /// The client sent END_STREAM.
    var requestEnded = false
    /// No task is running for this stream (never started, or finished).
    var taskDone = true

    init(id: Int32, connection: HTTP2Connection, headerLimit: Int, limits: HTTPLimits = HTTPLimits()) {
        self.id = id
        self.connection = connection
        head = HTTP2RequestHead(limit: headerLimit, limits: limits)
    }

    var session: HTTP2Session { connection.session }
    var loop: EventLoop { connection.loop }

    /// Whether everything about the stream is over: nghttp2 closed it and no task uses it.
    var isFinished: Bool { isClosed && taskDone }

    /// Drops the references that point back to the stream once it is finished.
    func retire() {
        body = nil
        writer = nil
        task = nil
    }
}
