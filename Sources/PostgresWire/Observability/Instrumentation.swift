import Dispatch
import Foundation
import Logging
import Metrics
import Tracing

// Spans, metrics and statement logs of every operation, in one place. The operations call
// `Observation.begin` / `end`; when no tracer and no metrics backend is installed (the
// defaults: `NoOpTracer`, `NOOPMetricsHandler`) `begin` returns nil after two cheap checks and
// nothing else happens: no attribute is built, no span, no metric, no allocation.

/// The names this driver reports under: span attributes and metric labels follow OpenTelemetry's
/// database semantic conventions; log metadata keys are listed in the README ("Observability").
public enum PostgresWireObservability {
    /// `db.client.operation.duration`: a timer per operation (dimensions `db.operation.name`,
    /// `outcome` = success|failure, and on failure `error.type` and `db.response.status_code`).
    public static let operationDuration = "db.client.operation.duration"
    /// `db.client.response.returned_rows`: a recorder (histogram) of the rows each operation returned.
    public static let returnedRows = "db.client.response.returned_rows"
    /// Counters of the protocol bytes written to and read from the server.
    public static let bytesSent = "db.client.bytes_sent"
    public static let bytesReceived = "db.client.bytes_received"
    /// Pool gauges and timers (dimension `db.client.connection.pool.name`, plus `db.client.connection.state`
    /// = idle|used for the count).
    public static let connectionCount = "db.client.connection.count"
    public static let connectionMax = "db.client.connection.max"
    public static let pendingRequests = "db.client.connection.pending_requests"
    public static let waitTime = "db.client.connection.wait_time"
    public static let createTime = "db.client.connection.create_time"
    public static let timeouts = "db.client.connection.timeouts"
}

/// The tracer and metrics backend an operation reports to, captured where the caller runs (its
/// task-locals) and reinstalled on the connection's I/O thread along with its ServiceContext.
struct ObservationScope: Sendable {
    let context: ServiceContext?
    let tracer: (any Tracer)?
    let metrics: MetricsFactory?

    /// The caller's scope; nil when there is nothing to carry (no context, nothing listening).
    static func capture(memo: TracerLookup.LockedMemo? = nil) -> ObservationScope? {
        let context = ServiceContext.current
        let tracer = (memo.map { $0.tracer() } ?? TracerLookup.uncached())?.tracer
        let factory = MetricsSystem.factory
        let metering = !isNoOp(factory)
        guard context != nil || tracer != nil || metering else { return nil }
        return ObservationScope(context: context, tracer: tracer, metrics: metering ? factory : nil)
    }

    /// Runs `body` with the captured context, tracer and metrics backend bound as task-locals.
    func run<T>(_ body: () throws -> T) rethrows -> T {
        try ServiceContext.withValue(context) {
            if let tracer, let metrics {
                return try withTracer(tracer) { try withMetricsFactory(metrics) { try body() } }
            } else if let tracer {
                return try withTracer(tracer) { try body() }
            } else if let metrics {
                return try withMetricsFactory(metrics) { try body() }
            }
            return try body()
        }
    }

}

/// The metrics of one operation name on one connection (successful duration, rows, bytes),
/// made once and reused while the metrics backend stays the same.
final class OperationMetrics {
    // The backend's handlers, called directly: the `Timer`/`Counter` wrappers add a generic,
    // unspecialised hop per value.
    let duration: any TimerHandler
    let rows: any RecorderHandler
    let sent: any CounterHandler
    let received: any CounterHandler
    /// The backend they came from (failures get a timer of their own, with the error's dimensions).
    let factory: MetricsFactory
    let operation: String

    init(_ operation: String, factory: MetricsFactory) {
        self.factory = factory
        self.operation = operation
        let base = [("db.system.name", "postgresql"), ("db.operation.name", operation)]
        duration = factory.makeTimer(label: PostgresWireObservability.operationDuration, dimensions: base + [("outcome", "success")])
        rows = factory.makeRecorder(label: PostgresWireObservability.returnedRows, dimensions: base, aggregate: true)
        sent = factory.makeCounter(label: PostgresWireObservability.bytesSent, dimensions: base)
        received = factory.makeCounter(label: PostgresWireObservability.bytesReceived, dimensions: base)
    }

    /// A connection's cache: the backend it was filled for (the same instance for a class, the
    /// same type for a value) and the metrics by operation name, the last one at hand.
    struct Cache {
        let factoryType: ObjectIdentifier
        let factoryObject: AnyObject?
        var byOperation: [String: OperationMetrics] = [:]
        var last: OperationMetrics?
    }

