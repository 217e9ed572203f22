// Errors a person can read: every error type's `localizedDescription` is its full message (not
// Foundation's "The operation could not be completed"), and the same failure reads the same through
// the low-level API, the DB-API, the async API and the `pgwire` CLI.

import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

@Suite("Error texts")
struct ErrorTextTests {
    /// Runs `body`, returning the error it throws (nil, and a recorded issue, if it does not).
    static func thrownError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async -> (any Error)? {
        do {
            try await body()
            Issue.record("expected an error", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    @Test func wrongPasswordReadsTheSameThroughEveryAPI() async throws {
        let server = try TestServer.shared()
        let dsn = server.dsn(role: .password, includePassword: false, extra: "password=definitely-wrong connect_timeout=10")
        let lowLevel = await Self.thrownError { _ = try Connection.connect(dsn) }
        let dbapi = await Self.thrownError { _ = try Connection.open(dsn) }
        let async = await Self.thrownError { _ = try await AsyncConnection.connect(dsn) }
        let pool = await Self.thrownError {
            let pool = try ConnectionPool(dsn, configuration: PoolConfiguration(minIdle: 0, maxConnections: 1, acquireTimeout: 3))
            defer { pool.close() }
            try pool.withConnection { _ in }
        }
        let errors = [lowLevel, dbapi, async, pool].compactMap { $0 }
        try #require(errors.count == 4)
        #expect(lowLevel is PostgresError)
        #expect(dbapi is DatabaseError && async is DatabaseError && pool is DatabaseError)

        let expected = "connection to server at \"127.0.0.1\", port \(server.port) failed: FATAL:  28P01: password authentication failed for user \"pgwire_password\""
        for error in errors {
            #expect(String(describing: error) == expected, "\(type(of: error)): \(error)")
            #expect(error.localizedDescription == expected, "\(type(of: error)): \(error.localizedDescription)")
            #expect(!String(describing: error).contains("definitely-wrong"))
        }
        #expect((dbapi as? DatabaseError)?.sqlState == SQLState("28P01"))
        #expect((dbapi as? DatabaseError)?.category == .operational)

        // pgwire prints the same text.
        var environment = server.environment(role: .password)
        environment["PGPASSWORD"] = "definitely-wrong"
        let cli = try runPgwire(["query", "SELECT 1"], environment: environment)
        #expect(cli.status == 2)
        #expect(cli.stderr == "pgwire: error: \(expected)\n", "\(visualize(cli.stderr))")
    }

    @Test func serverErrorReadsTheSameThroughEveryAPI() async throws {
        let server = try TestServer.shared()
        let dsn = server.dsn()
        let sql = "SELECT * FROM no_such_table_for_error_texts"
        let connection = try Connection.connect(dsn)
        defer { connection.close() }
        let lowLevel = await Self.thrownError { _ = try connection.query(PostgresQuery(unsafeSQL: sql)) }
        let dbapi = await Self.thrownError { _ = try connection.cursor().execute(sql, []) }
        try connection.rollback()
        let asyncConnection = try await AsyncConnection.connect(dsn)
        let async = await Self.thrownError { _ = try await asyncConnection.execute(sql, []) }
        await asyncConnection.close()
        let errors = [lowLevel, dbapi, async].compactMap { $0 }
        try #require(errors.count == 3)
        let expected = "ERROR:  42P01: relation \"no_such_table_for_error_texts\" does not exist"
        for error in errors {
            #expect(String(describing: error) == expected, "\(type(of: error)): \(error)")
            #expect(error.localizedDescription == expected, "\(type(of: error)): \(error.localizedDescription)")
        }
        let cli = try runPgwire(["query", sql], environment: server.environment())
        #expect(cli.status == 1)
        #expect(cli.stderr.hasPrefix(expected + "\n"), "\(visualize(cli.stderr))")
    }

    @Test func everyErrorTypeHasItsMessageAsLocalizedDescription() async throws {
        let configuration = await Self.thrownError { _ = try Connection.connect("port=not-a-number") }
        let coding = await Self.thrownError {
            let connection = try Connection.connect(try TestServer.shared().dsn())
            defer { connection.close() }
            _ = try connection.query("SELECT NULL::int").rows[0].decode(Int.self, at: 0)
        }
        let refused = await Self.thrownError { _ = try Connection.connect("host=127.0.0.1 port=1 connect_timeout=5") }
        let errors: [any Error] = [configuration, coding, refused].compactMap { $0 } + [
            PostgresError.invalidUsage("wrong number of parameters"),
            PostgresError.protocolViolation(.invalidLength(type: 0x44, length: -1)),
            PostgresError.authentication(.passwordRequired),
            ProtocolError.invalidLength(type: 0x44, length: -1),
            AuthenticationError.passwordRequired,
            StartupStateMachine.Failure.authentication(.passwordRequired),
            ConfigurationError("invalid sslmode value: \"sometimes\""),
            PostgresError.connectionClosed("cursor is closed"),
        ]
        #expect(errors.count == 11)
        for error in errors {
            let text = String(describing: error)
            #expect(!text.isEmpty)
            #expect(error.localizedDescription == text, "\(type(of: error)): \(error.localizedDescription) ≠ \(text)")
            #expect(!error.localizedDescription.contains("The operation could not be completed"))
        }
        #expect(configuration.map { String(describing: $0) }?.contains("not-a-number") == true)
        #expect(coding.map { String(describing: $0) }?.contains("NULL") == true)
        #expect(refused.map { String(describing: $0) }?.contains("port 1 failed") == true)
    }
}
