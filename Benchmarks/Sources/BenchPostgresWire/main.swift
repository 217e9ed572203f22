// The workloads of BENCHMARKS.md driven through PostgresWire's public API, as a user would write
// them: `query` (extended protocol, statement cache, binary results) streaming rows, `simpleQuery`,
// `pipeline`, `copyIn`, and for W6 `ConnectionPool`; the async workloads (W2a, W4a, W6a, W7)
// through `AsyncConnection` and `AsyncConnectionPool`. Every allocator call of the process is
// counted (BenchAllocCounter) and reported for the measured section.
import BenchAllocCounter
import BenchCore
import Foundation
import PostgresWire

allocationCounter = bench_allocations
// With BENCH_INSTRUMENTED=1 (the runner's "PostgresWire+obs"): a tracer and metrics backend that keep nothing.
// With BENCH_W7_SYNC=1 (the runner's "PostgresWire+sync"): W7 with sync connections on threads.
let w7Sync = ProcessInfo.processInfo.environment["BENCH_W7_SYNC"] == "1"
// With BENCH_W4_BYTES=1 (the runner's "PostgresWire+bytes"): W4 reads its text columns as bytes.
let w4Bytes = ProcessInfo.processInfo.environment["BENCH_W4_BYTES"] == "1"
let driver = bootstrapInstrumentationIfAsked() ? "PostgresWire+obs"
    : (w7Sync ? "PostgresWire+sync" : (w4Bytes ? "PostgresWire+bytes" : "PostgresWire"))
let args = DriverArguments.parse()

func asyncConnect() async -> AsyncConnection {
    do {
        return try await AsyncConnection.connect(args.dsn)
    } catch {
        emitError(driver: driver, workload: args.workload, "connect: \(error)")
    }
}

/// The next operation number, shared by the workers of W6, W6a and W7.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take() -> Int { lock.withLock { value += 1; return value - 1 } }
}

func connect() -> Connection {
    do {
        return try Connection.connect(args.dsn)
    } catch {
        emitError(driver: driver, workload: args.workload, "connect: \(error.message)")
    }
}

func selectInt(_ i: Int) -> PostgresQuery {
    var b = PostgresBindings()
    try! b.append(i)
    return PostgresQuery(unsafeSQL: "SELECT $1::int", bindings: b)
}

func w1() throws -> BenchResult {
    // TLS may not exist yet: say so instead of measuring something else.
    if args.workload == .w1TLS {
        do {
            try Connection.connect(args.dsn).close()
        } catch {
            let text = error.message
            if text.contains("TLS") && text.contains("not support") {
                emitNotYet(driver: driver, workload: args.workload, "no TLS yet: \(text)")
                exit(0)
            }
            throw error
        }
    }
    for _ in 0..<(args.warmup ?? 5) { try Connection.connect(args.dsn).close() }
    let watch = Stopwatch()
    for _ in 0..<args.count { try Connection.connect(args.dsn).close() }
    return watch.finish(driver: driver, workload: args.workload, operations: args.count)
}

func w2Prepared() throws -> BenchResult {
    let connection = connect()
    defer { connection.close() }
    var checksum = 0
    for i in 0..<(args.warmup ?? 500) {
        try connection.query(selectInt(i)) { row in checksum &+= try row.decode(Int.self, at: 0) }
    }
    checksum = 0
    var latencies: [UInt64] = []
    latencies.reserveCapacity(args.count)
    let watch = Stopwatch()
    for i in 0..<args.count {
        let t = Clock.nanoseconds()
        try connection.query(selectInt(i)) { row in checksum &+= try row.decode(Int.self, at: 0) }
        latencies.append(Clock.nanoseconds() - t)
    }
    return watch.finish(driver: driver, workload: args.workload, operations: args.count, latencies: latencies, checksum: checksum)
}

func w2Simple() throws -> BenchResult {
    let connection = connect()
    defer { connection.close() }
    var checksum = 0
    func once() throws {
        try connection.simpleQuery("SELECT 1") { event in
            if case .row(let row) = event { checksum &+= try row.decode(Int.self, at: 0) }
        }
    }
    for _ in 0..<(args.warmup ?? 500) { try once() }
    checksum = 0
    var latencies: [UInt64] = []
    latencies.reserveCapacity(args.count)
    let watch = Stopwatch()
    for _ in 0..<args.count {
        let t = Clock.nanoseconds()
        try once()
        latencies.append(Clock.nanoseconds() - t)
    }
    return watch.finish(driver: driver, workload: args.workload, operations: args.count, latencies: latencies, checksum: checksum)
}