    static func lookup(_ operation: String, factory: MetricsFactory, in cache: inout Cache?) -> OperationMetrics {
        let type = ObjectIdentifier(Swift.type(of: factory))
        // Read in place: binding the cache to a local would copy its dictionary.
        let sameBackend = cache?.factoryType == type && (cache?.factoryObject == nil || cache?.factoryObject === (factory as AnyObject))
        if sameBackend {
            if let last = cache?.last, last.operation == operation { return last }
        } else {
            cache = Cache(factoryType: type, factoryObject: Swift.type(of: factory) is AnyClass ? factory as AnyObject : nil)
        }
        let found: OperationMetrics
        if let known = cache!.byOperation[operation] {
            found = known
        } else {
            found = OperationMetrics(operation, factory: factory)
            if cache!.byOperation.count < 64 { cache!.byOperation[operation] = found }
        }
        cache!.last = found
        return found
    }
}

/// `InstrumentationSystem.tracer` costs two dynamic casts to `any Tracer` (about half the
/// instructions of a round trip's client work when a tracer is installed): a connection
/// remembers the answer for the instrument it was given, found again with a cheap look at
/// `InstrumentationSystem.instrument` (task-local or bootstrapped): the same instance for a class,
/// the same type for a value (a connection keeps the first tracer of a value type it met).
struct TracerLookup {
    let instrumentType: ObjectIdentifier
    let instrumentObject: AnyObject?
    /// nil: a NoOpTracer.
    let tracer: TracerBox?

    static func tracer(memo: inout TracerLookup?) -> TracerBox? {
        let instrument = InstrumentationSystem.instrument
        let type = ObjectIdentifier(Swift.type(of: instrument))
        // Read in place: binding the memo to a local would retain what it holds.
        if memo?.instrumentType == type {
            if memo?.instrumentObject == nil || memo?.instrumentObject === (instrument as AnyObject) { return memo?.tracer }
        }
        let tracer = uncached()
        let isClass = Swift.type(of: instrument) is AnyClass
        memo = TracerLookup(instrumentType: type, instrumentObject: isClass ? instrument as AnyObject : nil, tracer: tracer)
        return tracer
    }

    /// Without a memo (connect, pool acquire).
    static func uncached() -> TracerBox? {
        let found = InstrumentationSystem.tracer
        return found is NoOpTracer ? nil : TracerBox.make(found)
    }

    /// A memo shared by the tasks that submit work to one connection's I/O thread.
    final class LockedMemo: @unchecked Sendable {
        private let lock = NSLock()
        private var memo: TracerLookup?
        func tracer() -> TracerBox? { lock.withLock { TracerLookup.tracer(memo: &memo) } }
    }
}

/// A tracer held by reference, opened once: `startSpan` calls the concrete tracer's method
/// directly, without copying an existential tracer per operation.
class TracerBox: @unchecked Sendable {
    let tracer: any Tracer
    fileprivate init(tracer: any Tracer) { self.tracer = tracer }

    static func make(_ tracer: any Tracer) -> TracerBox { open(tracer) }
    private static func open<T: Tracer>(_ tracer: T) -> TracerBox { ConcreteTracerBox(tracer) }

    /// A client span named `name`, child of `context`.
    func startClientSpan(_ name: String, context: ServiceContext) -> any Span { fatalError("subclass") }
}

private final class ConcreteTracerBox<T: Tracer>: TracerBox, @unchecked Sendable {
    let concrete: T
    init(_ tracer: T) {
        concrete = tracer
        super.init(tracer: tracer)
    }

    override func startClientSpan(_ name: String, context: ServiceContext) -> any Span {
        concrete.startSpan(name, context: context, ofKind: .client)
    }
}

/// Whether `factory` is swift-metrics' no-op backend (a type comparison, not a dynamic cast).
@inline(__always)
func isNoOp(_ factory: MetricsFactory) -> Bool {
    ObjectIdentifier(type(of: factory)) == ObjectIdentifier(NOOPMetricsHandler.self)
}

/// One operation being observed: its span (when a tracer listens), its start and its metrics.
/// A value on the caller's stack: observing allocates nothing of its own. Its existential span is
/// read in place (`span?.…`), never bound to a local: each binding would copy it.
struct Observation {
    let span: (any Span)?
    /// Whether `span` records (attributes are built only then).
    let recording: Bool
    /// The metric handles of this operation on its connection (nil: not metered, or no backend).
    let metrics: OperationMetrics?
    let operation: String
    let start: UInt64
    let bytesSentAtStart: UInt64
    let bytesReceivedAtStart: UInt64
    let rowsAtStart: UInt64
    /// Whether the operation's duration, rows and bytes are metered (not for connect and acquire).
    let metered: Bool

