// Runs the workloads of BENCHMARKS.md against PostgresWire, libpq and PostgresNIO in one run:
// each driver × workload × round is a process of its own (so that getrusage and ru_maxrss are
// that driver's alone), rounds interleave the drivers (rotating their order), and the median of
// the rounds is reported with the ratios against each peer: a table on the terminal (Markdown,
// so it can be pasted as it is) and a JSON file.
//
//   BenchRunner --dsn CONNINFO [--scram-dsn CONNINFO] [--tls-dsn CONNINFO] [--rounds 3] [--quick]
//               [--workloads W1,W2,...] [--drivers PostgresWire,libpq,PostgresNIO] [--json FILE]
//               [--count WORKLOAD=N ...] [--no-obs] [--command TEXT]
//
// Every workload reports user and system CPU separately; BenchPostgresWire also reports its
// allocator calls per operation. Unless --no-obs (or --drivers names it), W2-prepared and W4 also
// run "PostgresWire+obs" (instrumented, nothing listening) for the instrumentation-overhead
// targets, W7 runs "PostgresWire+sync" (sync Connections on 50 threads; the table's column
// is AsyncConnection from 50 tasks) and W2a "PostgresWire+executor" (its loop on the connection's
// executor); they get no column of their own in the table, a line each.
//
// `Benchmarks/run` starts a throwaway server, builds everything in release mode and calls this.
import BenchCore
import Foundation
import PostgresWire

// MARK: Options

struct Options {
    var dsn = ""
    var scramDSN: String?
    var tlsDSN: String?
    var rounds = 3
    var quick = false
    var workloads = Workload.allCases
    var drivers = ["PostgresWire", "libpq", "PostgresNIO"]
    var jsonPath = "results.json"
    var counts: [Workload: Int] = [:]
    var command: String?
    var library: String?
    var timeout: Double = 600
    /// Run PostgresWire+obs on W2-prepared and W4 too (for the overhead targets).
    var obs = true
}

@MainActor func usage() -> Never {
    writeErr("""
        usage: BenchRunner --dsn CONNINFO [--scram-dsn CONNINFO] [--tls-dsn CONNINFO] [--rounds N] [--quick]
                           [--workloads W1,W2,W2a,W3,W4,W4a,W5,W6,W6a,W7 or ids like W2-prepared]
                           [--drivers PostgresWire,libpq,PostgresNIO] [--json FILE] [--count WORKLOAD=N]...
                           [--timeout SECONDS] [--no-obs]
        (driver PostgresWire+obs: PostgresWire with a tracer and metrics backend bootstrapped that keep nothing)

        """)
    exit(64)
}

@MainActor func parseOptions() -> Options {
    var o = Options()
    var args = Array(CommandLine.arguments.dropFirst())
    func value() -> String {
        guard args.count >= 2 else { usage() }
        let v = args[1]
        args.removeFirst(2)
        return v
    }
    while let a = args.first {
        switch a {
        case "--dsn": o.dsn = value()
        case "--scram-dsn": o.scramDSN = value()
        case "--tls-dsn": o.tlsDSN = value()
        case "--rounds": o.rounds = max(1, Int(value()) ?? 3)
        case "--json": o.jsonPath = value()
        case "--command": o.command = value()
        case "--library": o.library = value()
        case "--timeout": o.timeout = Double(value()) ?? 600
        case "--drivers": o.drivers = value().split(separator: ",").map(String.init)
        case "--workloads":
            let wanted = value().split(separator: ",").map(String.init)
            o.workloads = Workload.allCases.filter { w in wanted.contains { w.rawValue == $0 || w.rawValue.hasPrefix($0 + "-") } }
        case "--count":
            let pair = value().split(separator: "=")
            guard pair.count == 2, let n = Int(pair[1]) else { usage() }
            for w in Workload.allCases where w.rawValue == pair[0] || w.rawValue.hasPrefix(pair[0] + "-") { o.counts[w] = n }
        case "--quick":
            o.quick = true
            args.removeFirst()
        case "--no-obs":
            o.obs = false
            args.removeFirst()
        case "-h", "--help": usage()
        default:
            writeErr("BenchRunner: unknown option \(a)\n")
            usage()
        }
    }
    return o
}

let options = parseOptions()
guard !options.dsn.isEmpty else { usage() }

@MainActor func count(_ w: Workload) -> Int {
    if let n = options.counts[w] { return n }
    if options.quick {
        switch w {
        case .w1Trust, .w1Scram, .w1TLS, .w7: return 100
        case .w2Prepared, .w2Simple, .w2a, .w3: return 5_000
        case .w4, .w4a, .w5: return 200_000
        case .w6, .w6a: return 10_000
        }
    }
    return w.defaultCount
}

// MARK: Connection targets

/// The DSN for a workload (nil: not available in this run), and the same settings as separate
/// values for PostgresNIO, which takes no connection string.
struct Target {
    var dsn: String
    var host: String
    var port: Int
    var user: String
    var password: String?
    var dbname: String
    var sslmode: String

