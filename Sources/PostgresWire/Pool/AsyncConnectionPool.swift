import Foundation
import Tracing

/// A pool of `AsyncConnection`s for async/await code. Waiting callers are suspended, never
/// blocked (FIFO); connections open on background threads; pings and resets run on each
/// connection's I/O thread. Same policies as `ConnectionPool`.
///
///     let pool = try AsyncConnectionPool("host=localhost dbname=app")
///     let count = try await pool.withConnection { conn in
///         try await conn.query("SELECT count(*) FROM users").rows[0].decode(Int.self, at: 0)
///     }
public final class AsyncConnectionPool: Sendable {
    public let configuration: PoolConfiguration
    let connectionConfiguration: ConnectionConfiguration
    let options: ConnectionOptions
    let core: PoolCore<AsyncConnection>
    let metrics: PoolMetrics?
    private let maintenance: PoolMaintenance

    public convenience init(_ dsn: String = "", configuration: PoolConfiguration = PoolConfiguration(), options: ConnectionOptions = ConnectionOptions()) throws {
        let connectionConfiguration: ConnectionConfiguration
        do {
            connectionConfiguration = try ConnectionConfiguration.parse(dsn)
        } catch {
            throw DatabaseError(.configuration(error))
        }
        self.init(connectionConfiguration: connectionConfiguration, configuration: configuration, options: options)
    }

    /// A pool connecting with an already parsed configuration (e.g. one built in code).
    public init(connectionConfiguration: ConnectionConfiguration, configuration: PoolConfiguration = PoolConfiguration(),
                options: ConnectionOptions = ConnectionOptions()) {
        self.connectionConfiguration = connectionConfiguration
        self.configuration = configuration
        self.options = options
        let core = PoolCore<AsyncConnection>(configuration: configuration)
        self.core = core
        let metrics = PoolMetrics(configuration: connectionConfiguration, maxConnections: configuration.maxConnections)
        self.metrics = metrics
        let cc = connectionConfiguration
        maintenance = PoolMaintenance(interval: configuration.maintenanceInterval) {
            for e in core.takeExpiredIdle() { e.resource.connection.close() }
            while core.reserveForMinIdle() {
                do {
                    let connection = try PoolMetrics.timeCreate(metrics) { try Connection(configuration: cc, options: options) }
                    if !core.addIdle(AsyncConnection(wrapping: connection)) { connection.close() }
                } catch {
                    core.minIdleFailed()
                    break
                }
            }
        }
    }

    deinit { maintenance.stop() }

    public var stats: PoolStats { core.stats }

