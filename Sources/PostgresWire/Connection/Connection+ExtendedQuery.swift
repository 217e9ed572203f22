import Foundation
import PostgresWireProtocol

extension Connection {
    // MARK: Public API

    /// Runs a query with the extended protocol and collects its rows.
    ///
    ///     let result = try connection.query("SELECT name FROM users WHERE id = \(id)")
    @discardableResult
    public func query(_ query: PostgresQuery) throws(PostgresError) -> QueryResult {
        var collector = RowCollector(queryCount: 1)
        let outcome = try runQuery(query, fetchSize: 0) { index, row in collector.add(row, of: index) }
        return QueryResult(columns: outcome.columns, rows: collector.rows(of: 0, columns: outcome.columns), commandTag: outcome.commandTag)
    }

    /// Runs a query with the extended protocol and streams its rows. With `fetchSize` > 0 the
    /// portal is executed `fetchSize` rows at a time (Execute with a row limit), so the server
    /// produces the result in chunks as the client consumes it.
    @discardableResult
    public func query(_ query: PostgresQuery, fetchSize: Int = 0, _ body: (Row) throws -> Void) throws(PostgresError) -> QueryOutcome {
        var bodyError: Error?
        let outcome = try runQuery(query, fetchSize: max(0, fetchSize)) { _, row in
            guard bodyError == nil else { return }
            do { try body(row) } catch { bodyError = error }
        }
        if let bodyError { throw Self.rowHandlerFailure(bodyError) }
        return outcome
    }

    /// What a row handler's error is reported as: itself when it is a PostgresError.
    static func rowHandlerFailure(_ error: Error) -> PostgresError {
        if let e = error as? PostgresError { return e }
        return .invalidUsage("row handler failed: \(error)")
    }

    /// Sends every query before reading any result (one write, one Sync), then matches results to
    /// queries in order. If a query fails, PostgreSQL skips the rest of the pipeline: those
    /// queries report an error for which `isPipelineAborted` is true.
    public func pipeline(_ queries: [PostgresQuery]) throws(PostgresError) -> [Result<QueryResult, PostgresError>] {
        var collector = RowCollector(queryCount: queries.count)
        let outcomes = try runBatch(queries, fetchSize: 0) { index, row in collector.add(row, of: index) }
        var results: [Result<QueryResult, PostgresError>] = []
        results.reserveCapacity(outcomes.count)
        for (index, outcome) in outcomes.enumerated() {
            switch outcome {
            case .success(let o):
                results.append(.success(QueryResult(columns: o.columns, rows: collector.rows(of: index, columns: o.columns), commandTag: o.commandTag)))
            case .failure(let e):
                results.append(.failure(e))
            }
        }
        return results
    }

    /// A pipeline whose rows are handed to `body` as they are read (with the index of the query
    /// they belong to), instead of being collected: no result is built per query. Returns how each
    /// query ended (its command tag and row count) or its error, as `pipeline(_:)` does. If `body`
    /// throws, it is not called again, the pipeline is still read to its end (the connection stays
    /// usable), and the error is thrown then.
    ///
    ///     var total = 0
    ///     try connection.pipeline(queries) { index, row in total += try row.decode(Int.self, at: 0) }
    @discardableResult
    public func pipeline(_ queries: [PostgresQuery], _ body: (_ index: Int, _ row: Row) throws -> Void) throws(PostgresError) -> [Result<QueryOutcome, PostgresError>] {
        var bodyError: Error?
        let outcomes = try runBatch(queries, fetchSize: 0) { index, row in
            guard bodyError == nil else { return }
            do { try body(index, row) } catch { bodyError = error }
        }
        if let bodyError { throw Self.rowHandlerFailure(bodyError) }
        return outcomes
    }

