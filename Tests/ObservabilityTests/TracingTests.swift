import Foundation
import InMemoryTracing
import PostgresWire
import Testing
import TestSupport
import Tracing

// Each test installs its own InMemoryTracer with `withTracer` (task-local, so the tests run in
// parallel without seeing each other's spans); the driver reads `InstrumentationSystem.tracer`,
// which is that tracer inside the scope and the globally bootstrapped one elsewhere
// (`globalBootstrap` checks the latter).

func testDSN(role: TestServer.Role = .trust, extra: String = "") throws -> String {
    try TestServer.shared().dsn(role: role, extra: "connect_timeout=10 " + extra)
}

func uniqueName(_ prefix: String) -> String { "\(prefix)_\(UInt32.random(in: 0...UInt32.max))_\(getpid())" }

extension FinishedInMemorySpan {
    func string(_ key: String) -> String? {
        guard let a = attributes[key] else { return nil }
        switch a.toSpanAttribute() {
        case .string(let s): return s
        case .stringConvertible(let s): return "\(s)"
        default: return nil
        }
    }
    func int(_ key: String) -> Int? {
        guard let a = attributes[key] else { return nil }
        switch a.toSpanAttribute() {
        case .int64(let i): return Int(i)
        case .int32(let i): return Int(i)
        default: return nil
        }
    }
    /// Everything recorded as text: attributes, events, errors, status.
    var recordedText: String {
        var out = operationName + "\n"
        attributes.forEach { key, value in out += "\(key)=\(value)\n" }
        for e in events {
            out += e.name + "\n"
            e.attributes.forEach { key, value in out += "\(key)=\(value)\n" }
        }
        for e in errors { out += "\(e.error)\n" }
        if let status { out += "\(status.code) \(status.message ?? "")\n" }
        return out
    }
}

@Suite struct TracingTests {
    @Test func syncQueryInsideWithSpanIsItsChild() throws {
        let tracer = InMemoryTracer()
        let server = try TestServer.shared()
        try withTracer(tracer) {
            let connection = try Connection.connect(try testDSN())
            defer { connection.close() }
            let value = 42
            try tracer.withSpan("parent") { _ in
                let result = try connection.query("SELECT \(value)::int AS answer")
                #expect(result.rows.count == 1)
            }
            let spans = tracer.finishedSpans
            let parent = try #require(spans.first { $0.operationName == "parent" })
            let select = try #require(spans.first { $0.operationName == "SELECT" })
            #expect(select.parentSpanID == parent.spanID)
            #expect(select.traceID == parent.traceID)
            #expect(select.kind == .client)
            #expect(select.string("db.system.name") == "postgresql")
            #expect(select.string("db.namespace") == "pgwire_test")
            #expect(select.string("db.operation.name") == "SELECT")
            #expect(select.string("db.query.text") == "SELECT $1::int AS answer")
            #expect(select.int("db.response.returned_rows") == 1)
            #expect(select.int("db.postgresql.backend_pid") == connection.backendPID.map(Int.init))
            #expect(select.string("server.address") == server.host)
            #expect(select.int("server.port") == server.port)
            #expect(select.status == nil)
            #expect(select.attributes["error.type"] == nil)
            // The first execution prepared the statement: a child span.
            let prepare = try #require(spans.first { $0.operationName == "PREPARE" })
            #expect(prepare.parentSpanID == select.spanID)
            // Connecting (authentication included) is a span too.
            let connect = try #require(spans.first { $0.operationName == "connect" })
            #expect(connect.string("server.address") == server.host)
            #expect(connect.int("db.postgresql.backend_pid") == connection.backendPID.map(Int.init))
            #expect(connect.parentSpanID == nil)
        }
    }