    /// A connection for the caller's exclusive use; give it back with `release`.
    /// Throws `CancellationError` if the task is cancelled while waiting.
    public func acquire() async throws -> AsyncConnection {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            if let metrics {
                metrics.waitTime.recordNanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds &- start))
                metrics.update(core.stats)
            }
        }
        guard let observation = Observation.begin("pool.acquire", operation: "", connection: nil, metered: false,
                                                  configuration: connectionConfiguration) else {
            return try await acquireConnection()
        }
        do {
            let connection = try await ServiceContext.withValue(observation.span?.context ?? ServiceContext.current) {
                try await acquireConnection()
            }
            observation.end(error: nil, connection: connection.connection)
            return connection
        } catch {
            observation.end(error: error, connection: nil)
            throw error
        }
    }

    private func acquireConnection() async throws -> AsyncConnection {
        try Task.checkCancellation()
        let deadline = DispatchTime.now() + configuration.acquireTimeout
        var grant = try await waitForGrant()
        while true {
            switch grant {
            case .failed(let error): throw error
            case .entry(let entry):
                if let connection = await check(entry) { return connection }
                grant = .create
            case .create:
                do {
                    return try await openInSlot(deadline: deadline)
                } catch {
                    core.discardSlot(nil, broken: false)
                    throw error
                }
            }
        }
    }

    /// Returns a connection, reset for the next user (discarded if broken).
    public func release(_ connection: AsyncConnection) async {
        guard let entry = core.checkedOutEntry(connection) else { return }
        defer { metrics?.update(core.stats) }
        if connection.isClosed || core.isExpired(entry) || core.closing {
            connection.connection.close()
            core.discardSlot(entry, broken: connection.isClosed)
            return
        }
        let discardAll = configuration.discardAllOnRelease
        if !discardAll, connection.transactionStatus == .idle, !connection.openStream.isOpen {
            // Nothing to send to the server: reset the client-side session state here, without
            // a task and a round trip through the I/O thread.
            connection.connection.resetSessionState()
            core.release(entry)
            return
        }
        do {
            // Even from a cancelled task, the reset must run.
            try await Task { try await connection.withConnection { try $0.resetSession(discardAll: discardAll) } }.value
        } catch {
            connection.connection.close()
            core.discardSlot(entry)
            return
        }
        core.release(entry)
    }

    /// Runs `body` with a pooled connection and always gives it back, even when `body` throws.
    public func withConnection<T>(_ body: (AsyncConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        let result: T
        do {
            result = try await body(connection)
        } catch {
            await release(connection)
            throw error
        }
        await release(connection)
        return result
    }

    /// Graceful close: fails new and waiting acquires, closes idle connections, waits (without
    /// blocking the cooperative pool) for checked-out ones to return, then closes them.
    @discardableResult
    public func close(timeout: Double? = nil) async -> Bool {
        maintenance.stop()
        for e in core.beginClose() { e.resource.connection.close() }
        let core = self.core
        let drained = (try? await runOnNewThread(name: "PostgresWire pool close") {
            core.waitUntilDrained(deadline: timeout.map { Date(timeIntervalSinceNow: $0) })
        }) ?? false
        for e in core.takeIdleWhileClosing() { e.resource.connection.close() }
        return drained
    }

    // MARK: Internals

    private func waitForGrant() async throws -> PoolCore<AsyncConnection>.Grant {
        let core = self.core
        // An idle connection (or a free slot) at hand: no continuation, waiter or timer.
        if let grant = core.acquire(nil) { return grant }
        let metrics = self.metrics
        let box = GrantContinuation()
        let waiter = PoolCore<AsyncConnection>.Waiter { grant in box.resume(grant) }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<PoolCore<AsyncConnection>.Grant, Never>) in
                box.continuation = continuation
                if let grant = core.acquire(waiter) {
                    box.resume(grant)
                    return
                }
                metrics?.update(core.stats)
                if core.armWaiterTimer() { Self.scheduleWaiterTimer(core: core, after: core.configuration.acquireTimeout, metrics: metrics) }
                if Task.isCancelled, core.removeWaiter(waiter, timedOut: false) { waiter.deliver(.failed(CancellationError())) }
            }
        } onCancel: {
            if core.removeWaiter(waiter, timedOut: false) { waiter.deliver(.failed(CancellationError())) }
        }
    }

    /// The pool's one timer for the waiters' deadlines (one armed at a time, re-armed for the
    /// next deadline): fails each waiter whose deadline passed with the timeout error.
    private static func scheduleWaiterTimer(core: PoolCore<AsyncConnection>, after seconds: Double, metrics: PoolMetrics?) {
        DispatchQueue.global().asyncAfter(deadline: .now() + Swift.max(0, seconds)) {
            let (expired, next) = core.expireWaiters()
            if !expired.isEmpty {
                let error = core.timeoutError()
                for waiter in expired {
                    metrics?.timeouts.increment()
                    waiter.deliver(.failed(error))
                }
            }
            if let next { scheduleWaiterTimer(core: core, after: next, metrics: metrics) }
        }
    }

    private func check(_ entry: PoolCore<AsyncConnection>.Entry) async -> AsyncConnection? {
        let connection = entry.resource
        // A server gone away (or no longer suiting target_session_attrs) while the connection
        // sat idle shows without a round trip: replace it rather than hand it out. One handed
        // straight from the task that released it to this waiter never sat idle: no check (a
        // system call) then.
        var ok = !core.isExpired(entry) && (entry.handedOver ? !connection.isClosed : connection.connection.isUsableAfterIdle())
        if ok, configuration.prePing {
            do { _ = try await Task { try await connection.simpleQuery("") }.value } catch { ok = false }
        }
        if ok { return connection }
        connection.connection.close()
        core.noteReplaced(entry)
        return nil
    }

    private func openInSlot(deadline: DispatchTime) async throws -> AsyncConnection {
        let cc = connectionConfiguration
        let options = self.options
        var delay = 0.05
        while true {
            do {
                let start = DispatchTime.now().uptimeNanoseconds
                let connection = try await AsyncConnection.connect(configuration: cc, options: options)
                metrics?.createTime.recordNanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds &- start))
                _ = core.created(connection)
                return connection
            } catch {
                if DispatchTime.now() + delay >= deadline {
                    throw PostgresError.wrap(error)
                }
                try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                delay = Swift.min(delay * 2, 1)
            }
        }
    }
}

/// The continuation of a task waiting for a grant (set before its waiter is queued; resumed once).
final class GrantContinuation: @unchecked Sendable {
    var continuation: UnsafeContinuation<PoolCore<AsyncConnection>.Grant, Never>?

    func resume(_ grant: PoolCore<AsyncConnection>.Grant) {
        let c = continuation
        continuation = nil
        c?.resume(returning: grant)
    }
}

/// A background thread that runs `round` every `interval` seconds until stopped.
final class PoolMaintenance: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopped = false

    init(interval: Double, round: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            while true {
                round()
                condition.lock()
                if !stopped { _ = condition.wait(until: Date(timeIntervalSinceNow: interval)) }
                let done = stopped
                condition.unlock()
                if done { return }
            }
        }
        thread.name = "PostgresWire pool maintenance"
        thread.start()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
