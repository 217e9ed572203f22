import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// Text-format parameters so these tests exercise the protocol paths independently of the codecs.
private func q(_ sql: String, _ params: String?...) -> PostgresQuery {
    var b = PostgresBindings()
    for p in params { b.appendText(p) }
    return PostgresQuery(unsafeSQL: sql, bindings: b)
}

private func int32(_ bytes: ArraySlice<UInt8>?) -> Int32? {
    guard let bytes, bytes.count == 4 else { return nil }
    let s = bytes.startIndex
    return Int32(bitPattern: UInt32(bytes[s]) << 24 | UInt32(bytes[s + 1]) << 16 | UInt32(bytes[s + 2]) << 8 | UInt32(bytes[s + 3]))
}

/// Counts the messages a connection sends, by type byte.
private final class MessageCounter: MessageTracer, @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [UInt8: Int] = [:]
    func trace(_ direction: TraceDirection, bytes: ArraySlice<UInt8>) {
        guard direction == .frontend, let type = bytes.first else { return }
        lock.withLock { counts[type, default: 0] += 1 }
    }
    func count(_ type: Character) -> Int { lock.withLock { counts[type.asciiValue!] ?? 0 } }
    func reset() { lock.withLock { counts = [:] } }
}

@Suite struct ExtendedQueryTests {
    let server: TestServer
    init() throws { server = try TestServer.shared() }

    func connect(_ options: ConnectionOptions = ConnectionOptions(), tracer: (any MessageTracer)? = nil) throws -> Connection {
        try Connection.connect(server.dsn(), options: options, tracer: tracer)
    }

    @Test func boundParametersAndBinaryResults() throws {
        let c = try connect()
        let r = try c.query(q("SELECT $1::int4 + 1 AS n, $2::text AS t, $3::int AS nothing", "41", "hé", nil))
        #expect(r.rows.count == 1)
        #expect(r.columns?.fields.map(\.formatCode) == [1, 1, 1])
        #expect(int32(r.rows[0].bytes(at: 0)) == 42)
        #expect(r.rows[0][1] == "hé")
        #expect(r.rows[0].isNull(at: 2))
        #expect(r.commandTag == "SELECT 1")
    }

    @Test func typeWithoutBinaryCodecFallsBackToText() throws {
        let c = try connect()
        let r = try c.query(q("SELECT 'a b'::tsvector AS p, 5::int4 AS i"))
        #expect(r.columns?.fields.map(\.formatCode) == [0, 1])
        #expect(r.rows[0][0] == "'a' 'b'")
    }