func w3() throws -> BenchResult {
    let connection = connect()
    defer { connection.close() }
    // Rows handed over as they are read (`pipeline(_:_:)`); BENCH_W3_COLLECT=1: the collecting
    // `pipeline(_:)`, which builds a QueryResult per query.
    let collect = ProcessInfo.processInfo.environment["BENCH_W3_COLLECT"] == "1"
    func run(_ count: Int) throws -> Int {
        var sum = 0
        if collect {
            let results = try connection.pipeline((0..<count).map(selectInt))
            for result in results { sum &+= try result.get().rows[0].decode(Int.self, at: 0) }
            return sum
        }
        let outcomes = try connection.pipeline((0..<count).map(selectInt)) { _, row in sum &+= try row.decode(Int.self, at: 0) }
        for outcome in outcomes { _ = try outcome.get() }
        return sum
    }
    _ = try run(args.warmup ?? 1000)
    let watch = Stopwatch()
    let checksum = try run(args.count)
    return watch.finish(driver: driver, workload: args.workload, operations: args.count, checksum: checksum)
}

func w4() throws -> BenchResult {
    let connection = connect()
    defer { connection.close() }
    try connection.query("SELECT 1")
    var checksum = 0
    var rows = 0
    let watch = Stopwatch()
    if w4Bytes {
        // The text columns read in place (`Row.bytes(at:)`: a slice of the received rows, no copy).
        try connection.query(PostgresQuery(unsafeSQL: Workload.w4SQL(rows: args.count))) { row in
            let a = try row.decode(Int.self, at: 0)
            let b = row.bytes(at: 1)?.count ?? 0
            let c = try row.decode(Double.self, at: 2)
            let d = try row.decode(Date.self, at: 3)
            let e = row.bytes(at: 4)?.count ?? 0
            checksum &+= a &+ b &+ Int(c) &+ Int(d.timeIntervalSince1970) &+ e
            rows += 1
        }
        let m = watch.finish(driver: driver, workload: args.workload, operations: rows, checksum: checksum)
        if rows != args.count { emitError(driver: driver, workload: args.workload, "W4 returned \(rows) rows") }
        return m
    }
    try connection.query(PostgresQuery(unsafeSQL: Workload.w4SQL(rows: args.count))) { row in
        let a = try row.decode(Int.self, at: 0)
        let b = try row.decode(String.self, at: 1)
        let c = try row.decode(Double.self, at: 2)
        let d = try row.decode(Date.self, at: 3)
        let e = try row.decode(String.self, at: 4)
        checksum &+= a &+ b.utf8.count &+ Int(c) &+ Int(d.timeIntervalSince1970) &+ e.utf8.count
        rows += 1
    }
    let m = watch.finish(driver: driver, workload: args.workload, operations: rows, checksum: checksum)
    if rows != args.count { emitError(driver: driver, workload: args.workload, "W4 returned \(rows) rows") }
    return m
}

/// W2 prepared through `AsyncConnection.query` (the statement cache prepares it once), awaited
/// one after the other from a nonisolated function.
func w2a() async throws -> BenchResult {
    let connection = await asyncConnect()
    var checksum = 0
    for i in 0..<(args.warmup ?? 500) {
        checksum &+= try await connection.query(selectInt(i)).rows[0].decode(Int.self, at: 0)
    }
    checksum = 0
    var latencies: [UInt64] = []
    latencies.reserveCapacity(args.count)
    let watch = Stopwatch()
    // BENCH_W2A_EXECUTOR=1: the loop prefers the connection's executor (its I/O thread), so the
    // queries run inline there, with no hand-off between threads.
    if #available(macOS 15.0, *), ProcessInfo.processInfo.environment["BENCH_W2A_EXECUTOR"] == "1" {
        checksum = try await withTaskExecutorPreference(connection.executor) {
            var sum = 0
            for i in 0..<args.count {
                let t = Clock.nanoseconds()
                sum &+= try await connection.query(selectInt(i)).rows[0].decode(Int.self, at: 0)
                latencies.append(Clock.nanoseconds() - t)
            }
            return sum
        }
    } else {
        for i in 0..<args.count {
            let t = Clock.nanoseconds()
            checksum &+= try await connection.query(selectInt(i)).rows[0].decode(Int.self, at: 0)
            latencies.append(Clock.nanoseconds() - t)
        }
    }
    let m = watch.finish(driver: driver, workload: args.workload, operations: args.count, latencies: latencies, checksum: checksum)
    await connection.close()
    return m
}