    /// Starts observing an operation of `connection` (nil for connect and pool acquire); nil when
    /// nothing listens. `query` is the SQL text as sent (`$n` placeholders; never bound values).
    /// `metered`: whether the operation's duration, rows and bytes are metered (not connect, acquire).
    static func begin(_ name: @autoclosure () -> String, operation: @autoclosure () -> String, query: @autoclosure () -> String? = nil,
                      batchSize: Int = 0, connection: Connection?, metered: Bool = true,
                      configuration: ConnectionConfiguration? = nil) -> Observation? {
        let tracer: TracerBox?
        if let connection {
            tracer = TracerLookup.tracer(memo: &connection.tracerLookup)
        } else {
            tracer = TracerLookup.uncached()
        }
        let factory = MetricsSystem.factory
        let metering = !isNoOp(factory)
        guard tracer != nil || metering else { return nil }
        let operation = operation()
        let span = tracer?.startClientSpan(name(), context: ServiceContext.current ?? .topLevel)
        let recording = span?.isRecording ?? false
        // A span that is not sampled (not recording) gets no attributes: nothing is built for it.
        if recording {
            let configuration = configuration ?? connection?.configuration
            let host = connection?.host ?? configuration?.hosts.first
            let text = query()
            let pid = connection?.backendKeyData?.processID
            span?.updateAttributes { a in
                a["db.system.name"] = "postgresql"
                if let configuration { a["db.namespace"] = configuration.database }
                if !operation.isEmpty { a["db.operation.name"] = operation }
                if let text { a["db.query.text"] = text }
                if batchSize > 1 { a["db.operation.batch.size"] = batchSize }
                if let host {
                    a["server.address"] = host.host
                    a["server.port"] = host.port
                }
                if let pid { a["db.postgresql.backend_pid"] = Int(pid) }
            }
        }
        var metrics: OperationMetrics?
        if metering, metered, let connection {
            // The metric handles of an operation name are made once per connection and backend.
            metrics = OperationMetrics.lookup(operation, factory: factory, in: &connection.operationMetrics)
        }
        return Observation(span: span, recording: recording, metrics: metrics, operation: operation,
                           start: metrics != nil ? Platform.monotonicNanoseconds() : 0,
                           bytesSentAtStart: connection?.bytesSent ?? 0, bytesReceivedAtStart: connection?.bytesReceived ?? 0,
                           rowsAtStart: connection?.rowsReceived ?? 0, metered: metered)
    }

    /// Ends the operation: status, error attributes, returned rows, duration and byte counts.
    func end(error: (any Error)?, connection: Connection?) {
        let failure = error.map(Observation.classify)
        if recording {
            let rows = connection == nil ? 0 : Int(clamping: connection!.rowsReceived &- rowsAtStart)
            span?.updateAttributes { a in
                if metered { a["db.response.returned_rows"] = rows }
                if let host = connection?.host {
                    a["server.address"] = host.host
                    a["server.port"] = host.port
                }
                if let failure {
                    a["error.type"] = failure.type
                    if let sqlState = failure.sqlState { a["db.response.status_code"] = sqlState }
                }
                if let pid = connection?.backendKeyData?.processID, a["db.postgresql.backend_pid"] == nil {
                    a["db.postgresql.backend_pid"] = Int(pid)
                }
            }
            // The status names the error class only: a server message may quote a bound value.
            if let failure { span?.setStatus(SpanStatus(code: .error, message: failure.type)) }
        }
        span?.end()
        if let metrics, let connection {
            let elapsed = Int64(clamping: Platform.monotonicNanoseconds() &- start)
            if let failure {
                var dimensions = [("db.system.name", "postgresql"), ("db.operation.name", operation), ("outcome", "failure"),
                                  ("error.type", failure.type)]
                if let sqlState = failure.sqlState { dimensions.append(("db.response.status_code", sqlState)) }
                Timer(label: PostgresWireObservability.operationDuration, dimensions: dimensions, factory: metrics.factory)
                    .recordNanoseconds(elapsed)
            } else {
                metrics.duration.recordNanoseconds(elapsed)
            }
            metrics.rows.record(Int64(clamping: connection.rowsReceived &- rowsAtStart))
            let sent = connection.bytesSent &- bytesSentAtStart
            let received = connection.bytesReceived &- bytesReceivedAtStart
            if sent > 0 { metrics.sent.increment(by: Int64(clamping: sent)) }
            if received > 0 { metrics.received.increment(by: Int64(clamping: received)) }
        }
    }

