// The conformance suites of sql-kit (SQLBenchmarker.runAllTests) and fluent-kit
// (FluentBenchmarker.testAll) on PostgresWire and on PostgresKit/FluentPostgresDriver (PostgresNIO),
// in one run against one throwaway server: wall time and client CPU (user+system of this process)
// per suite and driver, the median of `--rounds N` (default 3) rounds, drivers alternating.
//
//     swift run IntegrationsComparison [--rounds N]
import Foundation
import Logging
import TestSupport

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .error
    return handler
}

var rounds = 3
if let i = CommandLine.arguments.firstIndex(of: "--rounds"), i + 1 < CommandLine.arguments.count, let n = Int(CommandLine.arguments[i + 1]), n > 0 {
    rounds = n
}

let server = try TestServer.shared()
func freshDatabase(_ name: String) throws -> String {
    try server.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE); CREATE DATABASE \(name) OWNER pgwire_trust;")
    return name
}
let target = ServerTarget(host: server.host, port: server.port, user: TestServer.Role.trust.rawValue)

struct Sample { var wall: Double; var cpu: Double }

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func measure(_ body: () async throws -> Void) async throws -> Sample {
    let cpu0 = cpuSeconds()
    let t0 = DispatchTime.now().uptimeNanoseconds
    try await body()
    let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    return Sample(wall: wall, cpu: cpuSeconds() - cpu0)
}

let suites: [(suite: String, driver: String, run: () async throws -> Void)] = [
    ("SQLKitBenchmark (6 tests)", "PostgresWire", { try await runSQLKitSuiteOnPostgresWire(target, database: try freshDatabase("cmp_sqlkit_wire")) }),
    ("SQLKitBenchmark (6 tests)", "PostgresKit/PostgresNIO", { try await runSQLKitSuiteOnPostgresNIO(target, database: try freshDatabase("cmp_sqlkit_nio")) }),
    ("FluentBenchmark (32 tests)", "PostgresWire", {
        try await runFluentSuiteOnPostgresWire(target, databases: (try freshDatabase("cmp_fluent_wire_a"), try freshDatabase("cmp_fluent_wire_b")))
    }),
    ("FluentBenchmark (32 tests)", "FluentPostgresDriver/PostgresNIO", {
        try await runFluentSuiteOnPostgresNIO(target, databases: (try freshDatabase("cmp_fluent_nio_a"), try freshDatabase("cmp_fluent_nio_b")))
    }),
]

var samples: [Int: [Sample]] = [:]
for round in 1...rounds {
    for (index, s) in suites.enumerated() {
        let sample = try await measure(s.run)
        samples[index, default: []].append(sample)
        print(String(format: "round %d  %-28@ %-34@ wall %7.2f s  cpu %7.2f s", round, s.suite, s.driver, sample.wall, sample.cpu))
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

print("\nmedian of \(rounds) rounds:\n")
print("| suite | driver | wall (s) | client CPU (s) |")
print("|---|---|---:|---:|")
for (index, s) in suites.enumerated() {
    let list = samples[index] ?? []
    print(String(format: "| %@ | %@ | %.2f | %.2f |", s.suite, s.driver, median(list.map(\.wall)), median(list.map(\.cpu))))
}
