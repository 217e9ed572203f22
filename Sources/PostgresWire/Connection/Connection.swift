import Foundation
import Logging
import PostgresWireProtocol
import Tracing

/// A session with a PostgreSQL server, over which queries run one at a time (blocking, like libpq).
///
/// All methods are thread-safe: calls are serialised. `cancel()` may be called from another thread
/// while a query runs. Once the connection breaks (socket error, invalid server data) every later
/// call fails fast with `PostgresError.connectionLost`.
public final class Connection: @unchecked Sendable {
    public let configuration: ConnectionConfiguration
    /// The host entry this connection reached.
    public let host: ConnectionConfiguration.Host
    /// The address actually connected to: `host` with `hostaddr` set to the numeric address a
    /// TCP host name resolved to (cancel requests go there too).
    public let address: ConnectionConfiguration.Host
    public let logger: Logger

    let lock = NSLock()
    // The properties marked `@exclusivity(unchecked)` are touched only by the thread holding
    // `lock` (`stateLock` for the transaction status): the runtime's exclusivity bookkeeping on
    // each access (about 75 instructions, some 20 times per query) checks nothing the locks do
    // not already guarantee.
    let stateLock = NSLock()
    @exclusivity(unchecked) var transport: Transport
    @exclusivity(unchecked) var decoder: BackendMessageDecoder
    /// The last command tag read (a repeated tag is not read again).
    @exclusivity(unchecked) var commandTags = CommandTagMemo()
    @exclusivity(unchecked) var writeBuffer: [UInt8] = []
    @exclusivity(unchecked) private var broken: PostgresError?
    private var lastFatalError: ServerError?
    @exclusivity(unchecked) private var _queryTimeout: Double?
    /// Incremented for each operation that arms the query timer (guarded by `stateLock`).
    @exclusivity(unchecked) private var queryGeneration: UInt64 = 0
    @exclusivity(unchecked) private var closed = false
    private var _parameters: [String: String]
    @exclusivity(unchecked) var _transactionStatus: TransactionStatus
    private var _noticeHandler: @Sendable (ServerError) -> Void
    private var _notificationHandler: (@Sendable (NotificationResponse) -> Void)?
    /// DB-API session state (autocommit, transaction characteristics, cursor generation), guarded by `stateLock`.
    var dbapi = DBAPIState()

    /// The server's process ID and cancellation key (BackendKeyData).
    public let backendKeyData: BackendKeyData?
    /// The authentication method the server used ("trust", "password", "md5", "SCRAM-SHA-256").
    public let authenticationMethod: String
    /// Receives every message this connection sends and receives (e.g. a PQtrace-format writer).
    public let tracer: (any MessageTracer)?
    /// `tracer` held by reference: a message is traced without copying the existential.
    let traceSink: TraceSink?
    public let options: ConnectionOptions
    @exclusivity(unchecked) var statementCache: StatementCache
    /// Statements evicted from the cache, closed with the next batch sent.
    @exclusivity(unchecked) var statementsToClose: [String] = []
    /// The extended-query state machine a batch takes out and puts back (guarded by `lock`).
    @exclusivity(unchecked) var spareMachine = ExtendedQueryStateMachine()
    /// Called (guarded by `lock`) by `receive()` before it blocks on the socket for more bytes: a
    /// streaming consumer hands over the rows decoded so far (see `AsyncConnection.rows`).
    @exclusivity(unchecked) var beforeBlockingRead: (() -> Void)?
    /// Protocol bytes written and read, and rows received, since the connection opened (guarded
    /// by `lock`; the observability of each operation reports their increase).
    @exclusivity(unchecked) var bytesSent: UInt64 = 0
    @exclusivity(unchecked) var bytesReceived: UInt64 = 0
    @exclusivity(unchecked) var rowsReceived: UInt64 = 0
    /// Metric objects reused by each operation (guarded by `lock`).
    @exclusivity(unchecked) var operationMetrics: OperationMetrics.Cache?
    /// Whether the span of the operation running now records (a PREPARE child span only then).
    @exclusivity(unchecked) var operationSpanRecording = false
    /// The tracer found for the instrument last seen (guarded by `lock`).
    @exclusivity(unchecked) var tracerLookup: TracerLookup?
    /// The statement whose operation name was found last, and the name (guarded by `lock`): a
    /// statement run again is not scanned again.
    @exclusivity(unchecked) var lastOperationSQL = ""
    @exclusivity(unchecked) var lastOperationName = ""
    /// A number unique to this connection in the process (log metadata `db.connection_id`).
    public let connectionID: Int