    /// Runs the same statement once per set of parameters in one pipeline (e.g. a batch insert).
    /// Returns each execution's row count; the first failure is thrown and later executions are skipped.
    @discardableResult
    public func executeMany(_ sql: String, _ parameterSets: [PostgresBindings]) throws(PostgresError) -> [Int?] {
        let queries = parameterSets.map { PostgresQuery(unsafeSQL: sql, bindings: $0) }
        let outcomes = try runBatch(queries, fetchSize: 0) { _, _ in }
        return try outcomes.map { outcome throws(PostgresError) in try outcome.get().rowCount }
    }

    /// Number of prepared statements in this connection's cache.
    public var cachedStatementCount: Int { lock.withLock { statementCache.count } }

    // MARK: Engine

    func noteCommandForStatementCache(_ command: CommandComplete) {
        // DISCARD ALL and DEALLOCATE ALL drop every prepared statement on the server.
        // (The first byte first: most tags are not compared at all.)
        if command.tag.utf8.first == UInt8(ascii: "D"), command.tag == "DISCARD ALL" || command.tag == "DEALLOCATE ALL" {
            statementCache.removeAll()
        }
    }

    /// What the engine tracks per query of a batch (the query itself stays in the caller's
    /// buffer). Its outcome and its failure are kept apart, not as a `Result`, so that setting
    /// and testing them copies no enum.
    private struct BatchItem {
        let key: StatementKey
        var info: PreparedStatementInfo?
        var fromCache = false
        var outcome: QueryOutcome?
        var failure: PostgresError?
        var columns: ResultColumns?

        init(key: StatementKey) { self.key = key }

        var isDone: Bool { outcome != nil || failure != nil }

        mutating func succeed(_ outcome: QueryOutcome) { self.outcome = outcome }

        mutating func fail(_ error: PostgresError) { failure = error }

        var result: Result<QueryOutcome, PostgresError> {
            if let failure { return .failure(failure) }
            if let outcome { return .success(outcome) }
            return .failure(.invalidUsage("query was not executed"))
        }
    }

    /// Runs a batch of queries and returns each one's result (see `runQueries`).
    func runBatch(_ queries: [PostgresQuery], fetchSize: Int, beforeRead: (() -> Void)? = nil,
                  onRow: (Int, Row) -> Void) throws(PostgresError) -> [Result<QueryOutcome, PostgresError>] {
        try queries.withUnsafeBufferPointer { (queries) throws(PostgresError) in
            try runQueries(queries, fetchSize: fetchSize, beforeRead: beforeRead, failure: Self.firstFailure,
                           onRow: onRow) { (items) throws(PostgresError) in items.map(\.result) }
        }
    }

    /// Runs one query (the batch engine without an array for the query, its bookkeeping or its
    /// result) and returns how it ended, or throws its error.
    func runQuery(_ query: PostgresQuery, fetchSize: Int, beforeRead: (() -> Void)? = nil,
                  onRow: (Int, Row) -> Void) throws(PostgresError) -> QueryOutcome {
        try withUnsafePointer(to: query) { (pointer) throws(PostgresError) in
            try runQueries(UnsafeBufferPointer(start: pointer, count: 1), fetchSize: fetchSize, beforeRead: beforeRead,
                           failure: { _ in nil }, onRow: onRow) { (items) throws(PostgresError) in
                if let failure = items[0].failure { throw failure }
                guard let outcome = items[0].outcome else { throw .invalidUsage("query was not executed") }
                return outcome
            }
        }
    }