    init(_ dsn: String) {
        self.dsn = dsn
        do {
            let c = try ConnectionConfiguration.parse(dsn)
            let h = c.hosts.first
            host = h?.hostaddr ?? h?.host ?? "127.0.0.1"
            port = h?.port ?? 5432
            user = c.user
            password = c.password ?? h.flatMap { c.passwordFromPassFile(for: $0) }
            dbname = c.database
            sslmode = c.sslMode.rawValue
        } catch {
            writeErr("BenchRunner: cannot parse connection string: \(error)\n")
            exit(64)
        }
    }
}

@MainActor func target(for w: Workload) -> Target? {
    switch w {
    case .w1Scram: return options.scramDSN.map(Target.init)
    case .w1TLS: return options.tlsDSN.map(Target.init)
    default: return Target(options.dsn)
    }
}

// MARK: Running one driver process

let binDir = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    .deletingLastPathComponent()

@MainActor func executable(_ driver: String) -> URL {
    binDir.appendingPathComponent(["PostgresWire": "BenchPostgresWire", "PostgresWire+obs": "BenchPostgresWire",
                                   "PostgresWire+sync": "BenchPostgresWire", "PostgresWire+bytes": "BenchPostgresWire",
                                   "PostgresWire+executor": "BenchPostgresWire",
                                   "libpq": "BenchLibpq",
                                   "PostgresNIO": "BenchPostgresNIO"][driver] ?? "Bench" + driver)
}

@MainActor func runDriver(_ driver: String, _ w: Workload, _ t: Target) -> BenchResult {
    let process = Process()
    process.executableURL = executable(driver)
    var arguments = ["--workload", w.rawValue, "--count", String(count(w)), "--dsn", t.dsn,
                     "--host", t.host, "--port", String(t.port), "--user", t.user, "--dbname", t.dbname, "--sslmode", t.sslmode]
    if let p = t.password { arguments += ["--password", p] }
    if w == .w7 { arguments += ["--workers", "50"] }  // 50 concurrent openers
    process.arguments = arguments
    // PostgresWire+obs: the same program with a tracer and metrics backend that keep nothing.
    var environment = ProcessInfo.processInfo.environment
    environment["BENCH_INSTRUMENTED"] = driver == "PostgresWire+obs" ? "1" : nil
    // PostgresWire+sync: W7 opened with sync Connections on threads instead of AsyncConnection.
    environment["BENCH_W7_SYNC"] = driver == "PostgresWire+sync" ? "1" : nil
    // PostgresWire+bytes: W4 with its two text columns read as bytes (`Row.bytes(at:)`, no String).
    environment["BENCH_W4_BYTES"] = driver == "PostgresWire+bytes" ? "1" : nil
    // PostgresWire+executor: W2a's loop inside withTaskExecutorPreference(connection.executor).
    environment["BENCH_W2A_EXECUTOR"] = driver == "PostgresWire+executor" ? "1" : nil
    process.environment = environment
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    do {
        try process.run()
    } catch {
        return BenchResult(driver: driver, workload: w.rawValue, status: "error", note: "cannot start \(process.executableURL!.path): \(error)", unit: w.unit)
    }
    let deadline = DispatchWorkItem { process.terminate() }
    DispatchQueue.global().asyncAfter(deadline: .now() + options.timeout, execute: deadline)
    // Read both pipes fully (a full pipe would block the child).
    nonisolated(unsafe) var errData = Data()
    let errDone = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        errDone.signal()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    errDone.wait()
    process.waitUntilExit()
    deadline.cancel()
    let stdoutText = String(decoding: outData, as: UTF8.self)
    let line = stdoutText.split(separator: "\n").last(where: { $0.hasPrefix("{") })
    if let line, let m = try? JSONDecoder().decode(BenchResult.self, from: Data(line.utf8)) {
        return m
    }
    let stderrText = String(decoding: errData, as: UTF8.self)
    let reason = process.terminationReason == .uncaughtSignal ? "killed by signal \(process.terminationStatus)" : "exit \(process.terminationStatus)"
    return BenchResult(driver: driver, workload: w.rawValue, status: "error",
                       note: "\(reason): \((stderrText + stdoutText).suffix(400))", unit: w.unit)
}

// MARK: Formatting

@MainActor func grouped(_ v: Double, decimals: Int = 0) -> String {
    let f = NumberFormatter()
    f.numberStyle = .decimal
    f.groupingSeparator = ","
    f.minimumFractionDigits = decimals
    f.maximumFractionDigits = decimals
    return f.string(from: NSNumber(value: v)) ?? String(v)
}

@MainActor func ratio(_ a: Double?, _ b: Double?) -> Double? {
    guard let a, let b, b > 0 else { return nil }
    return a / b
}