    /// Opens a connection from a libpq connection string (URI or key=value), the PG* environment
    /// variables, ~/.pgpass and libpq's defaults. An empty string (the default) takes everything
    /// from the environment, as libpq's `PQconnectdb("")` and psql without arguments do.
    public static func connect(_ conninfo: String = "", options: ConnectionOptions = ConnectionOptions(), logger: Logger? = nil,
                               tracer: (any MessageTracer)? = nil) throws(PostgresError) -> Connection {
        let configuration: ConnectionConfiguration
        do {
            configuration = try ConnectionConfiguration.parse(conninfo)
        } catch {
            throw .configuration(error)
        }
        return try Connection(configuration: configuration, options: options, logger: logger, tracer: tracer)
    }

    /// Opens a connection with libpq's multi-host rules: each host of the configuration in turn
    /// (shuffled with load_balance_hosts=random), each address of a host name as its own attempt
    /// bounded by connect_timeout, until a server suits target_session_attrs. When every attempt
    /// fails the error lists each one; a server refusing the session (authentication) ends the search.
    public convenience init(configuration: ConnectionConfiguration, options: ConnectionOptions = ConnectionOptions(),
                            logger: Logger? = nil, tracer: (any MessageTracer)? = nil) throws(PostgresError) {
        var logger = logger ?? options.logger ?? .disabled
        let connectionID = ConnectionIDs.next()
        logger[metadataKey: "db.connection_id"] = "\(connectionID)"
        // The span of connecting, authentication included (no metrics: pools time their opens).
        let observation = Observation.begin("connect", operation: "", connection: nil, metered: false, configuration: configuration)
        let reached: (host: ConnectionConfiguration.Host, address: ConnectionConfiguration.Host, session: EstablishedSession)
        do {
            let r = try withServiceContext(observation?.span?.context) { () throws(PostgresError) in
                try Self.establishAny(configuration: configuration, logger: logger, tracer: tracer)
            }
            reached = (r.host, r.address, r.session)
        } catch {
            observation?.end(error: error, connection: nil)
            logger.debug("connection failed", metadata: ["error": "\(error.message)", "db.sqlstate": "\(error.sqlState ?? "")"])
            throw error
        }
        if let pid = reached.session.backendKeyData?.processID { logger[metadataKey: "db.backend_pid"] = "\(pid)" }
        var options = options
        if let size = configuration.statementCacheSize { options.statementCacheCapacity = size }
        self.init(configuration: configuration, options: options, host: reached.host, address: reached.address,
                  logger: logger, tracer: tracer, session: reached.session, connectionID: connectionID)
        observation?.end(error: nil, connection: self)
        logger.debug("connected", metadata: ["server.address": "\(host.host)", "server.port": "\(host.port)",
                                             "db.namespace": "\(configuration.database)"])
    }

    private init(configuration: ConnectionConfiguration, options: ConnectionOptions, host: ConnectionConfiguration.Host,
                 address: ConnectionConfiguration.Host, logger: Logger, tracer: (any MessageTracer)?, session: EstablishedSession,
                 connectionID: Int) {
        self.connectionID = connectionID
        self.tracer = tracer
        self.traceSink = tracer.map(TraceSink.init)
        self.options = options
        self.statementCache = StatementCache(capacity: options.statementCacheMode == .named ? options.statementCacheCapacity : 0)
        self.configuration = configuration
        self.host = host
        self.address = address
        self.logger = logger
        self.transport = session.transport
        self.decoder = session.decoder
        self.decoder.framer.maximumMessageSize = options.maximumMessageSize
        self._parameters = session.parameters
        self._transactionStatus = session.transactionStatus
        self.backendKeyData = session.backendKeyData
        self.authenticationMethod = session.authenticationMethod
        let noticeLogger = logger
        self._noticeHandler = { notice in Self.log(notice, to: noticeLogger) }
        for notice in session.startupNotices { _noticeHandler(notice) }
    }

