import Foundation
import PostgresWireProtocol

// Row streams (`AsyncConnection.rows`) and COPY TO STDOUT streams (`copyOut`) hand data from the
// I/O thread to the consuming task in batches: the I/O thread copies every row (or CopyData
// chunk) decoded from what one socket read brought into one buffer, and hands the buffer over
// with one wake-up just before it would block on the socket again (or when the batch is full).
// The consumer's iterator then walks the batch locally: no lock, no continuation, no await per
// row. Backpressure: at most `capacity` batches wait; a full channel blocks the I/O thread, which
// then stops reading, so the server waits too.

/// Rows or chunks copied out of the read buffer: `bytes[ends[i-1]..<ends[i]]` is element i.
struct StreamBatch: Sendable {
    /// The rows' columns (nil for COPY chunks).
    let columns: ResultColumns?
    let bytes: [UInt8]
    let ends: [Int]
}

/// Walks a stream's batches one element at a time, without locks: the iterators of `RowStream`
/// and `CopyOutStream` are this cursor and what they make of an element.
/// Usable from inlinable code: an iterator's `next` takes an element of the current batch where
/// it is called, without an async call (a task-allocated frame and an executor check) per row.
@usableFromInline
struct BatchCursor {
    let lease: StreamLease
    /// The current batch's columns (nil for COPY chunks) and their count (set only here).
    @usableFromInline var columns: ResultColumns?
    @usableFromInline var columnCount = 0
    @usableFromInline var bytes: [UInt8] = []
    @usableFromInline var ends: [Int] = []
    @usableFromInline var index = 0
    @usableFromInline var start = 0

    init(lease: StreamLease) { self.lease = lease }

    /// The current batch's next element, or nil when the batch is used up (then `next(isolation:)`
    /// awaits the next batch).
    @inlinable
    mutating func nextBuffered() -> ArraySlice<UInt8>? {
        guard index < ends.count else { return nil }
        let end = ends[index]
        let element = bytes[start..<end]
        start = end
        index += 1
        return element
    }

    /// The next element as a slice of its batch; nil at the end.
    @usableFromInline
    mutating func next(isolation actor: isolated (any Actor)?) async throws -> ArraySlice<UInt8>? {
        while true {
            if let element = nextBuffered() { return element }
            guard let batch = try await lease.next() else {
                bytes = []
                ends = []
                index = 0
                return nil
            }
            columns = batch.columns
            columnCount = batch.columns?.count ?? 0
            bytes = batch.bytes
            ends = batch.ends
            index = 0
            start = 0
        }
    }
}

/// Batch sizes for a stream that keeps at most `bufferSize` elements waiting client-side.
struct StreamLimits: Sendable {
    /// Batches that may wait in the channel.
    let capacity: Int
    let maxElements: Int
    /// A batch is handed over once it holds this many bytes (a larger single element is one batch).
    let maxBytes: Int

    init(bufferSize: Int, maxBytes: Int = 64 * 1024) {
        let size = Swift.max(1, bufferSize)
        capacity = Swift.min(4, size)
        maxElements = Swift.max(1, size / capacity)
        self.maxBytes = maxBytes
    }
}

/// Builds batches on the I/O thread and pushes them into the channel (used by one job only).
final class StreamProducer {
    private let channel: BatchChannel
    private let limits: StreamLimits
    private let stop: () -> Void
    // Touched by the I/O thread only, once per row: no dynamic exclusivity checks.
    @exclusivity(unchecked) private var columns: ResultColumns?
    @exclusivity(unchecked) private var bytes: [UInt8] = []
    @exclusivity(unchecked) private var ends: [Int] = []
    /// The size of the last batch: the next one reserves as much at once.
    @exclusivity(unchecked) private var lastSize = 4096
    /// The consumer has gone: later elements are dropped (the job drains or cancels).
    @exclusivity(unchecked) private(set) var abandoned = false

    /// `stop` is called once when the consumer is found gone (e.g. to send a CancelRequest).
    init(channel: BatchChannel, limits: StreamLimits, stop: @escaping () -> Void) {
        self.channel = channel
        self.limits = limits
        self.stop = stop
    }

    /// Copies one element (a row's column area or a CopyData chunk) into the current batch.
    @inline(__always)
    func add(_ element: ArraySlice<UInt8>, columns: ResultColumns?) {
        if abandoned { return }
        if columns !== self.columns {
            flush()
            self.columns = columns
        }
        if ends.isEmpty { bytes.reserveCapacity(Swift.max(element.count, Swift.min(lastSize, limits.maxBytes) + 1024)) }
        bytes.append(contentsOf: element)
        ends.append(bytes.count)
        if ends.count >= limits.maxElements || bytes.count >= limits.maxBytes { flush() }
    }

