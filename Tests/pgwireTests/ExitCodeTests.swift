// Exit codes (0 ok, 1 SQL error, 2 connection/auth failure) and stderr reports, compared with psql's.

import Foundation
import PostgresWire
import Testing
import TestSupport

struct ErrorCase: Sendable, CustomTestStringConvertible {
    let name: String
    let sql: String
    let sqlState: String
    init(_ name: String, _ sql: String, _ sqlState: String) {
        self.name = name
        self.sql = sql
        self.sqlState = sqlState
    }
    var testDescription: String { name }
}

let errorCases: [ErrorCase] = [
    ErrorCase("undefined table", "SELECT * FROM nosuch_table", "42P01"),
    ErrorCase("undefined column", "SELECT nosuchcol", "42703"),
    ErrorCase("division by zero (no position)", "SELECT 1/0", "22012"),
    ErrorCase("syntax error", "SELEC 1", "42601"),
    ErrorCase("syntax error at end of input", "SELECT 1 +", "42601"),
    ErrorCase("invalid input syntax", "SELECT 'x'::int", "22P02"),
    ErrorCase("error on third line", "SELECT 1,\n  2 +\n  nosuchcol", "42703"),
    ErrorCase("error after CRLF lines", "SELECT 1,\r\n  nosuchcol", "42703"),
    ErrorCase("error after wide characters", "SELECT 'é日本😀', nosuchcol", "42703"),
    ErrorCase("error after a combining mark", "SELECT 'e\u{301}', nosuchcol", "42703"),
    ErrorCase("error after an emoji with modifier", "SELECT '👍🏽', nosuchcol", "42703"),
    ErrorCase("error after tabs", "SELECT\t1,\tnosuchcol", "42703"),
    ErrorCase("error in a long line",
              "SELECT '\(String(repeating: "a", count: 100))' AS x, nosuch FROM pg_class WHERE relname = '\(String(repeating: "b", count: 80))'", "42703"),
    ErrorCase("error near the start of a long line",
              "SELECT nosuch, '\(String(repeating: "a", count: 120))' AS x", "42703"),
    ErrorCase("error at the end of a long line",
              "SELECT '\(String(repeating: "a", count: 120))' AS x, nosuch", "42703"),
    ErrorCase("error in second statement", "SELECT 1 AS ok;\nSELECT * FROM missing_two", "42P01"),
    ErrorCase("statement timeout", "SET statement_timeout = 1; SELECT pg_sleep(1)", "57014"),
    ErrorCase("undefined function with HINT", "SELECT nosuchfunc(1)", "42883"),
    ErrorCase("unique violation with DETAIL",
              "CREATE TEMP TABLE uv (id int PRIMARY KEY); INSERT INTO uv VALUES (1), (1)", "23505"),
    ErrorCase("error inside DO block (internal query)", "DO $$ BEGIN PERFORM * FROM nosuch_in_do; END $$", "42P01"),
    ErrorCase("RAISE EXCEPTION with DETAIL and HINT",
              "DO $$ BEGIN RAISE EXCEPTION 'custom failure' USING DETAIL = 'some detail', HINT = 'some hint', ERRCODE = 'P0001'; END $$", "P0001"),
]

/// The "LINE n: ..." lines and the caret line following each.
func positionLines(_ stderr: String) -> [String] {
    let lines = stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    var result: [String] = []
    for (index, line) in lines.enumerated() where line.hasPrefix("LINE ") {
        result.append(line)
        if index + 1 < lines.count { result.append(lines[index + 1]) }
    }
    return result
}

@Suite("Exit codes and error reports")
struct ExitCodeTests {
    // MARK: SQL errors

