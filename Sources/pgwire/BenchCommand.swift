import ArgumentParser
import Foundation
import PostgresWire

/// `pgwire bench`: measure your own server and connection path through this driver, client side
/// included (like pgbench, which measures only what the server sees). Three modes: `connect`,
/// `latency` (the default) and `throughput`.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure connections/s, query latency and query throughput against your server, client CPU included.",
        discussion: """
            Each mode runs for --duration or --count, shows a live progress line when stderr is a \
            terminal, and prints a report (or, with --json, one JSON object on stdout). Client CPU is \
            this process's user + system time (getrusage) during the measurement. Exit status as \
            `pgwire query`: 1 for an SQL error (printed with its SQLSTATE) or Ctrl-C (which cancels \
            the running queries), 2 when connecting fails.
            """,
        subcommands: [BenchConnect.self, BenchLatency.self, BenchThroughput.self],
        defaultSubcommand: BenchLatency.self
    )
}

/// Options every mode takes.
struct BenchCommonOptions: ParsableArguments {
    /// --dsn and -h/-p/-U/-d, as `pgwire query` takes them; the DSN's sslmode and authentication
    /// are what `connect` measures. (`-h` is the host: help is `--help`.)
    @OptionGroup var target: ConnectionArguments

    /// The connection string the options make.
    var conninfo: String { target.conninfo() }

    @Option(name: .long, help: ArgumentHelp("How long to measure: 10s, 500ms, 2m (default 5s unless --count is given).", valueName: "time"))
    var duration: String?

    @Option(name: .long, help: "How many operations (connections or queries) to measure, instead of a duration.")
    var count: Int?

    @Option(name: .long, help: "Operations run before measuring (not counted).")
    var warmup: Int?

    @Flag(name: .long, help: "Print the results as one JSON object on stdout.")
    var json = false

    @Flag(name: .long, help: "No progress line, even on a terminal.")
    var quiet = false

    func validate() throws {
        if count != nil && duration != nil { throw ValidationError("give --duration or --count, not both") }
        if let count, count <= 0 { throw ValidationError("--count must be positive") }
        if let duration, parseDuration(duration) == nil { throw ValidationError("--duration: expected e.g. 10s, 500ms, 2m or 1.5 (seconds)") }
    }

    /// The stop rule: a number of operations or a deadline.
    var limit: BenchLimit {
        if let count { return .count(count) }
        return .duration(parseDuration(duration ?? "5s")!)
    }
}

/// Options of the query modes.
struct BenchQueryOptions: ParsableArguments {
    @Option(name: .long, help: "The SQL to run; a $1 in it is bound to a counter (an integer) on each execution.")
    var query: String = "SELECT 1"

    @Option(name: .long, help: "extended (Parse once, then Bind/Execute; binary results) or simple (Query message).")
    var `protocol`: String = "extended"

    func validate() throws {
        guard ["extended", "simple"].contains(`protocol`) else { throw ValidationError("--protocol must be extended or simple") }
    }

    var usesParameter: Bool { query.contains("$1") }

    func makeQuery(_ i: Int) -> PostgresQuery {
        var bindings = PostgresBindings()
        if usesParameter { try? bindings.append(i) }
        return PostgresQuery(unsafeSQL: query, bindings: bindings)
    }

    /// Runs the query once (rows are read and dropped).
    func runOnce(_ connection: Connection, _ i: Int) throws {
        if `protocol` == "simple" {
            try connection.simpleQuery(query) { _ in }
        } else {
            try connection.query(makeQuery(i)) { _ in }
        }
    }
}

enum BenchLimit {
    case count(Int)
    case duration(Double)

    var json: [String: Any] {
        switch self {
        case .count(let n): return ["count": n]
        case .duration(let s): return ["durationSeconds": s]
        }
    }
}

func parseDuration(_ text: String) -> Double? {
    let t = text.trimmingCharacters(in: .whitespaces).lowercased()
    let units: [(String, Double)] = [("ms", 0.001), ("us", 0.000_001), ("s", 1), ("m", 60), ("h", 3600)]
    for (suffix, scale) in units where t.hasSuffix(suffix) {
        guard let v = Double(t.dropLast(suffix.count)), v > 0 else { return nil }
        return v * scale
    }
    guard let v = Double(t), v > 0 else { return nil }
    return v
}

// MARK: connect

