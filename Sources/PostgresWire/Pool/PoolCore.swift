import Foundation

/// Settings shared by `ConnectionPool` and `AsyncConnectionPool`.
public struct PoolConfiguration: Sendable {
    /// Connections kept open even when idle (opened in the background).
    public var minIdle: Int
    /// Connections open at most (idle + in use + being opened).
    public var maxConnections: Int
    /// Seconds `acquire` waits for a connection before failing.
    public var acquireTimeout: Double
    /// Run an empty query on an idle connection before handing it out; a dead one is replaced.
    public var prePing: Bool
    /// Seconds after which a connection is closed and replaced (checked when idle).
    public var maxLifetime: Double?
    /// Seconds an idle connection above `minIdle` stays open.
    public var idleTimeout: Double?
    /// Run DISCARD ALL when a connection is released (ROLLBACK of an open transaction and
    /// closing its cursors happen always).
    public var discardAllOnRelease: Bool
    /// Seconds between background checks (idle timeout, lifetime, minIdle).
    public var maintenanceInterval: Double
    /// Seconds a graceful shutdown (`AsyncConnectionPool.run()` in a ServiceGroup) lets the
    /// queries in flight finish before their connections are cancelled and closed.
    public var shutdownTimeout: Double = 30

    public init(minIdle: Int = 0, maxConnections: Int = 10, acquireTimeout: Double = 30, prePing: Bool = false,
                maxLifetime: Double? = 3600, idleTimeout: Double? = 600, discardAllOnRelease: Bool = false,
                maintenanceInterval: Double = 1) {
        self.minIdle = minIdle
        self.maxConnections = Swift.max(1, maxConnections)
        self.acquireTimeout = acquireTimeout
        self.prePing = prePing
        self.maxLifetime = maxLifetime
        self.idleTimeout = idleTimeout
        self.discardAllOnRelease = discardAllOnRelease
        self.maintenanceInterval = maintenanceInterval
    }
}

/// Live counters of a pool.
public struct PoolStats: Sendable, Equatable, CustomStringConvertible {
    /// Connections open or being opened (idle + inUse + opening).
    public var open: Int
    public var idle: Int
    public var inUse: Int
    /// Callers waiting in `acquire`.
    public var waiters: Int
    /// Connections opened / closed since the pool started.
    public var created: Int
    public var closed: Int
    /// `acquire` calls that timed out.
    public var timedOut: Int
    /// Connections discarded because they were broken, expired or failed their reset/ping.
    public var discarded: Int

    public var description: String {
        "open=\(open) idle=\(idle) inUse=\(inUse) waiters=\(waiters) created=\(created) closed=\(closed) timedOut=\(timedOut)"
    }
}

/// Where `PoolCore` reads the time: monotonic nanoseconds. The pools use the system's clock;
/// unit tests drive a manual one, so lifetimes, idle timeouts and acquire timeouts are tested
/// without a server or a sleep.
protocol PoolClock: Sendable {
    func nanoseconds() -> UInt64
}

/// The system's monotonic clock (`DispatchTime`, the one `DispatchQueue.asyncAfter` counts in).
struct SystemPoolClock: PoolClock {
    func nanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}

/// Bookkeeping shared by the blocking and the async pool: slots, idle stack, FIFO waiters,
/// counters. Never blocks and never runs I/O under its lock.
final class PoolCore<Resource: AnyObject & Sendable>: @unchecked Sendable {
    final class Entry: @unchecked Sendable {
        let resource: Resource
        let createdAt: UInt64
        var releasedAt: UInt64
        /// Whether the last release handed it straight to a waiter (it never sat idle); set
        /// under the core's lock before the waiter is granted it.
        var handedOver = false
        init(_ resource: Resource, now: UInt64) {
            self.resource = resource
            createdAt = now
            releasedAt = now
        }
    }

    /// What a caller of `acquire` receives.
    enum Grant: @unchecked Sendable {
        /// An idle connection, now counted in use.
        case entry(Entry)
        /// A reserved slot: the caller opens a connection (and gives the slot back on failure).
        case create
        case failed(Error)
    }