    /// Hands the current batch over (blocks while the channel is full).
    func flush() {
        guard !abandoned, !ends.isEmpty else { return }
        let batch = StreamBatch(columns: columns, bytes: bytes, ends: ends)
        lastSize = bytes.count
        bytes = []
        ends = []
        ends.reserveCapacity(Swift.min(limits.maxElements, 1024))
        if !channel.push(batch) {
            abandoned = true
            stop()
        }
    }
}

/// A bounded single-producer (I/O thread, blocking) single-consumer (task, suspending) queue of
/// batches.
final class BatchChannel: @unchecked Sendable {
    private let condition = NSCondition()
    private var batches: [StreamBatch] = []
    private let capacity: Int
    private var finished = false
    private var failure: Error?
    private var abandoned = false
    /// Why the consumer's next call ends (set when the stream is abandoned by `close()`).
    private var abandonReason: Error?
    /// The consumer was given the end (nil or an error): later calls return nil.
    private var endDelivered = false
    private var producerWaiting = false
    private var waiting: CheckedContinuation<StreamBatch?, Error>?
    /// Called once when the consumer cancels or goes away before the end.
    private var onCancel: (@Sendable () -> Void)?

    init(capacity: Int) {
        self.capacity = Swift.max(1, capacity)
        batches.reserveCapacity(Swift.min(self.capacity, 8))
    }

    /// Sets the hook run when the consumer cancels or leaves early (before the job is queued).
    func setOnCancel(_ hook: @escaping @Sendable () -> Void) { condition.withLock { onCancel = hook } }

    var isAbandoned: Bool { condition.withLock { abandoned } }

    /// Producer: blocks while the channel is full; false once the consumer has gone.
    func push(_ batch: StreamBatch) -> Bool {
        condition.lock()
        while batches.count >= capacity && !abandoned {
            producerWaiting = true
            condition.wait()
        }
        producerWaiting = false
        if abandoned {
            condition.unlock()
            return false
        }
        if let c = waiting {
            waiting = nil
            condition.unlock()
            c.resume(returning: batch)
            return true
        }
        batches.append(batch)
        condition.unlock()
        return true
    }

    /// Producer: the end (nil) or the error the consumer gets after the batches already pushed.
    func finish(_ error: Error?) {
        condition.lock()
        finished = true
        failure = error
        onCancel = nil
        let c = waiting
        waiting = nil
        condition.unlock()
        if let c {
            if let error { c.resume(throwing: error) } else { c.resume(returning: nil) }
        }
    }

    /// The consumer has gone (iterator dropped, loop left, or the connection closed): the producer
    /// stops at its next batch, and the cancel hook runs if the job is not over. A consumer still
    /// waiting gets `reason`.
    func abandon(reason: Error? = nil) {
        condition.lock()
        if abandonReason == nil { abandonReason = reason }
        let hook = cancelLocked()
        let c = reason == nil ? nil : waiting
        if c != nil { waiting = nil }
        condition.unlock()
        if let c, let reason { c.resume(throwing: reason) }
        hook?()
    }

    private enum Poll {
        case batch(StreamBatch)
        case end(Error?)
        case empty
    }

    /// Takes what is available without waiting (callers hold `condition`).
    private func poll() -> Poll {
        if let reason = abandonReason, !endDelivered {
            endDelivered = true
            batches.removeAll()
            return .end(reason)
        }
        if !batches.isEmpty {
            let batch = batches.removeFirst()
            // Wake a blocked producer only once half the room is free: fewer wake-ups.
            if producerWaiting && batches.count <= capacity / 2 { condition.signal() }
            return .batch(batch)
        }
        if endDelivered { return .end(nil) }
        if finished || abandoned {
            endDelivered = true
            return .end(abandoned && !finished ? CancellationError() : failure)
        }
        return .empty
    }

    /// Marks the consumer gone (callers hold `condition`); returns the cancel hook to run.
    private func cancelLocked() -> (@Sendable () -> Void)? {
        abandoned = true
        condition.broadcast()
        let hook = finished ? nil : onCancel
        onCancel = nil
        return hook
    }

