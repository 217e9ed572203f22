import Foundation
import Tracing

/// A pool of blocking connections, safe to share between threads.
///
///     let pool = try ConnectionPool("host=localhost dbname=app", configuration: PoolConfiguration(maxConnections: 8))
///     let names = try pool.withConnection { conn in try conn.query("SELECT name FROM users").rows }
///
/// `acquire` hands out a connection used by nobody else; waiters are served first come, first
/// served; broken or expired connections are replaced without the caller seeing them. On release
/// an open transaction is rolled back, cursors are closed and DB-API settings restored
/// (optionally DISCARD ALL).
public final class ConnectionPool: @unchecked Sendable {
    public let configuration: PoolConfiguration
    let metrics: PoolMetrics?
    let connectionConfiguration: ConnectionConfiguration
    let options: ConnectionOptions
    let core: PoolCore<Connection>
    private let maintenanceStop = NSCondition()
    private var stopped = false

    /// Creates the pool (no connection is opened here; `minIdle` ones open in the background).
    public init(_ dsn: String = "", configuration: PoolConfiguration = PoolConfiguration(), options: ConnectionOptions = ConnectionOptions()) throws {
        do {
            connectionConfiguration = try ConnectionConfiguration.parse(dsn)
        } catch {
            throw DatabaseError(.configuration(error))
        }
        self.configuration = configuration
        self.options = options
        core = PoolCore(configuration: configuration)
        metrics = PoolMetrics(configuration: connectionConfiguration, maxConnections: configuration.maxConnections)
        startMaintenance()
    }

    public var stats: PoolStats { core.stats }

    // MARK: Acquire and release

