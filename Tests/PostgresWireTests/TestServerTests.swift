import Foundation
import Testing
import TestSupport

/// Checks the test infrastructure itself: the throwaway cluster, its roles/auth methods, and runProcess.
@Suite struct TestServerTests {
    static let connections: [(TestServer.Role, Bool)] = TestServer.Role.allCases.flatMap { [($0, false), ($0, true)] }
    static let passwordRoles: [TestServer.Role] = [.password, .md5, .scram]

    @Test func serverIsRunning() throws {
        let server = try TestServer.shared()
        #expect(server.host == "127.0.0.1")
        #expect(server.port > 0 && server.port < 65536)
        #expect(server.socketDirectory.utf8.count + "/.s.PGSQL.\(server.port)".utf8.count <= 107)
        #expect(FileManager.default.fileExists(atPath: server.socketDirectory + "/.s.PGSQL.\(server.port)"))
        #expect(FileManager.default.fileExists(atPath: server.dataDirectory + "/postmaster.pid"))
        #expect(FileManager.default.isExecutableFile(atPath: server.binDirectory + "/postgres"))
        // shared() returns the same instance every time.
        #expect(try TestServer.shared() === server)
    }

    @Test(arguments: connections)
    func psqlConnects(role: TestServer.Role, unixSocket: Bool) throws {
        let server = try TestServer.shared()
        let result = try server.psql(
            ["-A", "-t", "-c", "SELECT current_user || ' ' || current_database() || ' ' || (inet_server_addr() IS NULL)::text"],
            role: role, unixSocket: unixSocket)
        #expect(result.status == 0, "\(result)")
        // inet_server_addr() is NULL exactly for Unix-socket connections.
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(role.rawValue) pgwire_test \(unixSocket)")
    }

    @Test func psqlConnectsOverIPv6() throws {
        let server = try TestServer.shared()
        try #require(server.hasIPv6)
        for role in TestServer.Role.allCases {
            var env = server.environment(role: role)
            env["PGHOST"] = "::1"
            let result = try runProcess("psql", ["-X", "-A", "-t", "-c", "SELECT host(inet_server_addr())"], environment: env)
            #expect(result.status == 0, "\(role): \(result)")
            #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "::1")
        }
    }

    @Test(arguments: passwordRoles, [false, true])
    func wrongPasswordIsRejected(role: TestServer.Role, unixSocket: Bool) throws {
        let server = try TestServer.shared()
        var env = server.environment(role: role, unixSocket: unixSocket)
        env["PGPASSWORD"] = "definitely-wrong"
        let result = try runProcess("psql", ["-X", "-w", "-c", "SELECT 1"], environment: env)
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("password authentication failed for user \"\(role.rawValue)\""), "\(result)")
    }

    @Test(arguments: passwordRoles)
    func missingPasswordIsRejected(role: TestServer.Role) throws {
        let server = try TestServer.shared()
        var env = server.environment(role: role)
        env["PGPASSWORD"] = nil
        let result = try runProcess("psql", ["-X", "-w", "-c", "SELECT 1"], environment: env)
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("no password supplied"), "\(result)")
    }

    @Test func authMethodsAndStoredPasswords() throws {
        let server = try TestServer.shared()
        let rules = try server.psql(
            ["-A", "-t", "-F", " ", "-c", "SELECT type, user_name[1], coalesce(address, '-'), auth_method FROM pg_hba_file_rules ORDER BY line_number"])
        #expect(rules.status == 0, "\(rules)")
        let lines = Set(rules.stdout.split(separator: "\n").map(String.init))
        for role in TestServer.Role.allCases {
            let method = [TestServer.Role.trust: "trust", .password: "password", .md5: "md5", .scram: "scram-sha-256"][role]!
            #expect(lines.contains("local \(role.rawValue) - \(method)"))
            #expect(lines.contains("host \(role.rawValue) 127.0.0.1 \(method)"))
            #expect(lines.contains("host \(role.rawValue) ::1 \(method)"))
        }
        let stored = try server.psql(
            ["-A", "-t", "-c", "SELECT rolname, left(rolpassword, 14), rolsuper FROM pg_authid WHERE rolname LIKE 'pgwire%' ORDER BY 1"])
        // md5 verifier = "md5" + md5(password + username); the others are SCRAM verifiers.
        #expect(stored.stdout.split(separator: "\n") == [
            "pgwire_md5|md598c3f379df3|f",
            "pgwire_password|SCRAM-SHA-256$|f",
            "pgwire_scram|SCRAM-SHA-256$|f",
            "pgwire_trust||t",
        ], "\(stored)")
        #expect(server.password(for: .trust) == nil)
        #expect(server.password(for: .scram) == "scram-secret")
    }

    @Test func dsnAndExecute() throws {
        let server = try TestServer.shared()
        #expect(server.dsn() == "host=127.0.0.1 port=\(server.port) user=pgwire_trust dbname=pgwire_test")
        #expect(server.dsn(role: .md5, unixSocket: true, extra: "sslmode=disable")
            == "host=\(server.socketDirectory) port=\(server.port) user=pgwire_md5 dbname=pgwire_test password=md5-secret sslmode=disable")
        #expect(!server.dsn(role: .scram, includePassword: false).contains("password"))
        // psql accepts the DSN as a connection string.
        let viaDSN = try runProcess("psql", ["-X", "-A", "-t", "-w", "-c", "SELECT current_user", server.dsn(role: .scram)],
                                    environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        #expect(viaDSN.status == 0, "\(viaDSN)")
        #expect(viaDSN.stdout == "pgwire_scram\n")

        let table = "testserver_\(UInt32.random(in: 0...UInt32.max))"
        try server.execute("CREATE TABLE \(table) (v text); INSERT INTO \(table) VALUES ('héllo ✓'); GRANT SELECT ON \(table) TO PUBLIC;")
        let select = try server.psql(["-A", "-t", "-c", "SELECT v FROM \(table)"], role: .scram, unixSocket: true)
        #expect(select.stdout == "héllo ✓\n", "\(select)")
        try server.execute("DROP TABLE \(table)")
        #expect(throws: TestServerError.self) { try server.execute("SELECT * FROM no_such_table_anywhere") }
    }

    @Test func runProcessBasics() throws {
        let echo = try runProcess("sh", ["-c", "cat; echo err >&2; exit 7"], stdin: Array("in\u{0}put".utf8))
        #expect(echo.status == 7)
        #expect(echo.stdoutData == Array("in\u{0}put".utf8))
        #expect(echo.stderr == "err\n")

        // Large output on both streams must not deadlock.
        let big = try runProcess("sh", ["-c", "head -c 1000000 /dev/zero; head -c 300000 /dev/zero >&2"])
        #expect(big.stdoutData.count == 1_000_000)
        #expect(big.stderr.utf8.count == 300_000)

        let env = try runProcess("env", [], environment: ["ONLY": "this"])
        #expect(env.stdout == "ONLY=this\n")

        let cwd = try runProcess("pwd", [], currentDirectory: "/tmp")
        #expect(cwd.stdout == "/tmp\n")

        #expect(throws: ProcessError.self) { try runProcess("no-such-program-pgwire", []) }

        let start = Date()
        #expect(throws: ProcessError.self) { try runProcess("sh", ["-c", "echo partial; sleep 30"], timeout: 0.5) }
        #expect(Date().timeIntervalSince(start) < 10)
    }
}