    /// Phase 1 prepares (Parse + Describe + Sync) what the cache lacks; phase 2 sends Bind/Execute
    /// for every query and one Sync. Each phase is one write and one read loop. `finish` reads
    /// the items' results (under the lock, within the operation's span).
    private func runQueries<T>(_ queries: UnsafeBufferPointer<PostgresQuery>, fetchSize: Int, beforeRead: (() -> Void)?,
                               failure: (T) -> (any Error)?, onRow: (Int, Row) -> Void,
                               finish: (UnsafeMutableBufferPointer<BatchItem>) throws(PostgresError) -> T) throws(PostgresError) -> T {
        lock.lock()
        defer { lock.unlock() }
        beforeBlockingRead = beforeRead
        defer { beforeBlockingRead = nil }
        try checkUsable()
        let timer = armQueryTimeout()
        defer { timer?.cancel() }
        // Indexing, not `let q = queries[i]`: no copy of each query.
        for i in queries.indices {
            if let e = queries[i].encodingError {
                throw .invalidUsage("query \(i + 1): parameter could not be encoded: \(e)")
            }
            if queries[i].bindings.count > Int(Int16.max) {
                throw .invalidUsage("query \(i + 1) binds \(queries[i].bindings.count) parameters; the protocol allows at most 32767")
            }
        }
        // The items live in a temporary allocation (on the stack for a small batch).
        return try withUnsafeTemporaryAllocation(of: BatchItem.self, capacity: queries.count) { (items) throws(PostgresError) in
            // A batch usually repeats one statement (executeMany, pipelines): build its cache key once.
            for i in queries.indices {
                if i > 0, queries[i - 1].sql == queries[i].sql, queries[i - 1].bindings.hasSameTypes(as: queries[i].bindings) {
                    (items.baseAddress! + i).initialize(to: BatchItem(key: items[i - 1].key))
                } else {
                    (items.baseAddress! + i).initialize(to: BatchItem(key: StatementKey(sql: queries[i].sql, bindings: queries[i].bindings)))
                }
            }
            defer { _ = items.deinitialize() }
            return try observed(operation: operationName(queries), query: queries.first?.sql,
                                batchSize: queries.count, failure: failure) { () throws(PostgresError) in
                try runItems(queries, items, fetchSize: fetchSize, onRow: onRow)
                return try finish(items)
            }
        }
    }

    /// The span name (and `db.operation.name`) of a batch: the first keyword of a single query;
    /// "BATCH" followed by it when every query of a pipeline shares it, else "BATCH".
    func operationName(_ queries: UnsafeBufferPointer<PostgresQuery>) -> String {
        guard !queries.isEmpty else { return "" }
        let name = operationName(queries[0].sql)
        if queries.count == 1 { return name }
        let first = queries[0].sql
        for q in queries.dropFirst() where q.sql != first && Observation.operationName(q.sql) != name { return "BATCH" }
        return name.isEmpty ? "BATCH" : "BATCH \(name)"
    }

    /// The first error among a batch's results (what its span and metrics report).
    static func firstFailure(_ results: [Result<QueryOutcome, PostgresError>]) -> (any Error)? {
        for case .failure(let error) in results { return error }
        return nil
    }

    private func runItems(_ queries: UnsafeBufferPointer<PostgresQuery>, _ items: UnsafeMutableBufferPointer<BatchItem>, fetchSize: Int,
                          onRow: (Int, Row) -> Void) throws(PostgresError) {
        var retried = false
        while true {
            try prepareStatements(queries, items)
            try executeStatements(queries, items, fetchSize: fetchSize, onRow: onRow)
            // Recover by itself from a cached statement that the server no longer has or whose
            // result type changed: drop it and run once more (only when that is safe: outside a
            // transaction block, and for a single query whose rows were not delivered yet).
            if !retried, items.count == 1, items[0].fromCache, let error = items[0].failure,
               Self.isStaleStatementError(error), _transactionStatus == .idle {
                retried = true
                _ = statementCache.remove(items[0].key)
                items[0] = BatchItem(key: items[0].key)
                continue
            }
            for i in items.indices where items[i].fromCache {
                if let error = items[i].failure, Self.isStaleStatementError(error) {
                    _ = statementCache.remove(items[i].key)
                }
            }
            return
        }
    }

    static func isStaleStatementError(_ error: PostgresError) -> Bool {
        guard case .server(let e) = error else { return false }
        if e.sqlState == "26000" { return true }  // prepared statement "…" does not exist
        return e.sqlState == "0A000" && e.message.contains("cached plan must not change result type")
    }

