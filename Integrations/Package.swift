// swift-tools-version:6.1
// SQLKit and Fluent on PostgresWire. A package of its own, so that PostgresWire itself never depends
// on SwiftNIO; it depends on the library by path, so it always tests this checkout.
import PackageDescription

let package = Package(
    name: "PostgresWireIntegrations",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "PostgresWireSQLKit", targets: ["PostgresWireSQLKit"]),
        .library(name: "FluentPostgresWireDriver", targets: ["FluentPostgresWireDriver"]),
    ],
    dependencies: [
        .package(name: "PostgresWire", path: ".."),
        .package(url: "https://github.com/vapor/sql-kit", exact: "3.36.0"),
        .package(url: "https://github.com/vapor/fluent-kit", exact: "1.57.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.3"),
    ],
    targets: [
        .target(
            name: "PostgresWireSQLKit",
            dependencies: [
                .product(name: "PostgresWire", package: "PostgresWire"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "FluentPostgresWireDriver",
            dependencies: [
                "PostgresWireSQLKit",
                .product(name: "PostgresWire", package: "PostgresWire"),
                .product(name: "FluentKit", package: "fluent-kit"),
                .product(name: "FluentSQL", package: "fluent-kit"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "IntegrationsTests",
            dependencies: [
                "PostgresWireSQLKit",
                "FluentPostgresWireDriver",
                .product(name: "PostgresWire", package: "PostgresWire"),
                .product(name: "PostgresWireTestSupport", package: "PostgresWire"),
                .product(name: "SQLKitBenchmark", package: "sql-kit"),
                .product(name: "FluentBenchmark", package: "fluent-kit"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