@MainActor func formatRatio(_ r: Double?) -> String {
    guard let r else { return "–" }
    return r >= 10 ? String(format: "%.0fx", r) : String(format: "%.2fx", r)
}

@MainActor func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

@MainActor func progressIsTTY() -> Bool { isatty(2) == 1 }

@MainActor func progress(_ text: String) {
    if progressIsTTY() {
        writeErr("\r\u{1B}[K" + text)
    } else {
        writeErr(text + "\n")
    }
}

// MARK: The run

var serverVersion = "?"
var maxConnections = Int.max
do {
    let c = try Connection.connect(options.dsn)
    serverVersion = c.parameters["server_version"] ?? "?"
    if let v = try? c.query("SHOW max_connections").rows.first?.decode(String.self, at: 0), let n = Int(v) { maxConnections = n }
    c.close()
} catch {
    writeErr("BenchRunner: cannot connect with --dsn: \(error.message)\n")
    exit(1)
}

let obsDriver = "PostgresWire+obs"
let syncDriver = "PostgresWire+sync"
let bytesDriver = "PostgresWire+bytes"
let executorDriver = "PostgresWire+executor"
/// The table's drivers, PostgresWire+obs for the workloads of the overhead targets, and for W7
/// PostgresWire+sync (sync `Connection`s opened on 50 threads, beside the table's AsyncConnections).
@MainActor func driversToRun(_ w: Workload) -> [String] {
    guard options.drivers.contains("PostgresWire") else { return options.drivers }
    if w == .w4 {
        // The overhead of instrumentation, and W4 read without a String per text field.
        return options.drivers + (options.obs && !options.drivers.contains(obsDriver) ? [obsDriver] : [])
            + (options.drivers.contains(bytesDriver) ? [] : [bytesDriver])
    }
    if options.obs && w == .w2Prepared && !options.drivers.contains(obsDriver) {
        return options.drivers + [obsDriver]
    }
    if w == .w7 && !options.drivers.contains(syncDriver) { return options.drivers + [syncDriver] }
    if w == .w2a && !options.drivers.contains(executorDriver) { return options.drivers + [executorDriver] }
    return options.drivers
}

/// Before W7: waits (up to 15 s) until the previous program's backends have exited, so that the
/// next 500 fit under max_connections.
@MainActor func waitForIdleServer() {
    let deadline = Date().addingTimeInterval(15)
    while Date() < deadline {
        guard let c = try? Connection.connect(options.dsn) else { usleep(100_000); continue }
        let n = (try? c.query("SELECT count(*)::int8 FROM pg_stat_activity WHERE backend_type = 'client backend'").rows.first?.decode(Int.self, at: 0)) ?? 0
        c.close()
        if n <= 1 { return }
        usleep(100_000)
    }
}

var all: [String: [String: [BenchResult]]] = [:]  // workload → driver → runs
var skipped: [Workload: String] = [:]
let started = Date()
for round in 1...options.rounds {
    for (wi, w) in options.workloads.enumerated() {
        guard let t = target(for: w) else {
            skipped[w] = w == .w1Scram ? "no SCRAM role with --dsn (pass --scram-dsn)" : "no TLS server with --dsn (pass --tls-dsn)"
            continue
        }
        if w == .w7 && count(w) + 5 > maxConnections {
            skipped[w] = "the server's max_connections (\(maxConnections)) is below \(count(w) + 5): raise it or pass --count W7=N"
            continue
        }
        // Rotate the drivers' order by round and workload, so that none always runs first.
        let drivers = driversToRun(w)
        let k = (round + wi) % drivers.count
        let order = Array(drivers[k...] + drivers[..<k])
        for d in order {
            progress("round \(round)/\(options.rounds)  \(w.rawValue)  \(d)…")
            if w == .w7 { waitForIdleServer() }
            let m = runDriver(d, w, t)
            all[w.rawValue, default: [:]][d, default: []].append(m)
            let summary: String
            switch m.status {
            case "ok":
                summary = "\(grouped(m.throughput)) \(m.unit == "query" ? "queries" : m.unit + "s")/s, \(String(format: "%.1f", m.cpuMicrosPerOperation)) µs CPU/\(m.unit)"
                    + " (user \(String(format: "%.1f", m.userMicrosPerOperation)), sys \(String(format: "%.1f", m.systemMicrosPerOperation)))"
                    + (m.allocationsPerOperation.map { String(format: ", %.2f allocations/\(m.unit)", $0) } ?? "")
                    + (m.rssPerOperationKiB.map { String(format: ", %.0f KiB RSS/\(m.unit)", $0) } ?? "")
            default: summary = "\(m.status): \(m.note ?? "")"
            }
            progress("round \(round)/\(options.rounds)  \(w.rawValue)  \(d): \(summary)")
            if !progressIsTTY() || m.status == "error" { if progressIsTTY() { writeErr("\n") } }
        }
    }
}
if progressIsTTY() { writeErr("\r\u{1B}[K") }
let elapsed = Date().timeIntervalSince(started)

