import Foundation
import PostgresWire
import Testing
import TestSupport

/// The one error type: its cases and PEP 249 categories for client-side conditions.
@Suite struct ErrorTests {
    @Test func databaseErrorIsPostgresError() {
        #expect(DatabaseError.self == PostgresError.self)
        let error: DatabaseError = .invalidUsage("x")
        #expect(error.category == .programming)
        #expect(PostgresError.configuration(ConfigurationError("bad")).category == .programming)
        #expect(PostgresError.timeout("t").category == .operational)
        #expect(PostgresError.wrap(PostgresCodingError(.overflow, type: .int8, swiftType: Int16.self)).category == .data)
    }

    /// `close()` then a call: interface (the owner closed it). The backend terminated from another
    /// session: operational (the connection is lost), and every later call says so.
    @Test func closedByTheUserIsNotLost() throws {
        let conn = try Connection.open(dbapiTestDSN())
        let cursor = try conn.cursor()
        conn.close()
        let closed = expectDatabaseError { try cursor.execute("SELECT 1", []) }
        guard case .connectionClosed? = closed else { Issue.record("expected connectionClosed, got \(String(describing: closed))"); return }
        #expect(closed?.category == .interface)
        #expect(closed?.isConnectionLost == false)

        let victim = try Connection.open(dbapiTestDSN())
        defer { victim.close() }
        let killer = try Connection.open(dbapiTestDSN())
        defer { killer.close() }
        let pid = try #require(victim.backendKeyData?.processID)
        try killer.simpleQuery("SELECT pg_terminate_backend(\(pid))")
        let victimCursor = try victim.cursor()
        // The first call sees the server's FATAL 57P01 or the closed socket; both are operational.
        let first = expectDatabaseError { try victimCursor.execute("SELECT 1", []) }
        switch first {
        case .connectionLost?: break
        case .server(let e)?: #expect(SQLState(e.sqlState) == .adminShutdown)
        default: Issue.record("expected connectionLost or 57P01, got \(String(describing: first))")
        }
        #expect(first?.category == .operational)
        let later = expectDatabaseError { try victimCursor.execute("SELECT 1", []) }
        guard case .connectionLost? = later else { Issue.record("expected connectionLost, got \(String(describing: later))"); return }
        #expect(later?.category == .operational)
        #expect(later?.isConnectionLost == true)
        let direct = expectDatabaseError { try victim.simpleQuery("SELECT 1") }
        guard case .connectionLost? = direct else { Issue.record("expected connectionLost, got \(String(describing: direct))"); return }
    }

    /// A decoding failure is `.coding` (data), naming the column and both types.
    @Test func decodingFailureIsACodingCase() throws {
        let conn = try Connection.open(dbapiTestDSN())
        defer { conn.close() }
        let row = try conn.query("SELECT 'x'::text AS name, NULL::int AS n").rows[0]
        do throws(PostgresError) {
            _ = try row.decode(Int.self, named: "n")
            Issue.record("decoding NULL as Int succeeded")
        } catch {
            guard case .coding(let coding) = error else { Issue.record("expected coding, got \(error)"); return }
            #expect(coding.reason == .unexpectedNull)
            #expect(coding.column == "n")
            #expect(error.category == .data)
            #expect(error.codingError == coding)
            #expect(error.sqlState == nil)
        }
        #expect(throws: PostgresError.self) { _ = try row.decode(Int.self, named: "no_such_column") }
    }

    /// `PostgresError.copyAborted` thrown by a copyIn body ends the COPY with CopyFail; the server's
    /// 57014 is what copyIn throws, and the connection stays usable.
    @Test func copyAbortedByTheClient() throws {
        let conn = try Connection.open(dbapiTestDSN())
        defer { conn.close() }
        try conn.simpleQuery("CREATE TEMP TABLE copy_abort (n int)")
        do {
            try conn.copyIn("COPY copy_abort FROM STDIN") { writer in
                try writer.write("1\n")
                throw PostgresError.copyAborted("stopped by the test")
            }
            Issue.record("copyIn succeeded")
        } catch SQLState.queryCanceled {
            // the server's answer to CopyFail
        } catch {
            Issue.record("expected 57014, got \(error)")
        }
        #expect(try conn.simpleQuery("SELECT count(*) FROM copy_abort")[0].rows[0][0] == "0")
    }
}
