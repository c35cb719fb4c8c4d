import Pipeline
import Synchronization

/// One upstream fetch for one key that any number of requests follow while it arrives: the
/// coalescing tee. The fetching task appends chunks; readers (each a client response) read from
/// the growing object at their own pace and wait when they catch up. Where the bytes live bounds
/// memory whatever the readers do:
/// - `file`: appended to a temporary file of the disk tier; readers read (sendfile) from it.
/// - `memory`: kept in memory, for a memory-only cache, while the object fits its object limit.
/// - `window`: the object became too large to store; only the bytes some reader still needs are
///   kept, at most `windowBytes`, and the fetch waits for the slowest reader. Nobody new may join.
/// A fill that fails wakes every reader with the error, so each response aborts; it is never stored.
final class Fill: Sendable {
    /// What the fetch produced, as every request waiting on the key needs to know it.
    enum Outcome: Sendable {
        /// A storable answer whose body streams from this fill.
        case streaming(FillHead)
        /// The upstream confirmed a stored entry (304); here it is, refreshed (`stored`: the refresh was
        /// kept; false when the 304 made it unstorable).
        case revalidated(CacheEntry, stored: Bool)
        /// A fresh object another process on the disk directory stored while this one waited for
        /// its fill lock: answer from it, nothing was fetched.
        case published(CacheEntry)
        /// An answer that must not be shared (uncacheable, or a server error): fetch on your own.
        case notShared
        /// The fetch failed before any answer.
        case failed(any Error)
    }

    /// Where the body is kept while it arrives, and how large it may grow there and still be stored.
    enum Storage {
        case file(OpenFile, path: String, limit: Int64)
        case memory(limit: Int64)
    }

    /// What a completed fill leaves behind to be stored.
    enum Completed {
        case file(OpenFile, path: String, length: Int64)
        case memory([UInt8])
        /// Too large to store; the temporary file (if any) is to be removed.
        case nothing(temporaryPath: String?)
    }

    /// A part of the object a reader may write next.
    enum Slice {
        case bytes([UInt8])
        case file(FileRegion)
    }

    private enum Mode { case file, memory, window }

    private struct State {
        var outcome: Outcome?
        var outcomeWaiters: [CheckedContinuation<Outcome, Never>] = []
        var mode = Mode.memory
        var file: OpenFile?
        var temporaryPath: String?
        var fileEnd: Int64 = 0
        /// Chunks beyond `fileEnd`, contiguous, starting at `chunkStarts[firstChunk]`.
        var chunks: [[UInt8]] = []
        var chunkStarts: [Int64] = []
        var firstChunk = 0
        var written: Int64 = 0
        var finished = false
        var failure: (any Error)?
        var dataWaiters: [CheckedContinuation<Void, Never>] = []
        /// Next offset each reader needs (what the window may not drop).
        var readers: [Int: Int64] = [:]
        var nextReader = 0
        var writerWaiter: CheckedContinuation<Void, Never>?
        var joinable = true
        /// Largest object this fill may store; beyond it the fill turns into a window.
        var limit: Int64 = 0

        var slowestReader: Int64 { readers.values.min() ?? written }
    }

    let key: CacheKey
    let windowBytes: Int64
    private let state = Mutex(State())

    init(key: CacheKey, windowBytes: Int64) {
        self.key = key
        self.windowBytes = windowBytes
    }

    // MARK: Outcome

