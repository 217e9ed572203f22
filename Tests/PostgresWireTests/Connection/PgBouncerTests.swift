import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// Runs `body(i)` on `count` threads at once and returns the errors they threw, as text. Waits
/// without holding a thread of the cooperative pool.
private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) async -> [String] {
    let failures = SharedBox<[String]>([])
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        Thread {
            defer { group.leave() }
            do { try body(i) } catch { failures.withValue { $0.append("client \(i): \(error)") } }
        }.start()
    }
    return await withCheckedContinuation { continuation in
        group.notify(queue: .global()) { continuation.resume(returning: failures.value) }
    }
}

private func uniqueTable(_ prefix: String) -> String {
    "\(prefix)_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
}

extension ClusterIntegrationTests {
    /// Every API through a real PgBouncer in transaction mode: 32 concurrent clients share 4 server
    /// connections, so consecutive transactions of one client land on different server sessions.
    /// With statement_cache_size=0 only the unnamed statement is used and nothing session-level is relied on.
    @Suite(.serialized) struct PgBouncerTests {
        static let clients = 32
        static let serverPool = 4

        @Test func extendedProtocolThroughTransactionPooling() async throws {
            let bouncer = try await onOwnThread { try PgBouncerServer.start(poolMode: "transaction", poolSize: Self.serverPool) }
            defer { bouncer.stop() }
            let dsn = bouncer.dsn(extra: "statement_cache_size=0")
            let failures = await onThreads(Self.clients) { i in
                let connection = try Connection.connect(dsn)
                defer { connection.close() }
                guard connection.options.statementCacheCapacity == 0 else { throw TestServerError("cache not off") }
                for j in 0..<25 {
                    let a = i * 1000 + j
                    let text = "client \(i) query \(j)"
                    // Parameters, binary results, a different statement shape every few queries.
                    let result = try connection.query("SELECT \(a)::int4 + 1 AS n, \(text)::text AS t, now() AS ts")
                    guard try result.rows[0].decode(Int.self, at: 0) == a + 1, result.rows[0][1] == text else {
                        throw TestServerError("client \(i) query \(j): wrong result \(result.rows[0][0] ?? "nil")")
                    }
                    if j % 5 == 0 {
                        let sum = try connection.query("SELECT sum(g)::int8 FROM generate_series(1, \(a + 1)) g").rows[0].decode(Int.self, at: 0)
                        guard sum == (a + 1) * (a + 2) / 2 else { throw TestServerError("wrong sum") }
                    }
                    // A chunked read (portal + Flush) also stays within one server transaction.
                    var seen = 0
                    _ = try connection.query("SELECT g FROM generate_series(1, \(10 + j)) g", fetchSize: 3) { _ in seen += 1 }
                    guard seen == 10 + j else { throw TestServerError("chunked read returned \(seen) rows") }
                }
                guard connection.cachedStatementCount == 0 else { throw TestServerError("a statement was cached") }
            }
            #expect(failures.isEmpty, "\(failures.prefix(3))\n\(bouncer.log.suffix(2000))")
        }

        @Test func targetSessionAttrsThroughPgBouncer() async throws {
            let bouncer = try await onOwnThread { try PgBouncerServer.start(poolMode: "transaction", poolSize: 2) }
            defer { bouncer.stop() }
            for attrs in ["read-write", "primary", "prefer-standby"] {
                let connection = try Connection.connect(bouncer.dsn(extra: "statement_cache_size=0 target_session_attrs=\(attrs)"))
                #expect(try connection.simpleQuery("SELECT 1").first?.rows.first?[0] == "1")
                connection.close()
            }
            for (attrs, reason) in [("standby", "server is not in hot standby mode"), ("read-only", "session is not read-only")] {
                do {
                    _ = try Connection.connect(bouncer.dsn(extra: "target_session_attrs=\(attrs)"))
                    Issue.record("\(attrs) accepted a primary")
                } catch {
                    #expect(error.message == "connection to server at \"127.0.0.1\", port \(bouncer.port) failed: \(reason)")
                }
            }
        }

