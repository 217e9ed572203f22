import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// What the writers saw during a failover.
final class FailoverLog: @unchecked Sendable {
    private let lock = NSLock()
    private var acked: Set<String> = []
    private var errors: [String: Int] = [:]
    private var nonOperational: [String] = []
    private var killedAt: Date?
    private var firstNewPrimaryWrite: Date?
    private var stopped = false

    func ack(worker: Int, seq: Int, onPort port: Int, newPrimaryPort: Int) {
        lock.withLock {
            acked.insert("\(worker):\(seq)")
            if port == newPrimaryPort, killedAt != nil, firstNewPrimaryWrite == nil { firstNewPrimaryWrite = Date() }
        }
    }

    func failure(_ error: any Error) {
        let e = DatabaseError.wrap(error)
        var kind = "\(e.category)"
        if let state = e.sqlState?.rawValue { kind += " \(state)" } else {
            switch e {
            case .connectionLost, .connectionClosed: kind += " connection lost"
            case .connectionFailed: kind += " connection failed"
            case .timeout: kind += " timeout"
            default: kind += " other"
            }
        }
        if ProcessInfo.processInfo.environment["PGWIRE_FAILOVER_DEBUG"] != nil {
            let since = lock.withLock { killedAt.map { Date().timeIntervalSince($0) } }
            print("FAILOVER-DEBUG +\(since.map { String(format: "%.3f", $0) } ?? "-")s \(e.description.prefix(160))")
        }
        lock.withLock {
            errors[kind, default: 0] += 1
            if e.category != .operational { nonOperational.append(e.description) }
        }
    }

    func markKilled() { lock.withLock { killedAt = Date() } }
    func stop() { lock.withLock { stopped = true } }
    var isStopped: Bool { lock.withLock { stopped } }
    var recovered: Bool { lock.withLock { firstNewPrimaryWrite != nil } }
    var ackedWrites: Set<String> { lock.withLock { acked } }
    var errorCounts: [String: Int] { lock.withLock { errors } }
    var nonOperationalErrors: [String] { lock.withLock { nonOperational } }
    var recoverySeconds: Double? {
        lock.withLock {
            guard let killedAt, let firstNewPrimaryWrite else { return nil }
            return firstNewPrimaryWrite.timeIntervalSince(killedAt)
        }
    }
}

extension ClusterIntegrationTests {
    /// Pools configured with target_session_attrs=read-write while the primary is killed
    /// (`pg_ctl stop -m immediate`) and the synchronous standby promoted, with 16 workers writing.
    /// No write the pool acknowledged may be missing on the new primary; every caller-visible error
    /// is operational; the pools recover by themselves and nothing hangs.
    @Suite(.serialized) struct FailoverTests {
        static let workers = 16

        private static func prepare() throws -> (ReplicatedCluster, String) {
            let cluster = try ReplicatedCluster.start(standbys: 1, synchronous: true)
            do {
                try cluster.sql(cluster.primary, "CREATE TABLE acked (worker int, seq int, PRIMARY KEY (worker, seq))")
                try cluster.waitForReplay()
            } catch {
                cluster.stop()
                throw error
            }
            let dsn = cluster.dsn([cluster.primary, cluster.standbys[0]], extra: "target_session_attrs=read-write connect_timeout=2")
            return (cluster, dsn)
        }

        /// Kills the primary once writes flow, promotes the standby, waits for a write on it, then
        /// checks every acknowledged write is on the new primary.
        /// What `failOver` found, checked by the test itself (expectations are recorded in the
        /// test's context, not on the helper thread that runs the failover).
        struct Outcome: Sendable {
            var recovered = false
            var lost: [String] = []
            var nonOperational: [String] = []
            var writersFinished = true
            var poolClosed = true
        }

        private static func check(_ outcome: Outcome, label: String) {
            #expect(outcome.recovered, "\(label): no write reached the new primary within 60 s")
            #expect(outcome.lost.isEmpty, "\(label): \(outcome.lost.count) acknowledged writes missing on the new primary: \(outcome.lost.prefix(5))")
            #expect(outcome.nonOperational.isEmpty, "\(label): \(outcome.nonOperational.prefix(3))")
            #expect(outcome.writersFinished, "\(label): writers did not finish: a call hung")
            #expect(outcome.poolClosed, "\(label): the pool did not close")
        }

        /// `writersFinished` waits (bounded) until every writer has returned: only then is the set of
        /// acknowledged writes final (a writer still waiting for a connection acknowledges later).
        private static func failOver(_ cluster: ReplicatedCluster, _ log: FailoverLog, label: String,
                                     writersFinished: () -> Bool) throws -> Outcome {
            let standby = cluster.standbys[0]
            let started = Date()
            while log.ackedWrites.count < 200 && Date().timeIntervalSince(started) < 30 { usleep(20_000) }
            log.markKilled()
            let killStarted = Date()
            try cluster.stopImmediately(cluster.primary)
            try cluster.promote(standby)
            let promotedAfter = Date().timeIntervalSince(killStarted)
            let deadline = Date().addingTimeInterval(60)
            while !log.recovered && Date() < deadline { usleep(10_000) }
            usleep(500_000)  // keep writing on the new primary for a moment
            log.stop()
            let finished = writersFinished()
            let present = Set(try cluster.sql(standby, "SELECT worker || ':' || seq FROM acked").split(separator: "\n").map(String.init))
            let acked = log.ackedWrites
            let lost = acked.subtracting(present)
            let recovery = log.recoverySeconds.map { String(format: "%.3f", $0) } ?? "-"
            print("FAILOVER \(label): workers=\(workers) acked=\(acked.count) present=\(present.count) lost=\(lost.count) "
                  + "promote_done_after=\(String(format: "%.3f", promotedAfter))s recovery=\(recovery)s errors=\(log.errorCounts)")
            return Outcome(recovered: log.recovered, lost: Array(lost), nonOperational: log.nonOperationalErrors, writersFinished: finished)
        }

