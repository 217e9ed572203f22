// The workloads of BENCHMARKS.md driven through PostgresNIO 1.33.2 with its documented APIs:
// async/await queries, PostgresPreparedStatement (prepared once per connection), concurrent
// queries on one connection for W3, copyFrom for W5 and PostgresClient (its pool, run by its
// run() in a task group) for W6. Its API is async only: W2a, W4a and W6a are W2, W4 and W6.
// One event-loop thread; CPU is the whole process's (event loop and Swift concurrency threads).
import BenchCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

let driver = "PostgresNIO"
let args = DriverArguments.parse()
let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

struct SelectInt: PostgresPreparedStatement {
    static let sql = "SELECT $1::int"
    typealias Row = Int
    var value: Int
    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings()
        b.append(value)
        return b
    }
    func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
}

func tls() throws -> PostgresConnection.Configuration.TLS {
    switch args.sslmode {
    case "disable": return .disable
    default:
        var c = TLSConfiguration.makeClientConfiguration()
        c.certificateVerification = .none  // sslmode=require: encrypted, not verified (as libpq)
        let context = try NIOSSLContext(configuration: c)
        return args.sslmode == "require" ? .require(context) : .prefer(context)
    }
}

func configuration() throws -> PostgresConnection.Configuration {
    PostgresConnection.Configuration(host: args.host, port: args.port, username: args.user, password: args.password,
                                     database: args.dbname, tls: try tls())
}

func connect(_ id: Int = 1) async throws -> PostgresConnection {
    try await PostgresConnection.connect(on: group.next(), configuration: try configuration(), id: id, logger: logger)
}

func w1() async throws -> BenchResult {
    for i in 0..<(args.warmup ?? 5) { try await connect(i).close() }
    let watch = Stopwatch()
    for i in 0..<args.count { try await connect(i).close() }
    return watch.finish(driver: driver, workload: args.workload, operations: args.count)
}

func w2Prepared() async throws -> BenchResult {
    let connection = try await connect()
    var checksum = 0
    for i in 0..<(args.warmup ?? 500) {
        for try await v in try await connection.execute(SelectInt(value: i), logger: logger) { checksum &+= v }
    }
    checksum = 0
    var latencies: [UInt64] = []
    latencies.reserveCapacity(args.count)
    let watch = Stopwatch()
    for i in 0..<args.count {
        let t = Clock.nanoseconds()
        for try await v in try await connection.execute(SelectInt(value: i), logger: logger) { checksum &+= v }
        latencies.append(Clock.nanoseconds() - t)
    }
    let m = watch.finish(driver: driver, workload: args.workload, operations: args.count, latencies: latencies, checksum: checksum)
    try await connection.close()
    return m
}

func w2Simple() async throws -> BenchResult {
    let connection = try await connect()
    var checksum = 0
    for _ in 0..<(args.warmup ?? 500) {
        for try await v in try await connection.query("SELECT 1", logger: logger).decode(Int.self) { checksum &+= v }
    }
    checksum = 0
    var latencies: [UInt64] = []
    latencies.reserveCapacity(args.count)
    let watch = Stopwatch()
    for _ in 0..<args.count {
        let t = Clock.nanoseconds()
        for try await v in try await connection.query("SELECT 1", logger: logger).decode(Int.self) { checksum &+= v }
        latencies.append(Clock.nanoseconds() - t)
    }
    var m = watch.finish(driver: driver, workload: args.workload, operations: args.count, latencies: latencies, checksum: checksum)
    m.note = "PostgresNIO has no simple-protocol API: SELECT 1 runs as Parse/Bind/Execute of the unnamed statement"
    try await connection.close()
    return m
}

/// Every query issued at once on one connection; PostgresNIO queues them and writes each as the
/// previous one's results arrive... or earlier: whatever the driver does with concurrent queries.
func w3() async throws -> BenchResult {
    let connection = try await connect()
    func run(_ count: Int) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<count {
                group.addTask {
                    var sum = 0
                    for try await v in try await connection.execute(SelectInt(value: i), logger: logger) { sum &+= v }
                    return sum
                }
            }
            var total = 0
            for try await v in group { total &+= v }
            return total
        }
    }
    _ = try await run(args.warmup ?? 1000)
    let watch = Stopwatch()
    let checksum = try await run(args.count)
    let m = watch.finish(driver: driver, workload: args.workload, operations: args.count, checksum: checksum)
    try await connection.close()
    return m
}

