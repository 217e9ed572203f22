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
    /// The row or COPY stream being iterated, if any (other operations then fail at once).
    let openStream = OpenStreamRegistry()

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
    /// (`CancellationError` if the task was cancelled before the work started). While a row or
    /// COPY stream of this connection is being iterated, it throws a `.programming` error at once.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try Task.checkCancellation()
        try openStream.check()
        return try await runOnIOThread(body)
    }

    /// `withConnection` without the open-stream check.
    func runOnIOThread<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await run(BodyJob(connection: connection, condition: io.gateCondition, body))
    }

    /// The connection's I/O thread as a task executor. A task that prefers it runs its
    /// nonisolated code on that thread, and this connection's operations then run inline there,
    /// with no hand-off to the I/O thread and back (the blocking API's speed):
    ///
    ///     try await withTaskExecutorPreference(connection.executor) {
    ///         for id in ids { _ = try await connection.query("SELECT \(id)") }
    ///     }
    ///
    /// The thread serves this connection only: other connections' operations hop to their own
    /// threads as usual, and while one operation runs, the tasks that prefer this executor wait.
    /// A row or COPY OUT stream opened there buffers its whole result client-side (its producer
    /// cannot wait for a consumer that runs on the same thread); `copyIn` feeds its data from
    /// the global concurrent executor.
    @available(macOS 15.0, *)
    public var executor: any TaskExecutor { io }

    /// Whether the calling task runs on this connection's I/O thread (it prefers `executor`):
    /// blocking work may then run inline.
    var runsOnIOThread: Bool {
        guard #available(macOS 15.0, *) else { return false }
        let preferred = withUnsafeCurrentTask { $0?.unownedTaskExecutor }
        guard let preferred, preferred == io.asUnownedTaskExecutor() else { return false }
        return io.isCurrent
    }

    /// Queues `job` on the I/O thread and suspends until it resumes the task with its result
    /// (on the I/O thread as the task's executor: runs it inline). Task cancellation while it
    /// runs sends a CancelRequest (before it starts: the job is skipped and throws
    /// `CancellationError`).
    func run<T: Sendable>(_ job: AwaitedJob<T>) async throws -> T {
        let connection = self.connection
        let io = self.io
        if runsOnIOThread {
            return try await withTaskCancellationHandler {
                try job.runInline()
            } onCancel: {
                job.cancelIfRunning(connection)
            }
        }
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, Error>) in
                job.continuation = continuation
                if !io.submit(job) {
                    job.continuation = nil
                    continuation.resume(throwing: PostgresError.connectionClosed("connection is closed"))
                }
            }
        } onCancel: {
            job.cancelIfRunning(connection)
        }
    }

    // MARK: Queries

    /// Runs a query built by interpolation (values become parameters) and collects its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> QueryResult {
        try Task.checkCancellation()
        try openStream.check()
        return try await run(QueryJob(connection: connection, condition: io.gateCondition, query))
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

    /// Streams a query's rows as an AsyncSequence. The server sends `fetchSize` rows at a time
    /// (0: the whole result at once, the socket giving backpressure) and at most about
    /// `bufferSize` rows wait client-side. Rows are handed from the I/O thread in batches (the
    /// rows of one socket read, or fewer), so a row costs no wake-up; a `Row` shares its batch's
    /// buffer (up to 64 KiB): `detached()` keeps one alone. Cancelling the task or leaving the
    /// loop early sends a CancelRequest (outside a transaction block; inside one the rest is
    /// drained), and the connection stays usable. While the stream is being iterated, any other
    /// operation on this connection throws a `.programming` `DatabaseError` at once.
    public func rows(_ query: PostgresQuery, fetchSize: Int = 0, bufferSize: Int = 4096) -> RowStream {
        RowStream(connection: self, query: query, fetchSize: fetchSize, bufferSize: bufferSize)
    }

    /// Opens a stream: claims the connection for it and queues its job on the I/O thread, which
    /// calls `run` with a producer whose `flush` must run before each blocking read.
    func openStream(bufferSize: Int,
                    _ run: @escaping @Sendable (Connection, StreamProducer) throws -> Void) -> StreamLease {
        let limits = StreamLimits(bufferSize: bufferSize)
        // Opened by a task that runs on the I/O thread: the producer must never wait for that
        // task (it could not run), so the whole result may queue up.
        let channel = BatchChannel(capacity: runsOnIOThread ? Int.max : limits.capacity)
        let lease = StreamLease(channel: channel, registry: openStream)
        guard openStream.claim(channel) else {
            channel.finish(OpenStreamRegistry.busyError)
            return lease
        }
        let connection = self.connection
        let gate = CancelGate(condition: io.gateCondition)
        // The consumer cancelled or left while the job runs: stop the server when that cannot
        // hurt an open transaction (inside one, the job drains the rest).
        let stopServer: @Sendable () -> Void = {
            if connection.transactionStatus == .idle { gate.cancelIfRunning(connection) }
        }
        channel.setOnCancel(stopServer)
        let submitted = io.submit {
            guard gate.begin(), !channel.isAbandoned else {
                gate.end()
                channel.finish(nil)
                return
            }
            let producer = StreamProducer(channel: channel, limits: limits, stop: stopServer)
            var failure: Error?
            do {
                try run(connection, producer)
            } catch {
                failure = error
            }
            // The rows before an error arrive first.
            producer.flush()
            // Wait for any CancelRequest in flight, so it cannot hit the next job.
            gate.end()
            channel.finish(producer.abandoned ? nil : failure.map { DatabaseError.wrap($0) })
        }
        if !submitted { channel.finish(PostgresError.connectionClosed("connection is closed")) }
        return lease
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
            // Roll back even when the task is cancelled.
            _ = try? await Task { [self] in
                try await withConnection { try $0.endTransactionBlock(savepoint: savepoint, bodyThrew: true) }
            }.value
            throw error
        }
        try await withConnection { try $0.endTransactionBlock(savepoint: savepoint, bodyThrew: false) }
        return result
    }

    // MARK: Cancel and close

    /// Sends a CancelRequest for whatever runs now.
    public func cancel() async throws {
        let connection = self.connection
        try await runOnNewThread(name: "PostgresWire cancel") { try asDatabaseError { try connection.cancel() } }
    }

    /// Closes the connection once queued work has run. A stream being iterated ends with an
    /// `.interface` error ("connection is closed").
    public func close() async {
        stopNotifications()
        openStream.abandonOpen(reason: PostgresError.connectionClosed("connection is closed"))
        _ = try? await runOnIOThread { $0.close() }
        connection.close()
        io.stop()
    }
}

