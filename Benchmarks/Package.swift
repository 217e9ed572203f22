// swift-tools-version:6.1
// The benchmark workloads (W1 connect, W2/W2a sequential queries, W3 pipelining, W4/W4a a million
// rows decoded, W5 COPY, W6/W6a a pool shared by 64 workers, W7 500 idle connections), run against PostgresWire, libpq and
// PostgresNIO in one run by Benchmarks/run (see the README's Benchmarks section). A package of its
// own, so that PostgresWire never depends on SwiftNIO.
import PackageDescription

// The library under test: this checkout by default; POSTGRESWIRE_PATH=/other/checkout benchmarks another
// one (e.g. the commit before a change) with the same programs. W6 uses its ConnectionPool.
let libraryPath = Context.environment["POSTGRESWIRE_PATH"] ?? ".."

let package = Package(
    name: "PostgresWireBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "PostgresWire", path: libraryPath),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        // The PostgresWire+obs variant bootstraps a tracer and a metrics backend.
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        // Result records, CPU/RSS/clock helpers and argument parsing shared by the Swift programs.
        .target(name: "BenchCore"),
        // The orchestrator: a throwaway cluster (or --dsn), one process per driver × workload × round,
        // medians, the table and results.json.
        .executableTarget(
            name: "BenchRunner",
            dependencies: ["BenchCore", .product(name: "PostgresWire", package: "PostgresWire")]
        ),
        // A malloc counter (the allocation functions, counted and forwarded to glibc's): linked into
        // BenchPostgresWire only, so that its allocations per operation are a number.
        // DWARF 4: valgrind 3.19 (callgrind, used to profile BenchPostgresWire) cannot read clang's
        // default DWARF 5 for C and refuses to run the program.
        .target(name: "BenchAllocCounter", cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        .executableTarget(
            name: "BenchPostgresWire",
            dependencies: [
                "BenchCore", "BenchAllocCounter", .product(name: "PostgresWire", package: "PostgresWire"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "BenchPostgresNIO",
            dependencies: ["BenchCore", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        // libpq, driven from C as a C program would (no Swift in the measured path).
        .executableTarget(
            name: "BenchLibpq",
            cSettings: [.unsafeFlags(["-I/usr/include/postgresql", "-O2"])],
            linkerSettings: [.linkedLibrary("pq"), .linkedLibrary("pthread")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