    deinit {
        if !closed, broken == nil {
            writeBuffer.removeAll()
            send(.terminate)
            writeBuffer.withUnsafeBytes { try? transport.write($0, deadline: Deadline(secondsFromNow: 1)) }
        }
        transport.close()
        tracer?.flush()
    }

    // MARK: State visible to users

    /// Server parameters reported by ParameterStatus (server_version, TimeZone, DateStyle…), kept current.
    public var parameters: [String: String] { stateLock.withLock { _parameters } }

    /// The transaction status from the latest ReadyForQuery.
    public var transactionStatus: TransactionStatus { stateLock.withLock { _transactionStatus } }

    /// Whether the connection was closed or broke.
    public var isClosed: Bool { stateLock.withLock { closed || broken != nil } }

    /// Called for every NoticeResponse (default: logged at the notice's severity, see `log(_:to:)`).
    public var noticeHandler: @Sendable (ServerError) -> Void {
        get { stateLock.withLock { _noticeHandler } }
        set { stateLock.withLock { _noticeHandler = newValue } }
    }

    /// Called for every NotificationResponse (LISTEN/NOTIFY) received while a call reads from the server.
    public var notificationHandler: (@Sendable (NotificationResponse) -> Void)? {
        get { stateLock.withLock { _notificationHandler } }
        set { stateLock.withLock { _notificationHandler = newValue } }
    }

    // MARK: Simple query

    /// Runs a simple-protocol query (one or several statements) and streams what it returns.
    ///
    /// Rows are delivered as they arrive: memory does not grow with the result. A `Row` handed to
    /// `body` refers to the read buffer; call `detached()` to keep it. If a statement fails the
    /// server skips the rest of the string; events already delivered stand and the error is thrown
    /// once the server is ready again, so the connection stays usable. An error thrown by `body`
    /// is rethrown after the server's results have been drained.
    ///
    /// A `COPY … FROM STDIN` in the string cannot be fed here: CopyFail is sent (the connection
    /// stays usable) and `PostgresError.invalidUsage` naming the API to use is thrown. Use
    /// `simpleQuery(_:copyIn:_:)` or `copyIn(_:_:)` for those.
    public func simpleQuery(_ sql: String, _ body: (SimpleQueryEvent) throws -> Void) throws {
        try runSimpleQuery(sql, copyIn: nil, beforeRead: nil, body)
    }

    /// `simpleQuery(_:_:)` calling `beforeRead` whenever it is about to wait for more bytes.
    func simpleQuery(_ sql: String, beforeRead: (() -> Void)?, _ body: (SimpleQueryEvent) throws -> Void) throws {
        try runSimpleQuery(sql, copyIn: nil, beforeRead: beforeRead, body)
    }

    /// Like `simpleQuery(_:_:)`, and each `COPY … FROM STDIN` of the string is fed by `copyIn`:
    /// it gets the server's CopyInResponse (the format) and a writer for the data, and returns
    /// when the data is complete (CopyDone is sent). If it throws, CopyFail is sent, the server's
    /// error for the COPY follows, and the error `copyIn` threw is rethrown once the server is
    /// ready again (for `PostgresError.copyAborted`, the server's error is thrown); the connection stays usable.
    /// Its CommandComplete (`COPY n`) reaches `body`.
    public func simpleQuery(
        _ sql: String, copyIn: (CopyResponse, CopyInWriter) throws -> Void, _ body: (SimpleQueryEvent) throws -> Void
    ) throws {
        try withoutActuallyEscaping(copyIn) { copyIn in try runSimpleQuery(sql, copyIn: copyIn, beforeRead: nil, body) }
    }

    /// The message of the error thrown (and of the CopyFail sent) when a COPY … FROM STDIN reaches
    /// a method that cannot feed it.
    static func copyInRefusal(in method: String) -> String {
        "COPY … FROM STDIN cannot be fed by \(method): use copyIn(_:_:), or simpleQuery(_:copyIn:_:) for a string of several statements"
    }

    private func runSimpleQuery(
        _ sql: String, copyIn: ((CopyResponse, CopyInWriter) throws -> Void)?, beforeRead: (() -> Void)?,
        _ body: (SimpleQueryEvent) throws -> Void
    ) throws {
        try lock.withLock {
            beforeBlockingRead = beforeRead
            defer { beforeBlockingRead = nil }
            try checkUsable()
            try observed(operation: operationName(sql), query: Observation.recordedText(sql)) {
                try runSimpleQueryLocked(sql, copyIn: copyIn, body)
            }
        }
    }