    private func prepareStatements(_ queries: UnsafeBufferPointer<PostgresQuery>, _ items: UnsafeMutableBufferPointer<BatchItem>) throws(PostgresError) {
        var machine = ExtendedQueryStateMachine()
        var toPrepare: [StatementKey: Int] = [:]  // key → index of the first item with it
        let named = options.statementCacheMode == .named && statementCache.isEnabled
        for i in items.indices {
            // The same statement as the previous item, already found in the cache: no second lookup.
            if i > 0, items[i - 1].fromCache, items[i - 1].key == items[i].key, let info = items[i - 1].info {
                items[i].info = info
                items[i].fromCache = true
                continue
            }
            if let info = named ? statementCache.lookup(items[i].key) : nil {
                items[i].info = info
                items[i].fromCache = true
                continue
            }
            if toPrepare[items[i].key] != nil { continue }
            // A wrong parameter count is reported before anything is sent.
            let needed = SQLScanner.highestPlaceholder(in: queries[i].sql)
            if needed != queries[i].bindings.count {
                throw .invalidUsage("query \(i + 1) uses \(needed) parameter\(needed == 1 ? "" : "s") ($1 … $\(needed)) but \(queries[i].bindings.count) value\(queries[i].bindings.count == 1 ? " was" : "s were") bound")
            }
            toPrepare[items[i].key] = i
            let name = named ? statementCache.makeName() : ""
            items[i].info = PreparedStatementInfo(name: name)
            send(.parse(Parse(statement: name, query: queries[i].sql, parameterTypes: queries[i].bindings.types.map(\.rawValue))))
            send(.describe(Describe(target: .statement, name: name)))
            send(.sync)
            machine.enqueue(.parse, tag: i)
            machine.enqueue(.describeStatement, tag: i)
            machine.enqueue(.sync, tag: i)
        }
        guard machine.hasPendingSteps else { return }
        // The preparation is a span of its own, a child of the operation's.
        let first = toPrepare.values.min() ?? 0
        let observation = operationSpanRecording
            ? Observation.begin("PREPARE", operation: "PREPARE", query: queries[first].sql, batchSize: toPrepare.count,
                                connection: self, metered: false)
            : nil
        do throws(PostgresError) {
            try flush()
            try receivePrepared(items, machine: &machine)
        } catch {
            observation?.end(error: error, connection: self)
            throw error
        }
        if let observation {
            var failed: PostgresError?
            for i in toPrepare.values { if let e = items[i].failure { failed = e } }
            observation.end(error: failed, connection: self)
        }
        // Share what was prepared with duplicates in the batch and with the cache.
        for (key, first) in toPrepare {
            guard let info = items[first].info else {
                for i in items.indices where items[i].key == key && i != first {
                    items[i].outcome = items[first].outcome
                    items[i].failure = items[first].failure
                }
                continue
            }
            for i in items.indices where items[i].key == key && i != first { items[i].info = info }
            if named { statementsToClose += statementCache.insert(key, info) }
        }
    }

    private func receivePrepared(_ items: UnsafeMutableBufferPointer<BatchItem>, machine: inout ExtendedQueryStateMachine) throws(PostgresError) {
        var events: [ExtendedQueryStateMachine.Event] = []
        while machine.hasPendingSteps {
            events.removeAll(keepingCapacity: true)
            let message = try receive()
            do throws(ProtocolError) { try machine.receive(message, into: &events) } catch { throw fail(.protocolViolation(error)) }
            for event in events {
                switch event {
                case .parameterDescription(let oids, let tag):
                    items[tag].info?.parameterTypes = oids
                case .rowDescription(let description, let tag):
                    if let description {
                        let formats = description.fields.map { options.binaryResultTypes(PostgresDataType($0.dataTypeOID)) ? Int16(1) : Int16(0) }
                        var fields = description.fields
                        for j in fields.indices { fields[j].formatCode = formats[j] }
                        items[tag].info?.columns = ResultColumns(RowDescription(fields: fields))
                        items[tag].info?.resultFormats = BindEncoder.collapsedFormatCodes(formats)
                    }
                case .error(let fields, let tag) where tag >= 0:
                    items[tag].fail(.server(ServerError(fields: fields)))
                    items[tag].info = nil
                case .ready(let status, _):
                    stateLock.withLock { _transactionStatus = status }
                default:
                    break
                }
            }
        }
    }