    final class Waiter: @unchecked Sendable {
        let deliver: @Sendable (Grant) -> Void
        /// When the wait fails (clock nanoseconds), set when the waiter is queued; guarded by the core's lock.
        fileprivate(set) var deadline = UInt64.max
        init(_ deliver: @escaping @Sendable (Grant) -> Void) { self.deliver = deliver }
    }

    /// What `timeOut` found.
    enum TimeoutCheck: Equatable {
        /// The waiter was granted, cancelled or failed meanwhile: its grant is (being) delivered.
        case served
        /// The deadline passed: the waiter was removed and received the timeout error.
        case timedOut
        /// Not yet: check again after this many seconds.
        case notYet(seconds: Double)
    }

    let configuration: PoolConfiguration
    private let lock = NSLock()
    private var idle: [Entry] = []
    private var waiters: [Waiter] = []
    private var checkedOut: [ObjectIdentifier: Entry] = [:]
    private var openCount = 0
    private var inUseCount = 0
    private var created = 0
    private var closedCount = 0
    private var timedOut = 0
    private var discarded = 0
    private(set) var closing = false
    /// Whether a timer for the waiters' deadlines is armed (the async pool's one timer chain).
    private var waiterTimerArmed = false
    private let drained = NSCondition()
    let clock: any PoolClock

    init(configuration: PoolConfiguration, clock: any PoolClock = SystemPoolClock()) {
        self.configuration = configuration
        self.clock = clock
    }

    /// Seconds as clock nanoseconds, saturating (an infinite or huge timeout never overflows).
    static func nanoseconds(_ seconds: Double) -> UInt64 {
        guard seconds > 0 else { return 0 }
        return seconds >= 1e9 ? UInt64.max / 2 : UInt64(seconds * 1e9)
    }

    var stats: PoolStats {
        lock.withLock {
            PoolStats(open: openCount, idle: idle.count, inUse: inUseCount, waiters: waiters.count, created: created,
                      closed: closedCount, timedOut: timedOut, discarded: discarded)
        }
    }

    /// Tries to grant at once; otherwise enqueues `waiter` (FIFO) and returns nil (without a
    /// waiter: only tries).
    func acquire(_ waiter: Waiter?) -> Grant? {
        lock.withLock {
            if closing { return .failed(PostgresError.connectionClosed("the pool is closed")) }
            if waiters.isEmpty {
                if let entry = idle.popLast() {
                    inUseCount += 1
                    checkedOut[ObjectIdentifier(entry.resource)] = entry
                    return .entry(entry)
                }
                if openCount < configuration.maxConnections {
                    openCount += 1
                    inUseCount += 1
                    return .create
                }
            }
            guard let waiter else { return nil }
            let (deadline, overflow) = clock.nanoseconds().addingReportingOverflow(Self.nanoseconds(configuration.acquireTimeout))
            waiter.deadline = overflow ? .max : deadline
            waiters.append(waiter)
            return nil
        }
    }

    /// Removes a waiter that gave up (timeout, cancellation); false if it was already granted.
    func removeWaiter(_ waiter: Waiter, timedOut isTimeout: Bool) -> Bool {
        lock.withLock {
            guard let i = waiters.firstIndex(where: { $0 === waiter }) else { return false }
            waiters.remove(at: i)
            if isTimeout { timedOut += 1 }
            return true
        }
    }

    /// Called when the waiter's timer fires: fails it with the timeout error (delivered to the
    /// waiter) if its deadline passed and nobody served it meanwhile.
    @discardableResult
    func timeOut(_ waiter: Waiter) -> TimeoutCheck {
        let check: TimeoutCheck = lock.withLock {
            guard let i = waiters.firstIndex(where: { $0 === waiter }) else { return .served }
            let now = clock.nanoseconds()
            if now < waiter.deadline { return .notYet(seconds: Double(waiter.deadline - now) / 1e9) }
            waiters.remove(at: i)
            timedOut += 1
            return .timedOut
        }
        if check == .timedOut { waiter.deliver(.failed(timeoutError())) }
        return check
    }

