#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one driver process measured for one workload: the record every driver program prints as
/// one JSON line on stdout (BenchLibpq prints the same fields from C).
public struct BenchResult: Codable, Sendable {
    public var driver: String
    public var workload: String
    /// "ok", "not yet" (the driver has no API for it yet) or "error".
    public var status: String
    public var note: String?
    /// "connection", "query" or "row".
    public var unit: String
    public var operations: Int
    public var wallSeconds: Double
    public var userCPUSeconds: Double
    public var systemCPUSeconds: Double
    public var p50Micros: Double?
    public var p99Micros: Double?
    /// VmHWM at the end (KiB): the process's peak resident set.
    public var peakRSSKiB: Int
    /// VmHWM just before the measured section (after connecting and warming up).
    public var baselineRSSKiB: Int
    public var checksum: Int?
    /// Allocator calls (malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign) during
    /// the measured section, every thread: only programs that count them (BenchPostgresWire).
    public var allocations: Int?
    /// W7: VmRSS after opening every connection minus VmRSS before (KiB).
    public var rssDeltaKiB: Int?

    public init(driver: String, workload: String, status: String, note: String? = nil, unit: String, operations: Int = 0,
                wallSeconds: Double = 0, userCPUSeconds: Double = 0, systemCPUSeconds: Double = 0,
                p50Micros: Double? = nil, p99Micros: Double? = nil, peakRSSKiB: Int = 0, baselineRSSKiB: Int = 0, checksum: Int? = nil,
                allocations: Int? = nil, rssDeltaKiB: Int? = nil) {
        self.driver = driver
        self.workload = workload
        self.status = status
        self.note = note
        self.unit = unit
        self.operations = operations
        self.wallSeconds = wallSeconds
        self.userCPUSeconds = userCPUSeconds
        self.systemCPUSeconds = systemCPUSeconds
        self.p50Micros = p50Micros
        self.p99Micros = p99Micros
        self.peakRSSKiB = peakRSSKiB
        self.baselineRSSKiB = baselineRSSKiB
        self.checksum = checksum
        self.allocations = allocations
        self.rssDeltaKiB = rssDeltaKiB
    }

    public var cpuSeconds: Double { userCPUSeconds + systemCPUSeconds }
    public var throughput: Double { wallSeconds > 0 ? Double(operations) / wallSeconds : 0 }
    public var cpuMicrosPerOperation: Double { operations > 0 ? cpuSeconds / Double(operations) * 1e6 : 0 }
    public var userMicrosPerOperation: Double { operations > 0 ? userCPUSeconds / Double(operations) * 1e6 : 0 }
    public var systemMicrosPerOperation: Double { operations > 0 ? systemCPUSeconds / Double(operations) * 1e6 : 0 }
    public var allocationsPerOperation: Double? { operations > 0 ? allocations.map { Double($0) / Double(operations) } : nil }
    public var rssPerOperationKiB: Double? { operations > 0 ? rssDeltaKiB.map { Double($0) / Double(operations) } : nil }
}

/// The workloads of BENCHMARKS.md, one process run each.
public enum Workload: String, CaseIterable, Sendable {
    case w1Trust = "W1-trust"
    case w1Scram = "W1-scram"
    case w1TLS = "W1-tls"
    case w2Prepared = "W2-prepared"
    case w2Simple = "W2-simple"
    /// W2 prepared through the async API (`AsyncConnection`; PostgresNIO's API is async already).
    case w2a = "W2a"
    case w3 = "W3"
    case w4 = "W4"
    /// W4 through the async API (`AsyncConnection.rows`; PostgresNIO's API is async already).
    case w4a = "W4a"
    case w5 = "W5"
    case w6 = "W6"
    /// W6 with 64 tasks on `AsyncConnectionPool` (PostgresNIO: `PostgresClient`).
    case w6a = "W6a"
    /// 500 idle connections held open by one process, opened by 50 concurrent openers.
    case w7 = "W7"

    public var unit: String {
        switch self {
        case .w1Trust, .w1Scram, .w1TLS, .w7: return "connection"
        case .w4, .w4a, .w5: return "row"
        default: return "query"
        }
    }

    public var defaultCount: Int {
        switch self {
        case .w1Trust, .w1Scram, .w1TLS: return 300
        case .w2Prepared, .w2Simple, .w2a, .w3: return 20_000
        case .w4, .w4a, .w5: return 1_000_000
        case .w6, .w6a: return 50_000
        case .w7: return 500
        }
    }