// MARK: Medians, ratios, table

struct Stat: Codable {
    var status: String
    var note: String?
    var rounds: Int
    var operations: Int?
    var throughput: Double?
    var wallSeconds: Double?
    var cpuMicrosPerOperation: Double?
    /// The median CPU per operation split into user and system by the share of user time in the
    /// sum over the rounds: the kernel (tick-based CPU accounting) splits a process's precisely
    /// measured CPU time into user and system by sampling at each scheduler tick (4 ms at HZ=250),
    /// so one short round's split is coarse (a few ticks) while the sum over rounds has more
    /// samples. user + sys = the median CPU (and likewise userCPUSeconds + systemCPUSeconds).
    var userMicrosPerOperation: Double?
    var systemMicrosPerOperation: Double?
    /// The summed user and system CPU seconds of the rounds behind the pooled figures.
    var userCPUSecondsPooled: Double?
    var systemCPUSecondsPooled: Double?
    /// Allocator calls per operation in the measured section (BenchPostgresWire only).
    var allocationsPerOperation: Double?
    /// W7: client RSS added per connection held open (KiB).
    var rssPerOperationKiB: Double?
    var cpuSeconds: Double?
    var userCPUSeconds: Double?
    var systemCPUSeconds: Double?
    var p50Micros: Double?
    var p99Micros: Double?
    var peakRSSMiB: Double?
    var rssGrowthMiB: Double?
    var runs: [BenchResult]
}

@MainActor func summarize(_ runs: [BenchResult]) -> Stat {
    let ok = runs.filter { $0.status == "ok" }
    func med(_ f: (BenchResult) -> Double?) -> Double? { median(ok.compactMap(f)) }
    let status = ok.isEmpty ? (runs.first(where: { $0.status == "not yet" }) != nil ? "not yet" : "error") : "ok"
    let userSum = ok.reduce(0) { $0 + $1.userCPUSeconds }, systemSum = ok.reduce(0) { $0 + $1.systemCPUSeconds }
    let userShare = userSum + systemSum > 0 ? userSum / (userSum + systemSum) : nil
    func split(_ total: Double?, _ user: Bool) -> Double? {
        guard let total, let userShare else { return nil }
        return total * (user ? userShare : 1 - userShare)
    }
    let cpuPerOperation = med { $0.cpuMicrosPerOperation }, cpu = med { $0.cpuSeconds }
    return Stat(status: status, note: runs.compactMap(\.note).first, rounds: ok.count,
                operations: ok.first?.operations,
                throughput: med { $0.throughput }, wallSeconds: med { $0.wallSeconds }, cpuMicrosPerOperation: cpuPerOperation,
                userMicrosPerOperation: split(cpuPerOperation, true), systemMicrosPerOperation: split(cpuPerOperation, false),
                userCPUSecondsPooled: ok.isEmpty ? nil : userSum, systemCPUSecondsPooled: ok.isEmpty ? nil : systemSum,
                allocationsPerOperation: med { $0.allocationsPerOperation }, rssPerOperationKiB: med { $0.rssPerOperationKiB },
                cpuSeconds: cpu, userCPUSeconds: split(cpu, true),
                systemCPUSeconds: split(cpu, false), p50Micros: med { $0.p50Micros }, p99Micros: med { $0.p99Micros },
                peakRSSMiB: med { Double($0.peakRSSKiB) / 1024 }, rssGrowthMiB: med { Double($0.peakRSSKiB - $0.baselineRSSKiB) / 1024 },
                runs: runs)
}

var stats: [String: [String: Stat]] = [:]
for (w, byDriver) in all { for (d, runs) in byDriver { stats[w, default: [:]][d] = summarize(runs) } }

let ours = "PostgresWire"
let peers = options.drivers.filter { $0 != ours }

struct MetricRow {
    var label: String
    var value: (Stat) -> Double?
    var format: (Double) -> String
    var higherIsBetter: Bool
}