    /// Waits until the fetch has produced its outcome.
    func outcome() async -> Outcome {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Outcome? in
                if let outcome = state.outcome { return outcome }
                state.outcomeWaiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Publishes an outcome with no body to follow (revalidated, not shared, failed).
    func resolve(_ outcome: Outcome) {
        let waiters = state.withLock { state -> [CheckedContinuation<Outcome, Never>] in
            state.outcome = outcome
            state.joinable = false
            if case .failed(let error) = outcome { state.failure = error }
            defer { state.outcomeWaiters = [] }
            return state.outcomeWaiters
        }
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    /// Publishes a storable head; its body will arrive through `append`.
    func start(_ head: FillHead, storage: Storage) {
        let outcome = Outcome.streaming(head)
        let waiters = state.withLock { state -> [CheckedContinuation<Outcome, Never>] in
            switch storage {
            case .file(let file, let path, let limit):
                state.mode = .file
                state.file = file
                state.temporaryPath = path
                state.limit = limit
            case .memory(let limit):
                state.mode = .memory
                state.limit = limit
            }
            state.outcome = outcome
            defer { state.outcomeWaiters = [] }
            return state.outcomeWaiters
        }
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    // MARK: Writing (the one fetching task)

    /// Adds the next chunk of the body; waits while a window is full.
    func append(_ chunk: [UInt8]) async throws {
        guard !chunk.isEmpty else { return }
        let (mode, file, offset, limit) = state.withLock { ($0.mode, $0.file, $0.written, $0.limit) }
        if mode == .file, let file, offset + Int64(chunk.count) <= limit,
           (try? file.write(chunk, at: offset)) != nil {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.fileEnd += Int64(chunk.count)
                state.written += Int64(chunk.count)
                defer { state.dataWaiters = [] }
                return state.dataWaiters
            }
            for waiter in waiters { waiter.resume() }
            return
        }
        // Memory, or a file that is full or failed: from here on the bytes are kept in memory.
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.chunkStarts.append(state.written)
            state.chunks.append(chunk)
            state.written += Int64(chunk.count)
            if state.mode != .window, state.mode == .file || state.written > state.limit {
                state.mode = .window
                state.joinable = false
            }
            if state.mode == .window { Self.trim(&state) }
            defer { state.dataWaiters = [] }
            return state.dataWaiters
        }
        for waiter in waiters { waiter.resume() }
        try await waitForWindow()
    }

    /// The file and offset where `count` more bytes may be spliced (a disk fill with room for them).
    func fileSink(for count: Int64) -> (file: OpenFile, offset: Int64)? {
        state.withLock { state in
            guard state.mode == .file, let file = state.file, state.failure == nil, state.written + count <= state.limit else { return nil }
            return (file, state.written)
        }
    }

    /// Publishes `count` bytes written into the file right after the previous ones.
    func appendedToFile(_ count: Int64) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.fileEnd += count
            state.written += count
            defer { state.dataWaiters = [] }
            return state.dataWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func waitForWindow() async throws {
        while true {
            let step = state.withLock { state -> Int in
                if state.failure != nil { return 3 }
                guard state.mode == .window else { return 0 }
                if state.readers.isEmpty { return 2 }
                return state.written - max(state.slowestReader, state.fileEnd) > windowBytes ? 1 : 0
            }
            switch step {
            case 0: return
            // Nobody follows an object that will not be stored: stop fetching it.
            case 2: throw FillAbandoned()
            case 3: throw CancellationError()
            default:
                await withCheckedContinuation { continuation in
                    let proceed = state.withLock { state -> Bool in
                        if state.failure != nil || state.readers.isEmpty
                            || state.written - max(state.slowestReader, state.fileEnd) <= windowBytes { return true }
                        state.writerWaiter = continuation
                        return false
                    }
                    if proceed { continuation.resume() }
                }
            }
        }
    }

    /// Drops chunks every reader has passed.
    private static func trim(_ state: inout State) {
        let keepFrom = state.slowestReader
        while state.firstChunk < state.chunks.count,
              state.chunkStarts[state.firstChunk] + Int64(state.chunks[state.firstChunk].count) <= keepFrom {
            state.chunks[state.firstChunk] = []
            state.firstChunk += 1
        }
        if state.firstChunk > 64 && state.firstChunk * 2 > state.chunks.count {
            state.chunks.removeFirst(state.firstChunk)
            state.chunkStarts.removeFirst(state.firstChunk)
            state.firstChunk = 0
        }
    }

    /// Marks the body complete. `declaredLength` (the upstream's Content-Length) must match what arrived.
    func finish(declaredLength: Int64?) throws -> Completed {
        let (mode, chunks, file, path, length, waiters) = try state.withLock { state in
            if let declaredLength, declaredLength != state.written { throw FillTruncated(expected: declaredLength, got: state.written) }
            state.finished = true
            defer { state.dataWaiters = [] }
            return (state.mode, state.chunks, state.file, state.temporaryPath, state.written, state.dataWaiters)
        }
        for waiter in waiters { waiter.resume() }
        switch mode {
        case .file: return .file(file!, path: path!, length: length)
        case .memory: return .memory(chunks.flatMap { $0 })
        case .window: return .nothing(temporaryPath: path)
        }
    }

    /// Fails the fill: every reader's next read throws `error` and nothing is stored.
    func fail(_ error: any Error) {
        let (data, writer, outcome) = state.withLock { state in
            state.failure = state.failure ?? error
            state.joinable = false
            let waiting = (state.dataWaiters, state.writerWaiter, state.outcome == nil ? state.outcomeWaiters : [])
            state.dataWaiters = []
            state.writerWaiter = nil
            if state.outcome == nil {
                state.outcome = .failed(error)
                state.outcomeWaiters = []
            }
            return waiting
        }
        for waiter in data { waiter.resume() }
        writer?.resume()
        for waiter in outcome { waiter.resume(returning: .failed(error)) }
    }

    var temporaryPath: String? { state.withLock { $0.temporaryPath } }

    // MARK: Reading (any number of responses)

    /// Registers a reader at offset 0 if the fill may still be joined (checked and done atomically, so
    /// a window can never drop bytes a joined reader still needs). The reader moves to its real start
    /// when it begins to stream; dropping it unregisters it.
    func join() -> FillReader? {
        let id = state.withLock { state -> Int? in
            guard state.joinable, state.failure == nil else { return nil }
            state.nextReader += 1
            state.readers[state.nextReader] = 0
            return state.nextReader
        }
        return id.map { FillReader(fill: self, id: $0) }
    }

    /// Where a reader will read next (it only ever moves forward from where it joined).
    func move(_ id: Int, to offset: Int64) {
        state.withLock { $0.readers[id] = offset }
    }

    func removeReader(_ id: Int) {
        let writer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.readers[id] = nil
            if state.mode == .window { Self.trim(&state) }
            defer { state.writerWaiter = nil }
            return state.writerWaiter
        }
        writer?.resume()
    }

