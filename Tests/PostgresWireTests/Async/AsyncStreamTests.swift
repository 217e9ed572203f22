import Foundation
import PostgresWire
import Testing
import TestSupport

/// `AsyncConnection.rows` hands rows over in batches: order, counts, errors after some rows,
/// early exits, and a second operation started while a stream is open (an error at once, never a
/// hang).
@Suite struct AsyncStreamTests {
    static func connect() async throws -> AsyncConnection { try await AsyncConnection.connect(dbapiTestDSN()) }

    /// Runs `body` in a task and fails (instead of hanging the suite) if it takes over `seconds`.
    static func withinSeconds<T: Sendable>(_ seconds: Double, _ what: String,
                                           _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        let watchdog = Task {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            task.cancel()
            return true
        }
        let result = await task.result
        watchdog.cancel()
        if (try? await watchdog.value) == true { Issue.record("\(what) did not finish within \(seconds) s") }
        return try result.get()
    }

    @Test(arguments: [(0, 4096), (100, 8), (0, 1), (7, 3)])
    func rowsArriveInOrderAndAllOfThem(fetchSize: Int, bufferSize: Int) async throws {
        let conn = try await Self.connect()
        let total = fetchSize == 0 && bufferSize > 1 ? 1_000_000 : 50_000
        var expected = 1
        var outOfOrder = 0
        var textMismatch = 0
        for try await row in conn.rows("SELECT g, 'r' || g FROM generate_series(1, \(total)) g",
                                       fetchSize: fetchSize, bufferSize: bufferSize) {
            let g = try row.decode(Int.self, at: 0)
            if g != expected { outOfOrder += 1 }
            if try row.decode(String.self, at: 1) != "r\(g)" { textMismatch += 1 }
            expected += 1
        }
        #expect(expected - 1 == total)
        #expect(outOfOrder == 0 && textMismatch == 0)
        // Every iteration runs the query again; an empty result ends at once.
        let stream = conn.rows("SELECT g FROM generate_series(1, 3) g", fetchSize: fetchSize, bufferSize: bufferSize)
        for _ in 0..<2 {
            var seen: [Int] = []
            for try await row in stream { seen.append(try row.decode(Int.self, at: 0)) }
            #expect(seen == [1, 2, 3])
        }
        var none = 0
        for try await _ in conn.rows("SELECT 1 WHERE false") { none += 1 }
        #expect(none == 0)
        #expect(try await conn.query("SELECT 1").rows.count == 1)
        await conn.close()
    }

    @Test func errorMidStreamComesAfterTheRowsBeforeIt() async throws {
        let conn = try await Self.connect()
        for (fetchSize, bufferSize) in [(0, 4096), (1000, 16)] {
            var count = 0
            var lastValue = 0
            var thrown: Error?
            do {
                for try await row in conn.rows("SELECT g, 1 / (500000 - g) FROM generate_series(1, 1000000) g",
                                               fetchSize: fetchSize, bufferSize: bufferSize) {
                    count += 1
                    lastValue = try row.decode(Int.self, at: 0)
                }
            } catch {
                thrown = error
            }
            #expect(count == 499_999 && lastValue == 499_999, "fetchSize \(fetchSize): \(count) rows, last \(lastValue)")
            let e = try #require(thrown as? DatabaseError, "expected a DatabaseError, got \(String(describing: thrown))")
            #expect(e.sqlState == SQLState("22012"))
            #expect(conn.transactionStatus == .idle)
            #expect(try await conn.query("SELECT 2").rows[0].decode(Int.self, at: 0) == 2)
        }
        await conn.close()
    }

    @Test func earlyBreakLeavesTheConnectionUsable() async throws {
        let conn = try await Self.connect()
        // Before the first row, after some rows, with small and default buffers.
        for bufferSize in [1, 4096] {
            for stopAt in [1, 10_000] {
                var seen = 0
                for try await _ in conn.rows("SELECT g FROM generate_series(1, 5000000) g", bufferSize: bufferSize) {
                    seen += 1
                    if seen == stopAt { break }
                }
                #expect(seen == stopAt)
                #expect(try await conn.query("SELECT 3").rows[0].decode(Int.self, at: 0) == 3)
                #expect(conn.transactionStatus == .idle)
            }
        }
        // Inside a transaction block the rest is drained (no CancelRequest): the block stays usable.
        try await conn.transaction { tx in
            try await tx.simpleQuery("CREATE TEMP TABLE kept (n int)")
            for try await row in tx.rows("SELECT g FROM generate_series(1, 200000) g", bufferSize: 16) {
                if try row.decode(Int.self, at: 0) == 5 { break }
            }
            try await tx.execute("INSERT INTO kept VALUES ($1)", [42])
        }
        #expect(try await conn.query("SELECT n FROM kept").rows[0].decode(Int.self, at: 0) == 42)
        // An iterator made and dropped without a single next().
        do {
            let iterator = conn.rows("SELECT g FROM generate_series(1, 1000000) g").makeAsyncIterator()
            _ = iterator
        }
        #expect(try await conn.query("SELECT 4").rows[0].decode(Int.self, at: 0) == 4)
        await conn.close()
    }