@MainActor func rows(for w: Workload) -> [MetricRow] {
    let unitShort = w.unit == "connection" ? "conn" : (w.unit == "query" ? "q" : "row")
    var r = [
        MetricRow(label: "\(unitShort)/s", value: { $0.throughput }, format: { grouped($0) }, higherIsBetter: true),
    ]
    if w == .w7 {
        r.append(MetricRow(label: "open all s", value: { $0.wallSeconds }, format: { String(format: "%.3f", $0) }, higherIsBetter: false))
        r.append(MetricRow(label: "RSS KiB/conn", value: { $0.rssPerOperationKiB }, format: { String(format: "%.1f", $0) }, higherIsBetter: false))
    }
    if w == .w4 || w == .w4a || w == .w5 {
        r.append(MetricRow(label: "client CPU s", value: { $0.cpuSeconds }, format: { String(format: "%.2f", $0) }, higherIsBetter: false))
        r.append(MetricRow(label: "user CPU s", value: { $0.userCPUSeconds }, format: { String(format: "%.2f", $0) }, higherIsBetter: false))
        r.append(MetricRow(label: "sys CPU s", value: { $0.systemCPUSeconds }, format: { String(format: "%.2f", $0) }, higherIsBetter: false))
    } else {
        r.append(MetricRow(label: "CPU µs/\(unitShort)", value: { $0.cpuMicrosPerOperation }, format: { String(format: "%.1f", $0) }, higherIsBetter: false))
        r.append(MetricRow(label: "user µs/\(unitShort)", value: { $0.userMicrosPerOperation }, format: { String(format: "%.1f", $0) }, higherIsBetter: false))
        r.append(MetricRow(label: "sys µs/\(unitShort)", value: { $0.systemMicrosPerOperation }, format: { String(format: "%.1f", $0) }, higherIsBetter: false))
    }
    r.append(MetricRow(label: "allocs/\(unitShort)", value: { $0.allocationsPerOperation },
                       format: { $0 >= 100 ? grouped($0) : String(format: "%.2f", $0) }, higherIsBetter: false))
    if w == .w2Prepared || w == .w2Simple || w == .w2a {
        r.append(MetricRow(label: "p50 µs", value: { $0.p50Micros }, format: { String(format: "%.1f", $0) }, higherIsBetter: false))
        r.append(MetricRow(label: "p99 µs", value: { $0.p99Micros }, format: { String(format: "%.1f", $0) }, higherIsBetter: false))
    }
    if w == .w4 || w == .w4a {
        r.append(MetricRow(label: "peak RSS MiB", value: { $0.peakRSSMiB }, format: { String(format: "%.1f", $0) }, higherIsBetter: false))
        r.append(MetricRow(label: "RSS growth MiB", value: { $0.rssGrowthMiB }, format: { String(format: "%.1f", $0) }, higherIsBetter: false))
    }
    return r
}

var table = "| workload | metric | " + (options.drivers + peers.map { "ours ÷ \($0)" }).joined(separator: " | ") + " |\n"
table += "|---|---|" + String(repeating: "---:|", count: options.drivers.count + peers.count) + "\n"
var ratiosJSON: [[String: String]] = []
for w in options.workloads {
    if let reason = skipped[w] {
        table += "| \(w.title) | | " + (options.drivers.map { _ in "n/a" } + peers.map { _ in "–" }).joined(separator: " | ") + " |\n"
        _ = reason
        continue
    }
    guard let byDriver = stats[w.rawValue] else { continue }
    for (i, metric) in rows(for: w).enumerated() {
        var line = "| \(i == 0 ? w.title : "") | \(metric.label) |"
        for d in options.drivers {
            guard let s = byDriver[d] else { line += " – |"; continue }
            if s.status != "ok" {
                line += i == 0 ? " \(s.status) |" : " |"
            } else {
                line += " \(metric.value(s).map(metric.format) ?? "–") |"
            }
        }
        for p in peers {
            let r = ratio(byDriver[ours].flatMap { $0.status == "ok" ? metric.value($0) : nil },
                          byDriver[p].flatMap { $0.status == "ok" ? metric.value($0) : nil })
            line += " \(formatRatio(r)) |"
            if let r { ratiosJSON.append(["workload": w.rawValue, "metric": metric.label, "peer": p, "ratio": String(format: "%.4f", r)]) }
        }
        table += line + "\n"
    }
}

// MARK: Targets (BENCHMARKS.md)

struct TargetCheck: Codable {
    var target: String
    var measured: String
    var met: Bool?
}

@MainActor func s(_ w: Workload, _ d: String) -> Stat? {
    guard let st = stats[w.rawValue]?[d], st.status == "ok" else { return nil }
    return st
}

