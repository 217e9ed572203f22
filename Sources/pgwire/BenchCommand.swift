import ArgumentParser
import Foundation
import PostgresWire

/// `pgwire bench`: quick client-side measurements of the driver against a live server.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure query round trips: simple protocol, extended protocol (prepared), and pipelined.",
        discussion: "Reports queries/s, client CPU (user+sys) per query and latency percentiles for each workload."
    )

    @Option(name: .long, help: "Connection string (URI or key=value); defaults like psql.")
    var dsn: String = ""

    @Option(name: .long, help: "Queries per workload.")
    var count: Int = 20_000

    @Option(name: .long, help: "Workloads to run, comma-separated: simple, extended, pipelined.")
    var workloads: String = "simple,extended,pipelined"

    func run() throws {
        let connection: Connection
        do {
            connection = try Connection.connect(dsn)
        } catch {
            FileHandle.standardError.write(Data("pgwire: error: \(error.message)\n".utf8))
            throw ExitCode(2)
        }
        defer { connection.close() }
        print("workload    queries      q/s   CPU µs/q   p50 µs   p99 µs")
        for workload in workloads.split(separator: ",").map(String.init) {
            var latencies: [UInt64] = []
            latencies.reserveCapacity(count)
            let cpuBefore = Self.cpuTime()
            let start = DispatchTime.now().uptimeNanoseconds
            switch workload {
            case "simple":
                for _ in 0..<count {
                    let t = DispatchTime.now().uptimeNanoseconds
                    try connection.simpleQuery("SELECT 1") { _ in }
                    latencies.append(DispatchTime.now().uptimeNanoseconds - t)
                }
            case "extended":
                for i in 0..<count {
                    let t = DispatchTime.now().uptimeNanoseconds
                    var b = PostgresBindings()
                    b.appendText(String(i))
                    _ = try connection.query(PostgresQuery(unsafeSQL: "SELECT $1::int", bindings: b)) { _ in }
                    latencies.append(DispatchTime.now().uptimeNanoseconds - t)
                }
            case "pipelined":
                let queries = (0..<count).map { i -> PostgresQuery in
                    var b = PostgresBindings()
                    b.appendText(String(i))
                    return PostgresQuery(unsafeSQL: "SELECT $1::int", bindings: b)
                }
                let results = try connection.pipeline(queries)
                precondition(results.count == count)
            default:
                throw ValidationError("unknown workload \(workload)")
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let cpu = Self.cpuTime() - cpuBefore
            latencies.sort()
            func percentile(_ p: Double) -> String {
                latencies.isEmpty ? "-" : String(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] / 1000)
            }
            print(workload.padding(toLength: 10, withPad: " ", startingAt: 0),
                  String(count).leftPad(9), String(Int(Double(count) / elapsed)).leftPad(8),
                  String(format: "%10.1f", cpu / Double(count) * 1e6), percentile(0.5).leftPad(8), percentile(0.99).leftPad(8))
        }
    }

    static func cpuTime() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
