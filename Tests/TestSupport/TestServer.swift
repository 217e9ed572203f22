// A throwaway PostgreSQL cluster for integration tests.
//
// `TestServer.shared()` runs initdb + pg_ctl once per test process (lazily, thread-safe) in
// /tmp/pgwire-test-XXXXXX and stops/removes it at process exit (atexit). A detached watchdog shell also
// removes it if the test process dies without running atexit handlers (crash, SIGKILL), and clusters left
// behind by dead test processes are cleaned up the next time a server is started.
//
// Roles (all LOGIN), each allowed over the Unix socket, 127.0.0.1 and ::1 with one auth method:
//   pgwire_trust                    trust          (superuser, owns database pgwire_test)
//   pgwire_password / pw-secret     password       (cleartext)
//   pgwire_md5      / md5-secret    md5            (password stored as MD5)
//   pgwire_scram    / scram-secret  scram-sha-256
// The bootstrap superuser `postgres` may only connect over the Unix socket (trust).

import Foundation
import PostgresWire

public struct TestServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public final class TestServer: Sendable {
    public enum Role: String, Sendable, CaseIterable {
        case trust = "pgwire_trust"
        case password = "pgwire_password"
        case md5 = "pgwire_md5"
        case scram = "pgwire_scram"

        /// The pg_hba.conf method for this role.
        public var authMethod: String {
            switch self {
            case .trust: return "trust"
            case .password: return "password"
            case .md5: return "md5"
            case .scram: return "scram-sha-256"
            }
        }
    }

    public let host: String
    public let port: Int
    /// Directory holding the `.s.PGSQL.<port>` Unix socket (also the cluster's base temp directory).
    public let socketDirectory: String
    public let dataDirectory: String
    /// Directory holding initdb/pg_ctl/postgres (and, on Debian, the matching psql).
    public let binDirectory: String
    /// Whether the server also listens on ::1.
    public let hasIPv6: Bool
    /// The server log (useful when a test fails).
    public let logFile: String

    private let baseDirectory: String
    private let runAsPostgres: Bool

    private init(
        port: Int, baseDirectory: String, dataDirectory: String, binDirectory: String,
        hasIPv6: Bool, logFile: String, runAsPostgres: Bool
    ) {
        self.host = "127.0.0.1"
        self.port = port
        self.socketDirectory = baseDirectory
        self.baseDirectory = baseDirectory
        self.dataDirectory = dataDirectory
        self.binDirectory = binDirectory
        self.hasIPv6 = hasIPv6
        self.logFile = logFile
        self.runAsPostgres = runAsPostgres
    }

    // MARK: Shared instance

    /// The per-process cluster, started on first use. If starting failed, every call rethrows that error.
    public static func shared() throws -> TestServer {
        try sharedServerState.get()
    }

    // MARK: Connection parameters

    public func password(for role: Role) -> String? {
        switch role {
        case .trust: return nil
        case .password: return "pw-secret"
        case .md5: return "md5-secret"
        case .scram: return "scram-secret"
        }
    }

    /// A libpq-style `key=value` conninfo string.
    public func dsn(
        role: Role = .trust, unixSocket: Bool = false, database: String = "pgwire_test",
        includePassword: Bool = true, extra: String = ""
    ) -> String {
        var parts = [
            "host=\(conninfoQuote(unixSocket ? socketDirectory : host))",
            "port=\(port)",
            "user=\(conninfoQuote(role.rawValue))",
            "dbname=\(conninfoQuote(database))",
        ]
        if includePassword, let password = password(for: role) {
            parts.append("password=\(conninfoQuote(password))")
        }
        if !extra.isEmpty { parts.append(extra) }
        return parts.joined(separator: " ")
    }

