import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// A set of connections currently in use, shared by threads/tasks: proves no connection is used twice at once.
final class InUseTracker: @unchecked Sendable {
    private let lock = NSLock()
    private var inUse: Set<ObjectIdentifier> = []
    private(set) var violations = 0
    private(set) var uses = 0
    func enter(_ o: AnyObject) { lock.withLock { uses += 1; if !inUse.insert(ObjectIdentifier(o)).inserted { violations += 1 } } }
    func leave(_ o: AnyObject) { lock.withLock { _ = inUse.remove(ObjectIdentifier(o)) } }
}

/// A TCP forwarder to the test server that can be "restarted" (every connection dropped, new ones
/// refused for a while), which is what a server restart looks like to a client.
final class RestartableProxy: @unchecked Sendable {
    let port: Int
    private let upstreamHost: String
    private let upstreamPort: Int
    private let lock = NSLock()
    private var listener: Int32 = -1
    private var sockets: [Int32] = []

    init(upstreamHost: String, upstreamPort: Int) throws {
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        let (fd, port) = try Self.listen(port: 0)
        self.port = port
        listener = fd
        startAccepting(fd)
    }

    private static func listen(port: Int) throws -> (Int32, Int) {
        let fd = Platform.socket(AF_INET, Platform.socketStream, 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0, Platform.listen(fd, 64) == 0 else { close(fd); throw TestServerError("proxy bind failed: \(errno)") }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return (fd, Int(UInt16(bigEndian: actual.sin_port)))
    }

    private func startAccepting(_ fd: Int32) {
        Thread { [self] in
            while true {
                let client = Platform.accept(fd, nil, nil)
                if client < 0 { return }
                let upstream = Platform.socket(AF_INET, Platform.socketStream, 0)
                var addr = sockaddr_in()
                addr.sin_family = sa_family_t(AF_INET)
                addr.sin_port = in_port_t(UInt16(upstreamPort).bigEndian)
                addr.sin_addr.s_addr = inet_addr(upstreamHost == "localhost" ? "127.0.0.1" : upstreamHost)
                let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                if ok != 0 { close(client); close(upstream); continue }
                lock.withLock { sockets += [client, upstream] }
                Self.pump(from: client, to: upstream)
                Self.pump(from: upstream, to: client)
            }
        }.start()
    }

    private static func pump(from a: Int32, to b: Int32) {
        Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(a, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                var off = 0
                while off < n {
                    let w = buffer.withUnsafeBytes { write(b, $0.baseAddress! + off, n - off) }
                    if w <= 0 { break }
                    off += w
                }
                if off < n { break }
            }
            shutdown(a, Int32(SHUT_RDWR))
            shutdown(b, Int32(SHUT_RDWR))
        }.start()
    }

    /// Drops every connection and refuses new ones.
    func stop() {
        lock.withLock {
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
            listener = -1
            for s in sockets { shutdown(s, Int32(SHUT_RDWR)) }
            sockets = []
        }
    }

    /// Accepts again on the same port.
    func start() throws {
        let (fd, _) = try Self.listen(port: port)
        lock.withLock { listener = fd }
        startAccepting(fd)
    }
}

@Suite struct PoolTests {
    static func dsn() throws -> String { try dbapiTestDSN() }

    @Test func stressFromManyThreads() throws {
        let pool = try ConnectionPool(Self.dsn(), configuration: PoolConfiguration(maxConnections: 4, acquireTimeout: 60))
        let tracker = InUseTracker()
        let group = DispatchGroup()
        let failures = LockedCounter()
        for t in 0..<16 {
            Thread {
                for i in 0..<25 {
                    do {
                        try pool.withConnection { conn in
                            tracker.enter(conn)
                            defer { tracker.leave(conn) }
                            let v = t * 1000 + i
                            let r = try conn.query("SELECT \(v)::int")
                            if try r.rows[0].decode(Int.self, at: 0) != v { failures.add() }
                        }
                    } catch {
                        failures.add()
                    }
                }
                group.leave()
            }.start()
            group.enter()
        }
        group.wait()
        #expect(failures.value == 0)
        #expect(tracker.violations == 0)
        #expect(tracker.uses == 400)
        let s = pool.stats
        #expect(s.inUse == 0 && s.waiters == 0)
        #expect(s.open <= 4 && s.open == s.idle)
        #expect(s.created - s.closed == s.open)
        #expect(pool.close(timeout: 5))
        #expect(pool.stats.open == 0)
    }

