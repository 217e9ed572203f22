import Foundation
import PostgresWireProtocol

extension AsyncConnection {
    // MARK: COPY FROM STDIN

    /// Runs `COPY … FROM STDIN` (default text format) with rows pulled from an AsyncSequence; nil
    /// fields become NULL, and COPY's escaping is done for you. Returns the number of rows copied.
    ///
    /// The sequence is iterated on the calling task; encoded data goes to the I/O thread in 64 KiB
    /// chunks, at most `bufferedChunks` of them waiting (backpressure: the task is suspended, the
    /// cooperative pool never blocks). If the sequence throws, CopyFail is sent and its error is
    /// rethrown; if the task is cancelled, CopyFail (and a CancelRequest, in case the server is
    /// still busy before the data phase) is sent and `CancellationError` thrown; a server
    /// error (bad data) is thrown as a `DatabaseError`. The connection stays usable in every case.
    @discardableResult
    public func copyIn<Rows: AsyncSequence>(_ sql: String, rows: Rows, bufferedChunks: Int = 4) async throws -> Int
    where Rows.Element == [String?] {
        try await runCopyIn(sql, bufferedChunks: bufferedChunks) { send in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(CopyInWriter.chunkSize + 4096)
            for try await row in rows {
                CopyText.appendRow(row, to: &buffer)
                if buffer.count >= CopyInWriter.chunkSize {
                    try await send(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            if !buffer.isEmpty { try await send(buffer) }
        }
    }

    /// Runs `COPY … FROM STDIN` with raw data (in the format the statement names: text, csv or
    /// binary) pulled from an AsyncSequence of byte chunks (`[UInt8]`, `Data`, `String.UTF8View`…).
    /// Small chunks are coalesced up to 64 KiB. Errors, cancellation and backpressure as in
    /// `copyIn(_:rows:)`.
    @discardableResult
    public func copyIn<Chunks: AsyncSequence>(_ sql: String, data: Chunks, bufferedChunks: Int = 4) async throws -> Int
    where Chunks.Element: Sequence, Chunks.Element.Element == UInt8 {
        try await runCopyIn(sql, bufferedChunks: bufferedChunks) { send in
            var buffer: [UInt8] = []
            for try await chunk in data {
                buffer.append(contentsOf: chunk)
                if buffer.count >= CopyInWriter.chunkSize {
                    try await send(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            if !buffer.isEmpty { try await send(buffer) }
        }
    }

    /// The COPY FROM STDIN machinery: `produce` runs on the calling task and hands chunks to the
    /// I/O thread, which writes them inside the blocking `Connection.copyIn`.
    private func runCopyIn(_ sql: String, bufferedChunks: Int,
                           _ produce: (_ send: ([UInt8]) async throws -> Void) async throws -> Void) async throws -> Int {
        try Task.checkCancellation()
        try openStream.check()
        let channel = CopyInChannel(capacity: Swift.max(1, bufferedChunks))
        let outcome = JobOutcome<Int>()
        let gate = CancelGate()
        let connection = self.connection
        let submitted = io.submit {
            if channel.failedBeforeStart || !gate.begin() {
                channel.closeConsumer()
                outcome.set(.failure(CancellationError()))
                return
            }
            let result = Result { () throws -> Int in
                try connection.copyIn(sql) { writer in
                    while let chunk = try channel.take() { try writer.write(chunk) }
                }
            }
            // Wait for any CancelRequest in flight, so it cannot hit the next job.
            gate.end()
            channel.closeConsumer()
            outcome.set(result)
        }
        guard submitted else { throw PostgresError.connectionClosed("connection is closed") }

        var producerError: Error?
        let result = await withTaskCancellationHandler {
            do {
                try await produce { chunk in try await channel.put(chunk) }
                channel.finish()
            } catch {
                producerError = error
                channel.fail(error)
            }
            // The I/O thread finishes soon (the channel is finished or failed) unless the server
            // is busy; cancellation then goes through the CancelRequest below.
            return await outcome.value()
        } onCancel: {
            // CopyFail in the data phase; the CancelRequest also covers a server that has not got
            // there (e.g. waiting for a lock) or is still busy after all data was sent.
            channel.fail(CancellationError())
            gate.cancelIfRunning(connection)
        }
        if let producerError, !(producerError is CopyChannelClosed) { throw producerError }
        switch result {
        case .success(let rows): return rows
        case .failure(let error as CancellationError): throw error
        case .failure(let error):
            // Most likely the server's 57014 answering our CancelRequest.
            if Task.isCancelled { throw CancellationError() }
            throw DatabaseError.wrap(error)
        }
    }

    // MARK: COPY TO STDOUT

    /// Runs `COPY … TO STDOUT` and streams its CopyData chunks (one per row in text and CSV formats)
    /// as an AsyncSequence. At most about `bufferSize` chunks wait client-side (backpressure: the
    /// I/O thread stops reading, so the server waits too); they are handed over in batches, so a
    /// chunk costs no wake-up. Ending the iteration early or cancelling the task sends a
    /// CancelRequest (outside a transaction block; inside one the rest is drained), and the
    /// connection stays usable. While the stream is being iterated, any other operation on this
    /// connection throws a `.programming` `DatabaseError` at once.
    public func copyOut(_ sql: String, bufferSize: Int = 4096) -> CopyOutStream {
        CopyOutStream(connection: self, sql: sql, bufferSize: bufferSize)
    }

    /// `copyOut` in COPY's default text format, each row decoded to its fields (nil for NULL).
    public func copyOutRows(_ sql: String, bufferSize: Int = 4096) -> CopyOutRowStream {
        CopyOutRowStream(chunks: copyOut(sql, bufferSize: bufferSize))
    }
}

/// CopyData chunks of a `COPY … TO STDOUT` as an AsyncSequence (see `AsyncConnection.copyOut`).
/// Each iteration runs the statement again.
public struct CopyOutStream: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let connection: AsyncConnection
    let sql: String
    let bufferSize: Int

    public func makeAsyncIterator() -> Iterator {
        let sql = self.sql
        let lease = connection.openStream(bufferSize: bufferSize) { connection, producer in
            _ = try connection.copyOut(sql, beforeRead: { producer.flush() }) { chunk in producer.add(chunk, columns: nil) }
        }
        return Iterator(lease: lease)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let lease: StreamLease
        // The current batch, walked without locks.
        var bytes: [UInt8] = []
        var ends: [Int] = []
        var index = 0
        var start = 0

        init(lease: StreamLease) { self.lease = lease }

        public mutating func next() async throws -> [UInt8]? {
            try await nextSlice(isolation: nil).map(Array.init)
        }

        /// Runs on the caller's executor: an actor-isolated loop does not hop per chunk.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> [UInt8]? {
            try await nextSlice(isolation: actor).map(Array.init)
        }

        /// The next chunk as a slice of its batch.
        mutating func nextSlice(isolation actor: isolated (any Actor)?) async throws -> ArraySlice<UInt8>? {
            while true {
                if index < ends.count {
                    let end = ends[index]
                    let chunk = bytes[start..<end]
                    start = end
                    index += 1
                    return chunk
                }
                guard let batch = try await lease.next() else {
                    bytes = []
                    ends = []
                    index = 0
                    return nil
                }
                bytes = batch.bytes
                ends = batch.ends
                index = 0
                start = 0
            }
        }
    }
}

/// Rows of a `COPY … TO STDOUT` in text format, decoded (see `AsyncConnection.copyOutRows`).
public struct CopyOutRowStream: AsyncSequence, Sendable {
    public typealias Element = [String?]
    let chunks: CopyOutStream

    public func makeAsyncIterator() -> Iterator { Iterator(base: chunks.makeAsyncIterator()) }

    public struct Iterator: AsyncIteratorProtocol {
        var base: CopyOutStream.Iterator

        public mutating func next() async throws -> [String?]? {
            try await base.nextSlice(isolation: nil).map(CopyText.decodeRow)
        }

        /// Runs on the caller's executor: an actor-isolated loop does not hop per row.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> [String?]? {
            try await base.nextSlice(isolation: actor).map(CopyText.decodeRow)
        }
    }
}

extension CopyText {
    /// Appends one row in COPY's text format (tab-separated, `\N` for NULL, backslash, tab,
    /// newline and carriage return escaped) and its newline.
    static func appendRow(_ values: [String?], to buffer: inout [UInt8]) {
        for (i, value) in values.enumerated() {
            if i > 0 { buffer.append(9) }
            guard let value else {
                buffer.append(UInt8(ascii: "\\"))
                buffer.append(UInt8(ascii: "N"))
                continue
            }
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): buffer.append(92); buffer.append(92)
                case 9: buffer.append(92); buffer.append(UInt8(ascii: "t"))
                case 10: buffer.append(92); buffer.append(UInt8(ascii: "n"))
                case 13: buffer.append(92); buffer.append(UInt8(ascii: "r"))
                default: buffer.append(byte)
                }
            }
        }
        buffer.append(10)
    }
}