    public var title: String {
        switch self {
        case .w1Trust: return "W1 connect, trust"
        case .w1Scram: return "W1 connect, SCRAM-SHA-256"
        case .w1TLS: return "W1 connect, TLS + SCRAM"
        case .w2Prepared: return "W2 prepared SELECT $1::int"
        case .w2Simple: return "W2 simple SELECT 1"
        case .w2a: return "W2a prepared SELECT $1::int, async"
        case .w3: return "W3 pipelined SELECT $1::int"
        case .w4: return "W4 1M rows decoded"
        case .w4a: return "W4a 1M rows decoded, async"
        case .w5: return "W5 COPY FROM STDIN"
        case .w6: return "W6 64 workers / pool of 8"
        case .w6a: return "W6a 64 tasks / async pool of 8"
        case .w7: return "W7 idle connections, 50 openers"
        }
    }

    /// W4's query: every column is decoded into Int, String, Double, Date, String.
    public static func w4SQL(rows: Int) -> String {
        "SELECT i, i::text, i*1.5::float8, now(), md5(i::text) FROM generate_series(1,\(rows)) i"
    }
}

// MARK: Clocks

public enum Clock {
    /// CLOCK_MONOTONIC in nanoseconds.
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    public static func seconds() -> Double { Double(nanoseconds()) / 1e9 }
}

/// The process's resource usage (every thread: event-loop threads included).
public struct Usage: Sendable {
    public var user: Double
    public var system: Double
    public var maxRSSKiB: Int

    public static func now() -> Usage {
        var ru = rusage()
        getrusage(RUSAGE_SELF.rawValue, &ru)
        return Usage(user: Double(ru.ru_utime.tv_sec) + Double(ru.ru_utime.tv_usec) / 1e6,
                     system: Double(ru.ru_stime.tv_sec) + Double(ru.ru_stime.tv_usec) / 1e6,
                     maxRSSKiB: peakRSSKiB())
    }

    /// VmRSS of /proc/self/status: this program's resident set now (KiB).
    public static func currentRSSKiB() -> Int { statusField("VmRSS:") }

    /// VmHWM of /proc/self/status: this program's peak resident set. (ru_maxrss is not used: after
    /// posix_spawn it starts from the parent's peak, since Linux carries the old mm's high-water
    /// mark across exec.)
    public static func peakRSSKiB() -> Int { statusField("VmHWM:") }

    static func statusField(_ name: String) -> Int {
        let fd = open("/proc/self/status", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return 0 }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            return Int(line.dropFirst(name.count).filter { $0.isNumber }) ?? 0
        }
        return 0
    }
}

/// Percentile of sorted samples (nearest rank, as BenchLibpq computes it).
public func percentile(_ sorted: [UInt64], _ p: Double) -> Double? {
    guard !sorted.isEmpty else { return nil }
    return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
}

/// The allocator calls so far, for a program that counts them (BenchPostgresWire sets it to its
/// malloc counter before any workload runs); nil: not counted.
nonisolated(unsafe) public var allocationCounter: (@convention(c) () -> UInt64)?

/// Times a measured section and builds its record.
public struct Stopwatch {
    let before: Usage
    let start: UInt64
    let allocationsBefore: UInt64?

    public init() {
        before = Usage.now()
        // Last, so that the stopwatch's own allocations are not counted.
        allocationsBefore = allocationCounter?()
        start = Clock.nanoseconds()
    }

    public func finish(driver: String, workload: Workload, operations: Int, latencies: [UInt64]? = nil, checksum: Int? = nil) -> BenchResult {
        let wall = Double(Clock.nanoseconds() - start) / 1e9
        let allocationsAfter = allocationCounter?()
        let after = Usage.now()
        var m = BenchResult(driver: driver, workload: workload.rawValue, status: "ok", unit: workload.unit, operations: operations,
                            wallSeconds: wall, userCPUSeconds: after.user - before.user, systemCPUSeconds: after.system - before.system,
                            peakRSSKiB: after.maxRSSKiB, baselineRSSKiB: before.maxRSSKiB, checksum: checksum)
        if let a = allocationsBefore, let b = allocationsAfter { m.allocations = Int(b &- a) }
        if var latencies {
            latencies.sort()
            m.p50Micros = percentile(latencies, 0.5)
            m.p99Micros = percentile(latencies, 0.99)
        }
        return m
    }
}

// MARK: Driver program arguments