    @Test func asyncQueryCarriesTheTaskContextToTheIOThread() async throws {
        let tracer = InMemoryTracer()
        try await withTracer(tracer) {
            let connection = try await AsyncConnection.connect(try testDSN())
            try await tracer.withSpan("request") { _ in
                _ = try await connection.query("SELECT 1")
                _ = try await connection.simpleQuery("SELECT 2; SELECT 3")
                var n = 0
                for try await _ in connection.rows("SELECT generate_series(1, 5)") { n += 1 }
                #expect(n == 5)
            }
            await connection.close()
        }
        let spans = tracer.finishedSpans
        let request = try #require(spans.first { $0.operationName == "request" })
        let selects = spans.filter { $0.operationName == "SELECT" }
        #expect(selects.count == 3)
        for s in selects { #expect(s.parentSpanID == request.spanID) }
        #expect(selects.contains { $0.string("db.query.text") == "SELECT 2; SELECT 3" && $0.int("db.response.returned_rows") == 2 })
        #expect(selects.contains { $0.int("db.response.returned_rows") == 5 })
    }

    @Test func sqlErrorSetsStatusAndSQLSTATE() throws {
        let tracer = InMemoryTracer()
        try withTracer(tracer) {
            let connection = try Connection.connect(try testDSN())
            defer { connection.close() }
            #expect(throws: PostgresError.self) { try connection.query("SELECT 1/0") }
            #expect(throws: PostgresError.self) { try connection.simpleQuery("SELECT * FROM no_such_table_xyz") }
        }
        let spans = tracer.finishedSpans.filter { $0.operationName == "SELECT" }
        #expect(spans.count == 2)
        let division = try #require(spans.first { $0.string("db.query.text") == "SELECT 1/0" })
        #expect(division.status?.code == .error)
        #expect(division.string("db.response.status_code") == "22012")
        #expect(division.string("error.type") == "22012")
        let missing = try #require(spans.first { $0.string("db.query.text") == "SELECT * FROM no_such_table_xyz" })
        #expect(missing.string("db.response.status_code") == "42P01")
        #expect(missing.status?.code == .error)
    }

    @Test func pipelineExecuteManyAndCopy() throws {
        let tracer = InMemoryTracer()
        let table = uniqueName("obs_copy")
        try withTracer(tracer) {
            let connection = try Connection.connect(try testDSN())
            defer { connection.close() }
            try connection.simpleQuery("CREATE TEMP TABLE \(table) (id int, name text)")
            _ = try connection.pipeline(["SELECT 1", "SELECT 2"])
            var sets: [PostgresBindings] = []
            for (id, name) in [(1, "a"), (2, "b")] {
                var b = PostgresBindings()
                try b.append(id)
                try b.append(name)
                sets.append(b)
            }
            try connection.executeMany("INSERT INTO \(table) VALUES ($1, $2)", sets)
            try connection.copyIn("COPY \(table) FROM STDIN") { w in try w.writeRow(["3", "c"]) }
            _ = try connection.copyOut("COPY \(table) TO STDOUT") { _ in }
            _ = try connection.simpleQuery("/* lead */ -- comment\n  (select 1)")
        }
        let commented = try #require(tracer.finishedSpans.first { $0.string("db.query.text")?.hasPrefix("/* lead */") == true })
        #expect(commented.operationName == "SELECT")
        #expect(commented.string("db.operation.name") == "SELECT")
        let names = tracer.finishedSpans.map(\.operationName)
        let batch = try #require(tracer.finishedSpans.first { $0.operationName == "BATCH SELECT" })
        #expect(batch.int("db.operation.batch.size") == 2)
        #expect(batch.int("db.response.returned_rows") == 2)
        let insert = try #require(tracer.finishedSpans.first { $0.operationName == "BATCH INSERT" })
        #expect(insert.string("db.query.text") == "INSERT INTO \(table) VALUES ($1, $2)")
        #expect(names.filter { $0 == "COPY" }.count == 2)
    }

    @Test func connectionLossIsAnErrorSpan() throws {
        let tracer = InMemoryTracer()
        try withTracer(tracer) {
            let victim = try Connection.connect(try testDSN())
            defer { victim.close() }
            let pid = try #require(victim.backendPID)
            let killer = try Connection.connect(try testDSN())
            defer { killer.close() }
            let marker = uniqueName("loss")
            // A new thread does not inherit the task-local tracer: install it there too.
            let waiting = Thread {
                withTracer(tracer) { _ = try? victim.simpleQuery("SELECT pg_sleep(30) /* \(marker) */") }
            }
            waiting.start()
            Thread.sleep(forTimeInterval: 0.5)
            try killer.simpleQuery("SELECT pg_terminate_backend(\(pid))")
            let deadline = Date().addingTimeInterval(20)
            while !tracer.finishedSpans.contains(where: { $0.string("db.query.text")?.contains(marker) == true }), Date() < deadline {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        let span = try #require(tracer.finishedSpans.first { $0.string("db.query.text")?.contains("pg_sleep(30)") == true })
        #expect(span.status?.code == .error)
        #expect(span.string("db.response.status_code") == "57P01")
        #expect(span.string("error.type") == "57P01")
    }

    @Test func cancellationIsAnErrorSpan() async throws {
        let tracer = InMemoryTracer()
        try await withTracer(tracer) {
            let connection = try await AsyncConnection.connect(try testDSN())
            let marker = uniqueName("cancel")
            let task = Task { try await connection.simpleQuery("SELECT pg_sleep(30) /* \(marker) */") }
            // Cancel once the query runs on the server (a fixed sleep was not enough under CI's
            // load: a task cancelled before its operation begins throws CancellationError and
            // never runs the query, so there is no query span to look at).
            let watcher = try Connection.connect(try testDSN())
            defer { watcher.close() }
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let running = try watcher.query(
                    "SELECT count(*)::int8 FROM pg_stat_activity WHERE state = 'active' AND position(\(marker) in query) > 0 AND pid <> pg_backend_pid()"
                ).rows.first?.decode(Int.self, at: 0) ?? 0
                if running > 0 { break }
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            task.cancel()
            _ = await task.result
            await connection.close()
        }
        let span = try #require(tracer.finishedSpans.first { $0.string("db.query.text")?.hasPrefix("SELECT pg_sleep(30)") == true })
        #expect(span.status?.code == .error)
        #expect(span.string("db.response.status_code") == "57014")
    }

    @Test func noParameterValueOrPasswordIsRecorded() throws {
        let tracer = InMemoryTracer()
        let secretValue = "bound-secret-\(UInt32.random(in: 0...UInt32.max))"
        let literalPassword = "literal-secret-\(UInt32.random(in: 0...UInt32.max))"
        let server = try TestServer.shared()
        let password = try #require(server.password(for: .password))
        try withTracer(tracer) {
            let connection = try Connection.connect(try testDSN(role: .password))
            defer { connection.close() }
            _ = try connection.query("SELECT \(secretValue)::text AS v")
            // The server's message quotes the bad value: it is not recorded either.
            #expect(throws: PostgresError.self) { try connection.query("SELECT \(secretValue)::int") }
            _ = try connection.simpleQuery("SELECT '\(literalPassword)' AS password")
            _ = try connection.pipeline(["SELECT \(secretValue)::text"])
        }
        #expect(tracer.finishedSpans.count >= 5)
        for span in tracer.finishedSpans {
            let text = span.recordedText
            #expect(!text.contains(secretValue), "\(text)")
            #expect(!text.contains(password), "\(text)")
            #expect(!text.contains(literalPassword), "\(text)")
        }
    }

    @Test func poolAcquireIsASpanAndConnectItsChild() async throws {
        let tracer = InMemoryTracer()
        try await withTracer(tracer) {
            let pool = try AsyncConnectionPool(try testDSN(), configuration: PoolConfiguration(maxConnections: 2))
            try await pool.withConnection { c in _ = try await c.query("SELECT 1") }
            await pool.close()
        }
        let spans = tracer.finishedSpans
        let acquire = try #require(spans.first { $0.operationName == "pool.acquire" })
        let connect = try #require(spans.first { $0.operationName == "connect" })
        #expect(connect.parentSpanID == acquire.spanID)
        #expect(acquire.int("db.postgresql.backend_pid") != nil)
    }
}