    private func executeStatements(_ queries: UnsafeBufferPointer<PostgresQuery>, _ items: UnsafeMutableBufferPointer<BatchItem>, fetchSize: Int,
                                   onRow: (Int, Row) -> Void) throws(PostgresError) {
        // The connection's machine, taken out for the batch (its queue's storage is reused).
        var machine = ExtendedQueryStateMachine()
        swap(&machine, &spareMachine)
        machine.reset()
        defer { spareMachine = machine }
        // Statements evicted from the cache are closed in the same write as the executions.
        for name in statementsToClose {
            send(.close(Close(target: .statement, name: name)))
            machine.enqueue(.close, tag: -1)
        }
        statementsToClose.removeAll()
        // The first query of the group that failed: the later ones are skipped.
        var failedIndex: Int?
        var lastExecuted = -1
        // The Bind messages of a batch that repeats one statement share their header (portal,
        // statement name) and result format codes: encoded once, by the core's `BindEncoder`.
        // The whole batch is written into one local buffer (no per-message access to the
        // connection's).
        var bindEncoder = BindEncoder()
        var out = writeBuffer
        writeBuffer = []
        for i in items.indices {
            if let failedIndex {
                if !items[i].isDone { items[i].fail(.pipelineAborted(index: i, failedIndex: failedIndex)) }
                continue
            }
            guard let info = items[i].info, !items[i].isDone else {
                // Failed to prepare: by the pipeline rule, the rest of the group is skipped.
                failedIndex = i
                continue
            }
            let bindings = queries[i].bindings
            if info.parameterTypes.count != bindings.count {
                items[i].fail(.invalidUsage("query \(i + 1) has \(info.parameterTypes.count) parameters but \(bindings.count) values were bound"))
                failedIndex = i
                continue
            }
            if info.name.isEmpty {
                let start = out.count
                FrontendMessage.parse(Parse(statement: "", query: queries[i].sql, parameterTypes: bindings.types.map(\.rawValue))).encode(into: &out)
                traceSink?.trace(.frontend, bytes: out[start...])
                machine.enqueue(.parse, tag: i)
            }
            var start = out.count
            bindEncoder.encode(statement: info.name, parameters: bindings.values, resultFormats: info.resultFormats, into: &out)
            traceSink?.trace(.frontend, bytes: out[start...])
            machine.enqueue(.bind, tag: i)
            items[i].columns = info.columns
            start = out.count
            Self.encodeExecute(maxRows: Int32(clamping: fetchSize), into: &out)
            traceSink?.trace(.frontend, bytes: out[start...])
            machine.enqueue(.execute, tag: i)
            lastExecuted = i
            // A long batch goes out as it is encoded, so that the server works on its start
            // while the rest is encoded (what the server answers meanwhile is read by flush()).
            if out.count >= Self.batchChunkSize {
                swap(&out, &writeBuffer)
                try flush()
                swap(&out, &writeBuffer)
            }
        }
        // Swapped back, not assigned: `out` would otherwise keep a second reference to the
        // buffer, and the next append (the Sync) would copy it.
        swap(&out, &writeBuffer)
        guard machine.hasPendingSteps else { return }
        let chunked = fetchSize > 0
        if chunked {
            send(.flush)
        } else {
            send(.sync)
            machine.enqueue(.sync, tag: items.count)
        }
        try flush()
        var events: [ExtendedQueryStateMachine.Event] = []
        var done = false
        var rowsDelivered = 0
        // Added to `rowsReceived` once (no class property access per row).
        defer { rowsReceived &+= UInt64(rowsDelivered) }
        var copyInRefused = Set<Int>()
        // Each event of the batch; most messages produce exactly one, handled without an array.
        @inline(__always)
        func deliver(_ data: DataRow, of tag: Int) throws(PostgresError) {
            guard let columns = items[tag].columns, columns.count == data.columnCount else {
                throw fail(.protocolViolation(.malformed(message: "DataRow", reason: "\(data.columnCount) columns where the statement describes \(items[tag].columns?.count ?? 0)")))
            }
            rowsDelivered += 1
            onRow(tag, Row(columns: columns, data: data))
        }
        func handle(_ event: ExtendedQueryStateMachine.Event) throws(PostgresError) {
            switch event {
            case .row(let data, let tag):
                try deliver(data, of: tag)
            case .commandComplete(let c, let tag):
                noteCommandForStatementCache(c)
                var commandTag = c.tag
                // After a suspended portal the server counts only the last Execute's rows;
                // report the whole result's count instead.
                if chunked, c.command == "SELECT" { commandTag = "SELECT \(rowsDelivered)" }
                items[tag].succeed(QueryOutcome(columns: items[tag].columns, commandTag: commandTag))
                if chunked { send(.sync); machine.enqueue(.sync, tag: items.count); try flush() }
            case .emptyQuery(let tag):
                items[tag].succeed(QueryOutcome(columns: nil, commandTag: ""))
                if chunked { send(.sync); machine.enqueue(.sync, tag: items.count); try flush() }
            case .portalSuspended:
                send(.execute(Execute(portal: "", maxRows: Int32(clamping: fetchSize))))
                send(.flush)
                machine.enqueue(.execute, tag: 0)
                try flush()
            case .error(let fields, let tag):
                if tag >= 0 && tag < items.count {
                    if failedIndex == nil { failedIndex = tag }
                    // The server's answer to our CopyFail is reported as the client-side
                    // misuse it is, not as the 57014 it comes with.
                    items[tag].fail(copyInRefused.contains(tag)
                        ? .invalidUsage(Connection.copyInRefusal(in: "query()"))
                        : .server(ServerError(fields: fields)))
                }
                if chunked, machine.pendingStepCount == 0 {
                    send(.sync); machine.enqueue(.sync, tag: items.count); try flush()
                }
            case .skipped(_, let tag):
                if tag >= 0 && tag < items.count, !items[tag].isDone { items[tag].fail(.pipelineAborted(index: tag, failedIndex: failedIndex)) }
            case .copyIn(_, let tag):
                copyInRefused.insert(tag)
                send(.copyFail(message: Connection.copyInRefusal(in: "query()")))
                // The server ignores a Sync that arrives in copy-in mode: when the COPY was the
                // last statement, the batch's Sync was swallowed so, as libpq does after
                // PQputCopyEnd, send another for the ReadyForQuery the batch awaits. (Had
                // other statements followed, their messages ended the copy with an error and
                // the batch's Sync still stands.)
                if !chunked && tag == lastExecuted { send(.sync) }
                try flush()
            case .ready(let status, _):
                stateLock.withLock { _transactionStatus = status }
                done = !machine.hasPendingSteps
            default:
                break
            }
        }
        while !done {
            let frame = try nextFrame()
            // Rows, completions and ReadyForQuery: matched by type and read in place.
            if let accepted = machine.acceptInPlace(frame.type) {
                // A row goes straight to its handler (no event made and taken apart).
                if case .row(let tag) = accepted {
                    let data: DataRow
                    do throws(ProtocolError) { data = try DataRow(decoding: decoder.framer.body(of: frame)) } catch { throw fail(.protocolViolation(error)) }
                    try deliver(data, of: tag)
                    continue
                }
                let event: ExtendedQueryStateMachine.Event
                do throws(ProtocolError) { event = try accepted.event(frame, in: &decoder.framer, tags: &commandTags) } catch { throw fail(.protocolViolation(error)) }
                try handle(event)
                continue
            }
            guard let message = try decodeMessage(frame) else { continue }
            let single: ExtendedQueryStateMachine.Event?
            do throws(ProtocolError) { single = try machine.receive(message) } catch { throw fail(.protocolViolation(error)) }
            if let single {
                try handle(single)
                continue
            }
            // An ErrorResponse: its error, then a skipped event per step discarded.
            events.removeAll(keepingCapacity: true)
            do throws(ProtocolError) { try machine.receive(message, into: &events) } catch { throw fail(.protocolViolation(error)) }
            for event in events { try handle(event) }
        }
    }

