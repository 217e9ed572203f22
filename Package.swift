// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "PostgresWire",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "PostgresWire", targets: ["PostgresWire"]),
        .library(name: "PostgresWireProtocol", targets: ["PostgresWireProtocol"]),
        .executable(name: "pgwire", targets: ["pgwire"]),
        // The throwaway-cluster helpers of the tests, for sibling packages' tests (Integrations/).
        .library(name: "PostgresWireTestSupport", targets: ["TestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // Observability (issue 17): spans, metrics and the pool as a lifecycle Service.
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // `swift package generate-documentation --target PostgresWire` (the DocC catalog in
        // Sources/PostgresWire/PostgresWire.docc); a command plugin only, nothing is linked.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(
            name: "PostgresWireProtocol",
            dependencies: ["COpenSSL"]
        ),
        // Values and their codecs, and the one error type; no connections.
        .target(
            name: "PostgresWireTypes",
            dependencies: ["PostgresWireProtocol"]
        ),
        .target(
            name: "PostgresWire",
            dependencies: [
                "PostgresWireTypes",
                "PostgresWireProtocol",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "pgwire",
            dependencies: [
                "PostgresWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Shared by the integration test targets: a throwaway PostgreSQL cluster and process helpers.
        .target(name: "TestSupport", dependencies: ["PostgresWire", "PostgresWireProtocol"], path: "Tests/TestSupport"),
        .testTarget(name: "PostgresWireProtocolTests", dependencies: ["PostgresWireProtocol"]),
        .testTarget(name: "PostgresWireTests", dependencies: ["PostgresWire", "TestSupport"]),
        .testTarget(name: "pgwireTests", dependencies: ["PostgresWire", "PostgresWireProtocol", "TestSupport"]),
        // Spans, metrics and lifecycle: their own target, since a tracer or metrics backend
        // bootstrapped globally must not leak into the other suites.
        .testTarget(
            name: "ObservabilityTests",
            dependencies: [
                "PostgresWire", "TestSupport",
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