struct BenchConnect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Open, authenticate and close connections one after another: connections/s and client CPU per connection.",
        discussion: "Each connection goes the whole way the DSN says: TCP or Unix socket, sslmode, the server's authentication method; then Terminate."
    )

    @OptionGroup var common: BenchCommonOptions

    func run() throws {
        let dsn = common.conninfo
        var method = "?"
        do {
            let c = try Connection.connect(dsn)
            method = c.authenticationMethod
            c.close()
            for _ in 0..<(common.warmup ?? 3) { try Connection.connect(dsn).close() }
        } catch {
            throw connectFailure(error)
        }
        let report = try BenchLoop(label: "connect", unit: "connection", limit: common.limit, quiet: common.quiet || common.json).run(threads: 1) { _, _ in
            try Connection.connect(dsn).close()
            return 1
        }
        let extra: [String: Any] = ["authentication": method]
        try report.print(json: common.json, mode: "connect", unit: "connection", extra: extra, histogram: true)
    }
}

// MARK: latency

struct BenchLatency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Sequential queries on one connection: queries/s, client CPU per query, latency percentiles and a histogram."
    )

    @OptionGroup var common: BenchCommonOptions
    @OptionGroup var queryOptions: BenchQueryOptions

    func run() throws {
        let connection: Connection
        do {
            connection = try Connection.connect(common.conninfo)
        } catch {
            throw connectFailure(error)
        }
        defer { connection.close() }
        let interrupt = Interrupts.shared.cancelOnInterrupt(connection)
        defer { interrupt.release() }
        do {
            for i in 0..<(common.warmup ?? 200) where !Interrupts.shared.isInterrupted { try queryOptions.runOnce(connection, i) }
        } catch {
            throw reportQueryError(error, query: queryOptions.query, connection: connection)
        }
        let q = queryOptions
        let report = try BenchLoop(label: "latency", unit: "query", limit: common.limit, quiet: common.quiet || common.json,
                                   query: q.query).run(threads: 1) { _, i in
            try q.runOnce(connection, i)
            return 1
        }
        try report.print(json: common.json, mode: "latency", unit: "query",
                     extra: ["query": q.query, "protocol": q.protocol], histogram: true)
    }
}

// MARK: throughput

struct BenchThroughput: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "throughput",
        abstract: "N connections (one thread each) × M queries in flight on each: queries/s and client CPU per query.",
        discussion: """
            With --in-flight 1 each connection runs one query per round trip. With --in-flight M > 1 \
            each connection pipelines M queries (extended protocol: all M sent in one write with one \
            Sync, then the M results read) and the latency reported is that of a whole batch.
            """
    )

    @OptionGroup var common: BenchCommonOptions
    @OptionGroup var queryOptions: BenchQueryOptions

    @Option(name: .shortAndLong, help: "Connections, each driven by its own thread.")
    var connections: Int = 4

    @Option(name: .long, help: "Queries in flight per connection (pipelined when more than 1).")
    var inFlight: Int = 1

    func validate() throws {
        if connections < 1 { throw ValidationError("--connections must be at least 1") }
        if inFlight < 1 { throw ValidationError("--in-flight must be at least 1") }
        if inFlight > 1 && queryOptions.protocol == "simple" { throw ValidationError("--in-flight > 1 pipelines, which needs --protocol extended") }
    }

    func run() throws {
        var pool: [Connection] = []
        defer { for c in pool { c.close() } }
        do {
            for _ in 0..<connections { pool.append(try Connection.connect(common.conninfo)) }
        } catch {
            throw connectFailure(error)
        }
        let interrupt = Interrupts.shared.cancelOnInterrupt(pool)
        defer { interrupt.release() }
        for c in pool {
            do {
                for i in 0..<(common.warmup ?? 50) where !Interrupts.shared.isInterrupted { try queryOptions.runOnce(c, i) }
            } catch {
                throw reportQueryError(error, query: queryOptions.query, connection: c)
            }
        }
        let q = queryOptions
        let depth = inFlight
        let connectionsByThread = pool
        let report = try BenchLoop(label: "throughput", unit: "query", limit: common.limit, batch: depth,
                                   quiet: common.quiet || common.json, query: q.query).run(threads: connections) { thread, i in
            let connection = connectionsByThread[thread]
            if depth == 1 {
                try q.runOnce(connection, i)
                return 1
            }
            let results = try connection.pipeline((0..<depth).map { q.makeQuery(i + $0) })
            for r in results { _ = try r.get() }
            return depth
        }
        try report.print(json: common.json, mode: "throughput", unit: "query",
                     extra: ["query": q.query, "protocol": q.protocol, "connections": connections, "inFlight": depth],
                     histogram: depth == 1 && connections == 1)
    }
}

