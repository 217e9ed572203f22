import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// Startup and authentication against the throwaway cluster: every role and auth method, over TCP
/// and the Unix socket, plus the ways authentication fails.
@Suite struct AuthenticationTests {
    static let allRoles: [TestServer.Role] = TestServer.Role.allCases
    static let passwordRoles: [TestServer.Role] = [.password, .md5, .scram]

    static func expectedMethod(_ role: TestServer.Role) -> String {
        switch role {
        case .trust: return "trust"
        case .password: return "password"
        case .md5: return "md5"
        case .scram: return "SCRAM-SHA-256"
        }
    }

    /// A configuration resolved against a clean environment (no stray PG* variables or ~/.pgpass).
    static func configuration(_ conninfo: String, environment: [String: String]) throws -> ConnectionConfiguration {
        try ConnectionConfiguration.parse(conninfo, environment: environment)
    }

    /// Runs `body` expecting it to throw a PostgresError; returns it (nil, with an issue recorded, otherwise).
    static func expectPostgresError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> PostgresError? {
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

    @Test(arguments: allRoles, [false, true])
    func connectsWithEachMethod(role: TestServer.Role, unixSocket: Bool) throws {
        let server = try TestServer.shared()
        let connection = try Connection.connect(server.dsn(role: role, unixSocket: unixSocket, extra: "connect_timeout=10"))
        defer { connection.close() }
        #expect(connection.authenticationMethod == Self.expectedMethod(role))
        #expect(connection.transactionStatus == .idle)
        #expect(connection.backendKeyData != nil)
        #expect(connection.host.isUnixSocket == unixSocket)
        #expect(connection.parameters["server_version"]?.isEmpty == false)
        #expect(connection.parameters["client_encoding"] == "UTF8")

        let results = try connection.simpleQuery(
            "SELECT current_user, current_database(), inet_server_addr() IS NULL AS local, pg_backend_pid()")
        let row = try #require(results.first?.rows.first)
        #expect(row["current_user"] == role.rawValue)
        #expect(row["current_database"] == "pgwire_test")
        #expect(row["local"] == (unixSocket ? "t" : "f"))
        #expect(row["pg_backend_pid"] == connection.backendKeyData.map { String($0.processID) })
    }

    @Test(arguments: passwordRoles, [false, true])
    func wrongPasswordIsRejected(role: TestServer.Role, unixSocket: Bool) throws {
        let server = try TestServer.shared()
        let dsn = server.dsn(role: role, unixSocket: unixSocket, includePassword: false,
                             extra: "password=definitely-wrong connect_timeout=10")
        let error = Self.expectPostgresError { _ = try Connection.connect(dsn) }
        guard case .connectionRejected(let peer, let serverError)? = error else {
            Issue.record("expected connectionRejected, got \(String(describing: error))")
            return
        }
        #expect(serverError.sqlState == "28P01")
        #expect(serverError.severity == "FATAL")
        #expect(serverError.message == "password authentication failed for user \"\(role.rawValue)\"")
        #expect(unixSocket ? peer.contains(server.socketDirectory) : peer.contains("127.0.0.1"))
        // Error messages never contain a password.
        #expect(!(error?.message.contains("definitely-wrong") ?? true))
        #expect(!(error?.description.contains("definitely-wrong") ?? true))
    }

    @Test(arguments: passwordRoles, [false, true])
    func missingPasswordFailsOnTheClient(role: TestServer.Role, unixSocket: Bool) throws {
        let server = try TestServer.shared()
        var environment = server.environment(role: role, unixSocket: unixSocket)
        environment["PGPASSWORD"] = nil
        let configuration = try Self.configuration(
            server.dsn(role: role, unixSocket: unixSocket, includePassword: false), environment: environment)
        #expect(configuration.password == nil)
        let error = Self.expectPostgresError { _ = try Connection(configuration: configuration) }
        guard case .authentication(let authError)? = error else {
            Issue.record("expected .authentication(.passwordRequired), got \(String(describing: error))")
            return
        }
        #expect(authError == .passwordRequired)
        #expect(error?.message == "fe_sendauth: no password supplied")
    }

    @Test(arguments: passwordRoles, [false, true])
    func passwordFromPGPASSWORD(role: TestServer.Role, unixSocket: Bool) throws {
        let server = try TestServer.shared()
        let environment = server.environment(role: role, unixSocket: unixSocket)
        #expect(environment["PGPASSWORD"] == server.password(for: role))
        let configuration = try Self.configuration(
            server.dsn(role: role, unixSocket: unixSocket, includePassword: false), environment: environment)
        let connection = try Connection(configuration: configuration)
        defer { connection.close() }
        #expect(connection.authenticationMethod == Self.expectedMethod(role))
        let row = try #require(try connection.simpleQuery("SELECT current_user").first?.rows.first)
        #expect(row[0] == role.rawValue)
    }

    @Test func environmentAloneIsEnough() throws {
        // No conninfo at all: host, port, user, database and password all come from PG* variables.
        let server = try TestServer.shared()
        for unixSocket in [false, true] {
            let configuration = try Self.configuration("", environment: server.environment(role: .scram, unixSocket: unixSocket))
            let connection = try Connection(configuration: configuration)
            defer { connection.close() }
            #expect(connection.authenticationMethod == "SCRAM-SHA-256")
            #expect(try connection.simpleQuery("SELECT current_user, current_database()").first?.rows.first?.textValues
                    == ["pgwire_scram", "pgwire_test"])
        }
    }

