// A throwaway primary with streaming standbys, for multi-host, target_session_attrs, load
// balancing and failover tests.
//
// `ReplicatedCluster.start(standbys:)` runs initdb for the primary (listening on 127.0.0.1 and a
// Unix socket in the cluster directory, trust authentication, role `pgwire_trust` and database
// `pgwire_test`), clones each standby with `pg_basebackup -R` (hot_standby on) and waits until
// every standby streams. A test can then promote a standby (`pg_ctl promote`) or stop a node at
// once (`pg_ctl stop -m immediate`). `stop()` stops everything and removes the directory; an
// atexit handler and a detached watchdog shell do the same if a test forgets or the process dies.
// `ReplicatedCluster.shared()` is one primary with two standbys per test process, for tests that
// do not change the cluster. As root, the server binaries run through `runuser -u postgres`.

import Foundation

public final class ReplicatedCluster: @unchecked Sendable {
    public struct Node: Sendable, Equatable {
        public let name: String
        public let dataDirectory: String
        public let port: Int
    }

    public let baseDirectory: String
    public let binDirectory: String
    public let primary: Node
    public let standbys: [Node]
    private let runAsPostgres: Bool
    private let lock = NSLock()
    private var stopped = false

    private init(baseDirectory: String, binDirectory: String, primary: Node, standbys: [Node], runAsPostgres: Bool) {
        self.baseDirectory = baseDirectory
        self.binDirectory = binDirectory
        self.primary = primary
        self.standbys = standbys
        self.runAsPostgres = runAsPostgres
    }

    // MARK: Shared instance

    private static let sharedLock = NSLock()
    nonisolated(unsafe) private static var sharedResult: Result<ReplicatedCluster, TestServerError>?

    /// One primary and two standbys for the whole test process (never promoted or stopped by tests).
    public static func shared() throws -> ReplicatedCluster {
        try sharedLock.withLock {
            if sharedResult == nil {
                do {
                    sharedResult = .success(try start(standbys: 2))
                } catch let error as TestServerError {
                    sharedResult = .failure(error)
                } catch {
                    sharedResult = .failure(TestServerError(String(describing: error)))
                }
            }
            return try sharedResult!.get()
        }
    }

    // MARK: Connection strings

    /// `host=127.0.0.1,… port=…,…` for `nodes` in that order, as `pgwire_trust` on `pgwire_test`.
    public func dsn(_ nodes: [Node], extra: String = "") -> String {
        var text = "host=\(nodes.map { _ in "127.0.0.1" }.joined(separator: ",")) port=\(nodes.map { String($0.port) }.joined(separator: ","))"
        text += " user=pgwire_trust dbname=pgwire_test sslmode=disable"
        if !extra.isEmpty { text += " " + extra }
        return text
    }

    // MARK: Control

