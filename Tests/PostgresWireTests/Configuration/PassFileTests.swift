import Foundation
import PostgresWire
import Testing
import TestSupport

/// The password file (.pgpass) supplying passwords for real connections.
@Suite struct PassFileTests {
    /// A private temporary directory holding one password file; removed by `remove()`.
    struct TempPassFile {
        let directory: String
        let path: String

        init(contents: String, mode: mode_t) throws {
            var template = Array("/tmp/pgwire-pgpass-XXXXXX".utf8CString)
            guard let created = mkdtemp(&template) else {
                throw TestServerError("mkdtemp failed: \(String(cString: strerror(errno)))")
            }
            directory = String(cString: created)
            path = directory + "/pgpass"
            guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8)) else {
                throw TestServerError("cannot write \(path)")
            }
            guard chmod(path, mode) == 0 else {
                throw TestServerError("chmod \(path) failed: \(String(cString: strerror(errno)))")
            }
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Decoys first (the first matching line wins), then entries using wildcards and backslash escapes.
    static func contents(for server: TestServer) -> String {
        """
        # a comment line, then lines that must not match
        otherhost:\(server.port):pgwire_test:pgwire_scram:wrong-host
        127.0.0.1:1:pgwire_test:pgwire_scram:wrong-port
        *:*:other_db:pgwire_scram:wrong-db
        *:*:pgwire\\:test:pgwire_scram:escaped-colon-is-not-a-separator
        *:*:*:pgwire_scram_other:wrong-user

        127\\.0\\.0\\.1:\(server.port):pgwire_test:pgwire\\_scram:scram\\-secret
        \(server.socketDirectory):\(server.port):*:pgwire_scram:scram-secret:ignored-trailing-field
        *:*:*:pgwire_md5:md5\\-secret
        *:*:*:*:wrong-catch-all

        """
    }

    static let roles: [TestServer.Role] = [.scram, .md5]

    /// The test server's environment without PGPASSWORD (and with a harmless PGPASSFILE).
    static func environment(_ server: TestServer, role: TestServer.Role, unixSocket: Bool) -> [String: String] {
        var environment = server.environment(role: role, unixSocket: unixSocket)
        environment["PGPASSWORD"] = nil
        return environment
    }

    static func connectAndCheck(_ configuration: ConnectionConfiguration, role: TestServer.Role) throws {
        #expect(configuration.password == nil)
        let connection = try Connection(configuration: configuration)
        defer { connection.close() }
        #expect(connection.authenticationMethod == (role == .scram ? "SCRAM-SHA-256" : "md5"))
        let row = try #require(try connection.simpleQuery("SELECT current_user").first?.rows.first)
        #expect(row[0] == role.rawValue)
    }

    @Test(arguments: roles, [false, true])
    func passfileInConninfo(role: TestServer.Role, unixSocket: Bool) throws {
        let server = try TestServer.shared()
        let file = try TempPassFile(contents: Self.contents(for: server), mode: 0o600)
        defer { file.remove() }
        let configuration = try ConnectionConfiguration.parse(
            server.dsn(role: role, unixSocket: unixSocket, includePassword: false, extra: "passfile=\(file.path)"),
            environment: Self.environment(server, role: role, unixSocket: unixSocket))
        #expect(configuration.passfile == file.path)
        let host = try #require(configuration.hosts.first)
        #expect(configuration.passwordFromPassFile(for: host) == server.password(for: role))
        try Self.connectAndCheck(configuration, role: role)
    }

    @Test(arguments: roles, [false, true])
    func passfileFromEnvironment(role: TestServer.Role, unixSocket: Bool) throws {
        let server = try TestServer.shared()
        let file = try TempPassFile(contents: Self.contents(for: server), mode: 0o600)
        defer { file.remove() }
        var environment = Self.environment(server, role: role, unixSocket: unixSocket)
        environment["PGPASSFILE"] = file.path
        let configuration = try ConnectionConfiguration.parse(
            server.dsn(role: role, unixSocket: unixSocket, includePassword: false), environment: environment)
        #expect(configuration.passfile == file.path)
        try Self.connectAndCheck(configuration, role: role)
    }

