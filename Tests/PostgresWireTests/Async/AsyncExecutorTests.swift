import Foundation
@testable import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// `AsyncConnection.executor`: tasks that prefer a connection's I/O thread run its operations
/// inline there; nothing of it may block the cooperative pool or deadlock a stream.
@Suite struct AsyncExecutorTests {
    static func connect() async throws -> AsyncConnection { try await AsyncConnection.connect(dbapiTestDSN()) }

    @Test func operationsRunInlineOnTheConnectionsExecutor() async throws {
        guard #available(macOS 15.0, *) else { return }
        let conn = try await Self.connect()
        let table = dbapiUniqueName("exec")
        let (sum, onThread) = try await withTaskExecutorPreference(conn.executor) { () async throws -> (Int, Bool) in
            // The preference takes effect at the first suspension (here the first query).
            var sum = try await conn.query("SELECT 0").rows[0].decode(Int.self, at: 0)
            var onThread = conn.io.isCurrent
            for i in 0..<200 {
                sum += try await conn.query("SELECT \(i)::int").rows[0].decode(Int.self, at: 0)
                onThread = onThread && conn.io.isCurrent
            }
            try await conn.simpleQuery("CREATE TEMP TABLE \(table) (id int)")
            try await conn.transaction { tx in
                try await tx.execute("INSERT INTO \(table) SELECT g FROM generate_series(1, 10) g", [])
            }
            return (sum, onThread)
        }
        #expect(sum == 199 * 200 / 2)
        #expect(onThread)
        #expect(try await conn.query("SELECT count(*) FROM \(unescaped: table)").rows[0].decode(Int.self, at: 0) == 10)
        await conn.close()
    }

    /// A stream's producer runs on the same thread as its consumer there: it must never wait
    /// for room, and COPY IN's data must come from elsewhere.
    @Test func streamsAndCopyDoNotDeadlockOnTheExecutor() async throws {
        guard #available(macOS 15.0, *) else { return }
        let conn = try await Self.connect()
        let table = dbapiUniqueName("execcopy")
        try await conn.simpleQuery("CREATE TEMP TABLE \(table) (id int)")
        let (count, copied, chunks) = try await withTaskExecutorPreference(conn.executor) { () async throws -> (Int, Int, Int) in
            var count = 0
            for try await row in conn.rows("SELECT g FROM generate_series(1, 50000) g", fetchSize: 100, bufferSize: 8) {
                count += try row.decode(Int.self, at: 0) > 0 ? 1 : 0
            }
            let rows = AsyncStream<[String?]> { c in
                for i in 0..<5000 { c.yield([String(i)]) }
                c.finish()
            }
            let copied = try await conn.copyIn("COPY \(table) FROM STDIN", rows: rows, bufferedChunks: 1)
            var chunks = 0
            for try await _ in conn.copyOut("COPY \(table) TO STDOUT", bufferSize: 1) { chunks += 1 }
            return (count, copied, chunks)
        }
        #expect(count == 50000 && copied == 5000 && chunks == 5000)
        #expect(try await conn.query("SELECT 3").rows[0].decode(Int.self, at: 0) == 3)
        await conn.close()
    }

    /// Many connections each busy with a slow query inline on its own thread: the cooperative
    /// pool stays free (a ticker keeps ticking) and every task gets through.
    @Test func busyExecutorsNeverBlockTheCooperativePool() async throws {
        guard #available(macOS 15.0, *) else { return }
        var connections: [AsyncConnection] = []
        for _ in 0..<6 { connections.append(try await Self.connect()) }
        let ticker = Task {
            var ticks = 0
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 10_000_000)
                ticks += 1
            }
            return ticks
        }
        let done = try await withThrowingTaskGroup(of: Int.self) { group in
            for conn in connections {
                // Two tasks per connection: one on its executor, one from the global pool.
                // The blocking calls run on the connection's thread, never on the caller's.
                group.addTask {
                    try await withTaskExecutorPreference(conn.executor) {
                        var n = 0
                        for _ in 0..<4 {
                            n += try await conn.query("SELECT 1, pg_sleep(0.05)").rows.count
                            if !conn.io.isCurrent { n -= 100 }
                        }
                        return n
                    }
                }
                group.addTask {
                    var n = 0
                    for _ in 0..<4 {
                        n += try await conn.query("SELECT 1, pg_sleep(0.05)").rows.count
                        if conn.io.isCurrent { n -= 100 }
                    }
                    return n
                }
            }
            var total = 0
            for try await n in group { total += n }
            return total
        }
        ticker.cancel()
        let ticks = await ticker.value
        #expect(done == 6 * 8)
        // The ticker ran meanwhile: the cooperative pool was never blocked (blocking queries on
        // it would starve the ticker for their 12 × 4 × 50 ms; lenient under parallel tests).
        #expect(ticks >= 3)
        for conn in connections { await conn.close() }
    }

    @Test func cancellationAndCloseOnTheExecutor() async throws {
        guard #available(macOS 15.0, *) else { return }
        let conn = try await Self.connect()
        let query = Task {
            try await withTaskExecutorPreference(conn.executor) {
                try await conn.query("SELECT pg_sleep(30)")
            }
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        let start = Date()
        query.cancel()
        await #expect(throws: (any Error).self) { try await query.value }
        #expect(Date().timeIntervalSince(start) < 10)
        // Closed from a task on its executor: the task carries on (the thread serves it still).
        let after = await withTaskExecutorPreference(conn.executor) { () async -> Int in
            await conn.close()
            try? await Task.sleep(nanoseconds: 1_000_000)
            return 42
        }
        #expect(after == 42 && conn.isClosed)
    }
}
