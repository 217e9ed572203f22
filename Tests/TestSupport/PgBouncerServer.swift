// A throwaway PgBouncer (Debian's pgbouncer package) in front of the shared TestServer.
//
// `PgBouncerServer.start(poolMode:poolSize:)` writes a config at test time (database
// `pgwire_test` → the TestServer over 127.0.0.1, trust authentication for `pgwire_trust`, no
// Unix socket), starts pgbouncer on a free port on 127.0.0.1 (as `postgres` through `runuser`
// when we are root: pgbouncer refuses to run as root) and waits until it accepts connections.
// `stop()` ends it (SIGTERM to the pid it wrote) and removes the directory; an atexit handler
// does the same for a bouncer a test did not stop.

import Foundation
import PostgresWire

public final class PgBouncerServer: @unchecked Sendable {
    public let port: Int
    public let directory: String
    public let server: TestServer
    private let lock = NSLock()
    private var stopped = false

    private init(port: Int, directory: String, server: TestServer) {
        self.port = port
        self.directory = directory
        self.server = server
    }

    public static func executable() -> String? {
        for candidate in ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"] where access(candidate, X_OK) == 0 {
            return candidate
        }
        return try? resolveExecutable("pgbouncer", environment: nil)
    }

    /// `key=value` conninfo through the bouncer, as `pgwire_trust` on `pgwire_test`.
    public func dsn(extra: String = "") -> String {
        var text = "host=127.0.0.1 port=\(port) user=pgwire_trust dbname=pgwire_test sslmode=disable"
        if !extra.isEmpty { text += " " + extra }
        return text
    }

    /// Starts a bouncer in `poolMode` with at most `poolSize` server connections.
    public static func start(poolMode: String = "transaction", poolSize: Int = 4, maxClients: Int = 200) throws -> PgBouncerServer {
        guard let binary = executable() else {
            throw TestServerError("pgbouncer not found (Debian: apt-get install -y pgbouncer)")
        }
        let server = try TestServer.shared()
        let runAsPostgres = geteuid() == 0
        var template = Array("/tmp/pgwire-bouncer-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw TestServerError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        let directory = String(cString: created)
        if runAsPostgres {
            guard let user = getpwnam("postgres") else { throw TestServerError("no `postgres` user to run pgbouncer as") }
            guard chown(directory, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                throw TestServerError("chown \(directory) failed: \(String(cString: strerror(errno)))")
            }
        }
        var lastLog = ""
        for _ in 1...4 {
            let port = try tlsFindFreePort()
            let config = """
                [databases]
                pgwire_test = host=127.0.0.1 port=\(server.port) dbname=pgwire_test

                [pgbouncer]
                listen_addr = 127.0.0.1
                listen_port = \(port)
                unix_socket_dir =
                auth_type = trust
                auth_file = \(directory)/userlist.txt
                pool_mode = \(poolMode)
                default_pool_size = \(poolSize)
                min_pool_size = 0
                reserve_pool_size = 0
                max_client_conn = \(maxClients)
                max_db_connections = \(poolSize)
                server_lifetime = 3600
                server_idle_timeout = 600
                ignore_startup_parameters = extra_float_digits,options
                logfile = \(directory)/pgbouncer.log
                pidfile = \(directory)/pgbouncer.pid
                admin_users = pgwire_trust

                """
            try writeFile(directory + "/pgbouncer.ini", config)
            try writeFile(directory + "/userlist.txt", "\"pgwire_trust\" \"\"\n")
            let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C"]
            let result = runAsPostgres
                ? try runProcess("runuser", ["-u", "postgres", "--", binary, "-d", directory + "/pgbouncer.ini"], environment: env, timeout: 30)
                : try runProcess(binary, ["-d", directory + "/pgbouncer.ini"], environment: env, timeout: 30)
            let bouncer = PgBouncerServer(port: port, directory: directory, server: server)
            if result.status == 0, bouncer.waitUntilListening() {
                PgBouncerRegistry.add(bouncer)
                return bouncer
            }
            lastLog = "\(result)\n" + ((try? String(contentsOfFile: directory + "/pgbouncer.log", encoding: .utf8)) ?? "")
            bouncer.kill()
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw TestServerError("pgbouncer did not start:\n\(lastLog)")
    }

    private func waitUntilListening(timeout: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if pid() != nil, canConnect() { return true }
            usleep(50_000)
        }
        return false
    }

    private func canConnect() -> Bool {
        let fd = socket(AF_INET, Platform.socketStream, 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } } == 0
    }

    private func pid() -> pid_t? {
        guard let text = try? String(contentsOfFile: directory + "/pgbouncer.pid", encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// SIGTERM to the bouncer this object started, then waits (bounded) for it to exit.
    private func kill() {
        guard let pid = pid(), pid > 1 else { return }
        _ = Platform.kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while Platform.kill(pid, 0) == 0 && Date() < deadline { usleep(20_000) }
    }

    /// The bouncer's log (useful when a test fails).
    public var log: String { (try? String(contentsOfFile: directory + "/pgbouncer.log", encoding: .utf8)) ?? "" }

    /// Stops the bouncer and removes its directory. Idempotent.
    public func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        PgBouncerRegistry.remove(self)
        kill()
        if directory.hasPrefix("/tmp/pgwire-bouncer-") { try? FileManager.default.removeItem(atPath: directory) }
    }
}

private enum PgBouncerRegistry {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var running: [ObjectIdentifier: PgBouncerServer] = [:]
    nonisolated(unsafe) private static var registered = false

    static func add(_ bouncer: PgBouncerServer) {
        lock.withLock {
            running[ObjectIdentifier(bouncer)] = bouncer
            if !registered {
                registered = true
                atexit { PgBouncerRegistry.stopAll() }
            }
        }
    }

    static func remove(_ bouncer: PgBouncerServer) {
        lock.withLock { _ = running.removeValue(forKey: ObjectIdentifier(bouncer)) }
    }

    static func stopAll() {
        let all = lock.withLock { () -> [PgBouncerServer] in
            defer { running = [:] }
            return Array(running.values)
        }
        for bouncer in all { bouncer.stop() }
    }
}