    private func runSimpleQueryLocked(
        _ sql: String, copyIn: ((CopyResponse, CopyInWriter) throws -> Void)?, _ body: (SimpleQueryEvent) throws -> Void
    ) throws {
        do {
            let timer = armQueryTimeout()
            defer { timer?.cancel() }
            send(.query(sql))
            try flush()
            var machine = SimpleQueryStateMachine()
            var serverError: ServerError?
            var bodyError: Error?
            var columns: ResultColumns?
            // Counted here, added to `rowsReceived` once (no class property access per row).
            var rows: UInt64 = 0
            defer { rowsReceived &+= rows }
            while true {
                guard let event = try nextSimpleQueryEvent(&machine) else { continue }
                func deliver(_ e: SimpleQueryEvent) {
                    guard bodyError == nil else { return }
                    do { try body(e) } catch { bodyError = error }
                }
                switch event {
                case .rowDescription(let d):
                    columns = ResultColumns(d)
                    deliver(.columns(columns!))
                case .row(let data):
                    rows &+= 1
                    deliver(.row(Row(columns: columns!, data: data)))
                case .commandComplete(let c):
                    columns = nil
                    noteCommandForStatementCache(c)
                    deliver(.commandComplete(c))
                case .emptyQuery: deliver(.emptyQuery)
                case .error(let f): serverError = ServerError(fields: f)
                case .notice, .parameterStatus, .notification: break  // handled in receive()
                case .copyIn(let response):
                    guard let copyIn, bodyError == nil else {
                        // Nothing can feed it (or the caller's body already failed): refuse it.
                        if bodyError == nil { bodyError = PostgresError.invalidUsage(Self.copyInRefusal(in: "simpleQuery(_:_:)")) }
                        send(.copyFail(message: copyIn == nil ? Self.copyInRefusal(in: "simpleQuery(_:_:)") : "COPY aborted by the client"))
                        try flush()
                        break
                    }
                    let writer = CopyInWriter(connection: self)
                    do {
                        try copyIn(response, writer)
                        try writer.finish()
                        send(.copyDone)
                    } catch let error as PostgresError where isClosed {
                        throw error
                    } catch PostgresError.copyAborted(let message) {
                        // The server's error ("COPY from stdin failed: …", 57014) is what is thrown.
                        send(.copyFail(message: message))
                    } catch {
                        bodyError = error
                        send(.copyFail(message: "COPY aborted by the client: \(error)"))
                    }
                    try flush()
                case .copyOut(let c): deliver(.copyOut(c))
                case .copyBoth:
                    // Streaming replication's COPY BOTH is not supported: end our side at once
                    // and report it once the server is ready again.
                    send(.copyDone)
                    try flush()
                    if bodyError == nil {
                        bodyError = PostgresError.invalidUsage("COPY BOTH (streaming replication) is not supported by this driver")
                    }
                case .copyData(let d): deliver(.copyData(d))
                case .copyDone: break
                case .ready(let status):
                    stateLock.withLock { _transactionStatus = status }
                    if let bodyError { throw bodyError }
                    if let serverError { throw PostgresError.server(serverError) }
                    return
                }
            }
        }
    }

    /// The next event of a simple query: rows, CommandComplete and ReadyForQuery read in place,
    /// anything else decoded (nil: a notice, notification or parameter change, dispatched).
    @inline(__always)
    private func nextSimpleQueryEvent(_ machine: inout SimpleQueryStateMachine) throws(PostgresError) -> SimpleQueryStateMachine.Event? {
        let frame = try nextFrame()
        do throws(ProtocolError) {
            if let event = try machine.receiveInPlace(frame, in: &decoder.framer, tags: &commandTags) { return event }
        } catch {
            throw fail(.protocolViolation(error))
        }
        guard let message = try decodeMessage(frame) else { return nil }
        do throws(ProtocolError) { return try machine.receive(message) } catch { throw fail(.protocolViolation(error)) }
    }

