import Foundation
import Testing
@testable import PostgresWire

/// `PoolCore`, the bookkeeping both pools share, driven by a manual clock with fake connections:
/// no server, no sleep.
@Suite("Pool core")
struct PoolCoreTests {
    final class FakeConnection: Sendable, CustomStringConvertible {
        let id: Int
        init(_ id: Int) { self.id = id }
        var description: String { "conn\(id)" }
    }

    /// A clock that moves only when the test says so.
    final class ManualClock: PoolClock, @unchecked Sendable {
        private let lock = NSLock()
        private var now: UInt64 = 1_000_000_000
        func nanoseconds() -> UInt64 { lock.withLock { now } }
        func advance(_ seconds: Double) { lock.withLock { now += UInt64(seconds * 1e9) } }
    }

    typealias Core = PoolCore<FakeConnection>

    /// Records what each waiter received, in delivery order.
    final class Deliveries: @unchecked Sendable {
        private let lock = NSLock()
        private var log: [(waiter: String, grant: Core.Grant)] = []
        func waiter(_ name: String) -> Core.Waiter { Core.Waiter { grant in self.lock.withLock { self.log.append((name, grant)) } } }
        var names: [String] { lock.withLock { log.map(\.waiter) } }
        func grant(of name: String) -> Core.Grant? { lock.withLock { log.last { $0.waiter == name }?.grant } }
    }

    static func make(_ configuration: PoolConfiguration) -> (Core, ManualClock) {
        let clock = ManualClock()
        return (Core(configuration: configuration, clock: clock), clock)
    }

    /// Acquires at once, opening a fake connection for a `.create` grant as the pools do.
    static func acquireNow(_ core: Core, _ id: Int) throws -> Core.Entry {
        let grant = try #require(core.acquire(Core.Waiter { _ in }))
        switch grant {
        case .entry(let e): return e
        case .create: return core.created(FakeConnection(id))
        case .failed(let error): throw error
        }
    }

    static func isCreate(_ g: Core.Grant?) -> Bool { if case .create = g { return true } else { return false } }
    static func entry(_ g: Core.Grant?) -> Core.Entry? { if case .entry(let e) = g { return e } else { return nil } }
    static func failure(_ g: Core.Grant?) -> (any Error)? { if case .failed(let e) = g { return e } else { return nil } }

