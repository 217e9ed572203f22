import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

@Suite struct AsyncTests {
    static func connect() async throws -> AsyncConnection { try await AsyncConnection.connect(dbapiTestDSN()) }

    @Test func queriesTransactionsAndDecoding() async throws {
        let conn = try await Self.connect()
        let table = dbapiUniqueName("async")
        try await conn.simpleQuery("CREATE TEMP TABLE \(table) (id int PRIMARY KEY, name text)")
        try await conn.execute("INSERT INTO \(table) VALUES ($1, $2), ($3, $4)", [1, "one", 2, nil])
        let n = try await conn.executeMany("INSERT INTO \(table) VALUES ($1, $2)", [[3, "three"], [4, "four"]])
        #expect(n == 2)
        struct Item: Decodable { let id: Int; let name: String? }
        let id = 2
        let items = try await conn.query("SELECT id, name FROM \(unescaped: table) WHERE id <= \(id) ORDER BY id").rows.map { try $0.decode(Item.self) }
        #expect(items.map(\.id) == [1, 2] && items[1].name == nil)

        try await conn.transaction { tx in
            try await tx.execute("INSERT INTO \(table) VALUES ($1, 'five')", [5])
            #expect(tx.transactionStatus == .inTransaction)
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await tx.transaction { inner in
                    try await inner.execute("DELETE FROM \(table)", [])
                    throw Boom()
                }
            }
        }
        #expect(conn.transactionStatus == .idle)
        #expect(try await conn.query("SELECT count(*) FROM \(unescaped: table)").rows[0].decode(Int.self, at: 0) == 5)
        // Server errors carry their category.
        do {
            try await conn.execute("INSERT INTO \(table) VALUES (1, 'dup')", [])
            Issue.record("expected a unique violation")
        } catch SQLState.uniqueViolation {
        }
        await conn.close()
        #expect(conn.isClosed)
        await #expect(throws: DatabaseError.self) { try await conn.query("SELECT 1") }
    }

    @Test func streamingRowsWithBackpressure() async throws {
        let conn = try await Self.connect()
        var count = 0
        var sum = 0
        for try await row in conn.rows("SELECT g FROM generate_series(1, 20000) g", fetchSize: 100, bufferSize: 16) {
            count += 1
            sum += try row.decode(Int.self, at: 0)
        }
        #expect(count == 20000 && sum == 20000 * 20001 / 2)
        // Leaving early: the connection stays usable.
        for try await row in conn.rows("SELECT g FROM generate_series(1, 1000000) g", fetchSize: 100, bufferSize: 8) {
            if try row.decode(Int.self, at: 0) == 10 { break }
        }
        #expect(try await conn.query("SELECT 7").rows[0].decode(Int.self, at: 0) == 7)
        // Errors surface from the iterator.
        await #expect(throws: DatabaseError.self) {
            for try await _ in conn.rows("SELECT 1/(g - 5) FROM generate_series(1, 10) g", fetchSize: 2) {}
        }
        await conn.close()
    }

    @Test func taskCancellationSendsCancelRequest() async throws {
        let conn = try await Self.connect()
        let task = Task { try await conn.query("SELECT pg_sleep(30)") }
        // Wait until the server runs it, so the cancellation must go through a CancelRequest.
        let watcher = try await Self.connect()
        let pid = conn.backendPID!
        for _ in 0..<200 {
            let active = try await watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [pid])
            if try active.rows[0].decode(Int.self, at: 0) == 1 { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        await watcher.close()
        // Bounds from the cancellation, not from the start: under CI's load the connects and the
        // wait above take seconds. pg_sleep(30) ending well before 30 s (and 57014 below) is the proof.
        let cancelledAt = Date()
        task.cancel()
        let result = await task.result
        #expect(Date().timeIntervalSince(cancelledAt) < 20)
        guard case .failure(let error) = result, let e = error as? DatabaseError else {
            Issue.record("expected a DatabaseError, got \(result)")
            return
        }
        #expect(e.sqlState == .queryCanceled && e.category == .operational)
        #expect(try await conn.query("SELECT 1").rows.count == 1)
        // Cancelling a stream consumer cancels the running query too.
        let streamTask = Task {
            var n = 0
            for try await _ in conn.rows("SELECT pg_sleep(30)") { n += 1 }
            return n
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        let streamCancelledAt = Date()
        streamTask.cancel()
        _ = await streamTask.result
        #expect(Date().timeIntervalSince(streamCancelledAt) < 20)
        #expect(try await conn.query("SELECT 2").rows[0].decode(Int.self, at: 0) == 2)
        await conn.close()
    }

    /// A task cancelled just as its query starts (the CancelRequest can reach the server before the
    /// query does, and the server ignores it) still ends long before the query would: the request is
    /// repeated while the operation runs.
    @Test func cancellationAsTheQueryStartsIsNotLost() async throws {
        let conn = try await Self.connect()
        // Deterministic: the operation runs (so the CancelRequest goes out at once) but its query
        // reaches the server only 300 ms later, when the server has already dropped the request.
        // The cancellation comes once the operation has begun (waiting for that rather than a fixed
        // 100 ms: under load the job may start later, and a task cancelled before its operation
        // begins gets a CancellationError without running it).
        let start = Date()
        let begun = StartedFlag()
        let task = Task {
            try await conn.withConnection { c in
                begun.set()
                Thread.sleep(forTimeInterval: 0.3)
                return try c.query("SELECT pg_sleep(60)").rows.count
            }
        }
        while !begun.value { try await Task.sleep(nanoseconds: 5_000_000) }
        try await Task.sleep(nanoseconds: 100_000_000)
        task.cancel()
        let result = await task.result
        #expect(Date().timeIntervalSince(start) < 30)
        guard case .failure(let error) = result, let e = error as? DatabaseError else {
            Issue.record("expected a DatabaseError, got \(result)")
            return
        }
        #expect(e.sqlState == .queryCanceled)
        // And at a range of moments around the start of the query.
        for delay in [0, 1, 2, 5, 10] {
            let start = Date()
            let task = Task { try await conn.query("SELECT pg_sleep(60)") }
            if delay > 0 { try await Task.sleep(nanoseconds: UInt64(delay) * 1_000_000) } else { await Task.yield() }
            task.cancel()
            let result = await task.result
            #expect(Date().timeIntervalSince(start) < 30, "cancelled after \(delay) ms")
            if case .success = result { Issue.record("a cancelled pg_sleep(60) succeeded") }
            #expect(try await conn.query("SELECT \(delay)::int").rows[0].decode(Int.self, at: 0) == delay)
        }
        await conn.close()
    }

    @Test func thousandTasksOnTwoCoresAllProgress() async throws {
        let pool = try AsyncConnectionPool(dbapiTestDSN(), configuration: PoolConfiguration(maxConnections: 8, acquireTimeout: 120))
        let tracker = InUseTracker()
        // A ticker proves the cooperative pool stays responsive while 1,000 tasks wait.
        let ticker = Task {
            var ticks = 0
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 10_000_000)
                ticks += 1
            }
            return ticks
        }
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<1000 {
                group.addTask {
                    try await pool.withConnection { conn in
                        tracker.enter(conn)
                        defer { tracker.leave(conn) }
                        let r = try await conn.query("SELECT \(i)::int, pg_sleep(0.001)")
                        return try r.rows[0].decode(Int.self, at: 0) == i
                    }
                }
            }
            var ok = 0
            for try await r in group where r { ok += 1 }
            return ok
        }
        ticker.cancel()
        let ticks = await ticker.value
        #expect(results == 1000)
        #expect(tracker.violations == 0)
        #expect(ticks > 5)
        let s = pool.stats
        #expect(s.inUse == 0 && s.waiters == 0 && s.open <= 8 && s.created - s.closed == s.open)
        #expect(await pool.close(timeout: 5))
        #expect(pool.stats.open == 0)
    }

    /// The pool's one waiter timer is re-armed for each later deadline: every waiter of a busy
    /// pool times out, each about `acquireTimeout` after it started waiting.
    @Test func asyncPoolTimesOutEveryWaiter() async throws {
        let pool = try AsyncConnectionPool(dbapiTestDSN(), configuration: PoolConfiguration(maxConnections: 1, acquireTimeout: 0.3))
        let held = try await pool.acquire()
        let waits = try await withThrowingTaskGroup(of: TimeInterval.self) { group in
            for i in 0..<4 {
                group.addTask {
                    try await Task.sleep(nanoseconds: UInt64(i) * 100_000_000)
                    let start = Date()
                    do {
                        _ = try await pool.acquire()
                        Issue.record("expected a timeout")
                    } catch let e as DatabaseError {
                        #expect(e.category == .operational)
                    }
                    return Date().timeIntervalSince(start)
                }
            }
            var all: [TimeInterval] = []
            for try await w in group { all.append(w) }
            return all
        }
        #expect(waits.count == 4 && waits.allSatisfy { $0 >= 0.25 && $0 < 10 })
        #expect(pool.stats.timedOut == 4 && pool.stats.waiters == 0)
        // A later waiter is served normally once the connection comes back.
        await pool.release(held)
        try await pool.withConnection { c in _ = try await c.query("SELECT 1") }
        #expect(await pool.close(timeout: 5))
    }

    @Test func asyncPoolTimeoutCancellationAndReplacement() async throws {
        let pool = try AsyncConnectionPool(dbapiTestDSN(), configuration: PoolConfiguration(maxConnections: 1, acquireTimeout: 0.3, prePing: true))
        let held = try await pool.acquire()
        do {
            _ = try await pool.acquire()
            Issue.record("expected a timeout")
        } catch let e as DatabaseError {
            #expect(e.category == .operational && e.message.contains("waiters=") && e.message.contains("inUse=1"))
        }
        #expect(pool.stats.timedOut == 1)
        // A waiting acquire ends when its task is cancelled.
        let waiting = Task { try await pool.acquire() }
        try await Task.sleep(nanoseconds: 50_000_000)
        waiting.cancel()
        let r = await waiting.result
        if case .success = r { Issue.record("cancelled acquire succeeded") }
        #expect(pool.stats.waiters == 0)
        // Kill the backend while idle: the next acquire replaces it silently.
        let pid = held.backendPID!
        await pool.release(held)
        let killer = try await Self.connect()
        try await killer.execute("SELECT pg_terminate_backend($1)", [pid])
        try await Task.sleep(nanoseconds: 200_000_000)
        let newPID = try await pool.withConnection { try await $0.query("SELECT pg_backend_pid()").rows[0].decode(Int32.self, at: 0) }
        #expect(newPID != pid)
        // withConnection returns the connection when the body throws.
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await pool.withConnection { _ in throw Boom() } }
        #expect(pool.stats.inUse == 0)
        await killer.close()
        await pool.close()
    }
}

/// Set once by the operation under test, read by the test's task.
private final class StartedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var isSet = false
    func set() { lock.withLock { isSet = true } }
    var value: Bool { lock.withLock { isSet } }
}
