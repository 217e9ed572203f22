import Foundation
import InMemoryTracing
import Logging
import Metrics
import MetricsTestKit
import PostgresWire
import ServiceLifecycle
import Testing
import TestSupport
import Tracing

extension [(String, String)] {
    func value(_ key: String) -> String? { first { $0.0 == key }?.1 }
}

@Suite struct MetricsTests {
    @Test func operationAndPoolMetrics() async throws {
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            let pool = try AsyncConnectionPool(try testDSN(), configuration: PoolConfiguration(maxConnections: 2, acquireTimeout: 0.5))
            try await pool.withConnection { c in
                _ = try await c.query("SELECT generate_series(1, 3)")
                _ = try? await c.query("SELECT 1/0")
            }
            let a = try await pool.acquire()
            let b = try await pool.acquire()
            #expect(pool.stats.inUse == 2)
            await #expect(throws: DatabaseError.self) { try await pool.acquire() }
            await pool.release(a)
            await pool.release(b)
            await pool.close()
        }
        let durations = metrics.timers(label: PostgresWireObservability.operationDuration)
        let success = try #require(durations.first {
            $0.dimensions.value("db.operation.name") == "SELECT" && $0.dimensions.value("outcome") == "success"
        })
        #expect(success.dimensions.value("db.system.name") == "postgresql")
        #expect(!success.values.isEmpty && success.values.allSatisfy { $0 > 0 })
        let failure = try #require(durations.first { $0.dimensions.value("outcome") == "failure" })
        #expect(failure.dimensions.value("db.response.status_code") == "22012")
        #expect(failure.dimensions.value("error.type") == "22012")

        let rows = metrics.recorders(label: PostgresWireObservability.returnedRows)
        #expect(rows.contains { $0.values.contains(3) })
        #expect(metrics.counters(label: PostgresWireObservability.bytesSent).reduce(0) { $0 + $1.totalValue } > 0)
        #expect(metrics.counters(label: PostgresWireObservability.bytesReceived).reduce(0) { $0 + $1.totalValue } > 0)

        let counts = metrics.recorders(label: PostgresWireObservability.connectionCount)
        let used = try #require(counts.first { $0.dimensions.value("db.client.connection.state") == "used" })
        #expect(used.values.contains(2))
        #expect(counts.contains { $0.dimensions.value("db.client.connection.state") == "idle" })
        let max = try #require(metrics.recorders(label: PostgresWireObservability.connectionMax).first)
        #expect(max.lastValue == 2)
        let pending = try #require(metrics.recorders(label: PostgresWireObservability.pendingRequests).first)
        #expect(pending.values.contains(1))
        #expect(metrics.timers(label: PostgresWireObservability.waitTime).first?.values.count ?? 0 >= 4)
        #expect(metrics.timers(label: PostgresWireObservability.createTime).first?.values.count ?? 0 >= 2)
        #expect(metrics.counterTotal(label: PostgresWireObservability.timeouts) == 1)
    }

    @Test func syncPoolMetrics() throws {
        let metrics = TestMetrics()
        try withMetricsFactory(metrics) {
            let pool = try ConnectionPool(try testDSN(), configuration: PoolConfiguration(maxConnections: 3))
            try pool.withConnection { c in _ = try c.query("SELECT 1") }
            _ = pool.close()
        }
        #expect(metrics.timers(label: PostgresWireObservability.createTime).first?.values.count == 1)
        let max = try #require(metrics.recorders(label: PostgresWireObservability.connectionMax).first)
        #expect(max.lastValue == 3)
        #expect(metrics.timers(label: PostgresWireObservability.operationDuration).contains { $0.dimensions.value("db.operation.name") == "SELECT" })
    }
}

/// Collects log entries (for the logging tests).
final class CapturedLogs: @unchecked Sendable {
    struct Entry { let level: Logger.Level; let message: String; let metadata: Logger.Metadata }
    private let lock = NSLock()
    private var _entries: [Entry] = []
    var entries: [Entry] { lock.withLock { _entries } }
    func append(_ e: Entry) { lock.withLock { _entries.append(e) } }

    func logger(level: Logger.Level) -> Logger {
        var logger = Logger(label: "test") { _ in Handler(logs: self) }
        logger.logLevel = level
        return logger
    }

    struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            logs.append(Entry(level: event.level, message: "\(event.message)", metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
        }
    }
}