    /// A connection for the caller's exclusive use; give it back with `release`.
    public func acquire() throws -> Connection {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            if let metrics {
                metrics.waitTime.recordNanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds &- start))
                metrics.update(core.stats)
            }
        }
        guard let observation = Observation.begin("pool.acquire", operation: "", connection: nil, metered: false,
                                                  configuration: connectionConfiguration) else {
            return try acquireConnection()
        }
        do {
            let connection = try ServiceContext.withValue(observation.span?.context ?? ServiceContext.current) { try acquireConnection() }
            observation.end(error: nil, connection: connection)
            return connection
        } catch {
            observation.end(error: error, connection: nil)
            throw error
        }
    }

    private func acquireConnection() throws -> Connection {
        let deadline = Date(timeIntervalSinceNow: configuration.acquireTimeout)
        var grant = waitForGrant()
        while true {
            switch grant {
            case .failed(let error): throw DatabaseError.wrap(error)
            case .entry(let entry):
                if let connection = check(entry) { return connection }
                // Replaced in the same slot.
                grant = .create
            case .create:
                do {
                    return try openInSlot(deadline: deadline)
                } catch {
                    core.discardSlot(nil, broken: false)
                    throw error
                }
            }
        }
    }

    /// Returns a connection (reset for the next user; discarded if broken).
    public func release(_ connection: Connection) {
        guard let entry = core.checkedOutEntry(connection) else { return }
        defer { metrics?.update(core.stats) }
        if connection.isClosed || core.isExpired(entry) || core.closing {
            connection.close()
            core.discardSlot(entry, broken: connection.isClosed)
            return
        }
        do {
            try connection.resetSession(discardAll: configuration.discardAllOnRelease)
        } catch {
            connection.close()
            core.discardSlot(entry)
            return
        }
        core.release(entry)
    }

    /// Runs `body` with a pooled connection and always gives it back, even when `body` throws.
    public func withConnection<T>(_ body: (Connection) throws -> T) throws -> T {
        let connection = try acquire()
        defer { release(connection) }
        return try body(connection)
    }

    // MARK: Closing

    /// Graceful close: new acquires fail at once, waiting ones fail, idle connections close; then
    /// waits for checked-out connections to come back (up to `timeout` seconds) and closes them.
    /// Returns false if some were still checked out at the deadline.
    @discardableResult
    public func close(timeout: Double? = nil) -> Bool {
        maintenanceStop.lock()
        stopped = true
        maintenanceStop.broadcast()
        maintenanceStop.unlock()
        for e in core.beginClose() { e.resource.close() }
        let drained = core.waitUntilDrained(deadline: timeout.map { Date(timeIntervalSinceNow: $0) })
        for e in core.takeIdleWhileClosing() { e.resource.close() }
        return drained
    }

    // MARK: Internals

    /// A grant, or `.failed` with the timeout error once the core's clock passes the waiter's deadline.
    private func waitForGrant() -> PoolCore<Connection>.Grant {
        let box = GrantBox()
        let waiter = PoolCore<Connection>.Waiter { grant in box.put(grant) }
        if let grant = core.acquire(waiter) { return grant }
        metrics?.update(core.stats)
        var wait = configuration.acquireTimeout
        while true {
            if let grant = box.take(until: Date(timeIntervalSinceNow: wait)) { return grant }
            // Timed out (the error is in the box), or granted just as the time ran out: take it.
            switch core.timeOut(waiter) {
            case .notYet(let seconds): wait = seconds; continue
            case .timedOut: metrics?.timeouts.increment()
            case .served: break
            }
            return box.take(until: .distantFuture)!
        }
    }

    /// Validates an idle connection; replaces (closes) it and returns nil if unusable.
    private func check(_ entry: PoolCore<Connection>.Entry) -> Connection? {
        let connection = entry.resource
        // A server gone away (or no longer suiting target_session_attrs) while the connection
        // sat idle shows without a round trip: replace it rather than hand it out. A connection
        // handed straight from a releasing thread to a waiting one never sat idle: no poll.
        var ok = !core.isExpired(entry) && (entry.handedOver ? !connection.isClosed : connection.isUsableAfterIdle())
        if ok, configuration.prePing {
            do { try connection.simpleQuery("") } catch { ok = false }
        }
        if ok { return connection }
        connection.close()
        core.noteReplaced(entry)
        return nil
    }

    /// Opens a connection for a reserved slot, retrying (the server may be restarting) until the deadline.
    private func openInSlot(deadline: Date) throws(DatabaseError) -> Connection {
        var delay = 0.05
        while true {
            do {
                let connection = try PoolMetrics.timeCreate(metrics) { () throws(PostgresError) in
                    try Connection(configuration: connectionConfiguration, options: options)
                }
                _ = core.created(connection)
                return connection
            } catch {
                if Date() + delay >= deadline {
                    throw PostgresError.wrap(error)
                }
                Thread.sleep(forTimeInterval: delay)
                delay = Swift.min(delay * 2, 1)
            }
        }
    }

    private func startMaintenance() {
        let thread = Thread { [weak self] in
            while let pool = self {
                if !pool.maintain() { return }
            }
        }
        thread.name = "PostgresWire pool maintenance"
        thread.start()
    }

    /// One maintenance round; false when the pool stopped.
    private func maintain() -> Bool {
        for e in core.takeExpiredIdle() { e.resource.close() }
        while core.reserveForMinIdle() {
            do {
                let connection = try PoolMetrics.timeCreate(metrics) { try Connection(configuration: connectionConfiguration, options: options) }
                if !core.addIdle(connection) { connection.close() }
            } catch {
                core.minIdleFailed()
                break
            }
        }
        maintenanceStop.lock()
        defer { maintenanceStop.unlock() }
        if stopped { return false }
        _ = maintenanceStop.wait(until: Date(timeIntervalSinceNow: configuration.maintenanceInterval))
        return !stopped
    }
}

/// A one-shot slot a blocking waiter sleeps on.
final class GrantBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var grant: PoolCore<Connection>.Grant?

    func put(_ g: PoolCore<Connection>.Grant) {
        condition.lock()
        grant = g
        condition.signal()
        condition.unlock()
    }

    func take(until deadline: Date) -> PoolCore<Connection>.Grant? {
        condition.lock()
        defer { condition.unlock() }
        while grant == nil {
            if !condition.wait(until: deadline) { break }
        }
        defer { grant = nil }
        return grant
    }
}