var checks: [TargetCheck] = []
@MainActor func check(_ text: String, _ r: Double?, _ ok: (Double) -> Bool) {
    checks.append(TargetCheck(target: text, measured: r.map { String(format: "%.2fx", $0) } ?? "not measured", met: r.map(ok)))
}
@MainActor func lower(_ a: Double?, _ b: Double?) -> Double? {
    switch (a, b) {
    case let (a?, b?): return min(a, b)
    default: return a ?? b
    }
}
let nio = "PostgresNIO"
// W2: the kernel's share of a round trip (sys) is the same for every driver: user CPU is compared.
if let o = s(.w2Prepared, ours), let l = s(.w2Prepared, "libpq"), let r = ratio(o.userMicrosPerOperation, l.userMicrosPerOperation) {
    // The user/sys split is sampled per scheduler tick: the summed seconds show how many samples.
    checks.append(TargetCheck(target: "W2 prepared: client user CPU per query ≤ libpq's",
                              measured: String(format: "%.2fx; user CPU sampled %.3f s ÷ %.3f s over all rounds", r, o.userCPUSecondsPooled ?? 0, l.userCPUSecondsPooled ?? 0),
                              met: r <= 1))
} else if let o = s(.w2Prepared, ours), s(.w2Prepared, "libpq") != nil {
    checks.append(TargetCheck(target: "W2 prepared: client user CPU per query ≤ libpq's",
                              measured: String(format: "libpq's user CPU sampled as 0 (below the scheduler tick); ours %.3f s in all rounds", o.userCPUSecondsPooled ?? 0),
                              met: nil))
} else {
    checks.append(TargetCheck(target: "W2 prepared: client user CPU per query ≤ libpq's", measured: "not measured", met: nil))
}
check("W2 prepared: queries/s ≥ libpq's", ratio(s(.w2Prepared, ours)?.throughput, s(.w2Prepared, "libpq")?.throughput)) { $0 >= 1 }
check("W3: queries/s ≥ libpq pipeline mode's", ratio(s(.w3, ours)?.throughput, s(.w3, "libpq")?.throughput)) { $0 >= 1 }
check("W3: client CPU per query ≤ libpq's", ratio(s(.w3, ours)?.cpuMicrosPerOperation, s(.w3, "libpq")?.cpuMicrosPerOperation)) { $0 <= 1 }
check("W4: client CPU ≤ libpq's", ratio(s(.w4, ours)?.cpuSeconds, s(.w4, "libpq")?.cpuSeconds)) { $0 <= 1 }
check("W4 (stretch): client CPU ≤ 0.8x libpq's", ratio(s(.w4, ours)?.cpuSeconds, s(.w4, "libpq")?.cpuSeconds)) { $0 <= 0.8 }
check("W4: rows/s ≥ libpq's", ratio(s(.w4, ours)?.throughput, s(.w4, "libpq")?.throughput)) { $0 >= 1 }
if let g = s(.w4, ours)?.rssGrowthMiB {
    checks.append(TargetCheck(target: "W4: peak RSS flat in the number of rows (growth during the query ≤ 8 MiB)",
                              measured: String(format: "%.1f MiB", g), met: g <= 8))
} else {
    checks.append(TargetCheck(target: "W4: peak RSS flat in the number of rows", measured: "not measured", met: nil))
}
// W4's row: Int, a short String (i::text, at most 7 bytes: stored inline), Double, Date and md5's
// 32-byte String (one heap buffer). Zero allocations for the non-String columns leaves one per row.
if let a = s(.w4, ours)?.allocationsPerOperation {
    checks.append(TargetCheck(target: "W4: allocations per row ≤ 1 (none for the non-String columns; md5's 32-byte String needs one)",
                              measured: String(format: "%.3f per row", a), met: a <= 1.01))
} else {
    checks.append(TargetCheck(target: "W4: allocations per row ≤ 1", measured: "not measured", met: nil))
}
for (w, name) in [(Workload.w1Trust, "trust"), (.w1Scram, "SCRAM"), (.w1TLS, "TLS + SCRAM")] {
    check("W1 \(name): client CPU per connection ≤ the lower of libpq's and PostgresNIO's",
          ratio(s(w, ours)?.cpuMicrosPerOperation, lower(s(w, "libpq")?.cpuMicrosPerOperation, s(w, nio)?.cpuMicrosPerOperation))) { $0 <= 1 }
}
for w in [Workload.w2a, .w4a, .w6a] {
    let id = w.rawValue
    check("\(id): throughput ≥ 2x PostgresNIO's", ratio(s(w, ours)?.throughput, s(w, nio)?.throughput)) { $0 >= 2 }
    check("\(id): client CPU per \(w.unit) ≤ 0.5x PostgresNIO's", ratio(s(w, ours)?.cpuMicrosPerOperation, s(w, nio)?.cpuMicrosPerOperation)) { $0 <= 0.5 }
    if w == .w4a {
        check("W4a: client CPU ≤ 1.3x our W4's", ratio(s(.w4a, ours)?.cpuSeconds, s(.w4, ours)?.cpuSeconds)) { $0 <= 1.3 }
    }
}
// Every other workload: CPU ≤ 0.5x PostgresNIO's, throughput ≥ PostgresNIO's (where the server sets
// the pace, connect, COPY and the pool, a tie is expected: a ratio ≥ 0.95 counts as met there).
for w in options.workloads where skipped[w] == nil && ![.w2a, .w4a, .w6a].contains(w) {
    check("\(w.rawValue): client CPU per \(w.unit) ≤ 0.5x PostgresNIO's",
          ratio(s(w, ours)?.cpuMicrosPerOperation, s(w, nio)?.cpuMicrosPerOperation)) { $0 <= 0.5 }
    let serverPaced: Set<Workload> = [.w1Trust, .w1Scram, .w1TLS, .w5, .w6, .w7]
    check("\(w.rawValue): throughput ≥ PostgresNIO's\(serverPaced.contains(w) ? " (server-paced: ≥ 0.95x is a tie)" : "")",
          ratio(s(w, ours)?.throughput, s(w, nio)?.throughput)) { $0 >= (serverPaced.contains(w) ? 0.95 : 1) }
}
// Being instrumented with nothing listening (PostgresWire+obs ÷ PostgresWire).
check("+obs overhead, W2 prepared: client CPU per query ≤ 1.03x uninstrumented",
      ratio(s(.w2Prepared, obsDriver)?.cpuMicrosPerOperation, s(.w2Prepared, ours)?.cpuMicrosPerOperation)) { $0 <= 1.03 }
