import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// A value shared between a test and callbacks running on other threads.
private final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    var current: Value { withLock { $0 } }
}

/// Runs `body` expecting a PostgresError; returns it (nil, with an issue recorded, otherwise).
private func expectPostgresError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> PostgresError? {
    do {
        try body()
        Issue.record("expected a PostgresError, but the call succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let error as PostgresError {
        return error
    } catch {
        Issue.record("expected a PostgresError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A field of /proc/self/status in kB ("VmRSS", "VmHWM"), nil where unavailable.
private func procStatusKilobytes(_ field: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
    }
    return nil
}

/// Queries and session behaviour against the real server.
@Suite struct ConnectionTests {
    static func connect(_ role: TestServer.Role = .trust, unixSocket: Bool = false, extra: String = "connect_timeout=10") throws -> Connection {
        let server = try TestServer.shared()
        return try Connection.connect(server.dsn(role: role, unixSocket: unixSocket, extra: extra))
    }

    /// A table name no other test (or test run) uses.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UInt32.random(in: 0...UInt32.max))_\(getpid())"
    }

    // MARK: Queries

    @Test(arguments: [false, true])
    func simpleQuery(unixSocket: Bool) throws {
        let connection = try Self.connect(unixSocket: unixSocket)
        defer { connection.close() }
        let results = try connection.simpleQuery("SELECT 1 AS one, 'héllo wörld'::text AS t, NULL::int AS n, '' AS e")
        #expect(results.count == 1)
        let result = try #require(results.first)
        #expect(result.commandTag == "SELECT 1")
        #expect(result.rowCount == 1)
        let columns = try #require(result.columns)
        #expect(columns.names == ["one", "t", "n", "e"])
        #expect(columns.fields.map(\.dataTypeOID) == [23, 25, 23, 25])
        let row = try #require(result.rows.first)
        #expect(row.count == 4)
        #expect(row[0] == "1")
        #expect(row["t"] == "héllo wörld")
        #expect(row["n"] == nil)
        #expect(row.isNull(at: 2))
        #expect(row["e"] == "")
        #expect(!row.isNull(at: 3))
        #expect(row["no_such_column"] == nil)
        #expect(row.textValues == ["1", "héllo wörld", nil, ""])
    }

    @Test func severalRows() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let result = try #require(try connection.simpleQuery("SELECT i, i * i AS sq FROM generate_series(1, 100) i").first)
        #expect(result.commandTag == "SELECT 100")
        #expect(result.rows.count == 100)
        #expect(result.rows.enumerated().allSatisfy { i, row in row[0] == String(i + 1) && row["sq"] == String((i + 1) * (i + 1)) })
    }

    @Test func multiStatementString() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let results = try connection.simpleQuery("""
            CREATE TEMP TABLE multi (a int);
            INSERT INTO multi VALUES (1), (2), (3);
            UPDATE multi SET a = a * 10 WHERE a > 1;
            SELECT a FROM multi ORDER BY a;
            DELETE FROM multi;
            DROP TABLE multi
            """)
        #expect(results.map(\.commandTag) == ["CREATE TABLE", "INSERT 0 3", "UPDATE 2", "SELECT 3", "DELETE 3", "DROP TABLE"])
        #expect(results.map(\.rowCount) == [nil, 3, 2, 3, 3, nil])
        #expect(results.map { $0.columns == nil } == [true, true, true, false, true, true])
        #expect(results[3].rows.map { $0[0] } == ["1", "20", "30"])
        #expect(connection.transactionStatus == .idle)
    }

    @Test func emptyQuery() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        for sql in ["", "   ", "-- only a comment"] {
            let results = try connection.simpleQuery(sql)
            #expect(results.count == 1, "\(sql)")
            #expect(results.first?.commandTag == "")
            #expect(results.first?.columns == nil)
            #expect(results.first?.rows.isEmpty == true)
        }
        var events: [String] = []
        try connection.simpleQuery("") { event in
            if case .emptyQuery = event { events.append("empty") } else { events.append("\(event)") }
        }
        #expect(events == ["empty"])
    }

    @Test func streamingDeliversEventsInOrder() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        var events: [String] = []
        try connection.simpleQuery("SELECT 1 AS a; SELECT 'x' AS b, 'y' AS c UNION ALL SELECT 'z', NULL; SET search_path = public") { event in
            switch event {
            case .columns(let c): events.append("columns \(c.names)")
            case .row(let r): events.append("row \(r.textValues)")
            case .commandComplete(let c): events.append("complete \(c.tag)")
            case .emptyQuery: events.append("empty")
            case .copyOut: events.append("copyOut")
            case .copyData: events.append("copyData")
            }
        }
        #expect(events == [
            "columns [\"a\"]", "row [Optional(\"1\")]", "complete SELECT 1",
            "columns [\"b\", \"c\"]", "row [Optional(\"x\"), Optional(\"y\")]", "row [Optional(\"z\"), nil]", "complete SELECT 2",
            "complete SET",
        ])
    }

    // MARK: Errors

    @Test func uniqueViolationFillsEveryField() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let table = Self.uniqueName("uniq")
        try connection.simpleQuery("CREATE TABLE public.\(table) (id int PRIMARY KEY, name text NOT NULL)")
        defer { _ = try? connection.simpleQuery("DROP TABLE IF EXISTS public.\(table)") }
        try connection.simpleQuery("INSERT INTO public.\(table) VALUES (1, 'one')")

        let error = expectPostgresError { try connection.simpleQuery("INSERT INTO public.\(table) VALUES (1, 'again')") }
        guard case .server(let e)? = error else {
            Issue.record("expected .server, got \(String(describing: error))")
            return
        }
        #expect(e.sqlState == "23505")
        #expect(e.severity == "ERROR")
        #expect(e.localizedSeverity == "ERROR")
        #expect(e.message == "duplicate key value violates unique constraint \"\(table)_pkey\"")
        #expect(e.detail == "Key (id)=(1) already exists.")
        #expect(e.schemaName == "public")
        #expect(e.tableName == table)
        #expect(e.constraintName == "\(table)_pkey")
        #expect(e.file?.hasSuffix(".c") == true)
        #expect((e.line ?? 0) > 0)
        #expect(e.routine?.isEmpty == false)
        #expect(e.position == nil)
        #expect(error?.sqlState == "23505")
        #expect(error?.serverError == e)
        #expect(e.description.hasPrefix("ERROR:  23505: duplicate key value"))
        #expect(e.description.contains("\nDETAIL:  Key (id)=(1) already exists."))

        // NOT NULL violation: the column name.
        let notNull = expectPostgresError { try connection.simpleQuery("INSERT INTO public.\(table) VALUES (2, NULL)") }
        #expect(notNull?.sqlState == "23502")
        #expect(notNull?.serverError?.columnName == "name")
        #expect(notNull?.serverError?.tableName == table)
        #expect(notNull?.serverError?.schemaName == "public")
    }

    @Test func syntaxErrorHasPosition() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let error = expectPostgresError { try connection.simpleQuery("SELECT * FORM pg_class") }
        let e = try #require(error?.serverError)
        #expect(e.sqlState == "42601")
        #expect(e.message == "syntax error at or near \"FORM\"")
        #expect(e.position == 10)
        #expect(e.routine == "scanner_yyerror")

        // An error with a hint (and a position).
        let hinted = try #require(expectPostgresError { try connection.simpleQuery("SELECT 'a'::text + 1") }?.serverError)
        #expect(hinted.sqlState == "42883")
        #expect(hinted.hint?.contains("explicit type casts") == true)
        #expect(hinted.position == 18)
    }

    @Test func domainViolationNamesTheType() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let domain = Self.uniqueName("posint")
        try connection.simpleQuery("CREATE DOMAIN public.\(domain) AS int CONSTRAINT \(domain)_check CHECK (VALUE > 0)")
        defer { _ = try? connection.simpleQuery("DROP DOMAIN IF EXISTS public.\(domain)") }
        let e = try #require(expectPostgresError { try connection.simpleQuery("SELECT (-1)::public.\(domain)") }?.serverError)
        #expect(e.sqlState == "23514")
        #expect(e.dataTypeName == domain)
        #expect(e.schemaName == "public")
        #expect(e.constraintName == "\(domain)_check")
    }

    @Test func errorsInsidePlpgsqlCarryContext() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        try connection.simpleQuery("""
            CREATE FUNCTION pg_temp.divide(d int) RETURNS int LANGUAGE plpgsql AS $$
            BEGIN
              RETURN 10 / d;
            END $$;
            CREATE FUNCTION pg_temp.badcolumn() RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM no_such_column FROM pg_class;
            END $$
            """)
        let division = try #require(expectPostgresError { try connection.simpleQuery("SELECT pg_temp.divide(0)") }?.serverError)
        #expect(division.sqlState == "22012")
        #expect(division.message == "division by zero")
        let context = try #require(division.where)
        #expect(context.contains("PL/pgSQL function"))
        #expect(context.contains("divide(integer) line 3 at RETURN"))

        let column = try #require(expectPostgresError { try connection.simpleQuery("SELECT pg_temp.badcolumn()") }?.serverError)
        #expect(column.sqlState == "42703")
        #expect(column.internalQuery == "SELECT no_such_column FROM pg_class")
        #expect(column.internalPosition == 8)
        #expect(column.position == nil)
        #expect(column.where?.contains("badcolumn() line 3 at PERFORM") == true)
    }

    @Test func connectionIsUsableAfterErrors() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        for _ in 0..<3 {
            let error = expectPostgresError { try connection.simpleQuery("SELECT 1/0") }
            #expect(error?.sqlState == "22012")
            #expect(connection.transactionStatus == .idle)
            #expect(!connection.isClosed)
            #expect(try connection.simpleQuery("SELECT 2").first?.rows.first?[0] == "2")
        }
        // A failing statement in the middle of a string: earlier results were delivered, later
        // statements never ran, and the error is thrown after ReadyForQuery.
        var tags: [String] = []
        let error = expectPostgresError {
            try connection.simpleQuery("SELECT 1; SELECT 1/0; SELECT 3") { event in
                if case .commandComplete(let c) = event { tags.append(c.tag) }
            }
        }
        #expect(error?.sqlState == "22012")
        #expect(tags == ["SELECT 1"])
        #expect(try connection.simpleQuery("SELECT 'still alive'").first?.rows.first?[0] == "still alive")
    }

    @Test func errorThrownByBodyIsRethrownAndConnectionStaysUsable() throws {
        struct Stop: Error {}
        let connection = try Self.connect()
        defer { connection.close() }
        var seen = 0
        #expect(throws: Stop.self) {
            try connection.simpleQuery("SELECT generate_series(1, 1000)") { event in
                if case .row = event {
                    seen += 1
                    throw Stop()
                }
            }
        }
        #expect(seen == 1)
        #expect(try connection.simpleQuery("SELECT 42").first?.rows.first?[0] == "42")
    }

    // MARK: Asynchronous messages

    @Test func noticesReachTheHandlerInOrder() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let notices = LockedBox<[ServerError]>([])
        connection.noticeHandler = { notice in notices.withLock { $0.append(notice) } }
        try connection.simpleQuery("""
            DO $$ BEGIN
              RAISE NOTICE 'first';
              RAISE NOTICE 'second %', 2 USING DETAIL = 'some detail', HINT = 'some hint';
              RAISE WARNING 'third';
            END $$
            """)
        let received = notices.current
        #expect(received.map(\.message) == ["first", "second 2", "third"])
        #expect(received.map(\.severity) == ["NOTICE", "NOTICE", "WARNING"])
        #expect(received.map(\.sqlState) == ["00000", "00000", "01000"])
        #expect(received.count == 3 && received[1].detail == "some detail" && received[1].hint == "some hint")

        // Notices sent while an error is being reported still arrive first.
        notices.withLock { $0.removeAll() }
        _ = expectPostgresError {
            try connection.simpleQuery("DO $$ BEGIN RAISE NOTICE 'before'; RAISE EXCEPTION 'boom'; END $$")
        }
        #expect(notices.current.map(\.message) == ["before"])
        // Server-generated notices too.
        notices.withLock { $0.removeAll() }
        try connection.simpleQuery("DROP TABLE IF EXISTS pgwire_table_that_does_not_exist")
        #expect(notices.current.map(\.message) == ["table \"pgwire_table_that_does_not_exist\" does not exist, skipping"])
    }

    @Test func parameterStatusUpdatesParameters() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        #expect(connection.parameters["TimeZone"] == "UTC")
        #expect(connection.parameters["integer_datetimes"] == "on")
        #expect(connection.parameters["server_encoding"] == "UTF8")
        try connection.simpleQuery("SET application_name = 'pgwire-param-test'")
        #expect(connection.parameters["application_name"] == "pgwire-param-test")
        try connection.simpleQuery("SET TimeZone = 'Europe/Berlin'")
        #expect(connection.parameters["TimeZone"] == "Europe/Berlin")
        try connection.simpleQuery("SET DateStyle = 'German'")
        #expect(connection.parameters["DateStyle"] == "German, DMY")
        // Rolled back with the transaction: the server reports the restored value.
        try connection.simpleQuery("BEGIN; SET LOCAL TimeZone = 'Asia/Tokyo'")
        #expect(connection.parameters["TimeZone"] == "Asia/Tokyo")
        try connection.simpleQuery("ROLLBACK")
        #expect(connection.parameters["TimeZone"] == "Europe/Berlin")
    }

    @Test func transactionStatusFollowsReadyForQuery() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        #expect(connection.transactionStatus == .idle)
        try connection.simpleQuery("BEGIN")
        #expect(connection.transactionStatus == .inTransaction)
        try connection.simpleQuery("SELECT 1")
        #expect(connection.transactionStatus == .inTransaction)
        let error = expectPostgresError { try connection.simpleQuery("SELECT 1/0") }
        #expect(error?.sqlState == "22012")
        #expect(connection.transactionStatus == .failed)
        let aborted = expectPostgresError { try connection.simpleQuery("SELECT 1") }
        #expect(aborted?.sqlState == "25P02")
        #expect(connection.transactionStatus == .failed)
        let rollback = try connection.simpleQuery("ROLLBACK")
        #expect(rollback.first?.commandTag == "ROLLBACK")
        #expect(connection.transactionStatus == .idle)
        // COMMIT of a failed transaction reports ROLLBACK.
        _ = expectPostgresError { try connection.simpleQuery("BEGIN; SELECT 1/0") }
        #expect(connection.transactionStatus == .failed)
        #expect(try connection.simpleQuery("COMMIT").first?.commandTag == "ROLLBACK")
        #expect(connection.transactionStatus == .idle)
    }

    @Test func notificationsReachTheHandler() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let received = LockedBox<[NotificationResponse]>([])
        connection.notificationHandler = { n in received.withLock { $0.append(n) } }
        try connection.simpleQuery("LISTEN pgwire_channel")
        try connection.simpleQuery("NOTIFY pgwire_channel, 'hello'")
        try connection.simpleQuery("SELECT pg_notify('pgwire_channel', 'second'); NOTIFY pgwire_other, 'not listening'")
        let notifications = received.current
        #expect(notifications.map(\.payload) == ["hello", "second"])
        #expect(notifications.allSatisfy { $0.channel == "pgwire_channel" })
        #expect(notifications.allSatisfy { $0.processID == connection.backendKeyData?.processID })

        // From another session.
        let other = try Self.connect()
        defer { other.close() }
        try other.simpleQuery("NOTIFY pgwire_channel, 'from elsewhere'")
        // The notification is read on a later round trip (the other backend signals ours asynchronously).
        for _ in 0..<50 where received.current.count < 3 {
            try connection.simpleQuery("SELECT 1")
            if received.current.count < 3 { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(received.current.count == 3)
        let last = received.current.last
        #expect(last?.payload == "from elsewhere")
        #expect(last?.processID == other.backendKeyData?.processID)
    }

    // MARK: Large results

    @Test(.timeLimit(.minutes(2)))
    func largeResultStreamsInBoundedMemory() throws {
        let connection = try Self.connect(unixSocket: true)
        defer { connection.close() }
        let rowsWanted = 2_000_000
        let baseline = try #require(procStatusKilobytes("VmRSS"))
        var peak = baseline
        var rows = 0
        var payloadBytes = 0
        var wireBytes = 0
        var columnCount = 0
        var lastID = 0
        var ordered = true
        try connection.simpleQuery("SELECT i, repeat('x', 100) || i AS filler FROM generate_series(1, \(rowsWanted)) i") { event in
            switch event {
            case .columns(let c): columnCount = c.count
            case .row(let row):
                rows += 1
                // Cheap checks only: converting 2M values to String would dominate the run time.
                let filler = row.bytes(at: 1)
                payloadBytes += filler?.count ?? 0
                wireBytes += row.data.storage.count + 7  // type, length, column count
                if rows % 250_000 == 0 {
                    lastID = Int(row[0] ?? "") ?? -1
                    if lastID != rows { ordered = false }
                    peak = max(peak, procStatusKilobytes("VmRSS") ?? 0)
                }
            case .commandComplete(let c): #expect(c.tag == "SELECT \(rowsWanted)")
            default: break
            }
        }
        peak = max(peak, procStatusKilobytes("VmRSS") ?? 0)
        #expect(columnCount == 2)
        #expect(rows == rowsWanted)
        #expect(ordered)
        #expect(lastID == rowsWanted)
        #expect(wireBytes > 200_000_000, "only \(wireBytes) bytes streamed")
        #expect(payloadBytes > 200_000_000)
        let growthMB = Double(peak - baseline) / 1024
        #expect(growthMB < 64, "RSS grew by \(growthMB) MB while streaming \(wireBytes / 1_000_000) MB")
        #expect(try connection.simpleQuery("SELECT 'after'").first?.rows.first?[0] == "after")
    }

    // MARK: Cancellation and closing

    @Test(.timeLimit(.minutes(1)))
    func cancelInterruptsARunningQuery() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let outcome = LockedBox<Result<[QueryResult], Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let started = Date()
        let thread = Thread {
            let result = Result { try connection.simpleQuery("SELECT pg_sleep(30)") }
            outcome.withLock { $0 = result }
            done.signal()
        }
        thread.start()
        Thread.sleep(forTimeInterval: 0.5)
        try connection.cancel()
        // If the cancel request raced ahead of the query, ask again (as a user would).
        var finished = done.wait(timeout: .now() + 3) == .success
        if !finished {
            try connection.cancel()
            finished = done.wait(timeout: .now() + 5) == .success
        }
        #expect(finished, "pg_sleep(30) was not cancelled")
        guard finished else { return }
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed < 6)
        switch outcome.current {
        case .failure(let error as PostgresError)?:
            #expect(error.sqlState == "57014", "\(error)")
            #expect(error.serverError?.message == "canceling statement due to user request")
        default:
            Issue.record("expected a 57014 error, got \(String(describing: outcome.current))")
        }
        #expect(connection.transactionStatus == .idle)
        #expect(try connection.simpleQuery("SELECT 'usable'").first?.rows.first?[0] == "usable")
        // Cancelling an idle connection is harmless.
        try connection.cancel()
        #expect(try connection.simpleQuery("SELECT 1").first?.rows.first?[0] == "1")
    }

    @Test func closeThenQueryFails() throws {
        let connection = try Self.connect()
        #expect(!connection.isClosed)
        connection.close()
        #expect(connection.isClosed)
        connection.close()  // idempotent
        let error = expectPostgresError { try connection.simpleQuery("SELECT 1") }
        guard case .connectionClosed? = error else {
            Issue.record("expected connectionClosed, got \(String(describing: error))")
            return
        }
        // Closed by its owner: PEP 249's InterfaceError, not a lost connection.
        #expect(error?.category == .interface)
        #expect(error?.isConnectionLost == false)
        let again = expectPostgresError { try connection.simpleQuery("SELECT 1") { _ in } }
        guard case .connectionClosed? = again else {
            Issue.record("expected connectionClosed, got \(String(describing: again))")
            return
        }
    }

    @Test func serverTerminatingTheSessionBreaksTheConnection() throws {
        let victim = try Self.connect()
        defer { victim.close() }
        let killer = try Self.connect()
        defer { killer.close() }
        let pid = try #require(victim.backendKeyData?.processID)
        #expect(try killer.simpleQuery("SELECT pg_terminate_backend(\(pid))").first?.rows.first?[0] == "t")
        // The server sends a FATAL ErrorResponse (57P01) and closes; the next call reports one or the other.
        let error = expectPostgresError { try victim.simpleQuery("SELECT 1") }
        switch error {
        case .connectionLost?: break
        case .server(let e)?: #expect(SQLState(e.sqlState) == .adminShutdown)
        default: Issue.record("expected connectionLost or 57P01, got \(String(describing: error))")
        }
        #expect(error?.category == .operational)
        // Whatever the first error was, the connection is now unusable: lost, not closed by its owner.
        let later = expectPostgresError { try victim.simpleQuery("SELECT 1") }
        guard case .connectionLost? = later else {
            Issue.record("expected connectionLost after the backend was terminated, got \(String(describing: later))")
            return
        }
        #expect(later?.category == .operational)
        #expect(victim.isClosed)
    }

    // MARK: Connecting

    @Test func connectTimeoutOnlyBoundsStartup() throws {
        // connect_timeout=2 must not limit queries that run longer than that.
        let connection = try Self.connect(extra: "connect_timeout=2")
        defer { connection.close() }
        #expect(connection.configuration.connectTimeout == 2)
        let started = Date()
        #expect(try connection.simpleQuery("SELECT pg_sleep(2.3), 'done'").first?.rows.first?[1] == "done")
        #expect(Date().timeIntervalSince(started) >= 2.2)
    }

    @Test func multiHostConnectsToTheFirstReachable() throws {
        let server = try TestServer.shared()
        let connection = try Connection.connect(
            "host=127.0.0.1,127.0.0.1 port=1,\(server.port) user=pgwire_trust dbname=pgwire_test connect_timeout=10")
        defer { connection.close() }
        #expect(connection.configuration.hosts.count == 2)
        #expect(connection.host.port == server.port)
        #expect(connection.host == connection.configuration.hosts[1])
        #expect(try connection.simpleQuery("SELECT inet_server_port()").first?.rows.first?[0] == String(server.port))

        // Socket directory first (nothing listens on port 1 there), then TCP.
        let mixed = try Connection.connect(
            "host=\(server.socketDirectory),127.0.0.1 port=1,\(server.port) user=pgwire_trust dbname=pgwire_test")
        defer { mixed.close() }
        #expect(!mixed.host.isUnixSocket)
    }

    @Test func allHostsFailingReportsAnError() throws {
        let error = expectPostgresError {
            _ = try Connection.connect("host=127.0.0.1,127.0.0.1 port=1,2 user=pgwire_trust dbname=pgwire_test connect_timeout=5")
        }
        guard case .connectionFailed(let message)? = error else {
            Issue.record("expected connectionFailed, got \(String(describing: error))")
            return
        }
        #expect(message.contains("127.0.0.1"))
    }

    @Test func connectionsWorkConcurrently() throws {
        // Several connections on several threads at once, each with its own session state.
        let failures = LockedBox<[String]>([])
        let group = DispatchGroup()
        for i in 0..<6 {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let connection = try Self.connect(i % 2 == 0 ? .scram : .md5, unixSocket: i % 3 == 0)
                    defer { connection.close() }
                    try connection.simpleQuery("SET application_name = 'worker-\(i)'")
                    for _ in 0..<20 {
                        let value = try connection.simpleQuery("SELECT current_setting('application_name')").first?.rows.first?[0]
                        if value != "worker-\(i)" { failures.withLock { $0.append("worker \(i) saw \(value ?? "nil")") } }
                    }
                } catch {
                    failures.withLock { $0.append("worker \(i): \(error)") }
                }
            }.start()
        }
        #expect(group.wait(timeout: .now() + 30) == .success)
        #expect(failures.current.isEmpty, "\(failures.current)")
    }
}