@Suite struct LoggingTests {
    @Test func debugShowsStatementsInfoIsQuietNoticesAtTheirSeverity() throws {
        let debugLogs = CapturedLogs()
        var options = ConnectionOptions()
        options.logger = debugLogs.logger(level: .debug)
        let connection = try Connection.connect(try testDSN(), options: options)
        _ = try connection.query("SELECT \(7)::int")
        try connection.simpleQuery("DO $$ BEGIN RAISE NOTICE 'hello notice'; RAISE WARNING 'hello warning'; END $$")
        connection.close()
        let entries = debugLogs.entries
        let statement = try #require(entries.first { $0.metadata["db.query.text"] == "SELECT $1::int" })
        #expect(statement.level == .debug)
        #expect(statement.metadata["db.backend_pid"] == "\(connection.backendPID ?? -1)")
        #expect(statement.metadata["db.connection_id"] == "\(connection.connectionID)")
        let notice = try #require(entries.first { $0.message.contains("hello notice") })
        #expect(notice.level == .notice)
        #expect(notice.metadata["db.sqlstate"] == "00000")
        let warning = try #require(entries.first { $0.message.contains("hello warning") })
        #expect(warning.level == .warning)
        #expect(warning.metadata["db.sqlstate"] == "01000")

        let infoLogs = CapturedLogs()
        options.logger = infoLogs.logger(level: .info)
        let quiet = try Connection.connect(try testDSN(), options: options)
        for _ in 0..<3 { _ = try quiet.query("SELECT 1") }
        try quiet.simpleQuery("SELECT 2")
        quiet.close()
        #expect(infoLogs.entries.isEmpty, "\(infoLogs.entries.map(\.message))")
    }
}

@Suite struct LifecycleTests {
    @Test func serviceGroupShutdownDrainsThePoolUnderLoad() async throws {
        let app = uniqueName("obs_pool")
        var configuration = PoolConfiguration(maxConnections: 4, acquireTimeout: 10)
        configuration.shutdownTimeout = 10
        let pool = try AsyncConnectionPool(try testDSN(extra: "application_name=\(app)"), configuration: configuration)
        let group = ServiceGroup(services: [pool], logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let running = Task { try await group.run() }

        enum Outcome: Sendable { case completed, refused, cut(String) }
        let outcomes = try await withThrowingTaskGroup(of: Outcome.self) { tasks in
            for i in 0..<8 {
                tasks.addTask {
                    let connection: AsyncConnection
                    do {
                        connection = try await pool.acquire()
                    } catch {
                        return .refused
                    }
                    do {
                        _ = try await connection.query("SELECT pg_sleep(0.3), \(i)")
                        await pool.release(connection)
                        return .completed
                    } catch {
                        await pool.release(connection)
                        return .cut("\(error)")
                    }
                }
            }
            try await Task.sleep(nanoseconds: 150_000_000)
            await group.triggerGracefulShutdown()
            var all: [Outcome] = []
            for try await o in tasks { all.append(o) }
            return all
        }
        try await running.value
        let completed = outcomes.filter { if case .completed = $0 { return true } else { return false } }.count
        let cut = outcomes.compactMap { if case .cut(let e) = $0 { return e } else { return nil } }
        #expect(cut.isEmpty, "\(cut)")
        #expect(completed >= 4)
        // No new acquisition once shut down: a clear error.
        do {
            _ = try await pool.acquire()
            Issue.record("acquire after shutdown succeeded")
        } catch let error as DatabaseError {
            #expect(error.message.contains("closed"))
        }
        // No connection of the pool is left on the server.
        let observer = try Connection.connect(try testDSN())
        defer { observer.close() }
        var left = -1
        for _ in 0..<50 {
            let r = try observer.query("SELECT count(*)::int FROM pg_stat_activity WHERE application_name = \(app)")
            left = try r.rows[0].decode(Int.self, at: 0)
            if left == 0 { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(left == 0)
    }

    @Test func poolWorksWithoutRun() async throws {
        let pool = try AsyncConnectionPool(try testDSN())
        let n = try await pool.withConnection { try await $0.query("SELECT 1").rows.count }
        #expect(n == 1)
        await pool.close()
    }
}

/// A tracer bootstrapped globally (once per process: only this test does it) is used outside
/// any `withTracer` scope.
@Suite struct GlobalBootstrapTests {
    static let tracer: InMemoryTracer = {
        let tracer = InMemoryTracer()
        InstrumentationSystem.bootstrap(tracer)
        return tracer
    }()

    @Test func globallyBootstrappedTracerReceivesSpans() throws {
        let tracer = Self.tracer
        let marker = uniqueName("global")
        let connection = try Connection.connect(try testDSN())
        _ = try connection.simpleQuery("SELECT 1 /* \(marker) */")
        connection.close()
        let span = try #require(tracer.finishedSpans.first { $0.string("db.query.text")?.contains(marker) == true })
        #expect(span.operationName == "SELECT")
    }
}
