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
        // The I/O thread waits for the data: it must not come from a task that runs there.
        if #available(macOS 15.0, *), runsOnIOThread {
            return try await withTaskExecutorPreference(globalConcurrentExecutor) {
                try await runCopyIn(sql, bufferedChunks: bufferedChunks, produce)
            }
        }
        try Task.checkCancellation()
        try openStream.check()
        let channel = CopyInChannel(capacity: Swift.max(1, bufferedChunks))
        let outcome = JobOutcome<Int>()
        let gate = CancelGate(condition: io.gateCondition)
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
        var cursor: BatchCursor

        init(lease: StreamLease) { cursor = BatchCursor(lease: lease) }

        public mutating func next() async throws -> [UInt8]? {
            try await cursor.next(isolation: nil).map(Array.init)
        }

        /// Runs on the caller's executor: an actor-isolated loop does not hop per chunk.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> [UInt8]? {
            try await cursor.next(isolation: actor).map(Array.init)
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
            try await base.cursor.next(isolation: nil).map(CopyText.decodeRow)
        }

        /// Runs on the caller's executor: an actor-isolated loop does not hop per row.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> [String?]? {
            try await base.cursor.next(isolation: actor).map(CopyText.decodeRow)
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