/// A failed connection attempt, reported as `pgwire query` does (exit status 2).
func connectFailure(_ error: Error) -> Error {
    if let error = error as? PostgresError {
        writeStderr("pgwire: error: \(describeConnectError(error))\n")
    } else {
        writeStderr("pgwire: error: \(error)\n")
    }
    return ExitCode(2)
}

// MARK: The measuring loop

/// Runs `body` on `threads` threads until the limit is reached, timing each call.
struct BenchLoop {
    let label: String
    let unit: String
    let limit: BenchLimit
    var batch: Int = 1
    let quiet: Bool
    /// The statement measured (for the error report), if any.
    var query: String?

    /// `body(thread, sequenceNumber)` runs one operation (or a batch) and returns how many operations it did.
    func run(threads: Int, _ body: @escaping @Sendable (Int, Int) throws -> Int) throws -> BenchReport {
        let state = SharedState()
        let limit = self.limit
        let step = batch
        let before = cpuUsage()
        let start = Platform.monotonicNanoseconds()
        let deadline: UInt64? = {
            if case .duration(let s) = limit { return start + UInt64(s * 1e9) }
            return nil
        }()
        let group = DispatchGroup()
        for t in 0..<threads {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                var latencies: [UInt64] = []
                latencies.reserveCapacity(4096)
                var done = 0
                loop: while !state.failed && !Interrupts.shared.isInterrupted {
                    let sequence: Int
                    switch limit {
                    case .count(let n):
                        guard let s = state.claim(step, upTo: n) else { break loop }
                        sequence = s
                    case .duration:
                        if Platform.monotonicNanoseconds() >= deadline! { break loop }
                        sequence = state.claim(step, upTo: Int.max)!
                    }
                    let t0 = Platform.monotonicNanoseconds()
                    do {
                        done = try body(t, sequence)
                    } catch {
                        state.fail(error)
                        break loop
                    }
                    latencies.append(Platform.monotonicNanoseconds() - t0)
                    state.completed(done)
                }
                state.addLatencies(latencies)
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        // Progress on a terminal: one line, rewritten ~5 times a second.
        let showProgress = !quiet && isatty(2) == 1
        while group.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            guard showProgress else { continue }
            let n = state.completedCount
            let elapsed = Double(Platform.monotonicNanoseconds() - start) / 1e9
            var line = "\(label): \(n) \(plural(unit)), \(formatRate(Double(n) / max(elapsed, 1e-9)))/s"
            switch limit {
            case .count(let total): line += String(format: ", %.0f%%", Double(n) / Double(total) * 100)
            case .duration(let s): line += String(format: ", %.1f s of %.1f s", elapsed, s)
            }
            writeStderr("\r\u{1B}[K\(line)")
        }
        if showProgress { writeStderr("\r\u{1B}[K") }
        let elapsed = Double(Platform.monotonicNanoseconds() - start) / 1e9
        let after = cpuUsage()
        if let error = state.error {
            // As `pgwire query` reports it: the SQLSTATE, exit status 1 (2 if the connection was lost).
            let lost = (error as? PostgresError).map { $0.isConnectionLost } ?? false
            throw reportQueryError(error, query: query ?? "", connectionLost: lost)
        }
        // Ctrl-C between queries: the measurement is incomplete.
        if Interrupts.shared.isInterrupted { throw ExitCode(1) }
        var latencies = state.latencies
        latencies.sort()
        return BenchReport(operations: state.completedCount, seconds: elapsed, userCPU: after.user - before.user,
                           systemCPU: after.system - before.system, sortedLatencies: latencies, limit: limit)
    }
}

final class SharedState: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var done = 0
    private var _error: Error?
    private var _latencies: [UInt64] = []

    /// The first sequence number of the next `step` operations, nil once `upTo` is reached.
    func claim(_ step: Int, upTo limit: Int) -> Int? {
        lock.withLock {
            guard next < limit else { return nil }
            defer { next += step }
            return next
        }
    }
    func completed(_ n: Int) { lock.withLock { done += n } }
    var completedCount: Int { lock.withLock { done } }
    func fail(_ e: Error) { lock.withLock { if _error == nil { _error = e } } }
    var failed: Bool { lock.withLock { _error != nil } }
    var error: Error? { lock.withLock { _error } }
    func addLatencies(_ l: [UInt64]) { lock.withLock { _latencies += l } }
    var latencies: [UInt64] { lock.withLock { _latencies } }
}

struct BenchReport {
    let operations: Int
    let seconds: Double
    let userCPU: Double
    let systemCPU: Double
    /// One sample per call of the body (a query, a connection or a pipelined batch), in ns.
    let sortedLatencies: [UInt64]
    let limit: BenchLimit