    @Test func secondOperationWhileStreamingFailsAtOnce() async throws {
        let conn = try await Self.connect()
        try await Self.withinSeconds(120, "operations started inside a row loop") {
            var rows = 0
            for try await row in conn.rows("SELECT g FROM generate_series(1, 20000) g", bufferSize: 8) {
                rows += 1
                if rows == 1 {
                    // Each of these used to wait forever for the stream, which waits for this loop.
                    do {
                        _ = try await conn.query("SELECT 1")
                        Issue.record("query inside the loop did not throw")
                    } catch let e as DatabaseError {
                        #expect(e.category == .programming)
                        #expect(e.message.contains("stream"))
                    }
                    await #expect(throws: DatabaseError.self) { try await conn.simpleQuery("SELECT 1") }
                    await #expect(throws: DatabaseError.self) { try await conn.withConnection { _ in 1 } }
                    await #expect(throws: DatabaseError.self) {
                        try await conn.copyIn("COPY nowhere FROM STDIN", rows: Single(element: ["x"]))
                    }
                    // A second stream fails on its first next().
                    await #expect(throws: DatabaseError.self) {
                        for try await _ in conn.rows("SELECT 1") {}
                    }
                    await #expect(throws: DatabaseError.self) {
                        for try await _ in conn.copyOut("COPY (SELECT 1) TO STDOUT") {}
                    }
                }
                _ = try row.decode(Int.self, at: 0)
            }
            #expect(rows == 20_000)
        }
        // Once the loop is over, everything works again.
        #expect(try await conn.query("SELECT 5").rows[0].decode(Int.self, at: 0) == 5)
        // The same for a COPY TO STDOUT stream, left early.
        try await Self.withinSeconds(60, "a query inside a COPY loop") {
            for try await _ in conn.copyOut("COPY (SELECT g FROM generate_series(1, 100000) g) TO STDOUT", bufferSize: 8) {
                await #expect(throws: DatabaseError.self) { try await conn.query("SELECT 1") }
                break
            }
        }
        #expect(try await conn.query("SELECT 6").rows[0].decode(Int.self, at: 0) == 6)
        // A stream held open (not iterated) while the connection closes ends with an error, not a hang.
        try await Self.withinSeconds(60, "close with an open stream") {
            var iterator = conn.rows("SELECT g FROM generate_series(1, 1000000) g", bufferSize: 4).makeAsyncIterator()
            _ = try await iterator.next()
            await conn.close()
            do {
                while try await iterator.next() != nil {}
                Issue.record("the stream went on after close()")
            } catch let e as DatabaseError {
                #expect(e.category == .interface)
            }
        }
        #expect(conn.isClosed)
    }

    @Test @MainActor func mainActorConsumerGetsEveryRow() async throws {
        let conn = try await Self.connect()
        var sum = 0
        var n = 0
        for try await row in conn.rows("SELECT g FROM generate_series(1, 200000) g") {
            sum += try row.decode(Int.self, at: 0)
            n += 1
        }
        #expect(n == 200_000 && sum == 200_000 * 200_001 / 2)
        var lines = 0
        for try await fields in conn.copyOutRows("COPY (SELECT g, 'x' FROM generate_series(1, 50000) g) TO STDOUT") {
            lines += 1
            if fields[0] != String(lines) || fields[1] != "x" { Issue.record("line \(lines): \(fields)"); break }
        }
        #expect(lines == 50_000)
        await conn.close()
    }
}

/// One element as an AsyncSequence.
private struct Single: AsyncSequence, Sendable {
    let element: [String?]
    func makeAsyncIterator() -> Iterator { Iterator(element: element) }
    struct Iterator: AsyncIteratorProtocol {
        var element: [String?]?
        mutating func next() async -> [String?]? {
            defer { element = nil }
            return element
        }
    }
}