    @Test(arguments: roles, [false, true])
    func groupOrWorldReadableFileIsIgnored(role: TestServer.Role, unixSocket: Bool) throws {
        let server = try TestServer.shared()
        let file = try TempPassFile(contents: Self.contents(for: server), mode: 0o644)
        defer { file.remove() }
        let configuration = try ConnectionConfiguration.parse(
            server.dsn(role: role, unixSocket: unixSocket, includePassword: false, extra: "passfile=\(file.path)"),
            environment: Self.environment(server, role: role, unixSocket: unixSocket))
        let host = try #require(configuration.hosts.first)
        var warnings: [String] = []
        #expect(configuration.passwordFromPassFile(for: host) { warnings.append($0) } == nil)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("has group or world access") == true)
        do throws(PostgresError) {
            _ = try Connection(configuration: configuration)
            Issue.record("connected although the password file is world-readable")
        } catch {
            guard case .authentication(.passwordRequired) = error else {
                Issue.record("expected .authentication(.passwordRequired), got \(error)")
                return
            }
        }
    }

    @Test func explicitPasswordWinsOverPassFile() throws {
        // A password in the conninfo is used as given, even when the file has a (different) entry.
        let server = try TestServer.shared()
        let file = try TempPassFile(contents: "*:*:*:pgwire_scram:wrong-from-file\n", mode: 0o600)
        defer { file.remove() }
        let configuration = try ConnectionConfiguration.parse(
            server.dsn(role: .scram, extra: "passfile=\(file.path)"),
            environment: Self.environment(server, role: .scram, unixSocket: false))
        let connection = try Connection(configuration: configuration)
        connection.close()
    }

    @Test func wrongPasswordInFileIsRejectedByTheServer() throws {
        let server = try TestServer.shared()
        let file = try TempPassFile(contents: "*:*:*:pgwire_md5:not-the-password\n", mode: 0o600)
        defer { file.remove() }
        let configuration = try ConnectionConfiguration.parse(
            server.dsn(role: .md5, includePassword: false, extra: "passfile=\(file.path)"),
            environment: Self.environment(server, role: .md5, unixSocket: false))
        do throws(PostgresError) {
            _ = try Connection(configuration: configuration)
            Issue.record("connected with a wrong password")
        } catch {
            #expect(error.sqlState == "28P01", "\(error)")
        }
    }

    @Test func noMatchingLineMeansNoPassword() throws {
        let server = try TestServer.shared()
        let file = try TempPassFile(contents: "*:*:*:somebody_else:secret\n", mode: 0o600)
        defer { file.remove() }
        let configuration = try ConnectionConfiguration.parse(
            server.dsn(role: .scram, includePassword: false, extra: "passfile=\(file.path)"),
            environment: Self.environment(server, role: .scram, unixSocket: false))
        do throws(PostgresError) {
            _ = try Connection(configuration: configuration)
            Issue.record("connected without a password")
        } catch {
            guard case .authentication(.passwordRequired) = error else {
                Issue.record("expected .authentication(.passwordRequired), got \(error)")
                return
            }
        }
    }
}