    @Test func acquireTimeoutNamesThePoolState() throws {
        let pool = try ConnectionPool(Self.dsn(), configuration: PoolConfiguration(maxConnections: 1, acquireTimeout: 0.3))
        defer { pool.close(timeout: 1) }
        let held = try pool.acquire()
        let e = expectDatabaseError { _ = try pool.acquire() }
        #expect(e?.category == .operational)
        #expect(e?.message.contains("inUse=1") == true)
        #expect(e?.message.contains("max 1") == true)
        #expect(pool.stats.timedOut == 1)
        pool.release(held)
        try pool.withConnection { _ in }
    }

    @Test func waitersAreServedFirstInFirstOut() throws {
        let pool = try ConnectionPool(Self.dsn(), configuration: PoolConfiguration(maxConnections: 1, acquireTimeout: 30))
        defer { pool.close(timeout: 1) }
        let held = try pool.acquire()
        let order = LockedList()
        let group = DispatchGroup()
        for i in 0..<5 {
            group.enter()
            Thread {
                try? pool.withConnection { _ in order.append(i) }
                group.leave()
            }.start()
            // Wait until this thread is queued before starting the next.
            while pool.stats.waiters < i + 1 { Thread.sleep(forTimeInterval: 0.01) }
        }
        pool.release(held)
        group.wait()
        #expect(order.values == [0, 1, 2, 3, 4])
    }

    @Test func releaseResetsTheSession() throws {
        let table = dbapiUniqueName("pool_reset")
        let pool = try ConnectionPool(Self.dsn(), configuration: PoolConfiguration(maxConnections: 1, discardAllOnRelease: true))
        defer { pool.close(timeout: 1) }
        _ = try pool.withConnection { c in try c.simpleQuery("CREATE TABLE \(table) (x int)") }
        defer { try? pool.withConnection { c in _ = try c.simpleQuery("DROP TABLE \(table)") } }
        var cursor: Cursor?
        try pool.withConnection { c in
            c.autocommit = false
            c.isolationLevel = .serializable
            let cur = try c.cursor()
            try cur.execute("INSERT INTO \(table) VALUES ($1)", [1])
            try cur.execute("SET application_name = 'dirty'", [])
            #expect(c.transactionStatus == .inTransaction)
            cursor = cur
        }
        try pool.withConnection { c in
            #expect(c.transactionStatus == .idle)
            #expect(c.isolationLevel == nil)
            let count = try c.simpleQuery("SELECT count(*) FROM \(table)")[0].rows[0][0]
            #expect(count == "0")  // rolled back
            let name = try c.simpleQuery("SHOW application_name")[0].rows[0][0]
            #expect(name != "dirty")  // DISCARD ALL
        }
        // The cursor of the previous user is closed.
        #expect(expectDatabaseError { try cursor!.execute("SELECT 1", []) }?.category == .interface)
    }

    @Test func withConnectionReturnsTheConnectionWhenTheBodyThrows() throws {
        let pool = try ConnectionPool(Self.dsn(), configuration: PoolConfiguration(maxConnections: 1, acquireTimeout: 2))
        defer { pool.close(timeout: 1) }
        struct Boom: Error {}
        #expect(throws: Boom.self) { try pool.withConnection { _ in throw Boom() } }
        #expect(throws: PostgresError.self) { try pool.withConnection { c in try c.query("SELECT 1/0") } }  // the body's error, as is
        #expect(pool.stats.inUse == 0)
        #expect(pool.stats.idle == 1)
        try pool.withConnection { c in _ = try c.query("SELECT 1") }
    }