    /// Runs a simple-protocol query and collects every statement's result.
    @discardableResult
    public func simpleQuery(_ sql: String) throws -> [QueryResult] {
        var results: [QueryResult] = []
        var columns: ResultColumns?
        var rows: [Row] = []
        try simpleQuery(sql) { event in
            switch event {
            case .columns(let c): columns = c
            case .row(let r): rows.append(r.detached())
            case .commandComplete(let c):
                results.append(QueryResult(columns: columns, rows: rows, commandTag: c.tag))
                columns = nil
                rows = []
            case .emptyQuery: results.append(QueryResult(columns: nil, rows: [], commandTag: ""))
            case .copyOut, .copyData: break
            }
        }
        return results
    }

    // MARK: Cancellation and closing

    /// A client-side limit, in seconds, on each query, COPY and pipeline: when it expires the
    /// driver sends a CancelRequest, and the query fails with the server's 57014 (canceling
    /// statement due to user request); the connection stays usable. nil (the default): no limit.
    /// The server-side equivalent is `options='-c statement_timeout=…'` in the connection string.
    public var queryTimeout: Double? {
        get { stateLock.withLock { _queryTimeout } }
        set { stateLock.withLock { _queryTimeout = newValue.flatMap { $0 > 0 ? $0 : nil } } }
    }

    /// Starts the query-timeout timer (callers hold `lock`); cancel the returned timer when done.
    func armQueryTimeout() -> QueryTimer? {
        guard let timeout = queryTimeout else { return nil }
        let generation = stateLock.withLock { () -> UInt64 in
            queryGeneration &+= 1
            return queryGeneration
        }
        let item = DispatchWorkItem { [weak self] in
            guard let self else { return }
            // Only cancel if the same operation is still running.
            let current = self.stateLock.withLock { self.queryGeneration }
            if current == generation { try? self.cancel() }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: item)
        return QueryTimer(item: item) { [weak self] in
            guard let self else { return }
            // A timer that fires from now on belongs to a finished operation and does nothing.
            self.stateLock.withLock { self.queryGeneration &+= 1 }
        }
    }

    struct QueryTimer {
        let item: DispatchWorkItem
        let finished: () -> Void
        func cancel() {
            item.cancel()
            finished()
        }
    }

    /// Asks the server to cancel the query running on this connection (a CancelRequest over a new socket).
    /// Like PQcancel, success means the request was sent, not that a query was cancelled.
    public func cancel() throws(PostgresError) {
        guard let key = backendKeyData else { throw .invalidUsage("the server sent no BackendKeyData; cancellation is impossible") }
        let deadline = configuration.connectTimeout.map { Deadline(secondsFromNow: $0) }
        let socket = try Self.openTransport(address, deadline: deadline)
        defer { socket.close() }
        let bytes = FrontendMessage.cancelRequest(CancelRequest(processID: key.processID, secretKey: key.secretKey)).encoded
        try socket.writeAll(bytes, deadline: deadline)
        // The server closes the socket once it has read the request.
        var scratch = [UInt8](repeating: 0, count: 16)
        _ = try? scratch.withUnsafeMutableBytes { try socket.read(into: $0, deadline: deadline ?? Deadline(secondsFromNow: 5)) }
    }

    /// Sends Terminate and closes the socket. Later calls fail with `connectionClosed`.
    public func close() {
        lock.withLock {
            guard !closed else { return }
            if broken == nil {
                transport.prepareForClose()
                send(.terminate)
                try? flush()
            }
            stateLock.withLock { closed = true }
            transport.close()
        }
        // The trace is complete when close() returns (not a background flush later).
        tracer?.flush()
    }

    // MARK: Message I/O (callers hold `lock`)

    /// Why the connection cannot be used: closed by its owner, or lost (nil while it is usable).
    var unusableError: PostgresError? {
        stateLock.withLock { () -> PostgresError? in
            if closed { return .connectionClosed("connection is closed") }
            if let broken { return .connectionLost("connection is broken: \(broken.message)") }
            return nil
        }
    }

    func checkUsable() throws(PostgresError) {
        if closed { throw .connectionClosed("connection is closed") }
        if let broken { throw .connectionLost("connection is broken: \(broken.message)") }
    }