/// libpq 15 finds `~/.pgpass` and `~/.pg_service.conf` through `$HOME`, and through the password
/// database (getpwuid) only when HOME is unset or empty.
@Suite struct HomeDirectoryTests {
    /// A private temporary home directory holding `files` (name → contents, mode 0600).
    static func makeHome(_ files: [String: String]) throws -> String {
        var template = Array("/tmp/pgwire-home-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw TestServerError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        let home = String(cString: created)
        for (name, contents) in files {
            let path = home + "/" + name
            guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8)), chmod(path, 0o600) == 0 else {
                throw TestServerError("cannot write \(path)")
            }
        }
        return home
    }

    static var passwordDatabaseHome: String { String(cString: getpwuid(geteuid())!.pointee.pw_dir) }

    @Test(arguments: PassFileTests.roles, [false, true])
    func pgpassFoundThroughHOME(role: TestServer.Role, unixSocket: Bool) throws {
        let server = try TestServer.shared()
        let home = try Self.makeHome([".pgpass": PassFileTests.contents(for: server)])
        defer { try? FileManager.default.removeItem(atPath: home) }
        var environment = PassFileTests.environment(server, role: role, unixSocket: unixSocket)
        environment["PGPASSFILE"] = nil
        environment["HOME"] = home
        let configuration = try ConnectionConfiguration.parse(
            server.dsn(role: role, unixSocket: unixSocket, includePassword: false), environment: environment)
        #expect(configuration.passfile == home + "/.pgpass")
        try PassFileTests.connectAndCheck(configuration, role: role)
    }

    @Test func unsetOrEmptyHOMEFallsBackToThePasswordDatabase() throws {
        for environment in [[:], ["HOME": ""]] {
            let configuration = try ConnectionConfiguration.parse("", environment: environment)
            #expect(configuration.passfile == Self.passwordDatabaseHome + "/.pgpass")
        }
        // An explicit homeDirectory still wins over HOME.
        let explicit = try ConnectionConfiguration.parse("", environment: ["HOME": "/from/env"], homeDirectory: "/explicit")
        #expect(explicit.passfile == "/explicit/.pgpass")
    }

    @Test func serviceFileFoundThroughHOME() throws {
        let home = try Self.makeHome([".pg_service.conf": "[homesvc]\nhost=svc.example.com\nport=6543\ndbname=svcdb\n"])
        defer { try? FileManager.default.removeItem(atPath: home) }
        let configuration = try ConnectionConfiguration.parse(
            "service=homesvc", environment: ["HOME": home, "PGSYSCONFDIR": home + "/nonexistent"])
        #expect(configuration.raw["host"] == "svc.example.com")
        #expect(configuration.raw["port"] == "6543")
        #expect(configuration.database == "svcdb")
        #expect(throws: ConfigurationError.self) {
            try ConnectionConfiguration.parse("service=homesvc", environment: ["HOME": home + "/elsewhere", "PGSYSCONFDIR": home + "/nonexistent"])
        }
    }

    /// `pgwire query` (and psql, the oracle) authenticate with the password in `$HOME/.pgpass`.
    @Test(arguments: PassFileTests.roles)
    func cliReadsPgpassThroughHOME(role: TestServer.Role) throws {
        let server = try TestServer.shared()
        let home = try Self.makeHome([".pgpass": PassFileTests.contents(for: server)])
        defer { try? FileManager.default.removeItem(atPath: home) }
        var environment = PassFileTests.environment(server, role: role, unixSocket: false)
        environment["PGPASSFILE"] = nil
        environment["HOME"] = home
        let sql = "SELECT current_user"
        let psql = try runProcess(server.binDirectory + "/psql", ["-X", "-w", "-At", "-c", sql], environment: environment)
        let pgwire = try runProcess(try TLSFixture.pgwireBinary(), ["query", "--format", "unaligned", sql], environment: environment)
        #expect(psql.status == 0, "psql: \(psql.stderr)")
        #expect(pgwire.status == 0, "pgwire: \(pgwire.stderr)")
        #expect(pgwire.stdout == "current_user\n\(role.rawValue)\n(1 row)\n")
        #expect(psql.stdout == "\(role.rawValue)\n")

        // Without the file (HOME elsewhere) both fail to authenticate, with exit status 2.
        environment["HOME"] = home + "/elsewhere"
        let failing = try runProcess(try TLSFixture.pgwireBinary(), ["query", sql], environment: environment)
        #expect(failing.status == 2, "pgwire: \(failing.stderr)")
    }
}