    @Test("SQL error: exit 1, SQLSTATE, psql's LINE/caret lines", arguments: errorCases)
    func sqlError(_ errorCase: ErrorCase) throws {
        let (psql, pgwire) = try expectSameOutput(errorCase.sql, psqlFlags: [], pgwireFlags: [])
        #expect(psql.status == 1)
        #expect(pgwire.status == 1)
        #expect(pgwire.stderr.contains("ERROR:"), "pgwire stderr: \(visualize(pgwire.stderr))")
        #expect(pgwire.stderr.contains("ERROR:  \(errorCase.sqlState): "), "pgwire stderr: \(visualize(pgwire.stderr))")
        // Compared as bytes: String's == would treat canonically equivalent text as equal.
        let samePositionLines = positionLines(pgwire.stderr).map { Array($0.utf8) } == positionLines(psql.stderr).map { Array($0.utf8) }
        #expect(
            samePositionLines,
            "LINE/caret lines differ\n--- psql stderr ---\n\(visualize(psql.stderr))\n--- pgwire stderr ---\n\(visualize(pgwire.stderr))")
        // Apart from the SQLSTATE inserted into the first line, the whole report is psql's.
        var expected = psql.stderr
        if expected.hasPrefix("ERROR:  ") {
            expected.replaceSubrange(expected.startIndex..<expected.index(expected.startIndex, offsetBy: 8), with: "ERROR:  \(errorCase.sqlState): ")
        }
        let sameStderr = Array(pgwire.stderr.utf8) == Array(expected.utf8)
        #expect(
            sameStderr,
            "stderr differs from psql's (with SQLSTATE)\n\(describeDifference(expected: Array(expected.utf8), actual: Array(pgwire.stderr.utf8), expectedLabel: "psql stderr + SQLSTATE", actualLabel: "pgwire stderr"))")
    }

    @Test func successExitsWithZero() throws {
        let (psql, pgwire) = try expectSameOutput("SELECT 1", psqlFlags: [], pgwireFlags: [])
        #expect(psql.status == 0)
        #expect(pgwire.status == 0)
        #expect(pgwire.stderr.isEmpty, "pgwire stderr: \(visualize(pgwire.stderr))")
    }

    @Test func terminatedConnectionExitsWithTwo() throws {
        let (psql, pgwire) = try expectSameOutput("SELECT pg_terminate_backend(pg_backend_pid())", psqlFlags: [], pgwireFlags: [])
        #expect(psql.status == 2)
        #expect(pgwire.status == 2)
        #expect(psql.stderr.contains("terminating connection due to administrator command"))
        #expect(
            pgwire.stderr.contains("terminating connection due to administrator command"),
            "psql stderr:\n\(visualize(psql.stderr))\npgwire stderr:\n\(visualize(pgwire.stderr))")
    }

    // MARK: Connection and authentication failures

    @Test("wrong password: exit 2, 28P01", arguments: [TestServer.Role.password, .md5, .scram])
    func wrongPassword(_ role: TestServer.Role) throws {
        let server = try CLIFixture.server()
        var environment = server.environment(role: role)
        environment["PGPASSWORD"] = "definitely-wrong"
        let psql = try runPsql(server, ["-c", "SELECT 1"], environment: environment)
        let pgwire = try runPgwire(["query", "SELECT 1"], environment: environment)
        #expect(psql.status == 2)
        #expect(pgwire.status == 2, "\(pgwire)")
        #expect(pgwire.stdout.isEmpty)
        #expect(pgwire.stderr.contains("28P01"), "pgwire stderr: \(visualize(pgwire.stderr))")
        #expect(pgwire.stderr.contains("password authentication failed for user \"\(role.rawValue)\""), "pgwire stderr: \(visualize(pgwire.stderr))")
    }

    @Test func missingPasswordExitsWithTwo() throws {
        let server = try CLIFixture.server()
        var environment = server.environment(role: .scram)
        environment["PGPASSWORD"] = nil
        let psql = try runPsql(server, ["-w", "-c", "SELECT 1"], environment: environment)
        let pgwire = try runPgwire(["query", "SELECT 1"], environment: environment)
        #expect(psql.status == 2)
        #expect(pgwire.status == 2, "\(pgwire)")
        #expect(pgwire.stdout.isEmpty)
        #expect(!pgwire.stderr.isEmpty)
    }

    @Test func unreachablePortExitsWithTwo() throws {
        let server = try CLIFixture.server()
        let port = try unusedPort()
        var environment = server.environment()
        environment["PGPORT"] = String(port)
        let psql = try runPsql(server, ["-c", "SELECT 1"], environment: environment)
        let pgwire = try runPgwire(["query", "SELECT 1"], environment: environment)
        #expect(psql.status == 2)
        #expect(pgwire.status == 2, "\(pgwire)")
        #expect(pgwire.stdout.isEmpty)
        #expect(pgwire.stderr.contains(String(port)), "pgwire stderr: \(visualize(pgwire.stderr))")
        // The same failure given with -p instead of the environment.
        let withFlag = try runPgwire(["query", "-p", String(port), "SELECT 1"], environment: server.environment())
        #expect(withFlag.status == 2, "\(withFlag)")
    }

    @Test func unknownDatabaseExitsWithTwo() throws {
        let server = try CLIFixture.server()
        let environment = server.environment()
        let psql = try runPsql(server, ["-d", "no_such_database", "-c", "SELECT 1"], environment: environment)
        let pgwire = try runPgwire(["query", "-d", "no_such_database", "SELECT 1"], environment: environment)
        #expect(psql.status == 2)
        #expect(pgwire.status == 2, "\(pgwire)")
        #expect(pgwire.stderr.contains("3D000"), "pgwire stderr: \(visualize(pgwire.stderr))")
        #expect(pgwire.stderr.contains("database \"no_such_database\" does not exist"), "pgwire stderr: \(visualize(pgwire.stderr))")
    }

    @Test func invalidDSNKeywordExitsWithTwo() throws {
        let server = try CLIFixture.server()
        let environment = server.environment()
        let dsn = "host=127.0.0.1 bogus_keyword=1"
        let psql = try runPsql(server, ["-d", dsn, "-c", "SELECT 1"], environment: environment)
        let pgwire = try runPgwire(["query", "--dsn", dsn, "SELECT 1"], environment: environment)
        #expect(psql.status == 2)
        #expect(psql.stderr.contains("bogus_keyword"))
        #expect(pgwire.status == 2, "\(pgwire)")
        #expect(pgwire.stdout.isEmpty)
        #expect(pgwire.stderr.contains("bogus_keyword"), "pgwire stderr: \(visualize(pgwire.stderr))")
    }

    @Test func malformedURIExitsWithTwo() throws {
        let server = try CLIFixture.server()
        let environment = server.environment()
        let dsn = "postgresql://127.0.0.1:\(server.port)/pgwire_test?bogus_param=1"
        let psql = try runPsql(server, ["-d", dsn, "-c", "SELECT 1"], environment: environment)
        let pgwire = try runPgwire(["query", "--dsn", dsn, "SELECT 1"], environment: environment)
        #expect(psql.status == 2)
        #expect(pgwire.status == 2, "\(pgwire)")
        #expect(pgwire.stderr.contains("bogus_param"), "pgwire stderr: \(visualize(pgwire.stderr))")
    }

    // MARK: Ways of connecting that must work

    static let identityQuery = "SELECT current_user AS u, session_user AS s, current_database() AS db, 1 AS one"

    @Test("each role via PGPASSWORD over TCP", arguments: TestServer.Role.allCases)
    func roleOverTCP(_ role: TestServer.Role) throws {
        let (psql, pgwire) = try expectSameOutput(Self.identityQuery, psqlFlags: [], pgwireFlags: [], role: role)
        #expect(psql.status == 0, "\(psql)")
        #expect(pgwire.status == 0, "\(pgwire)")
        #expect(pgwire.stdout.contains(role.rawValue))
    }

    @Test("each role over the Unix socket", arguments: TestServer.Role.allCases)
    func roleOverUnixSocket(_ role: TestServer.Role) throws {
        let (psql, pgwire) = try expectSameOutput(Self.identityQuery, psqlFlags: ["--csv"], pgwireFlags: ["--format", "csv"], role: role, unixSocket: true)
        #expect(psql.status == 0, "\(psql)")
        #expect(pgwire.status == 0, "\(pgwire)")
        #expect(pgwire.stdout.contains(role.rawValue))
    }

    /// PATH/HOME/LANG only: connection settings must come from the command line.
    private func bareEnvironment(_ server: TestServer) -> [String: String] {
        var environment = server.environment()
        for key in ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"] { environment[key] = nil }
        return environment
    }

    @Test("--dsn key=value pairs", arguments: TestServer.Role.allCases)
    func keyValueDSN(_ role: TestServer.Role) throws {
        let server = try CLIFixture.server()
        let environment = bareEnvironment(server)
        let dsn = server.dsn(role: role)
        let psql = try runPsql(server, ["-d", dsn, "-c", Self.identityQuery], environment: environment)
        let pgwire = try runPgwire(["query", "--dsn", dsn, Self.identityQuery], environment: environment)
        #expect(psql.status == 0, "\(psql)")
        #expect(pgwire.status == 0, "\(pgwire)")
        let same = pgwire.stdoutData == psql.stdoutData
        #expect(same, "\(describeDifference(expected: psql.stdoutData, actual: pgwire.stdoutData))")
    }

    @Test func uriDSN() throws {
        let server = try CLIFixture.server()
        let environment = bareEnvironment(server)
        let uris = [
            "postgresql://pgwire_scram:scram-secret@127.0.0.1:\(server.port)/pgwire_test",
            "postgres://pgwire_md5:md5-secret@localhost:\(server.port)/pgwire_test?sslmode=disable",
            "postgresql://pgwire_trust@127.0.0.1:\(server.port)/pgwire_test?application_name=uri%20test",
            "postgresql:///pgwire_test?host=\(percentEncode(server.socketDirectory))&port=\(server.port)&user=pgwire_password&password=pw-secret",
        ]
        for uri in uris {
            let psql = try runPsql(server, ["-d", uri, "--csv", "-c", Self.identityQuery], environment: environment)
            let pgwire = try runPgwire(["query", "--dsn", uri, "--format", "csv", Self.identityQuery], environment: environment)
            #expect(psql.status == 0, "\(uri): \(psql)")
            #expect(pgwire.status == 0, "\(uri): \(pgwire)")
            let same = pgwire.stdoutData == psql.stdoutData
            #expect(same, "\(uri)\n\(describeDifference(expected: psql.stdoutData, actual: pgwire.stdoutData))")
        }
    }

    @Test func connectionFlags() throws {
        let server = try CLIFixture.server()
        var environment = bareEnvironment(server)
        environment["PGPASSWORD"] = server.password(for: .md5)
        let flags = ["-h", server.host, "-p", String(server.port), "-U", TestServer.Role.md5.rawValue, "-d", "pgwire_test"]
        let psql = try runPsql(server, flags + ["-c", Self.identityQuery], environment: environment)
        let pgwire = try runPgwire(["query"] + flags + [Self.identityQuery], environment: environment)
        #expect(psql.status == 0, "\(psql)")
        #expect(pgwire.status == 0, "\(pgwire)")
        let same = pgwire.stdoutData == psql.stdoutData
        #expect(same, "\(describeDifference(expected: psql.stdoutData, actual: pgwire.stdoutData))")

        // Socket directory given with -h.
        let socketFlags = ["-h", server.socketDirectory, "-p", String(server.port), "-U", TestServer.Role.trust.rawValue, "-d", "pgwire_test"]
        let psqlSocket = try runPsql(server, socketFlags + ["-c", Self.identityQuery], environment: environment)
        let pgwireSocket = try runPgwire(["query"] + socketFlags + [Self.identityQuery], environment: environment)
        #expect(pgwireSocket.status == 0, "\(pgwireSocket)")
        let sameSocket = pgwireSocket.stdoutData == psqlSocket.stdoutData
        #expect(sameSocket, "\(describeDifference(expected: psqlSocket.stdoutData, actual: pgwireSocket.stdoutData))")
    }
}

/// A TCP port on 127.0.0.1 nobody listens on (bound and released).
private func unusedPort() throws -> Int {
    let fd = socket(AF_INET, Platform.socketStream, 0)
    guard fd >= 0 else { throw TestServerError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    guard bound == 0 else { throw TestServerError("bind() failed") }
    var actual = sockaddr_in()
    var actualLength = length
    guard withUnsafeMutablePointer(to: &actual, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) } }) == 0 else {
        throw TestServerError("getsockname() failed")
    }
    return Int(UInt16(bigEndian: actual.sin_port))
}

private func percentEncode(_ value: String) -> String {
    value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value
}