    @Test("waiters are served in arrival order, and a newcomer does not jump the queue")
    func fifoWaiters() throws {
        let (core, _) = Self.make(PoolConfiguration(maxConnections: 2))
        let a = try Self.acquireNow(core, 1), b = try Self.acquireNow(core, 2)
        let d = Deliveries()
        let waiters = ["w1", "w2", "w3", "w4"].map { ($0, d.waiter($0)) }
        for (_, w) in waiters { #expect(core.acquire(w) == nil) }
        #expect(core.stats.waiters == 4)

        core.release(b)
        #expect(d.names == ["w1"])
        #expect(Self.entry(d.grant(of: "w1"))?.resource === b.resource)
        // An acquire arriving now queues behind w2…w4.
        let late = d.waiter("late")
        #expect(core.acquire(late) == nil)
        core.release(a)
        core.release(try #require(Self.entry(d.grant(of: "w1"))))
        // A broken connection's slot goes to the next waiter, which opens a new connection.
        let w2: Core.Entry = try #require(Self.entry(d.grant(of: "w2")))
        core.discardSlot(w2)
        #expect(d.names == ["w1", "w2", "w3", "w4"])
        #expect(Self.isCreate(d.grant(of: "w4")))
        #expect(core.stats == PoolStats(open: 2, idle: 0, inUse: 2, waiters: 1, created: 2, closed: 1, timedOut: 0, discarded: 1))
        core.release(try #require(Self.entry(d.grant(of: "w3"))))
        #expect(d.names.last == "late")
        #expect(core.stats.waiters == 0)
    }

    @Test("minIdle connections are opened in the background and survive the idle timeout")
    func minIdleKept() throws {
        let (core, clock) = Self.make(PoolConfiguration(minIdle: 2, maxConnections: 4, maxLifetime: nil, idleTimeout: 600))
        // The maintenance round: reserve a slot, open, add; until minIdle are idle.
        var opened = 0
        while core.reserveForMinIdle() {
            opened += 1
            core.addIdle(FakeConnection(opened))
        }
        #expect(opened == 2)
        #expect(core.stats.idle == 2 && core.stats.open == 2 && core.stats.created == 2)

        clock.advance(3600)
        #expect(core.takeExpiredIdle().isEmpty)
        #expect(core.stats.idle == 2)

        // A failed background open frees its slot.
        let e = try Self.acquireNow(core, 0)
        #expect(core.reserveForMinIdle())
        core.minIdleFailed()
        #expect(core.stats.open == 2)
        // A background connection arriving while someone waits goes to the waiter.
        let full = try (3...5).map { try Self.acquireNow(core, $0) }
        let d = Deliveries()
        #expect(core.acquire(d.waiter("w")) == nil)
        #expect(!core.reserveForMinIdle())  // at maxConnections, and a waiter is first anyway
        core.release(e)
        #expect(Self.entry(d.grant(of: "w"))?.resource === e.resource)
        _ = full
    }

    @Test("the idle timeout keeps minIdle idle connections while others are in use (no close-and-reopen churn)")
    func idleTimeoutWithConnectionsInUse() throws {
        let (core, clock) = Self.make(PoolConfiguration(minIdle: 2, maxConnections: 6, maxLifetime: nil, idleTimeout: 600))
        let entries = try (1...6).map { try Self.acquireNow(core, $0) }
        for e in entries.prefix(4) { core.release(e) }
        clock.advance(600)
        // 4 idle too long, 2 in use: close 2, keep minIdle idle, so the maintenance round opens none.
        // (Counting open connections instead closed all 4 and then reopened 2.)
        #expect(core.takeExpiredIdle().count == 2)
        #expect(core.stats.idle == 2 && core.stats.inUse == 2 && core.stats.open == 4)
        #expect(!core.reserveForMinIdle())
    }

    @Test("a background connection finished after the pool started closing is not kept")
    func addIdleWhileClosing() {
        let (core, _) = Self.make(PoolConfiguration(minIdle: 1))
        #expect(core.reserveForMinIdle())
        #expect(core.beginClose().isEmpty)
        // The maintenance round was opening it meanwhile: the caller must close it.
        #expect(!core.addIdle(FakeConnection(1)))
        #expect(core.stats.open == 0 && core.stats.idle == 0 && core.takeIdleWhileClosing().isEmpty)
    }

    @Test("the idle timeout closes idle connections above minIdle, longest idle first")
    func idleTimeout() throws {
        let (core, clock) = Self.make(PoolConfiguration(minIdle: 1, maxConnections: 4, maxLifetime: nil, idleTimeout: 600))
        let entries = try (1...4).map { try Self.acquireNow(core, $0) }
        core.release(entries[0])
        core.release(entries[1])
        clock.advance(300)
        core.release(entries[2])
        core.release(entries[3])
        #expect(core.stats.idle == 4)
        clock.advance(299)
        #expect(core.takeExpiredIdle().isEmpty)
        clock.advance(1)
        // The two released at t=0 are idle 600 s; the other two only 300 s.
        let closed = core.takeExpiredIdle().map(\.resource.id)
        #expect(Set(closed) == [1, 2])
        #expect(core.stats.idle == 2 && core.stats.open == 2 && core.stats.closed == 2)
        clock.advance(300)
        // Both are idle too long now, but one stays for minIdle.
        #expect(core.takeExpiredIdle().count == 1)
        #expect(core.stats.idle == 1 && core.stats.open == 1)
        // No idle timeout configured: nothing is closed for being idle.
        let (keep, keepClock) = Self.make(PoolConfiguration(maxLifetime: nil, idleTimeout: nil))
        keep.release(try Self.acquireNow(keep, 9))
        keepClock.advance(1e6)
        #expect(keep.takeExpiredIdle().isEmpty)
    }

    @Test("max lifetime: an old connection is retired on release, on acquire and when idle, even below minIdle")
    func maxLifetime() throws {
        let (core, clock) = Self.make(PoolConfiguration(minIdle: 2, maxConnections: 2, maxLifetime: 3600, idleTimeout: nil))
        let a = try Self.acquireNow(core, 1)
        clock.advance(1800)
        let b = try Self.acquireNow(core, 2)
        clock.advance(1799)
        #expect(!core.isExpired(a) && !core.isExpired(b))
        clock.advance(1)
        #expect(core.isExpired(a) && !core.isExpired(b))

        // On release (ConnectionPool.release): expired, so closed and its slot freed or passed on.
        let d = Deliveries()
        #expect(core.acquire(d.waiter("w")) == nil)
        core.discardSlot(a, broken: false)
        #expect(Self.isCreate(d.grant(of: "w")))
        let c = core.created(FakeConnection(3))
        #expect(!core.isExpired(c))
        #expect(core.stats.closed == 1 && core.stats.discarded == 0 && core.stats.open == 2)

        // On acquire: an idle connection past its lifetime is replaced in the same slot.
        core.release(b)
        clock.advance(1800)
        let g = try #require(core.acquire(Core.Waiter { _ in }))
        let idle = try #require(Self.entry(g))
        #expect(idle.resource === b.resource && core.isExpired(idle))
        core.noteReplaced(idle)
        _ = core.created(FakeConnection(4))
        #expect(core.stats.open == 2 && core.stats.closed == 2 && core.stats.discarded == 1)

        // Idle: maintenance closes it even though that leaves fewer than minIdle.
        core.release(c)
        clock.advance(1800)
        #expect(core.takeExpiredIdle().map(\.resource.id) == [3])
        #expect(core.stats.idle == 0 && core.stats.open == 1)
    }

    @Test("acquire times out at the deadline of the injected clock with the timeout error")
    func acquireTimeout() throws {
        let (core, clock) = Self.make(PoolConfiguration(maxConnections: 1, acquireTimeout: 30))
        let held = try Self.acquireNow(core, 1)
        let d = Deliveries()
        let w1 = d.waiter("w1")
        #expect(core.acquire(w1) == nil)
        clock.advance(10)
        let w2 = d.waiter("w2")
        #expect(core.acquire(w2) == nil)

        clock.advance(19.5)
        #expect(core.timeOut(w1) == .notYet(seconds: 0.5))
        #expect(d.names.isEmpty)
        clock.advance(0.5)
        #expect(core.timeOut(w1) == .timedOut)
        let error = try #require(Self.failure(d.grant(of: "w1")))
        #expect("\(error)".contains("timed out after 30.0s waiting for a connection"))
        #expect(core.stats.timedOut == 1 && core.stats.waiters == 1)
        #expect(core.timeOut(w2) == .notYet(seconds: 10))

        // A waiter served before its timer fires is left alone.
        core.release(held)
        #expect(Self.entry(d.grant(of: "w2")) != nil)
        clock.advance(60)
        #expect(core.timeOut(w2) == .served)
        #expect(core.timeOut(w1) == .served)
        #expect(core.stats.timedOut == 1)
        #expect(d.names == ["w1", "w2"])

        // An unbounded timeout never overflows the deadline.
        let (forever, foreverClock) = Self.make(PoolConfiguration(maxConnections: 1, acquireTimeout: .infinity))
        _ = try Self.acquireNow(forever, 1)
        let w = Core.Waiter { _ in }
        #expect(forever.acquire(w) == nil)
        foreverClock.advance(1e9)
        if case .notYet = forever.timeOut(w) {} else { Issue.record("an infinite timeout expired") }
    }

    @Test("releasing a broken connection frees its slot, or hands it to a waiter to open a new one")
    func brokenRelease() throws {
        let (core, _) = Self.make(PoolConfiguration(maxConnections: 2))
        let a = try Self.acquireNow(core, 1), b = try Self.acquireNow(core, 2)
        core.discardSlot(a)
        #expect(core.checkedOutEntry(a.resource) == nil)
        #expect(core.stats == PoolStats(open: 1, idle: 0, inUse: 1, waiters: 0, created: 2, closed: 1, timedOut: 0, discarded: 1))
        let c = try Self.acquireNow(core, 3)
        let d = Deliveries()
        #expect(core.acquire(d.waiter("w")) == nil)
        core.discardSlot(b)
        #expect(Self.isCreate(d.grant(of: "w")))
        #expect(core.stats.open == 2 && core.stats.inUse == 2 && core.stats.discarded == 2)
        // Opening failed for the waiter: the slot is freed (no entry).
        core.discardSlot(nil, broken: false)
        #expect(core.stats.open == 1 && core.stats.inUse == 1 && core.stats.discarded == 2)
        core.release(c)
        #expect(core.stats.idle == 1 && core.stats.inUse == 0)
    }

    @Test("closing fails waiters and new acquires, and hands back idle connections to close")
    func closing() throws {
        let (core, _) = Self.make(PoolConfiguration(maxConnections: 2))
        let a = try Self.acquireNow(core, 1), b = try Self.acquireNow(core, 2)
        core.release(a)
        let d = Deliveries()
        _ = try Self.acquireNow(core, 0)  // takes a again
        #expect(core.acquire(d.waiter("w")) == nil)
        #expect(core.beginClose().isEmpty)
        #expect("\(try #require(Self.failure(d.grant(of: "w"))))".contains("closed"))
        #expect(Self.failure(core.acquire(Core.Waiter { _ in })) != nil)
        core.release(b)
        core.release(a)
        #expect(core.waitUntilDrained(deadline: Date()))
        #expect(core.takeIdleWhileClosing().count == 2)
        #expect(core.stats.open == 0)
    }
}