    /// How much of a batch is encoded before it is sent (the rest follows as it is encoded).
    static let batchChunkSize = 64 * 1024

    /// Execute of the unnamed portal.
    @inline(__always)
    static func encodeExecute(maxRows: Int32, into out: inout [UInt8]) {
        let rows = UInt32(bitPattern: maxRows)
        // A tuple on the stack, appended at once (an array literal here was an allocation per query).
        let message: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (FrontendMessageType.execute, 0, 0, 0, 9, 0,
             UInt8(truncatingIfNeeded: rows >> 24), UInt8(truncatingIfNeeded: rows >> 16),
             UInt8(truncatingIfNeeded: rows >> 8), UInt8(truncatingIfNeeded: rows))
        withUnsafeBytes(of: message) { out.append(contentsOf: $0) }
    }
}

/// Copies the rows a batch returns into one buffer (one allocation for the batch, not one per
/// row), then hands each query its rows as slices of it: rows that own their bytes apart from the
/// connection's read buffer, as `Row.detached()` makes them.
struct RowCollector {
    private var bytes: [UInt8] = []
    /// Per row: where its column area ends in `bytes`.
    private var ends: [Int] = []
    /// Per row of more than one column: its recorded column starts (`DataRow.layout`, relative
    /// to the row, so valid for the copy), at the row's index in `ends`; the entries of
    /// single-column rows are padding, never read (their layout is their column count).
    private var layouts: [UInt64] = []
    /// Per query: its rows' indices in `ends`.
    private var rowRanges: [Range<Int>]