// MARK: Plumbing

/// The stream ended on the consumer side (the COPY job is over) before the producer finished.
struct CopyChannelClosed: Error {}

/// A bounded queue from a task (producer, suspending) to the I/O thread (consumer, blocking).
final class CopyInChannel: @unchecked Sendable {
    private let condition = NSCondition()
    private var chunks: [[UInt8]] = []
    private let capacity: Int
    private var finished = false
    private var failure: Error?
    private var consumerClosed = false
    private var consumerStarted = false
    private var waitingProducer: CheckedContinuation<Void, Error>?

    init(capacity: Int) { self.capacity = capacity }

    /// Producer: queues a chunk; suspends while the queue is full.
    func put(_ chunk: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            condition.lock()
            if let failure {
                condition.unlock()
                c.resume(throwing: failure)
                return
            }
            if consumerClosed {
                condition.unlock()
                c.resume(throwing: CopyChannelClosed())
                return
            }
            chunks.append(chunk)
            condition.signal()
            if chunks.count < capacity {
                condition.unlock()
                c.resume()
            } else {
                waitingProducer = c
                condition.unlock()
            }
        }
    }

    /// Producer: no more data.
    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Producer side failed or was cancelled: the consumer throws `error`. Ignored (false) once
    /// the producer finished or failed.
    @discardableResult
    func fail(_ error: Error) -> Bool {
        condition.lock()
        guard !finished, failure == nil else {
            condition.unlock()
            return false
        }
        failure = error
        let c = waitingProducer
        waitingProducer = nil
        condition.broadcast()
        condition.unlock()
        c?.resume(throwing: error)
        return true
    }

    /// Consumer: true if the producer failed before the consumer started (skip the job).
    var failedBeforeStart: Bool {
        condition.lock()
        defer { condition.unlock() }
        consumerStarted = true
        return failure != nil
    }

    /// Consumer: the next chunk (blocking), nil at the end; throws the producer's failure.
    func take() throws -> [UInt8]? {
        condition.lock()
        while chunks.isEmpty && !finished && failure == nil { condition.wait() }
        if let failure {
            condition.unlock()
            throw failure
        }
        guard !chunks.isEmpty else {
            condition.unlock()
            return nil
        }
        let chunk = chunks.removeFirst()
        var resume: CheckedContinuation<Void, Error>?
        if chunks.count < capacity {
            resume = waitingProducer
            waitingProducer = nil
        }
        condition.unlock()
        resume?.resume()
        return chunk
    }

    /// Consumer: the job is over; later puts throw `CopyChannelClosed`.
    func closeConsumer() {
        condition.lock()
        consumerClosed = true
        chunks.removeAll()
        let c = waitingProducer
        waitingProducer = nil
        condition.unlock()
        c?.resume(throwing: CopyChannelClosed())
    }
}