    /// `error.type` (the SQLSTATE for a server error, else the error's kind) and the SQLSTATE.
    static func classify(_ error: any Error) -> (type: String, sqlState: String?) {
        if let e = error as? PostgresError { return classify(e) }
        if error is CancellationError { return ("cancelled", nil) }
        return (String(describing: type(of: error)), nil)
    }

    static func classify(_ error: PostgresError) -> (type: String, sqlState: String?) {
        if let state = error.sqlState { return (state.rawValue, state.rawValue) }
        switch error {
        case .configuration: return ("configuration", nil)
        case .connectionFailed: return ("connection_failed", nil)
        case .timeout: return ("timeout", nil)
        case .authentication: return ("authentication", nil)
        case .protocolViolation: return ("protocol_violation", nil)
        case .connectionClosed: return ("connection_closed", nil)
        case .connectionLost: return ("connection_lost", nil)
        case .pipelineAborted: return ("pipeline_aborted", nil)
        case .coding: return ("coding", nil)
        case .copyAborted: return ("copy_aborted", nil)
        case .transactionRolledBack: return ("transaction_rolled_back", nil)
        case .invalidUsage: return ("invalid_usage", nil)
        case .server, .connectionRejected: return ("server", nil)
        }
    }

    /// OpenTelemetry's `db.operation.name`: the statement's first keyword, uppercased ("" if none).
    /// Leading whitespace, comments and parentheses are skipped; only the keyword's bytes are read.
    static func operationName(_ sql: String) -> String {
        var sql = sql
        return sql.withUTF8 { operationName(bytes: $0) }
    }

    static func operationName(bytes s: UnsafeBufferPointer<UInt8>) -> String {
        var i = 0
        let n = s.count
        while i < n {
            let c = s[i]
            switch c {
            case 32, 9, 10, 13, 40:
                i += 1
            case 45 where i + 1 < n && s[i + 1] == 45:  // "--" comment to the end of the line
                i += 2
                while i < n && s[i] != 10 { i += 1 }
            case 47 where i + 1 < n && s[i + 1] == 42:  // "/* … */" comment
                i += 2
                while i < n && !(s[i] == 42 && i + 1 < n && s[i + 1] == 47) { i += 1 }
                i += 2
            default:
                var end = i
                while end < n && end - i < 32, (s[end] | 0x20) >= 97 && (s[end] | 0x20) <= 122 { end += 1 }
                guard end > i else { return "" }
                return String(unsafeUninitializedCapacity: end - i) { out in
                    for k in i..<end { out[k - i] = s[k] & 0xDF }  // ASCII uppercase
                    return end - i
                }
            }
        }
        return ""
    }

    /// The text recorded for a simple-protocol statement: as given, except that string literals
    /// are replaced by `?` when it sets a password (CREATE/ALTER ROLE … PASSWORD '…').
    static func recordedText(_ sql: String) -> String {
        guard sql.range(of: "password", options: .caseInsensitive) != nil else { return sql }
        var out = ""
        var inLiteral = false
        var previousQuote = false
        for ch in sql {
            if inLiteral {
                if ch == "'" { inLiteral = false; previousQuote = true }
                continue
            }
            if ch == "'" {
                if previousQuote { inLiteral = true; previousQuote = false; continue }  // '' inside a literal
                inLiteral = true
                out.append("?")
                continue
            }
            previousQuote = false
            out.append(ch)
        }
        return out
    }
}

extension Connection {
    /// `Observation.operationName(sql)`, remembered for the statement seen last (callers hold `lock`).
    func operationName(_ sql: String) -> String {
        if lastOperationSQL == sql { return lastOperationName }
        let name = Observation.operationName(sql)
        lastOperationSQL = sql
        lastOperationName = name
        return name
    }