    @Test(arguments: [false, true])
    func unknownUserIsRejected(unixSocket: Bool) throws {
        let server = try TestServer.shared()
        let host = unixSocket ? server.socketDirectory : server.host
        let dsn = "host=\(host) port=\(server.port) user=pgwire_no_such_user dbname=pgwire_test password=x connect_timeout=10"
        let error = Self.expectPostgresError { _ = try Connection.connect(dsn) }
        guard case .connectionRejected(_, let serverError)? = error else {
            Issue.record("expected connectionRejected, got \(String(describing: error))")
            return
        }
        #expect(serverError.sqlState == "28000")
        #expect(serverError.severity == "FATAL")
        #expect(serverError.message.contains("pgwire_no_such_user"))
        #expect(error?.sqlState == "28000")
    }

    @Test func unknownDatabaseIsRejected() throws {
        let server = try TestServer.shared()
        let error = Self.expectPostgresError {
            _ = try Connection.connect(server.dsn(role: .trust, database: "pgwire_no_such_db", extra: "connect_timeout=10"))
        }
        #expect(error?.sqlState == "3D000")
        if case .connectionRejected = error {} else { Issue.record("expected connectionRejected, got \(String(describing: error))") }
    }

    @Test func channelBindingRequiredWithoutTLSFails() throws {
        // SCRAM-SHA-256-PLUS needs TLS; without it channel_binding=require must refuse to authenticate.
        let server = try TestServer.shared()
        let error = Self.expectPostgresError {
            _ = try Connection.connect(server.dsn(role: .scram, extra: "channel_binding=require sslmode=disable connect_timeout=10"))
        }
        guard case .authentication(.channelBindingRequired)? = error else {
            Issue.record("expected .authentication(.channelBindingRequired), got \(String(describing: error))")
            return
        }
    }

    @Test func startupParametersReachTheServer() throws {
        let server = try TestServer.shared()
        let connection = try Connection.connect(server.dsn(
            role: .md5, extra: "application_name=pgwire-auth-test options='-c search_path=pg_catalog' connect_timeout=10"))
        defer { connection.close() }
        #expect(connection.parameters["application_name"] == "pgwire-auth-test")
        let row = try #require(try connection.simpleQuery("SHOW search_path").first?.rows.first)
        #expect(row[0] == "pg_catalog")
    }
}