    @Test func terminatedBackendIsReplacedSilently() throws {
        let pool = try ConnectionPool(Self.dsn(), configuration: PoolConfiguration(maxConnections: 2, prePing: true))
        defer { pool.close(timeout: 1) }
        let pid = try pool.withConnection { $0.backendPID! }
        let killer = try Connection.connect(Self.dsn())
        defer { killer.close() }
        try killer.query("SELECT pg_terminate_backend(\(pid))")
        Thread.sleep(forTimeInterval: 0.2)
        let newPID = try pool.withConnection { c in try c.query("SELECT pg_backend_pid()").rows[0].decode(Int32.self, at: 0) }
        #expect(newPID != pid)
        #expect(pool.stats.discarded == 1)
        // A connection that breaks while checked out is discarded on release.
        let pid2 = try pool.withConnection { $0.backendPID! }
        try pool.withConnection { c in
            try killer.query("SELECT pg_terminate_backend(\(c.backendPID!))")
            Thread.sleep(forTimeInterval: 0.2)
            _ = try? c.query("SELECT 1")
            #expect(c.isClosed)
        }
        #expect(try pool.withConnection { $0.backendPID! } != pid2)
        let s = pool.stats
        #expect(s.created - s.closed == s.open)
    }

    @Test func serverRestartIsInvisibleToTheNextAcquire() throws {
        let server = try TestServer.shared()
        let proxy = try RestartableProxy(upstreamHost: server.host, upstreamPort: server.port)
        let dsn = "host=127.0.0.1 port=\(proxy.port) user=pgwire_trust dbname=pgwire_test connect_timeout=5"
        let pool = try ConnectionPool(dsn, configuration: PoolConfiguration(maxConnections: 3, acquireTimeout: 15, prePing: true))
        defer { pool.close(timeout: 1) }
        // Three idle connections.
        let a = try pool.acquire(), b = try pool.acquire(), c = try pool.acquire()
        pool.release(a); pool.release(b); pool.release(c)
        #expect(pool.stats.idle == 3)
        proxy.stop()  // the "server" goes down…
        Thread {
            Thread.sleep(forTimeInterval: 1)
            try? proxy.start()  // …and comes back a second later
        }.start()
        // Every idle connection is dead; acquire replaces them and waits for the server.
        let value = try pool.withConnection { c in try c.query("SELECT 41 + 1").rows[0].decode(Int.self, at: 0) }
        #expect(value == 42)
        try pool.withConnection { c in _ = try c.query("SELECT 1") }
        proxy.stop()
    }

    @Test func maxLifetimeAndIdleTimeoutAndMinIdle() throws {
        let pool = try ConnectionPool(Self.dsn(), configuration: PoolConfiguration(
            minIdle: 2, maxConnections: 4, maxLifetime: 0.5, idleTimeout: 0.3, maintenanceInterval: 0.05))
        defer { pool.close(timeout: 1) }
        // minIdle connections open in the background.
        var waited = 0.0
        while pool.stats.idle < 2 && waited < 10 { Thread.sleep(forTimeInterval: 0.05); waited += 0.05 }
        #expect(pool.stats.idle == 2)
        // Grow to 4, then idle timeout shrinks back to minIdle.
        let conns = try (0..<4).map { _ in try pool.acquire() }
        let firstPID = conns[0].backendPID
        for c in conns { pool.release(c) }
        #expect(pool.stats.open == 4)
        waited = 0
        while pool.stats.open > 2 && waited < 10 { Thread.sleep(forTimeInterval: 0.05); waited += 0.05 }
        #expect(pool.stats.open == 2)
        // Lifetime: every connection gets recycled.
        Thread.sleep(forTimeInterval: 0.8)
        let pids = try (0..<2).map { _ in try pool.acquire() }
        #expect(!pids.contains { $0.backendPID == firstPID })
        for c in pids { pool.release(c) }
        #expect(pool.stats.closed >= 4)
    }

    @Test func gracefulCloseWaitsForCheckedOutConnections() throws {
        let pool = try ConnectionPool(Self.dsn(), configuration: PoolConfiguration(maxConnections: 2))
        let held = try pool.acquire()
        try pool.withConnection { _ in }
        let closed = LockedCounter()
        let done = DispatchSemaphore(value: 0)
        Thread {
            pool.close()
            closed.add()
            done.signal()
        }.start()
        Thread.sleep(forTimeInterval: 0.3)
        #expect(closed.value == 0)  // still waiting for `held`
        #expect(expectDatabaseError { _ = try pool.acquire() }?.category == .interface)
        try held.query("SELECT 1")  // the holder can keep working
        pool.release(held)
        done.wait()
        #expect(closed.value == 1)
        #expect(held.isClosed)
        #expect(pool.stats.open == 0)
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}

final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Int] = []
    func append(_ i: Int) { lock.withLock { items.append(i) } }
    var values: [Int] { lock.withLock { items } }
}