/// `--workload ID --count N --dsn CONNINFO [--host H --port P --user U --password PW --dbname D --sslmode M]
/// [--warmup N] [--workers N] [--pool N]`, as the runner passes them.
public struct DriverArguments: Sendable {
    public var workload: Workload
    public var count: Int
    public var warmup: Int?
    public var dsn: String
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var dbname: String
    public var sslmode: String
    public var workers: Int
    public var pool: Int

    public static func parse(_ arguments: [String] = CommandLine.arguments) -> DriverArguments {
        var values: [String: String] = [:]
        var i = 1
        while i + 1 < arguments.count {
            values[String(arguments[i].drop(while: { $0 == "-" }))] = arguments[i + 1]
            i += 2
        }
        guard let w = values["workload"], let workload = Workload(rawValue: w) else {
            writeErr("usage: \(arguments.first ?? "bench") --workload \(Workload.allCases.map(\.rawValue).joined(separator: "|")) --count N --dsn CONNINFO\n")
            exit(64)
        }
        return DriverArguments(
            workload: workload,
            count: values["count"].flatMap(Int.init) ?? workload.defaultCount,
            warmup: values["warmup"].flatMap(Int.init),
            dsn: values["dsn"] ?? "",
            host: values["host"] ?? "127.0.0.1",
            port: values["port"].flatMap(Int.init) ?? 5432,
            user: values["user"] ?? "postgres",
            password: values["password"],
            dbname: values["dbname"] ?? values["user"] ?? "postgres",
            sslmode: values["sslmode"] ?? "disable",
            workers: values["workers"].flatMap(Int.init) ?? 64,
            pool: values["pool"].flatMap(Int.init) ?? 8)
    }
}

// MARK: JSON output without Foundation

public func emit(_ m: BenchResult) {
    var s = "{"
    func field(_ name: String, _ value: String) {
        if s.count > 1 { s += "," }
        s += "\"\(name)\":\(value)"
    }
    func string(_ v: String) -> String {
        var out = "\""
        for scalar in v.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
    field("driver", string(m.driver))
    field("workload", string(m.workload))
    field("status", string(m.status))
    if let note = m.note { field("note", string(note)) }
    field("unit", string(m.unit))
    field("operations", String(m.operations))
    field("wallSeconds", String(m.wallSeconds))
    field("userCPUSeconds", String(m.userCPUSeconds))
    field("systemCPUSeconds", String(m.systemCPUSeconds))
    if let p = m.p50Micros { field("p50Micros", String(p)) }
    if let p = m.p99Micros { field("p99Micros", String(p)) }
    field("peakRSSKiB", String(m.peakRSSKiB))
    field("baselineRSSKiB", String(m.baselineRSSKiB))
    if let c = m.checksum { field("checksum", String(c)) }
    if let a = m.allocations { field("allocations", String(a)) }
    if let r = m.rssDeltaKiB { field("rssDeltaKiB", String(r)) }
    s += "}\n"
    writeOut(s)
}

/// Reports a workload the driver has no API for yet (never skipped silently).
public func emitNotYet(driver: String, workload: Workload, _ note: String) {
    emit(BenchResult(driver: driver, workload: workload.rawValue, status: "not yet", note: note, unit: workload.unit))
}

public func emitError(driver: String, workload: Workload, _ note: String) -> Never {
    emit(BenchResult(driver: driver, workload: workload.rawValue, status: "error", note: note, unit: workload.unit))
    exit(1)
}

/// The text column's prefix in W5's rows ("row <i>").
public let copyRowPrefix: [UInt8] = Array("row ".utf8)

/// Writes `value` (not negative) as decimal ASCII into `buffer` (COPY rows without String
/// formatting): the digits into a stack buffer from its end, then one append, as the C program's
/// `put_long` writes straight into its buffer.
@inlinable
public func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
    var v = UInt(value)
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { t in
        var n = 20
        repeat {
            n -= 1
            t[n] = UInt8(truncatingIfNeeded: 48 &+ v % 10)
            v /= 10
        } while v > 0
        buffer.append(contentsOf: UnsafeBufferPointer(rebasing: t[n..<20]))
    }
}

// MARK: Unbuffered output (no stdio globals: Swift 6 treats them as shared mutable state)

public func writeFD(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 { if errno == EINTR { continue } else { return } }
        offset += n
    }
}

public func writeOut(_ text: String) { writeFD(1, text) }
public func writeErr(_ text: String) { writeFD(2, text) }