        /// A pooled connection whose backend died while it sat idle is replaced when acquired, without
        /// the caller seeing an error (no prePing needed: the end of file is already on the socket).
        @Test func connectionKilledWhileIdleIsReplaced() async throws {
            let server = try TestServer.shared()
            let admin = try await onOwnThread { try Connection.connect(server.dsn()) }
            @Sendable func terminate(_ pid: Int32) throws {
                _ = try admin.simpleQuery("SELECT pg_terminate_backend(\(pid))")
                usleep(200_000)  // let the FATAL and the end of file reach the idle socket
            }

            let blocking = try await onOwnThread { () throws -> (Int32?, Int32?, String?, Int) in
                let pool = try ConnectionPool(server.dsn(), configuration: PoolConfiguration(maxConnections: 1))
                defer { pool.close() }
                let first = try pool.withConnection { c in c.backendPID }
                if let first { try terminate(first) }
                let second = try pool.withConnection { c in (c.backendPID, try c.simpleQuery("SELECT 1").first?.rows.first?[0]) }
                return (first, second.0, second.1, pool.stats.discarded)
            }
            #expect(blocking.0 != nil && blocking.1 != blocking.0 && blocking.2 == "1")
            #expect(blocking.3 >= 1)

            let apool = try AsyncConnectionPool(server.dsn(), configuration: PoolConfiguration(maxConnections: 1))
            let afirst = try await apool.withConnection { c in c.backendPID }
            let pid = try #require(afirst)
            try await onOwnThread { try terminate(pid) }
            let asecond = try await apool.withConnection { c in (c.backendPID, try await c.simpleQuery("SELECT 1").first?.rows.first?[0]) }
            #expect(asecond.0 != afirst && asecond.1 == "1")
            await apool.close()
            admin.close()
        }

        @Test func blockingPoolSurvivesFailover() async throws {
            let outcome = try await onOwnThread { () throws -> Outcome in
                let (cluster, dsn) = try Self.prepare()
                defer { cluster.stop() }
                let newPrimaryPort = cluster.standbys[0].port
                let pool = try ConnectionPool(dsn, configuration: PoolConfiguration(maxConnections: Self.workers, acquireTimeout: 30))
                let log = FailoverLog()
                let group = DispatchGroup()
                for worker in 0..<Self.workers {
                    group.enter()
                    Thread {
                        defer { group.leave() }
                        var seq = 0
                        while !log.isStopped {
                            seq += 1
                            do {
                                let port = try pool.withConnection { c in
                                    _ = try c.query("INSERT INTO acked VALUES (\(worker), \(seq))")
                                    return c.host.port
                                }
                                log.ack(worker: worker, seq: seq, onPort: port, newPrimaryPort: newPrimaryPort)
                            } catch {
                                log.failure(error)
                            }
                            usleep(2_000)  // steady load without hogging a small machine
                        }
                    }.start()
                }
                var outcome = Outcome()
                var failure: (any Error)?
                do {
                    outcome = try Self.failOver(cluster, log, label: "ConnectionPool") { group.wait(timeout: .now() + 60) == .success }
                } catch {
                    failure = error
                }
                log.stop()
                if failure != nil { _ = group.wait(timeout: .now() + 60) }
                outcome.poolClosed = pool.close(timeout: 10)
                if let failure { throw failure }
                return outcome
            }
            Self.check(outcome, label: "ConnectionPool")
        }

        @Test func asyncPoolSurvivesFailover() async throws {
            let (cluster, dsn) = try await onOwnThread { try Self.prepare() }
            let newPrimaryPort = cluster.standbys[0].port
            let pool = try AsyncConnectionPool(dsn, configuration: PoolConfiguration(maxConnections: Self.workers, acquireTimeout: 30))
            let log = FailoverLog()
            let writersDone = DispatchSemaphore(value: 0)
            let writers = Task {
                defer { writersDone.signal() }
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<Self.workers {
                        group.addTask {
                            var seq = 0
                            while !log.isStopped {
                                seq += 1
                                do {
                                    let port = try await pool.withConnection { c in
                                        _ = try await c.execute("INSERT INTO acked VALUES ($1, $2)", [worker, seq])
                                        return c.connection.host.port
                                    }
                                    log.ack(worker: worker, seq: seq, onPort: port, newPrimaryPort: newPrimaryPort)
                                } catch {
                                    log.failure(error)
                                }
                                try? await Task.sleep(nanoseconds: 2_000_000)  // steady load without hogging a small machine
                            }
                        }
                    }
                }
            }
            var failure: (any Error)?
            var outcome = Outcome()
            do {
                outcome = try await onOwnThread {
                    try Self.failOver(cluster, log, label: "AsyncConnectionPool") { writersDone.wait(timeout: .now() + 60) == .success }
                }
            } catch {
                failure = error
            }
            log.stop()
            if failure == nil && !outcome.writersFinished {
                // A writer hung: report it rather than wait for it.
                Self.check(outcome, label: "AsyncConnectionPool")
                return
            }
            await writers.value
            #expect(await pool.close(timeout: 10))
            try await onOwnThread { cluster.stop() }
            if let failure { throw failure }
            Self.check(outcome, label: "AsyncConnectionPool")
        }
    }
}