        @Test func dbapiAndCopyThroughTransactionPooling() async throws {
            let server = try TestServer.shared()
            let table = uniqueTable("bouncer_dbapi")
            try server.execute("CREATE TABLE \(table) (client int, n int, label text)")
            defer { try? server.execute("DROP TABLE \(table)") }
            let bouncer = try await onOwnThread { try PgBouncerServer.start(poolMode: "transaction", poolSize: Self.serverPool) }
            defer { bouncer.stop() }
            let dsn = bouncer.dsn(extra: "statement_cache_size=0")
            let failures = await onThreads(Self.clients) { i in
                let conn = try Connection.open(dsn)
                defer { conn.close() }
                let cur = try conn.cursor()
                // DB-API transactions (autocommit off): BEGIN … COMMIT keeps one server session.
                try cur.executeMany("INSERT INTO \(table) VALUES ($1, $2, $3)", (0..<10).map { [i, $0, "dbapi"] })
                try cur.execute("SELECT count(*) FROM \(table) WHERE client = $1 AND label = 'dbapi'", [i])
                guard try cur.fetchAll()[0].decode(Int.self, at: 0) == 10 else { throw TestServerError("own rows not visible in the transaction") }
                try conn.commit()
                // COPY in and out.
                let copied = try conn.copyIn("COPY \(table) FROM STDIN") { writer in
                    for n in 0..<20 { try writer.writeRow([String(i), String(n), "copy"]) }
                }
                guard copied == 20 else { throw TestServerError("COPY reported \(copied) rows") }
                try conn.commit()
                var lines = 0
                _ = try conn.copyOutRows("COPY (SELECT * FROM \(table) WHERE client = \(i)) TO STDOUT") { _ in lines += 1 }
                guard lines == 30 else { throw TestServerError("COPY TO returned \(lines) rows") }
                try conn.rollback()
            }
            #expect(failures.isEmpty, "\(failures.prefix(3))")
            let check = try Connection.connect(server.dsn())
            defer { check.close() }
            #expect(try check.simpleQuery("SELECT count(*) FROM \(table)").first?.rows.first?[0] == String(Self.clients * 30))
        }

        @Test func asyncAPIThroughTransactionPooling() async throws {
            let bouncer = try await onOwnThread { try PgBouncerServer.start(poolMode: "transaction", poolSize: Self.serverPool) }
            let dsn = bouncer.dsn(extra: "statement_cache_size=0")
            let failures = await withTaskGroup(of: String?.self) { group in
                for i in 0..<Self.clients {
                    group.addTask {
                        do {
                            let connection = try await AsyncConnection.connect(dsn)
                            for j in 0..<20 {
                                let value = i * 100 + j
                                let row = try await connection.execute("SELECT $1::int4 * 2, $2::text", [value, "a\(i)"]).rows[0]
                                guard try row.decode(Int.self, at: 0) == value * 2, row[1] == "a\(i)" else { return "client \(i): wrong result" }
                            }
                            try await connection.transaction { tx in _ = try await tx.execute("SELECT $1::int", [i]) }
                            await connection.close()
                            return nil
                        } catch {
                            return "client \(i): \(error)"
                        }
                    }
                }
                var failures: [String] = []
                for await failure in group { if let failure { failures.append(failure) } }
                return failures
            }
            #expect(failures.isEmpty, "\(failures.prefix(3))")
            try await onOwnThread { bouncer.stop() }
        }

        @Test func blockingPoolThroughTransactionPooling() async throws {
            let bouncer = try await onOwnThread { try PgBouncerServer.start(poolMode: "transaction", poolSize: Self.serverPool) }
            defer { bouncer.stop() }
            let dsn = bouncer.dsn(extra: "statement_cache_size=0")
            let pool = try ConnectionPool(dsn, configuration: PoolConfiguration(maxConnections: Self.clients, acquireTimeout: 60))
            let failures = await onThreads(Self.clients) { i in
                for j in 0..<20 {
                    let n = try pool.withConnection { c in try c.query("SELECT \(i * 100 + j)::int8 + 1").rows[0].decode(Int.self, at: 0) }
                    guard n == i * 100 + j + 1 else { throw TestServerError("wrong result") }
                }
            }
            #expect(failures.isEmpty, "\(failures.prefix(3))")
            pool.close()
        }

        @Test func asyncPoolThroughTransactionPooling() async throws {
            let bouncer = try await onOwnThread { try PgBouncerServer.start(poolMode: "transaction", poolSize: Self.serverPool) }
            let dsn = bouncer.dsn(extra: "statement_cache_size=0")
            let apool = try AsyncConnectionPool(dsn, configuration: PoolConfiguration(maxConnections: Self.clients, acquireTimeout: 60))
            let asyncFailures = await withTaskGroup(of: String?.self) { group in
                for i in 0..<Self.clients {
                    group.addTask {
                        do {
                            for j in 0..<20 {
                                let n = try await apool.withConnection { c in
                                    try await c.execute("SELECT $1::int8 + 1", [i * 100 + j]).rows[0].decode(Int.self, at: 0)
                                }
                                if n != i * 100 + j + 1 { return "client \(i): wrong result" }
                            }
                            return nil
                        } catch {
                            return "client \(i): \(error)"
                        }
                    }
                }
                var failures: [String] = []
                for await failure in group { if let failure { failures.append(failure) } }
                return failures
            }
            #expect(asyncFailures.isEmpty, "\(asyncFailures.prefix(3))")
            await apool.close()
            try await onOwnThread { bouncer.stop() }
        }
    }
}