    /// Runs SQL on `node` through psql over the Unix socket (as the superuser `postgres`) and
    /// returns the unaligned, tuples-only output.
    @discardableResult
    public func sql(_ node: Node, _ sql: String, database: String = "pgwire_test") throws -> String {
        let result = try runProcess(
            psqlExecutable,
            ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", baseDirectory, "-p", String(node.port), "-U", "postgres", "-d", database, "-c", sql],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "LANG": "C.UTF-8",
                          "PGPASSFILE": baseDirectory + "/no-such-pgpass"],
            timeout: 60)
        guard result.status == 0 else { throw TestServerError("psql on \(node.name) failed: \(result)\nSQL: \(sql)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits until every running standby has replayed the primary's current WAL position.
    public func waitForReplay(timeout: Double = 60) throws {
        let lsn = try sql(primary, "SELECT pg_current_wal_lsn()")
        let deadline = Date().addingTimeInterval(timeout)
        for standby in standbys {
            while try sql(standby, "SELECT pg_last_wal_replay_lsn() >= '\(lsn)'::pg_lsn") != "t" {
                guard Date() < deadline else { throw TestServerError("\(standby.name) did not replay up to \(lsn) within \(timeout) s") }
                usleep(50_000)
            }
        }
    }

    /// `pg_ctl promote -w`: the standby becomes a primary.
    public func promote(_ node: Node) throws {
        let result = try tool("pg_ctl", ["-D", node.dataDirectory, "-w", "-t", "60", "promote"])
        guard result.status == 0 else { throw TestServerError("pg_ctl promote \(node.name) failed: \(result)") }
    }

    /// `pg_ctl stop -m immediate`: the node dies without a shutdown checkpoint, as in a crash.
    public func stopImmediately(_ node: Node) throws {
        let result = try tool("pg_ctl", ["-D", node.dataDirectory, "-m", "immediate", "-w", "stop"], timeout: 60)
        guard result.status == 0 else { throw TestServerError("pg_ctl stop \(node.name) failed: \(result)") }
    }

    /// Stops every node and removes the cluster directory. Idempotent.
    public func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        ReplicatedClusterRegistry.remove(baseDirectory)
        Self.stopAndRemove(baseDirectory: baseDirectory, nodes: [primary] + standbys, binDirectory: binDirectory, runAsPostgres: runAsPostgres)
    }

    fileprivate static func stopAndRemove(baseDirectory: String, nodes: [Node], binDirectory: String, runAsPostgres: Bool) {
        for node in nodes where FileManager.default.fileExists(atPath: node.dataDirectory + "/postmaster.pid") {
            _ = try? runServerTool(binDirectory + "/pg_ctl", ["-D", node.dataDirectory, "-m", "immediate", "-w", "stop"],
                                   runAsPostgres: runAsPostgres, timeout: 30, currentDirectory: "/")
        }
        if baseDirectory.hasPrefix("/tmp/pgwire-repl-") {
            try? FileManager.default.removeItem(atPath: baseDirectory)
        }
    }

    private var psqlExecutable: String {
        let candidate = binDirectory + "/psql"
        return access(candidate, X_OK) == 0 ? candidate : "psql"
    }

    private func tool(_ name: String, _ arguments: [String], timeout: Double = 120) throws -> ProcessResult {
        try runServerTool(binDirectory + "/" + name, arguments, runAsPostgres: runAsPostgres, timeout: timeout, currentDirectory: baseDirectory)
    }

    // MARK: Startup

    /// A primary and `standbys` streaming standbys, all running and caught up. `synchronous`:
    /// the primary acknowledges a commit only once a standby has flushed it
    /// (synchronous_standby_names = '*'), so no acknowledged write is lost in a failover.
    public static func start(standbys standbyCount: Int = 1, synchronous: Bool = false) throws -> ReplicatedCluster {
        let binDirectory = try findBinDirectory()
        let runAsPostgres = geteuid() == 0
        var template = Array("/tmp/pgwire-repl-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw TestServerError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        let base = String(cString: created)
        if runAsPostgres {
            guard let user = getpwnam("postgres") else {
                throw TestServerError("running as root, but there is no `postgres` user to run the server as")
            }
            guard chown(base, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                throw TestServerError("chown \(base) failed: \(String(cString: strerror(errno)))")
            }
        }
        let primary = Node(name: "primary", dataDirectory: base + "/primary", port: try tlsFindFreePort())
        var standbys: [Node] = []
        for i in 1...max(1, standbyCount) {
            var port = try tlsFindFreePort()
            while port == primary.port || standbys.contains(where: { $0.port == port }) { port = try tlsFindFreePort() }
            standbys.append(Node(name: "standby\(i)", dataDirectory: base + "/standby\(i)", port: port))
        }
        let cluster = ReplicatedCluster(baseDirectory: base, binDirectory: binDirectory, primary: primary, standbys: standbys,
                                        runAsPostgres: runAsPostgres)
        ReplicatedClusterRegistry.add(base, nodes: [primary] + standbys, binDirectory: binDirectory, runAsPostgres: runAsPostgres)
        cluster.startWatchdog()
        do {
            try cluster.initPrimary()
            for standby in standbys { try cluster.cloneAndStart(standby) }
            try cluster.waitForStreaming()
            if synchronous { try cluster.makeSynchronous() }
            try cluster.waitForReplay()
            return cluster
        } catch {
            cluster.stop()
            throw error
        }
    }

    private func nodeConf(_ node: Node) -> String {
        """
        listen_addresses = '127.0.0.1'
        port = \(node.port)
        unix_socket_directories = '\(baseDirectory)'
        fsync = off
        full_page_writes = off
        shared_buffers = 16MB
        max_connections = 100
        max_wal_senders = 10
        wal_level = replica
        hot_standby = on
        wal_receiver_status_interval = 1s
        timezone = 'UTC'
        log_timezone = 'UTC'

        """
    }

    private func initPrimary() throws {
        let result = try tool("initdb", ["-D", primary.dataDirectory, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"])
        guard result.status == 0 else { throw TestServerError("initdb failed: \(result)") }
        try writeFile(primary.dataDirectory + "/pg_hba.conf", """
            local all all trust
            host all all 127.0.0.1/32 trust
            local replication all trust
            host replication all 127.0.0.1/32 trust

            """)
        try appendFile(primary.dataDirectory + "/postgresql.conf", "\ninclude 'pgwire_node.conf'\n")
        try writeFile(primary.dataDirectory + "/pgwire_node.conf", nodeConf(primary))
        try startNode(primary)
        try sql(primary, "CREATE ROLE pgwire_trust LOGIN SUPERUSER", database: "postgres")
        try sql(primary, "CREATE DATABASE pgwire_test OWNER pgwire_trust", database: "postgres")
    }

    private func cloneAndStart(_ standby: Node) throws {
        let result = try tool("pg_basebackup", ["-D", standby.dataDirectory, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
                                                "-h", baseDirectory, "-p", String(primary.port), "-U", "postgres"])
        guard result.status == 0 else { throw TestServerError("pg_basebackup for \(standby.name) failed: \(result)") }
        try writeFile(standby.dataDirectory + "/pgwire_node.conf", nodeConf(standby))
        try startNode(standby)
    }

    private func startNode(_ node: Node) throws {
        let log = baseDirectory + "/\(node.name).log"
        let result = try tool("pg_ctl", ["-w", "-t", "60", "-D", node.dataDirectory, "-l", log, "start"])
        guard result.status == 0 else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? "(no log)"
            throw TestServerError("pg_ctl start \(node.name) failed: \(result)\n--- \(log) ---\n\(text)")
        }
    }

    private func makeSynchronous(timeout: Double = 60) throws {
        try sql(primary, "ALTER SYSTEM SET synchronous_standby_names = '*'")
        try sql(primary, "SELECT pg_reload_conf()")
        let deadline = Date().addingTimeInterval(timeout)
        while try sql(primary, "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')") == "0" {
            guard Date() < deadline else { throw TestServerError("no standby became synchronous within \(timeout) s") }
            usleep(50_000)
        }
    }

    private func waitForStreaming(timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try sql(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") != String(standbys.count) {
            guard Date() < deadline else { throw TestServerError("standbys did not start streaming within \(timeout) s") }
            usleep(50_000)
        }
    }

    /// Stops the nodes and removes the directory once this process is gone, even without atexit.
    private func startWatchdog() {
        let script = """
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            for d in "$2"/*/; do
              if [ -f "$d/postmaster.pid" ]; then
                if [ "$4" = 1 ]; then runuser -u postgres -- "$3" stop -D "$d" -m immediate -w; else "$3" stop -D "$d" -m immediate -w; fi
              fi
            done
            case "$2" in /tmp/pgwire-repl-*) rm -rf "$2" ;; esac
            """
        _ = try? spawnDetached(
            "/bin/sh",
            ["-c", script, "pgwire-repl-watchdog", String(getpid()), baseDirectory, binDirectory + "/pg_ctl", runAsPostgres ? "1" : "0"],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin:/usr/sbin:/sbin"])
    }
}

/// Clusters still running, stopped by an atexit handler.
private enum ReplicatedClusterRegistry {
    struct Entry {
        let nodes: [ReplicatedCluster.Node]
        let binDirectory: String
        let runAsPostgres: Bool
    }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var entries: [String: Entry] = [:]
    nonisolated(unsafe) private static var registered = false

    static func add(_ base: String, nodes: [ReplicatedCluster.Node], binDirectory: String, runAsPostgres: Bool) {
        lock.withLock {
            entries[base] = Entry(nodes: nodes, binDirectory: binDirectory, runAsPostgres: runAsPostgres)
            if !registered {
                registered = true
                atexit { ReplicatedClusterRegistry.stopAll() }
            }
        }
    }

    static func remove(_ base: String) {
        lock.withLock { _ = entries.removeValue(forKey: base) }
    }

    static func stopAll() {
        let all = lock.withLock { () -> [String: Entry] in
            defer { entries = [:] }
            return entries
        }
        for (base, entry) in all {
            ReplicatedCluster.stopAndRemove(baseDirectory: base, nodes: entry.nodes, binDirectory: entry.binDirectory,
                                            runAsPostgres: entry.runAsPostgres)
        }
    }
}