    var cpu: Double { userCPU + systemCPU }

    func percentile(_ p: Double) -> Double? {
        guard !sortedLatencies.isEmpty else { return nil }
        return Double(sortedLatencies[min(sortedLatencies.count - 1, Int(Double(sortedLatencies.count) * p))]) / 1000
    }

    /// Bucket upper bounds in µs: 1-2-5 steps from 10 µs to 100 s, counts per bucket.
    func histogram() -> [(upperMicros: Double, count: Int)] {
        var bounds: [Double] = []
        var decade = 10.0
        while decade <= 100_000_000 {
            bounds += [decade, decade * 2, decade * 5]
            decade *= 10
        }
        var counts = [Int](repeating: 0, count: bounds.count + 1)
        var b = 0
        for ns in sortedLatencies {
            let us = Double(ns) / 1000
            while b < bounds.count && us > bounds[b] { b += 1 }
            counts[b] += 1
        }
        var out: [(Double, Int)] = []
        guard let first = counts.firstIndex(where: { $0 > 0 }), let last = counts.lastIndex(where: { $0 > 0 }) else { return [] }
        for i in first...last { out.append((i < bounds.count ? bounds[i] : .infinity, counts[i])) }
        return out
    }

    func print(json: Bool, mode: String, unit: String, extra: [String: Any], histogram showHistogram: Bool) throws {
        let stdout = OutputBuffer(fd: 1, what: "could not write the report")
        let rate = seconds > 0 ? Double(operations) / seconds : 0
        let cpuPer = operations > 0 ? cpu / Double(operations) * 1e6 : 0
        let percentiles: [(String, Double)] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)]
        if json {
            var object: [String: Any] = [
                "mode": mode, "unit": unit, "operations": operations, "seconds": seconds,
                "perSecond": rate, "cpuUserSeconds": userCPU, "cpuSystemSeconds": systemCPU,
                "cpuMicrosPerOperation": cpuPer, "samples": sortedLatencies.count,
            ]
            var latency: [String: Double] = [:]
            for (name, p) in percentiles { if let v = percentile(p) { latency[name + "Micros"] = v } }
            if let minimum = sortedLatencies.first { latency["minMicros"] = Double(minimum) / 1000 }
            if let maximum = sortedLatencies.last { latency["maxMicros"] = Double(maximum) / 1000 }
            object["latency"] = latency
            object["histogram"] = histogram().map { ["upperMicros": $0.upperMicros.isFinite ? $0.upperMicros : -1, "count": $0.count] as [String: Any] }
            object["limit"] = limit.json
            for (k, v) in extra { object[k] = v }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            stdout.write(String(decoding: data, as: UTF8.self) + "\n")
            try stdout.finish()
            return
        }
        var text = ""
        for (k, v) in extra.sorted(by: { $0.key < $1.key }) { text += "\(k): \(v)\n" }
        text += "\(operations) \(plural(unit)) in \(String(format: "%.3f", seconds)) s: \(formatRate(rate)) \(plural(unit))/s\n"
        text += String(format: "client CPU: %.1f µs per %@ (user %.3f s, system %.3f s)\n", cpuPer, unit, userCPU, systemCPU)
        if !sortedLatencies.isEmpty {
            text += "latency µs: " + percentiles.compactMap { name, p in percentile(p).map { "\(name) \(formatMicros($0))" } }.joined(separator: "  ")
            text += "  max \(formatMicros(Double(sortedLatencies.last!) / 1000))\n"
        }
        if showHistogram {
            let h = histogram()
            let peak = max(1, h.map(\.count).max() ?? 1)
            text += "histogram (µs):\n"
            for (upper, count) in h {
                let label = upper.isFinite ? "≤ \(formatMicros(upper))" : "> 100 s"
                let bar = String(repeating: "#", count: count == 0 ? 0 : max(1, count * 40 / peak))
                text += "  \(label.padding(toLength: 12, withPad: " ", startingAt: 0)) \(String(count).leftPad(9))  \(bar)\n"
            }
        }
        stdout.write(text)
        try stdout.finish()
    }
}

func plural(_ unit: String) -> String {
    unit == "query" ? "queries" : unit + "s"
}

func formatRate(_ v: Double) -> String {
    v >= 100 ? String(Int(v.rounded())) : String(format: "%.1f", v)
}

func formatMicros(_ v: Double) -> String {
    v >= 100 ? String(Int(v.rounded())) : String(format: "%.1f", v)
}

func cpuUsage() -> (user: Double, system: Double) {
    let usage = Platform.processResourceUsage()
    return (Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
            Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6)
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