func w4() async throws -> BenchResult {
    let connection = try await connect()
    try await connection.query("SELECT 1", logger: logger)
    var checksum = 0
    var rows = 0
    let watch = Stopwatch()
    let sequence = try await connection.query(PostgresQuery(unsafeSQL: Workload.w4SQL(rows: args.count)), logger: logger)
    for try await (a, b, c, d, e) in sequence.decode((Int, String, Double, Date, String).self) {
        checksum &+= a &+ b.utf8.count &+ Int(c) &+ Int(d.timeIntervalSince1970) &+ e.utf8.count
        rows += 1
    }
    let m = watch.finish(driver: driver, workload: args.workload, operations: rows, checksum: checksum)
    try await connection.close()
    if rows != args.count { emitError(driver: driver, workload: args.workload, "W4 returned \(rows) rows") }
    return m
}

func w5() async throws -> BenchResult {
    let connection = try await connect()
    let table = "bench_copy_nio_\(getpid())"
    _ = try await connection.simpleQuery("CREATE UNLOGGED TABLE \(table) (i int, t text)").get()
    let watch = Stopwatch()
    try await connection.copyFrom(table: table, columns: ["i", "t"], logger: logger) { writer in
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
                try await writer.write(ByteBuffer(bytes: bytes))
                bytes.removeAll(keepingCapacity: true)
            }
            i += 1
        }
    }
    let m = watch.finish(driver: driver, workload: args.workload, operations: args.count)
    let count = try await connection.simpleQuery("SELECT count(*) FROM \(table)").get().first?.decode(Int.self) ?? -1
    _ = try await connection.simpleQuery("DROP TABLE \(table)").get()
    try await connection.close()
    if count != args.count { emitError(driver: driver, workload: args.workload, "W5 copied \(count) rows") }
    return m
}

func w6() async throws -> BenchResult {
    var config = PostgresClient.Configuration(host: args.host, port: args.port, username: args.user, password: args.password,
                                              database: args.dbname, tls: .disable)
    config.options.minimumConnections = args.pool
    config.options.maximumConnections = args.pool
    config.options.keepAliveBehavior = nil
    let client = PostgresClient(configuration: config, eventLoopGroup: group)
    return try await withThrowingTaskGroup(of: BenchResult?.self) { outer in
        outer.addTask { await client.run(); return nil }
        // Warm the pool: every connection open and the statement prepared on each.
        try await withThrowingTaskGroup(of: Void.self) { g in
            for i in 0..<(args.pool * 4) {
                g.addTask { for try await _ in try await client.execute(SelectInt(value: i)) {} }
            }
            try await g.waitForAll()
        }
        let next = Counter()
        let watch = Stopwatch()
        let checksum = try await withThrowingTaskGroup(of: Int.self) { g in
            for _ in 0..<args.workers {
                g.addTask {
                    var sum = 0
                    while true {
                        let i = next.take()
                        if i >= args.count { break }
                        for try await v in try await client.execute(SelectInt(value: i)) { sum &+= v }
                    }
                    return sum
                }
            }
            var total = 0
            for try await v in g { total &+= v }
            return total
        }
        let m = watch.finish(driver: driver, workload: args.workload, operations: args.count, checksum: checksum)
        outer.cancelAll()
        return m
    }!
}

/// W7: `args.count` idle connections held open, opened by `args.workers` (50) concurrent tasks.
func w7() async throws -> BenchResult {
    let openers = max(1, min(args.workers, args.count))
    try await connect(0).close()
    let next = Counter()
    let rssBefore = Usage.currentRSSKiB()
    let watch = Stopwatch()
    let connections = try await withThrowingTaskGroup(of: [PostgresConnection].self) { g in
        for _ in 0..<openers {
            g.addTask {
                var mine: [PostgresConnection] = []
                while true {
                    let i = next.take()
                    if i >= args.count { break }
                    mine.append(try await connect(i + 1))
                }
                return mine
            }
        }
        var all: [PostgresConnection] = []
        for try await c in g { all += c }
        return all
    }
    var m = watch.finish(driver: driver, workload: args.workload, operations: connections.count)
    m.rssDeltaKiB = Usage.currentRSSKiB() - rssBefore
    m.note = "PostgresConnection.connect in \(openers) tasks, one event-loop thread"
    for c in connections { try await c.close() }
    return m
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take() -> Int { lock.withLock { value += 1; return value - 1 } }
}

do {
    let m: BenchResult
    switch args.workload {
    case .w1Trust, .w1Scram, .w1TLS: m = try await w1()
    case .w2Prepared, .w2a: m = try await w2Prepared()  // async already: W2a is W2
    case .w2Simple: m = try await w2Simple()
    case .w3: m = try await w3()
    case .w4, .w4a: m = try await w4()  // PostgresNIO's query API is async: W4a is W4
    case .w5: m = try await w5()
    case .w6, .w6a: m = try await w6()  // PostgresClient with its run() in a task group
    case .w7: m = try await w7()
    }
    emit(m)
} catch {
    emitError(driver: driver, workload: args.workload, "\(String(reflecting: error))")
}
try? await group.shutdownGracefully()