/// Rows of a query as an AsyncSequence (see `AsyncConnection.rows`). Each iteration runs the
/// query again.
public struct RowStream: AsyncSequence, Sendable {
    public typealias Element = Row
    let connection: AsyncConnection
    let query: PostgresQuery
    let fetchSize: Int
    let bufferSize: Int

    public func makeAsyncIterator() -> Iterator {
        let query = self.query
        let fetchSize = self.fetchSize
        let lease = connection.openStream(bufferSize: bufferSize) { connection, producer in
            try connection.streamRows(query, fetchSize: fetchSize, beforeRead: { producer.flush() }) { row in
                producer.add(row.data.storage, columns: row.columns)
            }
        }
        return Iterator(lease: lease)
    }

    public struct Iterator: AsyncIteratorProtocol {
        @usableFromInline var cursor: BatchCursor

        init(lease: StreamLease) { cursor = BatchCursor(lease: lease) }

        @inlinable
        public mutating func next() async throws -> Row? {
            try await next(isolation: nil)
        }

        /// Runs on the caller's executor: an actor-isolated loop does not hop per row. A row of
        /// the batch at hand is taken inline, where the loop calls this; only a new batch is awaited.
        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> Row? {
            if let storage = cursor.nextBuffered() {
                guard let columns = cursor.columns else { return nil }
                return Row(columns: columns, data: DataRow(columnCount: cursor.columnCount, storage: storage))
            }
            return try await nextInNewBatch(isolation: actor)
        }

        @usableFromInline
        mutating func nextInNewBatch(isolation actor: isolated (any Actor)?) async throws -> Row? {
            guard let storage = try await cursor.next(isolation: actor), let columns = cursor.columns else { return nil }
            return Row(columns: columns, data: DataRow(columnCount: cursor.columnCount, storage: storage))
        }
    }
}

/// A job whose result resumes an awaiting task (see `AsyncConnection.run`): it is skipped when
/// the task was cancelled before it started, and its errors become `DatabaseError`s.
class AwaitedJob<T: Sendable>: IOJob, @unchecked Sendable {
    let connection: Connection
    /// Set before the job is queued; resumed exactly once.
    var continuation: UnsafeContinuation<T, Error>?

    init(connection: Connection, condition: NSCondition) {
        self.connection = connection
        super.init(condition: condition)
    }

    /// The blocking work (subclasses).
    func work() throws -> T { fatalError("AwaitedJob.work must be overridden") }

    override final func run() {
        guard let continuation else { return }
        self.continuation = nil
        continuation.resume(with: Result { try runInline() })
    }

    /// Runs the job on the calling thread (the I/O thread).
    final func runInline() throws -> T {
        guard begin() else { throw CancellationError() }
        let result: Result<T, Error>
        do {
            result = .success(try work())
        } catch {
            result = .failure(DatabaseError.wrap(error))
        }
        end()
        return try result.get()
    }
}

/// `withConnection`'s job: a closure over the blocking connection.
final class BodyJob<T: Sendable>: AwaitedJob<T>, @unchecked Sendable {
    private let body: @Sendable (Connection) throws -> T

    init(connection: Connection, condition: NSCondition, _ body: @escaping @Sendable (Connection) throws -> T) {
        self.body = body
        super.init(connection: connection, condition: condition)
    }

    override func work() throws -> T { try body(connection) }
}

/// `query`'s job, without a closure: the query is a field.
final class QueryJob: AwaitedJob<QueryResult>, @unchecked Sendable {
    private let query: PostgresQuery

    init(connection: Connection, condition: NSCondition, _ query: PostgresQuery) {
        self.query = query
        super.init(connection: connection, condition: condition)
    }

    override func work() throws -> QueryResult { try connection.query(query) }
}