/// W4 through `AsyncConnection.rows`, as an async/await service would write it (default fetch
/// and buffer sizes), in a nonisolated function. With BENCH_W4A_MAIN_ACTOR=1 in the environment
/// the loop runs on the main actor instead (as top-level code in a script does).
func w4a() async throws -> BenchResult {
    let connection: AsyncConnection
    do {
        connection = try await AsyncConnection.connect(args.dsn)
    } catch {
        emitError(driver: driver, workload: args.workload, "connect: \(error)")
    }
    try await connection.query("SELECT 1")
    let query = PostgresQuery(unsafeSQL: Workload.w4SQL(rows: args.count))
    let onMainActor = ProcessInfo.processInfo.environment["BENCH_W4A_MAIN_ACTOR"] == "1"
    let watch = Stopwatch()
    let (rows, checksum) = onMainActor ? try await w4aLoopOnMainActor(connection.rows(query)) : try await w4aLoop(connection.rows(query))
    let m = watch.finish(driver: driver, workload: args.workload, operations: rows, checksum: checksum)
    await connection.close()
    if rows != args.count { emitError(driver: driver, workload: args.workload, "W4a returned \(rows) rows") }
    return m
}

/// W4's per-row work: decode the five columns and fold them into the checksum.
@inline(__always)
func w4aChecksum(_ row: Row) throws -> Int {
    let a = try row.decode(Int.self, at: 0)
    let b = try row.decode(String.self, at: 1)
    let c = try row.decode(Double.self, at: 2)
    let d = try row.decode(Date.self, at: 3)
    let e = try row.decode(String.self, at: 4)
    return a &+ b.utf8.count &+ Int(c) &+ Int(d.timeIntervalSince1970) &+ e.utf8.count
}

func w4aLoop(_ stream: RowStream) async throws -> (rows: Int, checksum: Int) {
    var checksum = 0
    var rows = 0
    for try await row in stream {
        checksum &+= try w4aChecksum(row)
        rows += 1
    }
    return (rows, checksum)
}

@MainActor func w4aLoopOnMainActor(_ stream: RowStream) async throws -> (rows: Int, checksum: Int) {
    var checksum = 0
    var rows = 0
    for try await row in stream {
        checksum &+= try w4aChecksum(row)
        rows += 1
    }
    return (rows, checksum)
}

func w5() throws -> BenchResult {
    let connection = connect()
    defer { connection.close() }
    let table = "bench_copy_pgwire_\(getpid())"
    try connection.simpleQuery("CREATE UNLOGGED TABLE \(table) (i int, t text)")
    let watch = Stopwatch()
    let copied = try connection.copyIn("COPY \(table) (i, t) FROM STDIN") { writer in
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64 * 1024 + 64)
        var i = 1
        while i <= args.count {
            appendDecimal(i, to: &bytes)
            bytes.append(UInt8(ascii: "\t"))
            bytes.append(contentsOf: copyRowPrefix)
            appendDecimal(i, to: &bytes)
            bytes.append(UInt8(ascii: "\n"))
            if bytes.count >= 64 * 1024 || i == args.count {
                try writer.write(bytes)
                bytes.removeAll(keepingCapacity: true)
            }
            i += 1
        }
    }
    let m = watch.finish(driver: driver, workload: args.workload, operations: copied)
    try connection.simpleQuery("DROP TABLE \(table)")
    if copied != args.count { emitError(driver: driver, workload: args.workload, "W5 copied \(copied) rows") }
    return m
}

/// 64 threads share a pool of 8 connections, each taking the next query number until all are done.
func w6() throws -> BenchResult {
    let pool = try ConnectionPool(args.dsn, configuration: PoolConfiguration(minIdle: args.pool, maxConnections: args.pool))
    defer { pool.close(timeout: 5) }
    // Warm up: every connection open, the statement prepared on each.
    try runThreads(args.pool * 2, count: args.pool * 8, pool)
    let watch = Stopwatch()
    let checksum = try runThreads(args.workers, count: args.count, pool)
    return watch.finish(driver: driver, workload: args.workload, operations: args.count, checksum: checksum)
}

/// 64 tasks share an `AsyncConnectionPool` of 8 connections, each taking the next query number.
func w6a() async throws -> BenchResult {
    let pool = try AsyncConnectionPool(args.dsn, configuration: PoolConfiguration(minIdle: args.pool, maxConnections: args.pool))
    // Warm up: every connection open, the statement prepared on each.
    try await runTasks(args.pool * 2, count: args.pool * 8, pool)
    let watch = Stopwatch()
    let checksum = try await runTasks(args.workers, count: args.count, pool)
    let m = watch.finish(driver: driver, workload: args.workload, operations: args.count, checksum: checksum)
    _ = await pool.close(timeout: 5)
    return m
}