/// The result of a job on the I/O thread, awaited (not cancellably) by a task.
final class JobOutcome<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, Error>?
    private var waiter: CheckedContinuation<Result<T, Error>, Never>?

    func set(_ value: Result<T, Error>) {
        lock.lock()
        if let w = waiter {
            waiter = nil
            lock.unlock()
            w.resume(returning: value)
        } else {
            result = value
            lock.unlock()
        }
    }

    func value() async -> Result<T, Error> {
        await withCheckedContinuation { (c: CheckedContinuation<Result<T, Error>, Never>) in
            lock.lock()
            if let result {
                lock.unlock()
                c.resume(returning: result)
            } else {
                waiter = c
                lock.unlock()
            }
        }
    }
}

/// Cancellation of one operation: CancelRequests only while it runs, and `end()` waits for the
/// one in flight so that none reaches the server after the next operation started.
///
/// A CancelRequest that reaches the server before the query does (the task was cancelled just as
/// the operation began) is ignored by the server, so while the operation still runs the request
/// is repeated every `resendInterval` (at most `maximumRequests` in all): a cancelled task never
/// waits for a long query to finish on its own.
final class CancelGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var running = false
    private var over = false
    private var sending = false
    private let group = DispatchGroup()
    static let resendInterval: TimeInterval = 0.5
    static let maximumRequests = 20

    /// I/O thread: the operation starts; false if it was cancelled before.
    func begin() -> Bool {
        condition.withLock {
            if over { return false }
            running = true
            return true
        }
    }

    /// Any thread: sends CancelRequests (from a Dispatch thread) while the operation runs; a
    /// cancellation before it started makes `begin()` return false.
    func cancelIfRunning(_ connection: Connection) {
        condition.lock()
        if !running {
            over = true
            condition.unlock()
            return
        }
        guard !sending, !over else {
            condition.unlock()
            return
        }
        sending = true
        group.enter()
        condition.unlock()
        DispatchQueue.global().async { [self] in
            for _ in 0..<Self.maximumRequests {
                try? connection.cancel()
                let deadline = Date(timeIntervalSinceNow: Self.resendInterval)
                condition.lock()
                while !over && condition.wait(until: deadline) {}
                let done = over
                condition.unlock()
                if done { break }
            }
            group.leave()
        }
    }

    /// I/O thread: the operation is over; waits for a CancelRequest in flight.
    func end() {
        condition.withLock {
            running = false
            over = true
            condition.broadcast()
        }
        group.wait()
    }
}
