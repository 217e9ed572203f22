import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// Runs `body` expecting a DatabaseError; returns it.
func expectDatabaseError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> DatabaseError? {
    do {
        try body()
        Issue.record("expected a DatabaseError, but the call succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let error as DatabaseError {
        return error
    } catch {
        Issue.record("expected a DatabaseError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func dbapiTestDSN() throws -> String { try TestServer.shared().dsn(extra: "connect_timeout=10") }

func dbapiUniqueName(_ prefix: String) -> String { "\(prefix)_\(UInt32.random(in: 0...UInt32.max))_\(getpid())" }

/// PEP 249 semantics, one by one, against the real server.
@Suite struct DBAPITests {
    static func connect() throws -> Connection { try Connection.open(dbapiTestDSN()) }

    /// A connection with a fresh table `t (id int primary key, name text)`; dropped afterwards.
    static func withTable(_ body: (Connection, String) throws -> Void) throws {
        let conn = try connect()
        defer { conn.close() }
        let table = dbapiUniqueName("dbapi")
        try conn.simpleQuery("CREATE TABLE \(table) (id int PRIMARY KEY, name text)")
        defer { _ = try? conn.simpleQuery("ROLLBACK; DROP TABLE IF EXISTS \(table)") }
        try body(conn, table)
    }

    @Test func connectVariantsAndAttributes() throws {
        let server = try TestServer.shared()
        let conn = try Connection.connect(parameters: [
            "host": server.host, "port": String(server.port), "user": "pgwire_trust", "dbname": "pgwire_test",
            "application_name": "it's dbapi",
        ])
        defer { conn.close() }
        #expect(conn.autocommit == false)
        #expect(conn.transactionStatus == .idle)
        #expect(conn.serverParameters["application_name"] == "it's dbapi")
        #expect(conn.backendPID != nil)
        let cur = try conn.cursor()
        try cur.execute("SELECT pg_backend_pid()")
        #expect(try cur.fetchOne()?.decode(Int32.self, at: 0) == conn.backendPID)
        #expect(conn.transactionStatus == .inTransaction)  // the first statement opened a transaction
        #expect(!conn.isClosed)
        conn.close()
        #expect(conn.isClosed)
    }

    @Test func commitAndRollback() throws {
        try Self.withTable { conn, table in
            let other = try Self.connect()
            defer { other.close() }
            let cur = try conn.cursor()
            try cur.execute("INSERT INTO \(table) VALUES ($1, $2)", [1, "one"])
            #expect(conn.transactionStatus == .inTransaction)
            // Not visible to another session before commit.
            #expect(try other.simpleQuery("SELECT count(*) FROM \(table)")[0].rows[0][0] == "0")
            try conn.commit()
            #expect(conn.transactionStatus == .idle)
            #expect(try other.simpleQuery("SELECT count(*) FROM \(table)")[0].rows[0][0] == "1")

            try cur.execute("INSERT INTO \(table) VALUES ($1, $2)", [2, "two"])
            try conn.rollback()
            #expect(conn.transactionStatus == .idle)
            try cur.execute("SELECT count(*) FROM \(unescaped: table)")
            #expect(try cur.fetchOne()?.decode(Int.self, at: 0) == 1)
            // commit/rollback without a transaction are no-ops.
            try conn.rollback()
            try conn.rollback()
            try conn.commit()
        }
    }

    @Test func autocommit() throws {
        try Self.withTable { conn, table in
            try conn.setAutocommit(true)
            #expect(conn.autocommit)
            let cur = try conn.cursor()
            try cur.execute("INSERT INTO \(unescaped: table) VALUES (1, 'a')")
            #expect(conn.transactionStatus == .idle)
            try conn.rollback()  // nothing to roll back: the insert committed
            let other = try Self.connect()
            defer { other.close() }
            #expect(try other.simpleQuery("SELECT count(*) FROM \(table)")[0].rows[0][0] == "1")
            // Changing autocommit inside a transaction is a programming error.
            try conn.setAutocommit(false)
            try cur.execute("SELECT 1")
            let e = expectDatabaseError { try conn.setAutocommit(true) }
            #expect(e?.category == .programming)
            try conn.rollback()
            // The low-level API is unaffected by autocommit=false.
            try conn.query("INSERT INTO \(unescaped: table) VALUES (2, 'b')")
            #expect(conn.transactionStatus == .idle)
        }
    }

    @Test func rowCountForEachStatementKind() throws {
        try Self.withTable { conn, table in
            let cur = try conn.cursor()
            #expect(cur.rowCount == -1)
            try cur.execute("INSERT INTO \(unescaped: table) SELECT g, 'n' || g FROM generate_series(1, 5) g")
            #expect(cur.rowCount == 5)
            try cur.execute("UPDATE \(table) SET name = 'x' WHERE id <= $1", [3])
            #expect(cur.rowCount == 3)
            try cur.execute("DELETE FROM \(table) WHERE id = $1", [5])
            #expect(cur.rowCount == 1)
            try cur.execute("SELECT * FROM \(unescaped: table)")
            #expect(cur.rowCount == 4)
            try cur.execute("CREATE TEMP TABLE tmp_rc (x int)")
            #expect(cur.rowCount == -1)
            #expect(cur.columns == nil)
        }
    }

    @Test func descriptionColumns() throws {
        let conn = try Self.connect()
        defer { conn.close() }
        let cur = try conn.cursor()
        try cur.execute("SELECT 1::int4 AS a, 'x'::varchar(12) AS b, 1.5::numeric(10,3) AS c, now()::timestamp(3) AS d, 'z'::text AS e")
        let cols = try #require(cur.columns)
        #expect(cols.map(\.name) == ["a", "b", "c", "d", "e"])
        #expect(cols[0].typeOID == 23 && cols[0].typeName == "int4" && cols[0].internalSize == 4)
        #expect(cols[1].typeName == "varchar" && cols[1].displaySize == 12 && cols[1].internalSize == nil)
        #expect(cols[2].typeName == "numeric" && cols[2].precision == 10 && cols[2].scale == 3)
        #expect(cols[3].precision == 3)
        #expect(cols[4].typeOID == 25 && cols[4].nullable == nil)
        try cur.execute("SET search_path = public")
        #expect(cur.columns == nil)
    }

    @Test func fetchMixesAndIteration() throws {
        let conn = try Self.connect()
        defer { conn.close() }
        let cur = try conn.cursor()
        try cur.execute("SELECT g FROM generate_series(1, 10) g")
        #expect(try cur.fetchOne()?.decode(Int.self, at: 0) == 1)
        #expect(try cur.fetchMany().map { try $0.decode(Int.self, at: 0) } == [2])  // arraySize = 1
        cur.arraySize = 3
        #expect(try cur.fetchMany().map { try $0.decode(Int.self, at: 0) } == [3, 4, 5])
        #expect(try cur.fetchMany(2).map { try $0.decode(Int.self, at: 0) } == [6, 7])
        var seen: [Int] = []
        for row in cur {
            seen.append(try row.decode(Int.self, at: 0))
            if seen.count == 1 { break }
        }
        #expect(seen == [8])
        #expect(try cur.fetchAll().map { try $0.decode(Int.self, at: 0) } == [9, 10])
        #expect(try cur.fetchOne() == nil)
        #expect(try cur.fetchMany(5).isEmpty)
        #expect(try cur.fetchAll().isEmpty)
        // Fetching from a statement without rows is a programming error.
        try cur.execute("SET application_name = 'x'")
        #expect(expectDatabaseError { _ = try cur.fetchOne() }?.category == .programming)
        // Parameters: array literal, NULL, and the interpolated query type.
        let name: String? = nil
        try cur.execute("SELECT $1::int, $2::text, $3::text IS NULL", [1, "x", nil])
        let row = try #require(try cur.fetchOne())
        #expect(try row.decode(Int.self, at: 0) == 1 && row.decode(String.self, at: 1) == "x" && row.decode(Bool.self, at: 2))
        try cur.execute("SELECT \(42) + 1, \(name)::text IS NULL")
        #expect(try cur.fetchOne()?.decode(Int.self, at: 0) == 43)
        struct Pair: Decodable { let a: Int; let b: String }
        try cur.execute("SELECT 7 AS a, 'seven' AS b")
        let pair = try #require(try cur.fetchOne()).decode(Pair.self)
        #expect(pair.a == 7 && pair.b == "seven")
    }

    @Test func executeManyIsPipelined() throws {
        try Self.withTable { conn, table in
            let cur = try conn.cursor()
            try cur.executeMany("INSERT INTO \(table) VALUES ($1, $2)", (1...200).map { (i: Int) -> [(any PostgresEncodable)?] in [i, "n\(i)"] })
            #expect(cur.rowCount == 200)
            try cur.executeMany("UPDATE \(table) SET name = $2 WHERE id = $1", [[1, "a"], [2, "b"], [999, "none"]])
            #expect(cur.rowCount == 2)
            try conn.commit()
            // The first failure is thrown; the batch is one transaction-visible unit in this session.
            let e = expectDatabaseError { try cur.executeMany("INSERT INTO \(table) VALUES ($1, $2)", [[1000, "ok"], [1, "dup"]]) }
            #expect(e?.category == .integrity)
            #expect(e?.sqlState == .uniqueViolation)
            #expect(conn.transactionStatus == .failed)
            try conn.rollback()
            try cur.execute("SELECT count(*) FROM \(unescaped: table)")
            #expect(try cur.fetchOne()?.decode(Int.self, at: 0) == 200)
        }
    }

    @Test func closedObjectsAreInterfaceErrors() throws {
        let conn = try Self.connect()
        let cur = try conn.cursor()
        try cur.execute("SELECT 1")
        cur.close()
        #expect(cur.isClosed)
        #expect(expectDatabaseError { try cur.execute("SELECT 1") }?.category == .interface)
        #expect(expectDatabaseError { _ = try cur.fetchOne() }?.category == .interface)
        let cur2 = try conn.cursor()
        conn.close()
        #expect(expectDatabaseError { try cur2.execute("SELECT 1") }?.category == .interface)
        #expect(expectDatabaseError { _ = try conn.cursor() }?.category == .interface)
        #expect(expectDatabaseError { try conn.commit() }?.category == .interface)
        #expect(expectDatabaseError { try conn.rollback() }?.category == .interface)
    }

    @Test func errorCategoriesFromTheServer() throws {
        try Self.withTable { conn, table in
            try conn.setAutocommit(true)
            let cur = try conn.cursor()
            try cur.execute("INSERT INTO \(unescaped: table) VALUES (1, 'a')")
            func check(_ sql: String, _ category: ErrorCategory, _ state: SQLState, sourceLocation: SourceLocation = #_sourceLocation) {
                let e = expectDatabaseError({ try cur.execute(sql, []) }, sourceLocation: sourceLocation)
                #expect(e?.category == category, sourceLocation: sourceLocation)
                #expect(e?.sqlState == state, sourceLocation: sourceLocation)
                #expect(e?.serverError?.message.isEmpty == false, sourceLocation: sourceLocation)
            }
            check("INSERT INTO \(table) VALUES (1, 'dup')", .integrity, "23505")
            check("SELECT * FROM no_such_table_dbapi", .programming, "42P01")
            check("SELECT 1/0", .data, "22012")
            check("SELEC 1", .programming, "42601")
            check("DO $$BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END$$", .operational, "40001")
            // Server fields are all there.
            let e = expectDatabaseError { try cur.execute("INSERT INTO \(unescaped: table) VALUES (1, 'dup')") }
            #expect(e?.constraintName == "\(table)_pkey")
            #expect(e?.detail?.contains("already exists") == true)
            #expect(e?.serverError?.tableName == table)
            // Catch by pattern.
            do {
                try cur.execute("INSERT INTO \(unescaped: table) VALUES (1, 'dup')")
            } catch SQLState.uniqueViolation {
            } catch {
                Issue.record("SQLState pattern did not match \(error)")
            }
            do {
                try cur.execute("SELECT 1/0")
            } catch DatabaseError.dataError {
            } catch {
                Issue.record("category pattern did not match \(error)")
            }
            // 57014 query_canceled via statement_timeout.
            try cur.execute("SET statement_timeout = '50ms'")
            check("SELECT pg_sleep(5)", .operational, .queryCanceled)
            try cur.execute("SET statement_timeout = 0")
            // Wrong parameter count: programming error, nothing sent.
            #expect(expectDatabaseError { try cur.execute("SELECT $1, $2", [1]) }?.category == .programming)
        }
    }

    @Test func cancelFromAnotherThreadIsOperational() throws {
        let conn = try Self.connect()
        defer { conn.close() }
        let cur = try conn.cursor()
        let thread = Thread { Thread.sleep(forTimeInterval: 0.3); try? conn.cancel() }
        thread.start()
        let e = expectDatabaseError { try cur.execute("SELECT pg_sleep(10)") }
        #expect(e?.category == .operational && e?.sqlState == .queryCanceled)
        #expect(conn.transactionStatus == .failed)
        // A query in the failed transaction is the server's 25P02, as is.
        let f = expectDatabaseError { try cur.execute("SELECT 1") }
        #expect(f?.sqlState == .inFailedSQLTransaction && f?.category == .internal)
        try conn.rollback()
        try cur.execute("SELECT 1")
    }

    @Test func transactionBlocksNestWithSavepoints() throws {
        try Self.withTable { conn, table in
            try conn.setAutocommit(true)
            try conn.transaction { c in
                try c.cursor().execute("INSERT INTO \(unescaped: table) VALUES (1, 'outer')")
                #expect(c.transactionStatus == .inTransaction)
                struct Boom: Error {}
                #expect(throws: Boom.self) {
                    try c.transaction { c in
                        try c.cursor().execute("INSERT INTO \(unescaped: table) VALUES (2, 'inner')")
                        throw Boom()
                    }
                }
                try c.transaction { c in try c.cursor().execute("INSERT INTO \(unescaped: table) VALUES (3, 'inner ok')") }
                // An inner failure at the server rolls back to the savepoint only.
                #expect(throws: DatabaseError.self) {
                    try c.transaction { c in try c.cursor().execute("INSERT INTO \(unescaped: table) VALUES (1, 'dup')") }
                }
                #expect(c.transactionStatus == .inTransaction)
            }
            #expect(conn.transactionStatus == .idle)
            let cur = try conn.cursor()
            try cur.execute("SELECT id FROM \(unescaped: table) ORDER BY id")
            #expect(try cur.fetchAll().map { try $0.decode(Int.self, at: 0) } == [1, 3])
            // The outer block rolls back when its body throws.
            #expect(throws: DatabaseError.self) {
                try conn.transaction { c in
                    try c.cursor().execute("INSERT INTO \(unescaped: table) VALUES (10, 'x')")
                    try c.cursor().execute("SELECT 1/0")
                }
            }
            try cur.execute("SELECT count(*) FROM \(unescaped: table) WHERE id = 10")
            #expect(try cur.fetchOne()?.decode(Int.self, at: 0) == 0)
            // A swallowed failure cannot commit.
            let e = expectDatabaseError {
                try conn.transaction { c in _ = try? c.cursor().execute("SELECT 1/0") }
            }
            #expect(e?.category == .internal)
            #expect(conn.transactionStatus == .idle)
        }
    }

    @Test func isolationReadOnlyDeferrable() throws {
        let conn = try Self.connect()
        defer { conn.close() }
        conn.isolationLevel = .serializable
        conn.readOnly = true
        conn.deferrable = true
        let cur = try conn.cursor()
        try cur.execute("SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only'), current_setting('transaction_deferrable')")
        #expect(try cur.fetchOne()?.textValues == ["serializable", "on", "on"])
        let e = expectDatabaseError { try cur.execute("CREATE TEMP TABLE ro (x int)") }
        #expect(e?.sqlState == "25006")
        try conn.rollback()
        conn.transactionCharacteristics = TransactionCharacteristics()
        try conn.transaction(TransactionCharacteristics(isolationLevel: .repeatableRead)) { c in
            let cur = try c.cursor()
            try cur.execute("SELECT current_setting('transaction_isolation')")
            #expect(try cur.fetchOne()?[0] == "repeatable read")
        }
    }

    @Test func namedServerSideCursor() throws {
        let conn = try Self.connect()
        defer { conn.close() }
        let cur = try conn.cursor(name: "big_one")
        cur.itersize = 100
        try cur.execute("SELECT g, repeat('x', 10) FROM generate_series(1, $1) g", [1050])
        #expect(cur.columns?.map(\.name) == ["g", "repeat"])
        #expect(try cur.fetchOne()?.decode(Int.self, at: 0) == 1)
        #expect(try cur.fetchMany(250).count == 250)
        var total = 251
        var last = 0
        for row in cur {
            total += 1
            last = try row.decode(Int.self, at: 0)
        }
        #expect(cur.iterationError == nil)
        #expect(total == 1050 && last == 1050)
        #expect(cur.rowCount == 1050)
        // Re-execute, then fetchAll.
        try cur.execute("SELECT g FROM generate_series(1, 5) g")
        #expect(try cur.fetchAll().count == 5)
        cur.close()
        try conn.commit()
        // WITH HOLD works in autocommit mode and survives commit.
        try conn.setAutocommit(true)
        let held = try conn.cursor(name: "held", withHold: true)
        held.itersize = 2
        try held.execute("SELECT g FROM generate_series(1, 5) g")
        #expect(try held.fetchAll().map { try $0.decode(Int.self, at: 0) } == [1, 2, 3, 4, 5])
        held.close()
    }
}
