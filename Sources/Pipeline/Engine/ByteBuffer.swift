/// A growable byte buffer with reader and writer indices on memory that does not move while a
/// connection awaits I/O (NIO's ByteBuffer idea, much smaller). Loop-confined.
final class ByteBuffer {
    private(set) var storage: UnsafeMutableRawPointer
    private(set) var capacity: Int
    private(set) var readerIndex = 0
    private(set) var writerIndex = 0

    init(capacity: Int = 16 * 1024) {
        self.capacity = capacity
        storage = capacity > 0 ? .allocate(byteCount: capacity, alignment: 16) : Self.none
    }

    deinit { if capacity > 0 { storage.deallocate() } }

    /// What `storage` points at while the buffer holds no memory: never written, never freed.
    nonisolated(unsafe) private static let none = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)

    var readableBytes: Int { writerIndex - readerIndex }
    var writableBytes: Int { capacity - writerIndex }

    /// The unread bytes.
    var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage + readerIndex, count: readableBytes) }
    /// Free space after the unread bytes.
    var writable: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: storage + writerIndex, count: writableBytes) }

    func moveReaderIndex(by count: Int) {
        precondition(count <= readableBytes)
        readerIndex += count
        if readerIndex == writerIndex {
            readerIndex = 0
            writerIndex = 0
        }
    }

    func moveWriterIndex(by count: Int) {
        precondition(count <= writableBytes)
        writerIndex += count
    }

    /// Makes room for at least `count` more bytes, first by moving unread bytes to the front.
    func reserveWritable(_ count: Int) {
        if writableBytes >= count { return }
        if readerIndex > 0 {
            let unread = readableBytes
            storage.copyMemory(from: storage + readerIndex, byteCount: unread)
            readerIndex = 0
            writerIndex = unread
            if writableBytes >= count { return }
        }
        var newCapacity = max(capacity, 1024)
        while newCapacity - writerIndex < count { newCapacity *= 2 }
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newStorage.copyMemory(from: storage, byteCount: writerIndex)
        if capacity > 0 { storage.deallocate() }
        storage = newStorage
        capacity = newCapacity
    }

    /// Copies out and consumes up to `count` unread bytes.
    func read(upTo count: Int) -> [UInt8] {
        let n = min(count, readableBytes)
        let bytes = [UInt8](UnsafeRawBufferPointer(start: storage + readerIndex, count: n))
        moveReaderIndex(by: n)
        return bytes
    }

    func append(_ bytes: [UInt8]) {
        reserveWritable(bytes.count)
        bytes.withUnsafeBytes { (storage + writerIndex).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        writerIndex += bytes.count
    }

    /// Gives the memory back while nothing is buffered (an idle keep-alive connection holds no
    /// buffer); the next read allocates again, or takes one from `pool`.
    func release(to pool: BufferPool? = nil) {
        guard capacity > 0, readableBytes == 0 else { return }
        if let pool, pool.keep(storage, capacity: capacity) {
            // The pool owns the memory now.
        } else {
            storage.deallocate()
        }
        storage = Self.none
        capacity = 0
        readerIndex = 0
        writerIndex = 0
    }

    /// Takes memory from `pool` for a buffer that holds none (after `release`).
    func take(from pool: BufferPool) {
        guard capacity == 0 else { return }
        storage = pool.take()
        capacity = pool.size
        readerIndex = 0
        writerIndex = 0
    }

    /// Shrinks back to `capacity` when idle and grown, so a connection that once received a large
    /// head does not keep the memory.
    func shrink(to target: Int) {
        guard capacity > target, readableBytes == 0 else { return }
        storage.deallocate()
        storage = .allocate(byteCount: target, alignment: 16)
        capacity = target
        readerIndex = 0
        writerIndex = 0
    }
}

/// Read buffers of one size that connections on one loop hand back while idle and take again
/// when their next request arrives: a keep-alive request costs no malloc and free of 16 KiB.
/// At most `limit` are kept; the rest are freed. Loop-confined.
final class BufferPool {
    let size: Int
    private let limit: Int
    private var spare: [UnsafeMutableRawPointer] = []

    init(size: Int = 16 * 1024, limit: Int = 64) {
        self.size = size
        self.limit = limit
        spare.reserveCapacity(limit)
    }

    deinit { for pointer in spare { pointer.deallocate() } }

    /// Memory of `size` bytes, kept or newly allocated.
    func take() -> UnsafeMutableRawPointer {
        spare.popLast() ?? .allocate(byteCount: size, alignment: 16)
    }

    /// Keeps `pointer` for the next `take`; false (the caller frees it) when it is another size or the pool is full.
    func keep(_ pointer: UnsafeMutableRawPointer, capacity: Int) -> Bool {
        guard capacity == size, spare.count < limit else { return false }
        spare.append(pointer)
        return true
    }
}