    /// Marks the connection broken and returns the error to throw.
    func fail(_ error: PostgresError) -> PostgresError {
        if broken == nil {
            stateLock.withLock { broken = error }
            transport.close()
            logger.debug("connection broken", metadata: ["error": "\(error.message)"])
        }
        return error
    }

    func send(_ message: FrontendMessage) {
        let start = writeBuffer.count
        message.encode(into: &writeBuffer)
        traceSink?.trace(.frontend, bytes: writeBuffer[start...])
    }

    /// Sends what was queued. Whenever the socket cannot take more, what the server has sent
    /// meanwhile is read into the decoder's buffer, to be handled by the next receive: a pipeline
    /// larger than the socket buffers would otherwise block both sides for good.
    func flush() throws(PostgresError) {
        defer { writeBuffer.removeAll(keepingCapacity: true) }
        bytesSent &+= UInt64(writeBuffer.count)
        var failure: PostgresError?
        writeBuffer.withUnsafeBytes { bytes in
            do throws(PostgresError) {
                try transport.write(bytes, deadline: nil) { () throws(PostgresError) in
                    bytesReceived &+= UInt64(try Self.readMore(transport: transport, decoder: &decoder, deadline: nil))
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw fail(failure) }
    }

    /// The next message that a query cycle must see; notices, notifications and parameter
    /// changes are dispatched here on the way.
    func receive() throws(PostgresError) -> BackendMessage {
        while true {
            if let message = try decodeMessage(try nextFrame()) { return message }
        }
    }

    /// The next message, located in the decoder's buffer and traced (read from the socket as
    /// needed): a query loop matches the common result messages by type and reads them in
    /// place (`ExtendedQueryStateMachine.acceptInPlace`), and decodes the rest with
    /// `decodeMessage`. Its body must be read before the next call.
    @inline(__always)
    func nextFrame() throws(PostgresError) -> FrameDecoder.FrameHeader {
        while true {
            let header: FrameDecoder.FrameHeader?
            do throws(ProtocolError) {
                header = try decoder.framer.nextFrameHeader()
            } catch {
                throw fail(.protocolViolation(error))
            }
            if let header {
                traceSink?.trace(.backend, bytes: decoder.framer.bytes(of: header))
                return header
            }
            // Nothing whole in the buffer: read from the socket, then frame again.
            beforeBlockingRead?()
            do throws(PostgresError) {
                bytesReceived &+= UInt64(try Self.readMore(transport: transport, decoder: &decoder, deadline: nil))
            } catch {
                let failed = fail(error)
                // A FATAL ErrorResponse just before the socket closed says why (e.g. 57P01
                // terminating connection due to administrator command): report it, like libpq.
                if case .connectionLost = failed, let fatal = lastFatalError { throw .server(fatal) }
                throw failed
            }
        }
    }

    /// Decodes a message `nextFrame()` located. Notices, notifications and parameter changes
    /// are dispatched here (nil is returned); any other message is returned.
    func decodeMessage(_ header: FrameDecoder.FrameHeader) throws(PostgresError) -> BackendMessage? {
        let message: BackendMessage
        do throws(ProtocolError) {
            message = try BackendMessage.decode(type: header.type, body: decoder.framer.body(of: header))
        } catch {
            throw fail(.protocolViolation(error))
        }
        switch message {
        case .errorResponse(let f):
            let error = ServerError(fields: f)
            if error.severity == "FATAL" || error.severity == "PANIC" { lastFatalError = error }
            return message
        case .noticeResponse(let f):
            let handler = stateLock.withLock { _noticeHandler }
            handler(ServerError(fields: f))
            return nil
        case .notificationResponse(let n):
            stateLock.withLock { _notificationHandler }?(n)
            return nil
        case .parameterStatus(let p):
            stateLock.withLock { _parameters[p.name] = p.value }
            return nil
        default:
            return message
        }
    }

    /// The plaintext socket under this connection, if it is one (diagnostics and tests).
    func withPlainSocket<T>(_ body: (SocketTransport) -> T) -> T? {
        lock.withLock { (transport as? SocketTransport).map(body) }
    }

    /// Reads while idle: notifications, notices and parameter changes are dispatched; returns
    /// after the first notification, or when the deadline passes. Anything else is a violation.
    func waitForAsynchronousMessages(until deadline: Deadline?) throws(PostgresError) {
        while true {
            // Dispatch what is already buffered first.
            let message: BackendMessage
            do throws(PostgresError) {
                message = try Self.readMessage(transport: transport, decoder: &decoder, deadline: deadline, tracer: tracer) { error in
                    if case .timeout = error { return error }
                    return self.fail(error)
                }
            } catch {
                if case .timeout = error { return }
                throw error
            }
            if try handleAsynchronousMessage(message) { return }
        }
    }

    /// Dispatches a message read while idle (callers hold `lock`): notifications, notices and
    /// parameter changes; returns true for a notification. Anything else is a violation.
    func handleAsynchronousMessage(_ message: BackendMessage) throws(PostgresError) -> Bool {
        switch message {
        case .notificationResponse(let n):
            stateLock.withLock { _notificationHandler }?(n)
            return true
        case .noticeResponse(let f):
            stateLock.withLock { _noticeHandler }(ServerError(fields: f))
            return false
        case .parameterStatus(let p):
            stateLock.withLock { _parameters[p.name] = p.value }
            return false
        case .errorResponse(let f):
            // A FATAL while idle (e.g. the backend was terminated): the connection is over.
            let error = ServerError(fields: f)
            throw fail(.server(error))
        default:
            throw fail(.protocolViolation(.unexpectedMessage(message: message.name, state: "idle")))
        }
    }

    static func readMessage(transport: Transport, decoder: inout BackendMessageDecoder, deadline: Deadline?,
                            tracer: (any MessageTracer)?, beforeRead: (() -> Void)? = nil,
                            onFailure: (PostgresError) -> PostgresError) throws(PostgresError) -> BackendMessage {
        try readMessage(transport: transport, decoder: &decoder, deadline: deadline, tracer: tracer, beforeRead: beforeRead,
                        onBytes: { _ in }, onFailure: onFailure)
    }

    /// `readMessage` telling `onBytes` how many bytes each socket read brought.
    static func readMessage(transport: Transport, decoder: inout BackendMessageDecoder, deadline: Deadline?,
                            tracer: (any MessageTracer)?, beforeRead: (() -> Void)?, onBytes: (Int) -> Void,
                            onFailure: (PostgresError) -> PostgresError) throws(PostgresError) -> BackendMessage {
        while true {
            do throws(ProtocolError) {
                if let message = try decoder.next(tracer: tracer) { return message }
            } catch {
                throw onFailure(.protocolViolation(error))
            }
            beforeRead?()
            do throws(PostgresError) {
                onBytes(try readMore(transport: transport, decoder: &decoder, deadline: deadline))
            } catch {
                throw onFailure(error)
            }
        }
    }

    /// One socket read into the decoder's buffer: the number of bytes read (more than zero), or
    /// `.connectionLost` when the server closed the connection.
    static func readMore(transport: Transport, decoder: inout BackendMessageDecoder, deadline: Deadline?) throws(PostgresError) -> Int {
        let n = try decoder.framer.readInto { buffer throws(PostgresError) in try transport.read(into: buffer, deadline: deadline) }
        if n == 0 {
            throw .connectionLost("server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.")
        }
        return n
    }
}

/// A message tracer held by reference (see `Connection.traceSink`).
final class TraceSink: Sendable {
    let tracer: any MessageTracer
    init(_ tracer: any MessageTracer) { self.tracer = tracer }

    @inline(__always)
    func trace(_ direction: TraceDirection, bytes: ArraySlice<UInt8>) { tracer.trace(direction, bytes: bytes) }
}

extension FrameDecoder {
    /// `readInto` with a typed-throws body.
    mutating func readInto(_ body: (UnsafeMutableRawBufferPointer) throws(PostgresError) -> Int) throws(PostgresError) -> Int {
        var failure: PostgresError?
        let n = readInto(minimumSpace: 16 * 1024) { (buffer: UnsafeMutableRawBufferPointer) -> Int in
            do throws(PostgresError) { return try body(buffer) } catch { failure = error; return 0 }
        }
        if let failure { throw failure }
        return n
    }
}

extension Transport {
    func writeAll(_ bytes: [UInt8], deadline: Deadline?) throws(PostgresError) {
        var failure: PostgresError?
        bytes.withUnsafeBytes { raw in
            do throws(PostgresError) { try write(raw, deadline: deadline) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}