    init(queryCount: Int) {
        rowRanges = [Range<Int>](repeating: 0..<0, count: queryCount)
    }

    mutating func add(_ row: Row, of index: Int) {
        bytes.append(contentsOf: row.data.storage)
        if rowRanges[index].isEmpty { rowRanges[index] = ends.count..<ends.count }
        if row.data.columnCount > 1 {
            while layouts.count < ends.count { layouts.append(0) }
            layouts.append(row.data.layout)
        }
        ends.append(bytes.count)
        rowRanges[index] = rowRanges[index].lowerBound..<ends.count
    }

    func rows(of index: Int, columns: ResultColumns?) -> [Row] {
        let range = rowRanges[index]
        guard let columns, !range.isEmpty else { return [] }
        var rows: [Row] = []
        rows.reserveCapacity(range.count)
        let columnCount = columns.count
        var start = range.lowerBound == 0 ? 0 : ends[range.lowerBound - 1]
        for r in range {
            let layout = columnCount > 1 ? layouts[r] : UInt64(columnCount)
            rows.append(Row(columns: columns, data: DataRow(layout: layout, storage: bytes[start..<ends[r]])))
            start = ends[r]
        }
        return rows
    }
}

/// How a statement ended: its result columns (if it returns rows) and its command tag.
public struct QueryOutcome: Sendable {
    public let columns: ResultColumns?
    public let commandTag: String
    public var rowCount: Int? { CommandComplete(tag: commandTag).rowCount }
}