    /// The bytes from `offset` on, as soon as some have arrived; nil at the end of the body.
    func read(_ reader: FillReader, at offset: Int64, upTo limit: Int64) async throws -> Slice? {
        while true {
            let (step, writer) = state.withLock { state -> (ReadStep, CheckedContinuation<Void, Never>?) in
                state.readers[reader.id] = offset
                var writer: CheckedContinuation<Void, Never>?
                if state.mode == .window {
                    Self.trim(&state)
                    if state.writerWaiter != nil, state.written - max(state.slowestReader, state.fileEnd) <= windowBytes {
                        writer = state.writerWaiter
                        state.writerWaiter = nil
                    }
                }
                if let failure = state.failure { return (.failed(failure), writer) }
                if offset >= state.fileEnd, offset < state.written,
                   state.firstChunk >= state.chunks.count || offset < state.chunkStarts[state.firstChunk] {
                    // Not kept any more (cannot happen to a reader registered by `join`).
                    return (.failed(FillTruncated(expected: state.written, got: offset)), writer)
                }
                if offset < state.written { return (.slice(Self.slice(state, at: offset, upTo: limit)), writer) }
                if state.finished { return (.end, writer) }
                return (.wait, writer)
            }
            writer?.resume()
            switch step {
            case .failed(let error): throw error
            case .slice(let slice): return slice
            case .end: return nil
            case .wait:
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { state -> Bool in
                        if state.failure != nil || state.finished || offset < state.written { return true }
                        state.dataWaiters.append(continuation)
                        return false
                    }
                    if ready { continuation.resume() }
                }
            }
        }
    }

    private enum ReadStep {
        case failed(any Error)
        case slice(Slice)
        case end
        case wait
    }

    private static func slice(_ state: State, at offset: Int64, upTo limit: Int64) -> Slice {
        if offset < state.fileEnd, let file = state.file {
            return .file(file.region(offset: offset, length: min(state.fileEnd - offset, limit)))
        }
        // Binary search for the chunk holding `offset`.
        var low = state.firstChunk, high = state.chunks.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if state.chunkStarts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        let chunk = state.chunks[low]
        let skip = Int(offset - state.chunkStarts[low])
        let take = min(chunk.count - skip, Int(limit))
        if skip == 0 && take == chunk.count { return .bytes(chunk) }
        return .bytes(Array(chunk[skip..<(skip + take)]))
    }
}

/// A registered reader of a fill; dropping it (the response went out or was abandoned) unregisters it,
/// so a window never waits for a client that has gone.
final class FillReader: Sendable {
    let fill: Fill
    let id: Int

    init(fill: Fill, id: Int) {
        self.fill = fill
        self.id = id
    }

    deinit { fill.removeReader(id) }

    /// Writes the body from `start` for `count` bytes (to the end when nil) into `writer`.
    func stream(from start: Int64, count: Int64?, to writer: any ResponseBodyWriter) async throws {
        fill.move(id, to: start)
        var offset = start
        let end = count.map { start + $0 }
        while end.map({ offset < $0 }) ?? true {
            let limit = end.map { $0 - offset } ?? (4 << 20)
            guard let slice = try await fill.read(self, at: offset, upTo: min(limit, 4 << 20)) else {
                if let end, offset < end { throw FillTruncated(expected: end, got: offset) }
                return
            }
            switch slice {
            case .bytes(let bytes):
                try await writer.write(bytes)
                offset += Int64(bytes.count)
            case .file(let region):
                try await writer.write(file: region)
                offset += region.length
            }
        }
    }
}

/// The head of a fill: what every follower answers with.
struct FillHead: Sendable {
    /// The head as it will be stored (its `length` is the declared one, or -1 until the end).
    var stored: StoredHead
    /// The upstream's Content-Length, when it sent one.
    var declaredLength: Int64?
    /// Fields of the upstream's answer that only the clients of this fetch get, not later hits: its
    /// `Age` (corrected for the time it took) and `Cache-Status` (the caches behind this one).
    var forwarded: HTTPFields = [:]
}

/// The upstream body ended before its declared length.
struct FillTruncated: Error, CustomStringConvertible {
    let expected: Int64
    let got: Int64
    var description: String { "upstream body ended at \(got) of \(expected) bytes" }
}

/// Every reader left an object too large to store.
struct FillAbandoned: Error, CustomStringConvertible {
    var description: String { "no client follows the fetch any more" }
}