    @Test func wrongParameterCountIsAnErrorBeforeSending() throws {
        let counter = MessageCounter()
        let c = try connect(tracer: counter)
        counter.reset()
        #expect {
            try c.query(q("SELECT $1::int, $2::int", "1"))
        } throws: { error in
            guard case PostgresError.invalidUsage(let m) = error else { return false }
            return m.contains("2 parameters") && m.contains("1 value was bound")
        }
        #expect(counter.count("P") == 0 && counter.count("B") == 0)
        // Placeholders inside literals, identifiers, comments and dollar quotes do not count.
        let r = try c.query(q("SELECT '$2' AS a, \"$3\".x, $1::int /* $4 */ -- $5\n, $$ $6 $$ FROM (SELECT 1 AS x) \"$3\"", "7"))
        #expect(r.rows.count == 1)
        // Still usable afterwards.
        #expect(try c.query(q("SELECT 1")).rows.count == 1)
    }

    @Test func serverErrorLeavesConnectionUsable() throws {
        let c = try connect()
        #expect {
            try c.query(q("SELECT $1::int / 0", "1"))
        } throws: { ($0 as? PostgresError)?.sqlState == "22012" }
        #expect(c.transactionStatus == .idle)
        #expect(try c.query(q("SELECT 2")).rows.count == 1)
        // A parse error.
        #expect { try c.query(q("SELEC 1")) } throws: { ($0 as? PostgresError)?.sqlState == "42601" }
        #expect(try c.query(q("SELECT 3")).rows.count == 1)
    }

    @Test func statementCacheSkipsParseAndDescribe() throws {
        let counter = MessageCounter()
        let c = try connect(tracer: counter)
        counter.reset()
        for i in 0..<5 { _ = try c.query(q("SELECT $1::int4 AS v", String(i))) }
        #expect(counter.count("P") == 1)
        #expect(counter.count("D") == 1)
        #expect(counter.count("B") == 5)
        #expect(c.cachedStatementCount == 1)
    }

    @Test func statementCacheIsLRUWithCapacity() throws {
        let counter = MessageCounter()
        let c = try connect(ConnectionOptions(statementCacheCapacity: 2), tracer: counter)
        _ = try c.query(q("SELECT 1"))
        _ = try c.query(q("SELECT 2"))
        _ = try c.query(q("SELECT 1"))  // 1 is now the most recent
        _ = try c.query(q("SELECT 3"))  // evicts 2
        #expect(c.cachedStatementCount == 2)
        counter.reset()
        _ = try c.query(q("SELECT 1"))
        #expect(counter.count("P") == 0)
        _ = try c.query(q("SELECT 2"))
        #expect(counter.count("P") == 1)
        // Evicted statements are closed on the server.
        let open = try c.query(q("SELECT count(*)::int4 FROM pg_prepared_statements"))
        #expect(int32(open.rows[0].bytes(at: 0)) == 2)
    }

    @Test func cacheDisabledAndUnnamedMode() throws {
        for options in [ConnectionOptions(statementCacheCapacity: 0), ConnectionOptions(statementCacheMode: .unnamed)] {
            let c = try connect(options)
            for i in 0..<3 {
                let r = try c.query(q("SELECT $1::int4 AS v", String(i)))
                #expect(int32(r.rows[0].bytes(at: 0)) == Int32(i))
            }
            #expect(c.cachedStatementCount == 0)
            let prepared = try c.query(q("SELECT count(*)::int4 FROM pg_prepared_statements"))
            #expect(int32(prepared.rows[0].bytes(at: 0)) == 0)
        }
    }

    /// Unnamed statements all bind statement "": the Bind encoder must not reuse the previous
    /// query's result format codes when only the statement name repeats.
    @Test func unnamedPipelineKeepsEachQuerysResultFormats() throws {
        let options = ConnectionOptions(statementCacheMode: .unnamed, binaryResultTypes: { $0 == .int4 })
        let c = try connect(options)
        let results = try c.pipeline([q("SELECT 7::int4"), q("SELECT 42::int8"), q("SELECT 8::int4")])
        #expect(int32(try results[0].get().rows[0].bytes(at: 0)) == 7)
        #expect(try results[1].get().rows[0][0] == "42")
        #expect(int32(try results[2].get().rows[0].bytes(at: 0)) == 8)
    }

    @Test func recoversFromDiscardAllAndDeallocate() throws {
        let c = try connect()
        _ = try c.query(q("SELECT $1::int4", "1"))
        try c.simpleQuery("DEALLOCATE ALL")
        #expect(int32(try c.query(q("SELECT $1::int4", "2")).rows[0].bytes(at: 0)) == 2)
        _ = try c.query(q("SELECT $1::int4 AS again", "1"))
        // DEALLOCATE of one statement is invisible to the client: recovered on the 26000 error.
        let names = try c.simpleQuery("SELECT name FROM pg_prepared_statements WHERE statement LIKE '%again%'")
        let name = try #require(names.first?.rows.first?[0])
        try c.simpleQuery("DEALLOCATE \(name)")
        #expect(int32(try c.query(q("SELECT $1::int4 AS again", "3")).rows[0].bytes(at: 0)) == 3)
        try c.simpleQuery("DISCARD ALL")
        #expect(int32(try c.query(q("SELECT $1::int4 AS again", "4")).rows[0].bytes(at: 0)) == 4)
    }

    @Test func recoversFromCachedPlanResultTypeChange() throws {
        let c = try connect()
        try c.simpleQuery("CREATE TEMP TABLE plan_change (a int4)")
        try c.simpleQuery("INSERT INTO plan_change VALUES (1)")
        _ = try c.query(q("SELECT * FROM plan_change"))
        try c.simpleQuery("ALTER TABLE plan_change ADD COLUMN b text DEFAULT 'x'")
        let r = try c.query(q("SELECT * FROM plan_change"))
        #expect(r.columns?.names == ["a", "b"])
        #expect(r.rows[0][1] == "x")
    }

    @Test func portalFetchesInChunks() throws {
        let counter = MessageCounter()
        let c = try connect(tracer: counter)
        counter.reset()
        var total = 0
        var sum: Int64 = 0
        let outcome = try c.query(q("SELECT i::int4 FROM generate_series(1, 10000) i"), fetchSize: 1000) { row in
            total += 1
            sum += Int64(int32(row.bytes(at: 0)) ?? 0)
        }
        #expect(total == 10000)
        #expect(sum == 50_005_000)
        #expect(outcome.commandTag == "SELECT 10000")
        #expect(counter.count("E") == 11)  // ten full chunks, then the one that completes
        #expect(c.transactionStatus == .idle)
        // An error in the middle of a chunked fetch leaves the connection usable.
        #expect {
            try c.query(q("SELECT 1 / (i - 500) FROM generate_series(1, 1000) i"), fetchSize: 100) { _ in }
        } throws: { ($0 as? PostgresError)?.sqlState == "22012" }
        #expect(try c.query(q("SELECT 1")).rows.count == 1)
    }

    @Test func pipelineMatchesResultsInOrder() throws {
        let counter = MessageCounter()
        let c = try connect(tracer: counter)
        let queries = (0..<50).map { q("SELECT $1::int4 * 2 AS doubled", String($0)) }
        counter.reset()
        let results = try c.pipeline(queries)
        #expect(counter.count("S") == 2)  // one Sync for the prepare, one for the pipeline
        for (i, r) in results.enumerated() {
            #expect(int32(try r.get().rows[0].bytes(at: 0)) == Int32(i * 2))
        }
    }

    @Test func pipelineStreamingRowsMatchesTheCollectingOne() throws {
        let counter = MessageCounter()
        let c = try connect(tracer: counter)
        let queries = (0..<50).map { q("SELECT $1::int4 * 2 AS doubled, n FROM generate_series(1, $1::int4 % 3) n", String($0)) }
        let collected = try c.pipeline(queries)
        counter.reset()
        var seen: [(Int, Int32?, Int32?)] = []
        let outcomes = try c.pipeline(queries) { index, row in
            seen.append((index, int32(row.bytes(at: 0)), int32(row.bytes(at: 1))))
        }
        #expect(counter.count("S") == 1)  // the statement is cached: one Sync
        var expected: [(Int, Int32?, Int32?)] = []
        for (i, r) in collected.enumerated() {
            let result = try r.get()
            for row in result.rows { expected.append((i, int32(row.bytes(at: 0)), int32(row.bytes(at: 1)))) }
            #expect(try outcomes[i].get().commandTag == result.commandTag)
            #expect(try outcomes[i].get().rowCount == result.rows.count)
        }
        #expect(seen.count == expected.count && seen.count == 49)
        #expect(zip(seen, expected).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 })
        // A failing query: the others report how they ended; the skipped ones give no rows.
        var rowsOf: [Int] = []
        let mixed = try c.pipeline([q("SELECT 1"), q("SELECT 1/0"), q("SELECT 3")]) { index, _ in rowsOf.append(index) }
        #expect(rowsOf == [0])
        #expect((try? mixed[0].get().rowCount) == 1)
        #expect(mixed[1].failureSQLState == "22012")
        #expect((try? mixed[2].get()) == nil)
        // A handler that throws is not called again; the pipeline is read to its end and the
        // connection stays usable.
        struct Stop: Error {}
        var calls = 0
        #expect(throws: PostgresError.self) {
            try c.pipeline(queries) { _, _ in calls += 1; throw Stop() }
        }
        #expect(calls == 1)
        #expect(try c.query(q("SELECT 5")).rows.count == 1)
        #expect(c.transactionStatus == .idle)
    }

    @Test func pipelineErrorSkipsTheRestOfTheGroup() throws {
        let c = try connect()
        try c.simpleQuery("CREATE TEMP TABLE pipe (a int PRIMARY KEY)")
        let results = try c.pipeline([
            q("INSERT INTO pipe VALUES (1)"),
            q("INSERT INTO pipe VALUES (1)"),  // unique violation
            q("INSERT INTO pipe VALUES (2)"),
            q("SELECT 1"),
        ])
        #expect((try? results[0].get().commandTag) == "INSERT 0 1")
        guard case .failure(let e1) = results[1] else { Issue.record("expected failure"); return }
        #expect(e1.sqlState == "23505")
        for (index, r) in results.enumerated().dropFirst(2) {
            guard case .failure(let e) = r else { Issue.record("expected skipped"); continue }
            #expect(e.isPipelineAborted)
            // A case of its own, naming the skipped query and the one that failed; no server fields.
            guard case .pipelineAborted(index, failedIndex: 1) = e else { Issue.record("expected pipelineAborted(\(index), 1), got \(e)"); continue }
            #expect(e.category == .operational)
            #expect(e.sqlState == nil && e.serverError == nil)
            #expect(e.description == "query \(index + 1) of the pipeline was skipped because query 2 in its Sync group failed")
        }
        // The pipeline ran as one implicit transaction: the first insert is rolled back too.
        let count = try c.simpleQuery("SELECT count(*) FROM pipe")
        #expect(count[0].rows[0][0] == "0")
        #expect(c.transactionStatus == .idle)
        // A statement that fails to parse aborts the rest as well.
        let results2 = try c.pipeline([q("SELECT 1"), q("SELEKT"), q("SELECT 3")])
        #expect((try? results2[0].get()) != nil)
        #expect(results2[1].failureSQLState == "42601")
        #expect((try? results2[2].get()) == nil)
    }

    @Test func executeManyBatchInsert() throws {
        let counter = MessageCounter()
        let c = try connect(tracer: counter)
        try c.simpleQuery("CREATE TEMP TABLE many (a int, b text)")
        let sets: [PostgresBindings] = (0..<200).map { i in
            var b = PostgresBindings()
            b.appendText(String(i))
            b.appendText("row \(i)")
            return b
        }
        counter.reset()
        let counts = try c.executeMany("INSERT INTO many VALUES ($1, $2)", sets)
        #expect(counts.count == 200 && counts.allSatisfy { $0 == 1 })
        #expect(counter.count("P") == 1)
        #expect(counter.count("S") == 2)
        #expect(try c.simpleQuery("SELECT count(*), sum(a) FROM many")[0].rows[0].textValues == ["200", "19900"])
    }

    @Test func transactionStatusFollowsExtendedQueries() throws {
        let c = try connect()
        _ = try c.query(q("BEGIN"))
        #expect(c.transactionStatus == .inTransaction)
        _ = try? c.query(q("SELECT 1/0"))
        #expect(c.transactionStatus == .failed)
        _ = try c.query(q("ROLLBACK"))
        #expect(c.transactionStatus == .idle)
    }
}

extension Result where Failure == PostgresError {
    var failureSQLState: String? {
        if case .failure(let e) = self { return e.sqlState?.rawValue }
        return nil
    }
}

@Suite struct MaximumMessageSizeTests {
    @Test func oversizedRowBreaksTheConnectionWithATypedError() throws {
        let server = try TestServer.shared()
        let c = try Connection.connect(server.dsn(), options: ConnectionOptions(maximumMessageSize: 64 * 1024))
        #expect(try c.simpleQuery("SELECT repeat('x', 1000)")[0].rows.count == 1)
        #expect {
            try c.simpleQuery("SELECT repeat('x', 100000)")
        } throws: { error in
            guard case PostgresError.protocolViolation(.messageTooLarge(_, _, let limit)) = error else { return false }
            return limit == 64 * 1024
        }
        #expect(c.isClosed)
        #expect { try c.simpleQuery("SELECT 1") } throws: { error in
            if case PostgresError.connectionLost = error { return true }
            return false
        }
    }
}