if let with = s(.w4, obsDriver)?.allocationsPerOperation, let without = s(.w4, ours)?.allocationsPerOperation {
    let added = with - without
    checks.append(TargetCheck(target: "+obs overhead, W4: zero added allocations per row",
                              measured: String(format: "%+.4f per row", added), met: added < 0.01))
} else {
    checks.append(TargetCheck(target: "+obs overhead, W4: zero added allocations per row", measured: "not measured", met: nil))
}

var targetsText = ""
for c in checks where c.met != nil {
    targetsText += "- \(c.met! ? "met" : "MISSED"): \(c.target) (\(c.measured))\n"
}
let unmeasured = checks.filter { $0.met == nil }
if !unmeasured.isEmpty {
    targetsText += "- not measured in this run (\(unmeasured.count)): " + unmeasured.map(\.target).joined(separator: "; ") + "\n"
}

var notes = ""
for w in options.workloads {
    if let reason = skipped[w] { notes += "- \(w.title): not run, \(reason)\n"; continue }
    for d in driversToRun(w) {
        if let st = stats[w.rawValue]?[d], st.status != "ok" || st.note != nil {
            notes += "- \(w.title), \(d): \(st.status)\(st.note.map { " (\($0))" } ?? "")\n"
        }
    }
}

let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
let cpuModel = ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
    .split(separator: "\n").first { $0.hasPrefix("model name") }
    .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "?"
let dateFormatter = ISO8601DateFormatter()
dateFormatter.formatOptions = [.withFullDate]
let date = dateFormatter.string(from: started)

let header = """
    \(date), \(cores) cores (\(cpuModel)), PostgreSQL \(serverVersion) on the same machine, \
    \(options.library.map { $0 + ", " } ?? "")\
    median of \(options.rounds) round\(options.rounds == 1 ? "" : "s")\(options.quick ? " (--quick counts)" : ""), \
    \(String(format: "%.0f", elapsed)) s in all.
    Command: \(options.command ?? "BenchRunner"). \
    Ratios are ours ÷ peer: above 1 is better for throughput, below 1 is better for CPU, latency and RSS. \
    CPU is getrusage of each driver process around the measured section; the kernel splits it into \
    user and system by sampling at each scheduler tick, so the median CPU is split by the user \
    share of all rounds together (short runs split coarsely); allocs are PostgresWire's allocator \
    calls (a malloc counter in its process).

    """
