import Foundation
import PostgresWireProtocol

/// The async/await face of a `Connection`. Every blocking call runs on the connection's own I/O
/// thread, never on the cooperative thread pool; awaiting callers are suspended (continuations),
/// so thousands of tasks can wait on a few connections. Cancelling the awaiting task sends a
/// CancelRequest for the query it is running (or drops it if it has not started).
///
/// Statements run as given (autocommit): use `transaction { }` for transactions, or
/// `withConnection { }` to run blocking DB-API code (cursors) on the I/O thread.
public final class AsyncConnection: Sendable {
    /// The underlying blocking connection (thread-safe; calls are serialised).
    public let connection: Connection
    let io: IOThread
    /// The consumers of `notifications()`.
    let notificationHub = NotificationHub()

    /// Wraps an open connection; it gets its own I/O thread.
    public init(wrapping connection: Connection) {
        self.connection = connection
        self.io = IOThread(name: "PostgresWire I/O \(connection.backendPID.map(String.init) ?? "?")")
    }

    deinit {
        notificationHub.finishAll(throwing: nil) {}
        io.stop()
    }

    /// Opens a connection (libpq connection string; empty, the default: the PG* environment variables,
    /// ~/.pgpass and libpq's defaults) without blocking the cooperative pool.
    public static func connect(_ dsn: String = "", options: ConnectionOptions = ConnectionOptions()) async throws -> AsyncConnection {
        let connection = try await runOnNewThread(name: "PostgresWire connect") { () throws -> Connection in
            try asDatabaseError { try Connection.connect(dsn, options: options) }
        }
        return AsyncConnection(wrapping: connection)
    }

    /// Opens a connection from a parsed configuration.
    public static func connect(configuration: ConnectionConfiguration, options: ConnectionOptions = ConnectionOptions()) async throws -> AsyncConnection {
        let connection = try await runOnNewThread(name: "PostgresWire connect") { () throws -> Connection in
            try asDatabaseError { try Connection(configuration: configuration, options: options) }
        }
        return AsyncConnection(wrapping: connection)
    }

    // MARK: State

    public var transactionStatus: TransactionStatus { connection.transactionStatus }
    public var isClosed: Bool { connection.isClosed }
    public var serverParameters: [String: String] { connection.parameters }
    public var backendPID: Int32? { connection.backendPID }

    // MARK: Running blocking work