    /// Consumer: the next batch, nil at the end; throws the stream's error, or
    /// `CancellationError` if the task is cancelled before the end (the cancel hook then runs).
    /// Runs on the caller's executor (no hop for an actor-isolated consumer).
    func next(isolation actor: isolated (any Actor)? = #isolation) async throws -> StreamBatch? {
        // Fast path: no continuation when a batch is waiting.
        let polled = try pollNow(cancelled: Task.isCancelled)
        switch polled {
        case .batch(let batch): return batch
        case .end(let error):
            if let error { throw error }
            return nil
        case .empty: break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation(isolation: actor) { (c: CheckedContinuation<StreamBatch?, Error>) in
                condition.lock()
                switch poll() {
                case .batch(let batch):
                    condition.unlock()
                    c.resume(returning: batch)
                case .end(let error):
                    condition.unlock()
                    if let error { c.resume(throwing: error) } else { c.resume(returning: nil) }
                case .empty:
                    if Task.isCancelled {
                        let hook = cancelLocked()
                        condition.unlock()
                        c.resume(throwing: CancellationError())
                        hook?()
                    } else {
                        waiting = c
                        condition.unlock()
                    }
                }
            }
        } onCancel: {
            condition.lock()
            let hook = cancelLocked()
            let c = waiting
            waiting = nil
            condition.unlock()
            c?.resume(throwing: CancellationError())
            hook?()
        }
    }

    /// Consumer: takes what is available without waiting; throws if the task was cancelled.
    private func pollNow(cancelled: Bool) throws -> Poll {
        condition.lock()
        if cancelled && !finished && !endDelivered {
            let hook = cancelLocked()
            condition.unlock()
            hook?()
            throw CancellationError()
        }
        let result = poll()
        condition.unlock()
        return result
    }
}

/// The consumer's side of one stream: the channel, and the connection's "a stream is open" mark,
/// released when the stream ends for the consumer (end, error, or the iterator dropped).
final class StreamLease: Sendable {
    let channel: BatchChannel
    private let registry: OpenStreamRegistry

    init(channel: BatchChannel, registry: OpenStreamRegistry) {
        self.channel = channel
        self.registry = registry
    }

    deinit {
        channel.abandon()
        registry.release(channel)
    }

    /// The next batch; at the end (nil or an error) the connection is free for other operations.
    func next(isolation actor: isolated (any Actor)? = #isolation) async throws -> StreamBatch? {
        do {
            guard let batch = try await channel.next() else {
                registry.release(channel)
                return nil
            }
            return batch
        } catch {
            registry.release(channel)
            throw error
        }
    }
}

/// Which stream, if any, is open on an `AsyncConnection`. While one is, every other operation
/// fails at once: it would queue behind the stream's job on the I/O thread, which waits for the
/// consumer, so awaiting it inside the loop would deadlock.
final class OpenStreamRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var open: BatchChannel?

    static let busyMessage = "another operation was started on this AsyncConnection while a row or COPY stream on it "
        + "is being iterated (it would wait for the stream, which waits for its consumer): finish or leave the loop "
        + "first, or use another connection"

    /// Makes `channel`'s stream the open one; false if another one is open.
    func claim(_ channel: BatchChannel) -> Bool {
        lock.withLock {
            if open != nil { return false }
            open = channel
            return true
        }
    }

    func release(_ channel: BatchChannel) {
        lock.withLock { if open === channel { open = nil } }
    }

    /// Whether a stream is being iterated.
    var isOpen: Bool { lock.withLock { open != nil } }

    /// Throws the "busy" error if a stream is open.
    func check() throws(DatabaseError) {
        if lock.withLock({ open != nil }) { throw Self.busyError }
    }

    static var busyError: PostgresError { .invalidUsage(busyMessage) }

    /// Ends the open stream for its consumer (the connection is closing).
    func abandonOpen(reason: Error) {
        let channel = lock.withLock { () -> BatchChannel? in
            defer { open = nil }
            return open
        }
        channel?.abandon(reason: reason)
    }
}

extension Connection {
    /// `query(_:fetchSize:_:)` calling `beforeRead` whenever it is about to wait for more bytes.
    func streamRows(_ query: PostgresQuery, fetchSize: Int, beforeRead: @escaping () -> Void,
                    _ body: (Row) -> Void) throws(PostgresError) {
        let results = try runBatch([query], fetchSize: Swift.max(0, fetchSize), beforeRead: beforeRead) { _, row in body(row) }
        _ = try results[0].get()
    }
}