    /// After queueing a waiter: true if the caller must arm the waiters' timer (none is armed
    /// and a waiter is queued). The timer then calls `expireWaiters` (see `AsyncConnectionPool`).
    func armWaiterTimer() -> Bool {
        lock.withLock {
            guard !waiterTimerArmed, !waiters.isEmpty else { return false }
            waiterTimerArmed = true
            return true
        }
    }

    /// The waiters' timer fired: removes the waiters whose deadline passed (they are counted as
    /// timed out; the caller delivers the timeout error to them) and returns the seconds until
    /// the next deadline, nil when no waiter is left (the timer is then disarmed).
    func expireWaiters() -> (expired: [Waiter], next: Double?) {
        lock.withLock {
            let now = clock.nanoseconds()
            var expired: [Waiter] = []
            waiters.removeAll { waiter in
                guard waiter.deadline <= now else { return false }
                expired.append(waiter)
                return true
            }
            timedOut += expired.count
            let next = waiters.map(\.deadline).min().map { Double($0 &- now) / 1e9 }
            waiterTimerArmed = next != nil
            return (expired, next)
        }
    }

    /// Records a connection opened in a `.create` slot, now in use by the caller.
    func created(_ resource: Resource) -> Entry {
        let entry = Entry(resource, now: clock.nanoseconds())
        lock.withLock {
            created += 1
            checkedOut[ObjectIdentifier(resource)] = entry
        }
        return entry
    }

    /// The checked-out entry of a resource (nil if not from this pool or already released).
    func checkedOutEntry(_ resource: Resource) -> Entry? {
        lock.withLock { checkedOut[ObjectIdentifier(resource)] }
    }

    /// Whether an entry must be replaced before use (lifetime or idle timeout exceeded).
    func isExpired(_ entry: Entry) -> Bool { isExpired(entry, now: clock.nanoseconds()) }

    private func isExpired(_ entry: Entry, now: UInt64) -> Bool {
        if let life = configuration.maxLifetime, Double(now &- entry.createdAt) / 1e9 >= life { return true }
        return false
    }

    /// Gives a checked-out connection back: to the first waiter, or to the idle stack.
    func release(_ entry: Entry) {
        var grant: (Waiter, Grant)?
        lock.withLock {
            checkedOut[ObjectIdentifier(entry.resource)] = nil
            if closing {
                // Not reused: the closer closes idle ones, so put it there.
                inUseCount -= 1
                idle.append(entry)
            } else if !waiters.isEmpty {
                checkedOut[ObjectIdentifier(entry.resource)] = entry
                entry.handedOver = true
                grant = (waiters.removeFirst(), .entry(entry))
            } else {
                inUseCount -= 1
                entry.releasedAt = clock.nanoseconds()
                entry.handedOver = false
                idle.append(entry)
            }
        }
        grant.map { $0.0.deliver($0.1) }
        signalIfDrained()
    }

    /// A checked-out (or being-created) slot whose connection is gone: the slot passes to the
    /// first waiter as `.create`, or is freed. Call `closeResource` yourself.
    func discardSlot(_ entry: Entry?, broken: Bool = true) {
        var grant: Waiter?
        lock.withLock {
            if let entry {
                checkedOut[ObjectIdentifier(entry.resource)] = nil
                closedCount += 1
                if broken { discarded += 1 }
            }
            if !closing, !waiters.isEmpty {
                grant = waiters.removeFirst()
            } else {
                openCount -= 1
                inUseCount -= 1
            }
        }
        grant?.deliver(.create)
        signalIfDrained()
    }

    /// Counts a replaced connection (closed, slot kept by the caller for a new one).
    func noteReplaced(_ entry: Entry) {
        lock.withLock {
            checkedOut[ObjectIdentifier(entry.resource)] = nil
            closedCount += 1
            discarded += 1
        }
    }