    /// Runs `body` with the blocking connection on the I/O thread (e.g. DB-API cursor code).
    /// Task cancellation while it runs sends a CancelRequest. Errors become `DatabaseError`s
    /// (`CancellationError` if the task was cancelled before the work started).
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try Task.checkCancellation()
        let state = OperationState()
        let connection = self.connection
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
                let submitted = io.submit {
                    guard state.start() else {
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    let result = Result { try body(connection) }.mapError { DatabaseError.wrap($0) as Error }
                    state.finish()
                    continuation.resume(with: result)
                }
                if !submitted { continuation.resume(throwing: DatabaseError.interface("connection is closed")) }
            }
        } onCancel: {
            if state.cancel() == .running {
                Self.sendCancel(connection, unless: state)
            }
        }
    }

    /// Sends a CancelRequest from a Dispatch thread (opening a socket blocks) if `state` is still running.
    static func sendCancel(_ connection: Connection, unless state: OperationState? = nil) {
        DispatchQueue.global().async {
            if let state, !state.isRunning { return }
            try? connection.cancel()
        }
    }

    // MARK: Queries

    /// Runs a query built by interpolation (values become parameters) and collects its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> QueryResult {
        try await withConnection { try $0.query(query) }
    }

    /// Runs a statement with `$n` parameters given as Swift values (`[1, "x", nil]`).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [(any PostgresEncodable)?]) async throws -> QueryResult {
        let bindings = try Cursor.bindings(parameters)
        return try await query(PostgresQuery(unsafeSQL: sql, bindings: bindings))
    }

    /// Runs the statement once per parameter set in one pipeline; returns the total row count.
    @discardableResult
    public func executeMany(_ sql: String, _ parameterSets: [[(any PostgresEncodable)?]]) async throws -> Int {
        var sets: [PostgresBindings] = []
        for p in parameterSets { sets.append(try Cursor.bindings(p)) }
        let batch = sets
        return try await withConnection { try $0.executeMany(sql, batch).reduce(0) { $0 + ($1 ?? 0) } }
    }

    /// Runs one or several statements with the simple protocol.
    @discardableResult
    public func simpleQuery(_ sql: String) async throws -> [QueryResult] {
        try await withConnection { try $0.simpleQuery(sql) }
    }

    /// Streams a query's rows as an AsyncSequence. The server sends `fetchSize` rows at a time and
    /// at most `bufferSize` rows wait client-side (backpressure). Run nothing else on this
    /// connection while iterating.
    public func rows(_ query: PostgresQuery, fetchSize: Int = 500, bufferSize: Int = 1000) -> RowStream {
        RowStream(connection: self, query: query, fetchSize: fetchSize, bufferSize: bufferSize)
    }

    /// Queues a streaming job on the I/O thread.
    func startStream(_ query: PostgresQuery, fetchSize: Int, channel: RowChannel) {
        let connection = self.connection
        channel.onCancel = { if connection.transactionStatus == .idle { Self.sendCancel(connection) } }
        let submitted = io.submit {
            var abandoned = false
            do {
                try connection.query(query, fetchSize: fetchSize) { row in
                    if abandoned { return }
                    if !channel.push(row.detached()) {
                        abandoned = true
                        // Stop the server early when that cannot hurt an open transaction.
                        if connection.transactionStatus == .idle { try? connection.cancel() }
                    }
                }
                channel.finish(nil)
            } catch {
                channel.finish(abandoned ? nil : DatabaseError.wrap(error))
            }
        }
        if !submitted { channel.finish(DatabaseError.interface("connection is closed")) }
    }

    // MARK: Transactions

    /// Runs `body` in a transaction (BEGIN … COMMIT, ROLLBACK when it throws); nested blocks use
    /// savepoints.
    @discardableResult
    public func transaction<T>(_ characteristics: TransactionCharacteristics? = nil,
                               _ body: (AsyncConnection) async throws -> T) async throws -> T {
        let savepoint = try await withConnection { try $0.beginTransactionBlock(characteristics) }
        let result: T
        do {
            result = try await body(self)
        } catch {
            connection.endTransactionBlock(savepoint: savepoint)
            // Roll back even when the task is cancelled.
            let rollback = savepoint.map { "ROLLBACK TO SAVEPOINT \($0); RELEASE SAVEPOINT \($0)" } ?? "ROLLBACK"
            _ = try? await Task { [self] in try await simpleQuery(rollback) }.value
            throw error
        }
        connection.endTransactionBlock(savepoint: savepoint)
        if transactionStatus == .failed {
            let rollback = savepoint.map { "ROLLBACK TO SAVEPOINT \($0); RELEASE SAVEPOINT \($0)" } ?? "ROLLBACK"
            _ = try? await simpleQuery(rollback)
            throw DatabaseError(.internal, "the transaction block was rolled back: a statement in it failed")
        }
        try await simpleQuery(savepoint.map { "RELEASE SAVEPOINT \($0)" } ?? "COMMIT")
        return result
    }

    // MARK: Cancel and close

    /// Sends a CancelRequest for whatever runs now.
    public func cancel() async throws {
        let connection = self.connection
        try await runOnNewThread(name: "PostgresWire cancel") { try asDatabaseError { try connection.cancel() } }
    }

    /// Closes the connection once queued work has run.
    public func close() async {
        stopNotifications()
        _ = try? await withConnection { $0.close() }
        connection.close()
        io.stop()
    }
}

/// Rows of a query as an AsyncSequence (see `AsyncConnection.rows`).
public struct RowStream: AsyncSequence, Sendable {
    public typealias Element = Row
    let connection: AsyncConnection
    let query: PostgresQuery
    let fetchSize: Int
    let bufferSize: Int

    public func makeAsyncIterator() -> Iterator {
        let channel = RowChannel(capacity: Swift.max(1, bufferSize))
        connection.startStream(query, fetchSize: fetchSize, channel: channel)
        return Iterator(channel: channel, token: AbandonToken(channel: channel))
    }

    public struct Iterator: AsyncIteratorProtocol {
        let channel: RowChannel
        let token: AbandonToken
        public mutating func next() async throws -> Row? { try await channel.next() }
    }

    /// Marks the stream abandoned when the consumer drops the iterator.
    final class AbandonToken: Sendable {
        let channel: RowChannel
        init(channel: RowChannel) { self.channel = channel }
        deinit { channel.abandon() }
    }
}

/// Rows travel from the I/O thread to the consuming task through the bounded channel COPY uses.
typealias RowChannel = BlockingToAsyncChannel<Row>