@discardableResult
func runTasks(_ tasks: Int, count: Int, _ pool: AsyncConnectionPool) async throws -> Int {
    let next = Counter()
    return try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<tasks {
            group.addTask {
                var sum = 0
                while true {
                    let i = next.take()
                    if i >= count { break }
                    sum &+= try await pool.withConnection { c in try await c.query(selectInt(i)).rows[0].decode(Int.self, at: 0) }
                }
                return sum
            }
        }
        var total = 0
        for try await v in group { total &+= v }
        return total
    }
}

/// W7: `args.count` idle connections held open, opened by `args.workers` (50) concurrent openers
/// as an async service would: tasks awaiting `AsyncConnection.connect` (each connection then has
/// its I/O thread). With BENCH_W7_SYNC=1: blocking `Connection.connect` on 50 threads instead.
func w7() async throws -> BenchResult {
    let openers = max(1, min(args.workers, args.count))
    let sync = w7Sync
    // Warm up: one connection opened and closed (libraries loaded, configuration read once).
    if sync { try Connection.connect(args.dsn).close() } else { await (await asyncConnect()).close() }
    let next = Counter()
    let rssBefore = Usage.currentRSSKiB()
    let watch = Stopwatch()
    var m: BenchResult
    if sync {
        let (connections, error) = openOnThreads(openers, next)
        m = watch.finish(driver: driver, workload: args.workload, operations: connections.count)
        m.rssDeltaKiB = Usage.currentRSSKiB() - rssBefore
        m.note = "sync Connection opened on \(openers) threads"
        for c in connections { c.close() }
        if let error { throw error }
    } else {
        let connections = try await withThrowingTaskGroup(of: [AsyncConnection].self) { group in
            for _ in 0..<openers {
                group.addTask {
                    var mine: [AsyncConnection] = []
                    while next.take() < args.count { mine.append(try await AsyncConnection.connect(args.dsn)) }
                    return mine
                }
            }
            var all: [AsyncConnection] = []
            for try await c in group { all += c }
            return all
        }
        m = watch.finish(driver: driver, workload: args.workload, operations: connections.count)
        m.rssDeltaKiB = Usage.currentRSSKiB() - rssBefore
        m.note = "AsyncConnection opened by \(openers) tasks"
        for c in connections { await c.close() }
    }
    if m.operations != args.count { emitError(driver: driver, workload: args.workload, "W7 opened \(m.operations) connections") }
    return m
}

/// W7 with BENCH_W7_SYNC=1: `Connection.connect` on `threads` threads until `args.count` are open.
func openOnThreads(_ threads: Int, _ next: Counter) -> ([Connection], Error?) {
    final class Opened: @unchecked Sendable {
        let lock = NSLock()
        var connections: [Connection] = []
        var error: Error?
    }
    let opened = Opened()
    let group = DispatchGroup()
    for _ in 0..<threads {
        group.enter()
        Thread {
            defer { group.leave() }
            while next.take() < args.count {
                do {
                    let c = try Connection.connect(args.dsn)
                    opened.lock.withLock { opened.connections.append(c) }
                } catch {
                    opened.lock.withLock { if opened.error == nil { opened.error = error } }
                    break
                }
            }
        }.start()
    }
    group.wait()
    return (opened.connections, opened.error)
}

@discardableResult
func runThreads(_ threads: Int, count: Int, _ pool: ConnectionPool) throws -> Int {
    final class Shared: @unchecked Sendable {
        let lock = NSLock()
        var next = 0
        var sum = 0
        var error: Error?
    }
    let shared = Shared()
    let group = DispatchGroup()
    for _ in 0..<threads {
        group.enter()
        Thread {
            defer { group.leave() }
            var local = 0
            while true {
                let i: Int = shared.lock.withLock { defer { shared.next += 1 }; return shared.next }
                if i >= count { break }
                do {
                    _ = try pool.withConnection { c in
                        try c.query(selectInt(i)) { row in local &+= try row.decode(Int.self, at: 0) }
                    }
                } catch {
                    shared.lock.withLock { if shared.error == nil { shared.error = error } }
                    break
                }
            }
            shared.lock.withLock { shared.sum &+= local }
        }.start()
    }
    group.wait()
    if let error = shared.error { throw error }
    return shared.sum
}

do {
    switch args.workload {
    case .w1Trust, .w1Scram, .w1TLS: emit(try w1())
    case .w2Prepared: emit(try w2Prepared())
    case .w2Simple: emit(try w2Simple())
    case .w2a: emit(try await w2a())
    case .w3: emit(try w3())
    case .w4: emit(try w4())
    case .w4a: emit(try await w4a())
    case .w5: emit(try w5())
    case .w6: emit(try w6())
    case .w6a: emit(try await w6a())
    case .w7: emit(try await w7())
    }
} catch let error as PostgresError {
    emitError(driver: driver, workload: args.workload, error.message)
} catch {
    emitError(driver: driver, workload: args.workload, "\(error)")
}