    /// Runs one operation (callers hold `lock`) with its span, metrics and debug log line.
    /// The span is named after `operation` (the first keyword, "postgresql" when there is none).
    func observed<T, E: Error>(operation: @autoclosure () -> String, query: @autoclosure () -> String?,
                               batchSize: Int = 0, failure: (T) -> (any Error)? = { _ in nil },
                               _ body: () throws(E) -> T) throws(E) -> T {
        if logger.logLevel <= .debug {
            logger.debug("statement", metadata: ["db.query.text": "\(query() ?? "")", "db.backend_pid": "\(backendPID.map(String.init) ?? "")"])
        }
        var name = ""
        guard let observation = Observation.begin(name, operation: { () -> String in
            let operation = operation()
            name = operation.isEmpty ? "postgresql" : operation
            return operation
        }(), query: query(), batchSize: batchSize, connection: self) else {
            return try body()
        }
        let result: T
        do {
            // A recording span is the parent of the spans inside the operation (PREPARE).
            if observation.recording {
                operationSpanRecording = true
                defer { operationSpanRecording = false }
                result = try withServiceContext(observation.span?.context) { () throws(E) in try body() }
            } else {
                result = try body()
            }
        } catch {
            observation.end(error: error, connection: self)
            throw error
        }
        observation.end(error: failure(result), connection: self)
        return result
    }
}

/// Runs `body` with `context` (when not nil) as the current ServiceContext, keeping its error type.
func withServiceContext<T, E: Error>(_ context: ServiceContext?, _ body: () throws(E) -> T) throws(E) -> T {
    guard let context else { return try body() }
    var result: Result<T, E>?
    ServiceContext.withValue(context) {
        do throws(E) { result = .success(try body()) } catch { result = .failure(error) }
    }
    return try result!.get()
}

extension Logger {
    /// A logger that discards everything: the default when none is configured.
    static let disabled = Logger(label: "PostgresWire", factory: { _ in SwiftLogNoOpLogHandler() })
}

extension Connection {
    /// Logs a NoticeResponse at its severity (DEBUG → debug, LOG and INFO → info, NOTICE → notice,
    /// WARNING → warning), with metadata `db.sqlstate`.
    static func log(_ notice: ServerError, to logger: Logger) {
        let level: Logger.Level
        switch notice.severity {
        case "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5": level = .debug
        case "LOG", "INFO": level = .info
        case "WARNING": level = .warning
        default: level = .notice
        }
        logger.log(level: level, "\(notice.localizedSeverity ?? notice.severity):  \(notice.message)", metadata: ["db.sqlstate": "\(notice.sqlState)"])
    }
}

/// Numbers connections in this process (log metadata `db.connection_id`).
enum ConnectionIDs {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var last = 0
    static func next() -> Int {
        lock.withLock {
            last += 1
            return last
        }
    }
}

/// A pool's metrics, reported to the metrics backend current when the pool was made (nil: none).
final class PoolMetrics: Sendable {
    let idle: Gauge
    let used: Gauge
    let pending: Gauge
    let waitTime: Timer
    let createTime: Timer
    let timeouts: Counter

    /// nil when no metrics backend is installed.
    init?(configuration: ConnectionConfiguration, maxConnections: Int) {
        let factory = MetricsSystem.factory
        guard !isNoOp(factory) else { return nil }
        let host = configuration.hosts.first.map { "\($0.host):\($0.port)" } ?? ""
        let pool = [("db.system.name", "postgresql"), ("db.client.connection.pool.name", "\(host)/\(configuration.database)")]
        idle = Gauge(label: PostgresWireObservability.connectionCount, dimensions: pool + [("db.client.connection.state", "idle")], factory: factory)
        used = Gauge(label: PostgresWireObservability.connectionCount, dimensions: pool + [("db.client.connection.state", "used")], factory: factory)
        pending = Gauge(label: PostgresWireObservability.pendingRequests, dimensions: pool, factory: factory)
        waitTime = Timer(label: PostgresWireObservability.waitTime, dimensions: pool, factory: factory)
        createTime = Timer(label: PostgresWireObservability.createTime, dimensions: pool, factory: factory)
        timeouts = Counter(label: PostgresWireObservability.timeouts, dimensions: pool, factory: factory)
        Gauge(label: PostgresWireObservability.connectionMax, dimensions: pool, factory: factory).record(maxConnections)
    }

    /// Publishes the gauges from the pool's counters.
    func update(_ stats: PoolStats) {
        idle.record(stats.idle)
        used.record(stats.inUse)
        pending.record(stats.waiters)
    }

    /// Times `body` (a connection being opened) into `db.client.connection.create_time`.
    static func timeCreate<T, E: Error>(_ metrics: PoolMetrics?, _ body: () throws(E) -> T) throws(E) -> T {
        guard let metrics else { return try body() }
        let start = Platform.monotonicNanoseconds()
        defer { metrics.createTime.recordNanoseconds(Int64(clamping: Platform.monotonicNanoseconds() &- start)) }
        return try body()
    }
}