    /// Idle connections to close now (expired, or idle too long while more than `minIdle` stay idle:
    /// the same count `reserveForMinIdle` refills, so the two never undo each other).
    func takeExpiredIdle() -> [Entry] {
        let now = clock.nanoseconds()
        return lock.withLock {
            var out: [Entry] = []
            var keep: [Entry] = []
            for e in idle {
                let idleFor = Double(now &- e.releasedAt) / 1e9
                let tooIdle = configuration.idleTimeout.map { idleFor >= $0 } ?? false
                if isExpired(e, now: now) || (tooIdle && idle.count - out.count > configuration.minIdle) {
                    out.append(e)
                } else {
                    keep.append(e)
                }
            }
            idle = keep
            openCount -= out.count
            closedCount += out.count
            return out
        }
    }

    /// Reserves a slot for a background connection when below `minIdle` (true: open one, then `addIdle`).
    func reserveForMinIdle() -> Bool {
        lock.withLock {
            guard !closing, idle.count < configuration.minIdle, openCount < configuration.maxConnections, waiters.isEmpty else { return false }
            openCount += 1
            return true
        }
    }

    /// Adds a background-opened connection (or hands it to a waiter). False when the pool started
    /// closing while it was being opened: the slot is freed and the caller closes the connection.
    @discardableResult
    func addIdle(_ resource: Resource) -> Bool {
        let entry = Entry(resource, now: clock.nanoseconds())
        var grant: Waiter?
        let kept: Bool = lock.withLock {
            created += 1
            if closing {
                openCount -= 1
                closedCount += 1
                return false
            }
            if !waiters.isEmpty {
                grant = waiters.removeFirst()
                inUseCount += 1
                checkedOut[ObjectIdentifier(resource)] = entry
            } else {
                idle.append(entry)
            }
            return true
        }
        grant?.deliver(.entry(entry))
        return kept
    }

    /// A background open failed: free its slot (or give it to a waiter to try).
    func minIdleFailed() {
        var grant: Waiter?
        lock.withLock {
            if !closing, !waiters.isEmpty {
                grant = waiters.removeFirst()
                inUseCount += 1
            } else {
                openCount -= 1
            }
        }
        grant?.deliver(.create)
    }

    /// Starts closing: new acquires fail, waiters are failed. Returns the idle entries to close.
    func beginClose() -> [Entry] {
        let (failed, entries): ([Waiter], [Entry]) = lock.withLock {
            closing = true
            let w = waiters
            waiters = []
            let e = idle
            idle = []
            openCount -= e.count
            closedCount += e.count
            return (w, e)
        }
        for w in failed { w.deliver(.failed(PostgresError.connectionClosed("the pool is closed"))) }
        return entries
    }

    /// Idle entries released since `beginClose`, to close.
    func takeIdleWhileClosing() -> [Entry] {
        lock.withLock {
            let e = idle
            idle = []
            openCount -= e.count
            closedCount += e.count
            return e
        }
    }

    var inUse: Int { lock.withLock { inUseCount } }

    /// The connections checked out now.
    func checkedOutResources() -> [Resource] { lock.withLock { checkedOut.values.map(\.resource) } }

    /// Blocks until nothing is checked out (or the deadline passes); true if drained.
    func waitUntilDrained(deadline: Date?) -> Bool {
        drained.lock()
        defer { drained.unlock() }
        while inUse > 0 {
            if let deadline {
                if !drained.wait(until: deadline) { return inUse == 0 }
            } else {
                drained.wait()
            }
        }
        return true
    }

    private func signalIfDrained() {
        drained.lock()
        drained.broadcast()
        drained.unlock()
    }

    func timeoutError() -> DatabaseError {
        let s = stats
        return .timeout("timed out after \(configuration.acquireTimeout)s waiting for a connection from the pool (max \(configuration.maxConnections); \(s))")
    }
}