    /// A clean environment (only PATH and HOME of the current process are kept) with
    /// PGHOST/PGPORT/PGUSER/PGDATABASE (and PGPASSWORD for password roles) set.
    /// PGPASSFILE points at a nonexistent file so a ~/.pgpass can't interfere; LANG=C.UTF-8 keeps
    /// client messages in English.
    public func environment(role: Role = .trust, unixSocket: Bool = false) -> [String: String] {
        let current = ProcessInfo.processInfo.environment
        var env: [String: String] = [
            "PATH": current["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PGHOST": unixSocket ? socketDirectory : host,
            "PGPORT": String(port),
            "PGUSER": role.rawValue,
            "PGDATABASE": "pgwire_test",
            "PGPASSFILE": baseDirectory + "/no-such-pgpass",
        ]
        if let home = current["HOME"] { env["HOME"] = home }
        if let password = password(for: role) { env["PGPASSWORD"] = password }
        return env
    }

    /// Runs `psql -X <arguments>` with `environment(role:unixSocket:)`.
    public func psql(_ arguments: [String], role: Role = .trust, unixSocket: Bool = false, stdin: [UInt8]? = nil) throws -> ProcessResult {
        try runProcess(psqlExecutable, ["-X"] + arguments, environment: environment(role: role, unixSocket: unixSocket), stdin: stdin)
    }

    /// Runs `sql` (one or more statements, a psql script) as the superuser `pgwire_trust` with
    /// ON_ERROR_STOP=1; throws if psql fails.
    public func execute(_ sql: String, database: String = "pgwire_test") throws {
        var env = environment(role: .trust, unixSocket: true)
        env["PGDATABASE"] = database
        let result = try runProcess(
            psqlExecutable, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
            environment: env, stdin: Array(sql.utf8))
        guard result.status == 0 else {
            throw TestServerError("SQL failed (psql \(result.status)): \(result.stderr)\nSQL:\n\(sql)")
        }
    }

    private var psqlExecutable: String {
        let candidate = binDirectory + "/psql"
        return access(candidate, X_OK) == 0 ? candidate : "psql"
    }

    // MARK: Startup

    fileprivate static func start() throws -> TestServer {
        let binDirectory = try findBinDirectory()
        let runAsPostgres = geteuid() == 0
        removeStaleClusters(binDirectory: binDirectory, runAsPostgres: runAsPostgres)

        var template = Array("/tmp/pgwire-test-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw TestServerError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        let baseDirectory = String(cString: created)
        let dataDirectory = baseDirectory + "/data"
        let logFile = baseDirectory + "/postgres.log"
        try? "\(getpid()) \(processStartTime(getpid()) ?? "")\n".write(toFile: baseDirectory + "/owner", atomically: false, encoding: .utf8)
        registerCleanup(ClusterCleanup(baseDirectory: baseDirectory, dataDirectory: dataDirectory, binDirectory: binDirectory, runAsPostgres: runAsPostgres))

        do {
            if runAsPostgres {
                guard let user = getpwnam("postgres") else {
                    throw TestServerError("running as root, but there is no `postgres` user to run the server as")
                }
                guard chown(baseDirectory, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                    throw TestServerError("chown \(baseDirectory) failed: \(String(cString: strerror(errno)))")
                }
            }
            let server = try initAndStart(
                baseDirectory: baseDirectory, dataDirectory: dataDirectory, binDirectory: binDirectory,
                logFile: logFile, runAsPostgres: runAsPostgres)
            try server.bootstrapRolesAndDatabase()
            server.startWatchdog()
            return server
        } catch {
            runClusterCleanup()
            throw error
        }
    }

    private static func initAndStart(
        baseDirectory: String, dataDirectory: String, binDirectory: String, logFile: String, runAsPostgres: Bool
    ) throws -> TestServer {
        func serverTool(_ tool: String, _ arguments: [String], timeout: Double = 120) throws -> ProcessResult {
            try runServerTool(binDirectory + "/" + tool, arguments, runAsPostgres: runAsPostgres, timeout: timeout, currentDirectory: baseDirectory)
        }

        // initdb: prefer C.UTF-8 (consistent Unicode behaviour), fall back to C.
        var failures: [String] = []
        var initialized = false
        for locale in ["C.UTF-8", "C"] {
            let result = try serverTool("initdb", ["-D", dataDirectory, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=\(locale)"])
            if result.status == 0 { initialized = true; break }
            failures.append("initdb --locale=\(locale):\n\(result)")
            _ = try? FileManager.default.removeItem(atPath: dataDirectory)
        }
        guard initialized else { throw TestServerError(failures.joined(separator: "\n")) }

        // pg_hba.conf
        var hba = "# written by PostgresWire TestSupport\nlocal all postgres trust\n"
        for role in Role.allCases {
            hba += "local all \(role.rawValue) \(role.authMethod)\n"
            hba += "host all \(role.rawValue) 127.0.0.1/32 \(role.authMethod)\n"
            hba += "host all \(role.rawValue) ::1/128 \(role.authMethod)\n"
        }
        try writeFile(dataDirectory + "/pg_hba.conf", hba)
        try appendFile(dataDirectory + "/postgresql.conf", "\ninclude 'pgwire_test.conf'\n")
        // The include target must exist before the first start; overwritten per attempt below.
        try writeFile(dataDirectory + "/pgwire_test.conf", "")

        let hasIPv6 = canBindLoopback(ipv6: true, port: 0)
        var lastLog = ""
        for attempt in 1...4 {
            let port = try findFreePort(alsoIPv6: hasIPv6)
            let conf = """
                listen_addresses = '\(hasIPv6 ? "127.0.0.1,::1" : "127.0.0.1")'
                port = \(port)
                unix_socket_directories = '\(baseDirectory)'
                fsync = off
                synchronous_commit = off
                full_page_writes = off
                max_connections = 100
                password_encryption = 'scram-sha-256'
                timezone = 'UTC'
                log_timezone = 'UTC'

                """
            try writeFile(dataDirectory + "/pgwire_test.conf", conf)
            let result = try serverTool("pg_ctl", ["-w", "-t", "60", "-D", dataDirectory, "-l", logFile, "start"])
            if result.status == 0 {
                return TestServer(
                    port: port, baseDirectory: baseDirectory, dataDirectory: dataDirectory, binDirectory: binDirectory,
                    hasIPv6: hasIPv6, logFile: logFile, runAsPostgres: runAsPostgres)
            }
            lastLog = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "(no log)"
            _ = try? serverTool("pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "stop"], timeout: 30)
            // Someone else grabbed the port between probing and binding: try another one.
            let portRace = lastLog.contains("could not bind") || lastLog.contains("already in use") || lastLog.contains("could not create any TCP/IP sockets")
            if !portRace || attempt == 4 {
                throw TestServerError("pg_ctl start failed:\n\(result)\n--- server log (\(logFile)) ---\n\(lastLog)")
            }
        }
        throw TestServerError("pg_ctl start failed:\n\(lastLog)")
    }

    private func bootstrapRolesAndDatabase() throws {
        let sql = """
            CREATE ROLE pgwire_trust LOGIN SUPERUSER;
            CREATE ROLE pgwire_password LOGIN PASSWORD 'pw-secret';
            SET password_encryption = 'md5';
            CREATE ROLE pgwire_md5 LOGIN PASSWORD 'md5-secret';
            RESET password_encryption;
            CREATE ROLE pgwire_scram LOGIN PASSWORD 'scram-secret';
            CREATE DATABASE pgwire_test OWNER pgwire_trust;
            \\connect pgwire_test
            GRANT ALL ON SCHEMA public TO PUBLIC;

            """
        let env = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PGPASSFILE": baseDirectory + "/no-such-pgpass",
        ]
        let result = try runProcess(
            psqlExecutable,
            ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-p", String(port), "-U", "postgres", "-d", "postgres", "-f", "-"],
            environment: env, stdin: Array(sql.utf8))
        guard result.status == 0 else {
            throw TestServerError("creating test roles failed:\n\(result)")
        }
        // Sanity check: the MD5 role really has an MD5 hash (and SCRAM roles a SCRAM verifier).
        let check = try runProcess(
            psqlExecutable,
            ["-X", "-A", "-t", "-h", socketDirectory, "-p", String(port), "-U", "postgres", "-d", "postgres", "-c",
             "SELECT rolname || ':' || left(rolpassword, 3) FROM pg_authid WHERE rolname LIKE 'pgwire_%' ORDER BY 1"],
            environment: env)
        let lines = Set(check.stdout.split(separator: "\n").map(String.init))
        guard lines.contains("pgwire_md5:md5"), lines.contains("pgwire_scram:SCR"), lines.contains("pgwire_password:SCR") else {
            throw TestServerError("unexpected stored passwords: \(check)")
        }
    }

    /// A detached shell that stops and removes the cluster once this process is gone, in case the process
    /// dies without running atexit handlers.
    private func startWatchdog() {
        let script = """
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            if [ -f "$2/postmaster.pid" ]; then
              if [ "$5" = 1 ]; then runuser -u postgres -- "$4" stop -D "$2" -m immediate -w; else "$4" stop -D "$2" -m immediate -w; fi
            fi
            case "$3" in /tmp/pgwire-test-*) rm -rf "$3" ;; esac
            """
        _ = try? spawnDetached(
            "/bin/sh",
            ["-c", script, "pgwire-test-watchdog", String(getpid()), dataDirectory, baseDirectory, binDirectory + "/pg_ctl", runAsPostgres ? "1" : "0"],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin:/usr/sbin:/sbin"])
    }
}

// MARK: - Shared state and exit cleanup

private struct ClusterCleanup: Sendable {
    let baseDirectory: String
    let dataDirectory: String
    let binDirectory: String
    let runAsPostgres: Bool
}

private final class SharedServerState: @unchecked Sendable {
    private let startLock = NSLock()
    private var result: Result<TestServer, TestServerError>?
    // Separate short-lived lock: the atexit handler must never wait for a (slow) startup.
    private let cleanupLock = NSLock()
    private var cleanup: ClusterCleanup?
    private var atexitRegistered = false

    func get() throws -> TestServer {
        startLock.lock()
        defer { startLock.unlock() }
        if result == nil {
            do {
                result = .success(try TestServer.start())
            } catch let error as TestServerError {
                result = .failure(error)
            } catch {
                result = .failure(TestServerError(String(describing: error)))
            }
        }
        return try result!.get()
    }

    func setCleanup(_ value: ClusterCleanup?) {
        cleanupLock.lock()
        defer { cleanupLock.unlock() }
        cleanup = value
        if value != nil && !atexitRegistered {
            atexitRegistered = true
            atexit { runClusterCleanup() }
        }
    }

    func takeCleanup() -> ClusterCleanup? {
        cleanupLock.lock()
        defer { cleanupLock.unlock() }
        let value = cleanup
        cleanup = nil
        return value
    }
}

private let sharedServerState = SharedServerState()

private func registerCleanup(_ cleanup: ClusterCleanup) {
    sharedServerState.setCleanup(cleanup)
}

/// Stops the cluster (immediate mode) and removes its directory. Idempotent; also the atexit handler.
private func runClusterCleanup() {
    guard let cleanup = sharedServerState.takeCleanup() else { return }
    stopAndRemoveCluster(cleanup)
}

private func stopAndRemoveCluster(_ cleanup: ClusterCleanup) {
    if FileManager.default.fileExists(atPath: cleanup.dataDirectory + "/postmaster.pid") {
        _ = try? runServerTool(
            cleanup.binDirectory + "/pg_ctl", ["-D", cleanup.dataDirectory, "-m", "immediate", "-w", "stop"],
            runAsPostgres: cleanup.runAsPostgres, timeout: 30, currentDirectory: "/")
    }
    if cleanup.baseDirectory.hasPrefix("/tmp/pgwire-test-") {
        try? FileManager.default.removeItem(atPath: cleanup.baseDirectory)
    }
}

// MARK: - Helpers

/// Runs a server binary, via `runuser -u postgres --` when we are root (initdb/postgres refuse to run as root).
func runServerTool(_ tool: String, _ arguments: [String], runAsPostgres: Bool, timeout: Double, currentDirectory: String) throws -> ProcessResult {
    let env = [
        "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin:/usr/sbin:/sbin",
        "LANG": "C",
    ]
    if runAsPostgres {
        return try runProcess("runuser", ["-u", "postgres", "--", tool] + arguments, environment: env, timeout: timeout, currentDirectory: currentDirectory)
    }
    return try runProcess(tool, arguments, environment: env, timeout: timeout, currentDirectory: currentDirectory)
}

func findBinDirectory() throws -> String {
    func hasServerTools(_ directory: String) -> Bool {
        ["initdb", "pg_ctl", "postgres"].allSatisfy { access(directory + "/" + $0, X_OK) == 0 }
    }
    if let result = try? runProcess("pg_config", ["--bindir"], timeout: 10), result.status == 0 {
        let directory = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if hasServerTools(directory) { return directory }
    }
    // Debian/Ubuntu layout; prefer the newest version.
    let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
        .sorted { (Int($0) ?? 0, $0) > (Int($1) ?? 0, $1) }
    for version in versions where hasServerTools("/usr/lib/postgresql/\(version)/bin") {
        return "/usr/lib/postgresql/\(version)/bin"
    }
    if let initdb = try? resolveExecutable("initdb", environment: nil) {
        let directory = String(initdb[..<(initdb.lastIndex(of: "/") ?? initdb.startIndex)])
        if hasServerTools(directory) { return directory }
    }
    throw TestServerError("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: tried `pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH")
}

/// Best effort: stop and delete /tmp/pgwire-test-* clusters whose owning test process is gone.
private func removeStaleClusters(binDirectory: String, runAsPostgres: Bool) {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/tmp") else { return }
    for entry in entries where entry.hasPrefix("pgwire-test-") {
        let base = "/tmp/" + entry
        let ownerLine = (try? String(contentsOfFile: base + "/owner", encoding: .utf8)) ?? ""
        let fields = ownerLine.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        let stale: Bool
        if let pidText = fields.first, let pid = pid_t(pidText) {
            let alive = kill(pid, 0) == 0 || errno == EPERM
            let sameProcess = fields.count < 2 || processStartTime(pid) == nil || processStartTime(pid) == fields[1]
            stale = !(alive && sameProcess)
        } else {
            // No owner file: either being created right now, or very old. Only touch old ones.
            let attributes = try? FileManager.default.attributesOfItem(atPath: base)
            let modified = attributes?[.modificationDate] as? Date ?? Date()
            stale = Date().timeIntervalSince(modified) > 3600
        }
        if stale {
            stopAndRemoveCluster(ClusterCleanup(baseDirectory: base, dataDirectory: base + "/data", binDirectory: binDirectory, runAsPostgres: runAsPostgres))
        }
    }
}

/// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), to detect pid reuse. nil if unknown.
func processStartTime(_ pid: pid_t) -> String? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // fields[0] is field 3 (state), so field 22 is fields[19].
    return fields.count > 19 ? String(fields[19]) : nil
}

func writeFile(_ path: String, _ contents: String) throws {
    // Not atomic on purpose: keeps the owner (postgres) of files that already exist.
    guard let file = fopen(path, "w") else {
        throw TestServerError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    fputs(contents, file)
}

func appendFile(_ path: String, _ contents: String) throws {
    guard let file = fopen(path, "a") else {
        throw TestServerError("cannot append to \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    fputs(contents, file)
}

/// Quotes a conninfo value if needed ('...' with \' and \\ escapes).
private func conninfoQuote(_ value: String) -> String {
    if !value.isEmpty && !value.contains(where: { $0 == " " || $0 == "'" || $0 == "\\" || $0 == "\t" || $0 == "\n" }) {
        return value
    }
    return "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
}

/// Binds (and immediately closes) a TCP socket on the loopback address; returns the bound port or nil.
@discardableResult
private func bindLoopback(ipv6: Bool, port: Int) -> Int? {
    let fd = socket(ipv6 ? AF_INET6 : AF_INET, Platform.socketStream, 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    if ipv6 {
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = in_port_t(UInt16(port).bigEndian)
        address.sin6_addr = in6addr_loopback
        let length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { return nil }
        var actual = sockaddr_in6()
        var actualLength = length
        guard withUnsafeMutablePointer(to: &actual, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) } }) == 0 else { return nil }
        return Int(UInt16(bigEndian: actual.sin6_port))
    } else {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { return nil }
        var actual = sockaddr_in()
        var actualLength = length
        guard withUnsafeMutablePointer(to: &actual, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) } }) == 0 else { return nil }
        return Int(UInt16(bigEndian: actual.sin_port))
    }
}

private func canBindLoopback(ipv6: Bool, port: Int) -> Bool {
    bindLoopback(ipv6: ipv6, port: port) != nil
}

/// A TCP port that is currently free on 127.0.0.1 (and on ::1 when `alsoIPv6`).
private func findFreePort(alsoIPv6: Bool) throws -> Int {
    for _ in 0..<50 {
        guard let port = bindLoopback(ipv6: false, port: 0) else { continue }
        if alsoIPv6 && !canBindLoopback(ipv6: true, port: port) { continue }
        return port
    }
    throw TestServerError("could not find a free TCP port on the loopback interface")
}