print(header)
print(table)
// Our async row stream against our sync API, the same rows (W4a ÷ W4).
var asyncVsSync = ""
if let sync = s(.w4, ours), let async = s(.w4a, ours) {
    func f(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "–" }
    asyncVsSync = "PostgresWire async ÷ sync (W4a ÷ W4): rows/s \(formatRatio(ratio(async.throughput, sync.throughput))), "
        + "client CPU \(formatRatio(ratio(async.cpuSeconds, sync.cpuSeconds))) "
        + "(\(f(async.cpuSeconds)) s ÷ \(f(sync.cpuSeconds)) s; user \(f(async.userCPUSeconds)) ÷ \(f(sync.userCPUSeconds)) s, "
        + "sys \(f(async.systemCPUSeconds)) ÷ \(f(sync.systemCPUSeconds)) s)\n"
    print(asyncVsSync)
}
// Instrumented with nothing listening, against uninstrumented (PostgresWire+obs ÷ PostgresWire).
var obsText = ""
for w in [Workload.w2Prepared, .w4] {
    guard let o = s(w, obsDriver), let p = s(w, ours) else { continue }
    func f(_ v: Double?, _ d: Int = 2) -> String { v.map { String(format: "%.\(d)f", $0) } ?? "–" }
    obsText += "PostgresWire+obs ÷ PostgresWire, \(w.rawValue): \(w.unit == "query" ? "queries" : w.unit + "s")/s \(formatRatio(ratio(o.throughput, p.throughput))), "
        + "CPU/\(w.unit) \(formatRatio(ratio(o.cpuMicrosPerOperation, p.cpuMicrosPerOperation))) "
        + "(user \(f(o.userMicrosPerOperation)) ÷ \(f(p.userMicrosPerOperation)) µs), "
        + "allocations/\(w.unit) \(f(o.allocationsPerOperation, 3)) ÷ \(f(p.allocationsPerOperation, 3))\n"
}
if !obsText.isEmpty { print(obsText) }
// W4 with the text columns read as bytes (PostgresWire+bytes) against W4 decoding them to String.
if let bytes = s(.w4, bytesDriver), let strings = s(.w4, ours) {
    func f(_ v: Double?, _ d: Int = 3) -> String { v.map { String(format: "%.\(d)f", $0) } ?? "–" }
    let libpq = s(.w4, "libpq")
    print("PostgresWire W4 with the two text columns read as bytes, no String (PostgresWire+bytes): \(grouped(bytes.throughput ?? 0)) rows/s, "
        + "client CPU \(f(bytes.cpuSeconds)) s (user \(f(bytes.userCPUSeconds)), sys \(f(bytes.systemCPUSeconds))), "
        + "\(f(bytes.allocationsPerOperation)) allocs/row; ÷ String: CPU \(formatRatio(ratio(bytes.cpuSeconds, strings.cpuSeconds))); "
        + "÷ libpq: CPU \(formatRatio(ratio(bytes.cpuSeconds, libpq?.cpuSeconds))), rows/s \(formatRatio(ratio(bytes.throughput, libpq?.throughput)))\n")
}
// W2a with the loop on the connection's executor (PostgresWire+executor) against the table's W2a.
if let executor = s(.w2a, executorDriver) {
    func f(_ v: Double?, _ d: Int = 1) -> String { v.map { String(format: "%.\(d)f", $0) } ?? "–" }
    let plain = s(.w2a, ours), nio = s(.w2a, "PostgresNIO")
    print("PostgresWire W2a with its loop on the connection's executor (PostgresWire+executor, withTaskExecutorPreference): "
        + "\(grouped(executor.throughput ?? 0)) q/s, \(f(executor.cpuMicrosPerOperation)) µs CPU/q "
        + "(user \(f(executor.userMicrosPerOperation)), sys \(f(executor.systemMicrosPerOperation))), \(f(executor.allocationsPerOperation, 2)) allocs/q; "
        + "÷ PostgresNIO: q/s \(formatRatio(ratio(executor.throughput, nio?.throughput))), CPU/q \(formatRatio(ratio(executor.cpuMicrosPerOperation, nio?.cpuMicrosPerOperation))); "
        + "÷ default W2a: q/s \(formatRatio(ratio(executor.throughput, plain?.throughput)))\n")
}
// W7 opened the sync way (PostgresWire+sync) against the table's AsyncConnection column.
if let sync = s(.w7, syncDriver) {
    func f(_ v: Double?, _ d: Int = 1) -> String { v.map { String(format: "%.\(d)f", $0) } ?? "–" }
    let async = s(.w7, ours)
    print("PostgresWire W7 with sync Connections opened on 50 threads (PostgresWire+sync): \(grouped(sync.throughput ?? 0)) conn/s, "
        + "\(f(sync.rssPerOperationKiB)) KiB RSS/conn, \(f(sync.cpuMicrosPerOperation)) µs CPU/conn "
        + "(user \(f(sync.userMicrosPerOperation)), sys \(f(sync.systemMicrosPerOperation))), \(f(sync.allocationsPerOperation)) allocs/conn; "
        + "÷ AsyncConnection: conn/s \(formatRatio(ratio(sync.throughput, async?.throughput))), "
        + "RSS/conn \(formatRatio(ratio(sync.rssPerOperationKiB, async?.rssPerOperationKiB))), "
        + "CPU/conn \(formatRatio(ratio(sync.cpuMicrosPerOperation, async?.cpuMicrosPerOperation)))\n")
}
print("Targets (BENCHMARKS.md):")
print(targetsText)
if !notes.isEmpty {
    print("Notes:")
    print(notes)
}

// MARK: JSON

struct Report: Codable {
    var date: String
    var cores: Int
    var cpuModel: String
    var serverVersion: String
    var command: String?
    var library: String?
    var rounds: Int
    var quick: Bool
    var elapsedSeconds: Double
    var counts: [String: Int]
    var results: [String: [String: Stat]]
    var ratios: [[String: String]]
    var targets: [TargetCheck]
    var notRun: [String: String]
    var table: String
}

let report = Report(date: date, cores: cores, cpuModel: cpuModel, serverVersion: serverVersion, command: options.command,
                    library: options.library,
                    rounds: options.rounds, quick: options.quick, elapsedSeconds: elapsed,
                    counts: Dictionary(uniqueKeysWithValues: options.workloads.map { ($0.rawValue, count($0)) }),
                    results: stats, ratios: ratiosJSON, targets: checks,
                    notRun: Dictionary(uniqueKeysWithValues: skipped.map { ($0.key.rawValue, $0.value) }), table: table)
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
do {
    try encoder.encode(report).write(to: URL(fileURLWithPath: options.jsonPath))
    writeErr("wrote \(options.jsonPath)\n")
} catch {
    writeErr("BenchRunner: cannot write \(options.jsonPath): \(error)\n")
    exit(1)
}
