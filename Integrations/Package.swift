// swift-tools-version:6.1
// SQLKit, Fluent and Vapor on PostgresWire. A package of its own, so that PostgresWire itself never
// depends on SwiftNIO; it depends on the library by path, so it always tests this checkout.
//
//   PostgresWireSQLKit         an SQLDatabase over AsyncConnectionPool / AsyncConnection
//   FluentPostgresWireDriver   a Fluent driver: app.databases.use(.postgresWire(...), as: .psql)
//   IntegrationsTests          sql-kit's SQLKitBenchmark and fluent-kit's FluentBenchmark on a real server
//   IntegrationsComparison     the same two suites on PostgresWire and on PostgresKit/FluentPostgresDriver
//                              (PostgresNIO), timed: `swift run IntegrationsComparison`
//   Examples/TodoAPI           a Vapor application on FluentPostgresWireDriver, and its HTTP test
import PackageDescription

let package = Package(
    name: "PostgresWireIntegrations",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "PostgresWireSQLKit", targets: ["PostgresWireSQLKit"]),
        .library(name: "FluentPostgresWireDriver", targets: ["FluentPostgresWireDriver"]),
        .executable(name: "todo-api", targets: ["TodoAPIServer"]),
        // The README's SQLKit example, verbatim (READMEIntegrationExamplesTests checks and runs it).
        .executable(name: "readme-example-sqlkit", targets: ["ReadmeExampleSQLKit"]),
    ],
    dependencies: [
        .package(name: "PostgresWire", path: ".."),
        .package(url: "https://github.com/vapor/sql-kit", exact: "3.36.0"),
        .package(url: "https://github.com/vapor/fluent-kit", exact: "1.57.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.3"),
        // The example application and the comparison only.
        .package(url: "https://github.com/vapor/vapor", exact: "4.122.3"),
        .package(url: "https://github.com/vapor/fluent", exact: "4.13.0"),
        .package(url: "https://github.com/vapor/postgres-kit", exact: "2.17.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver", exact: "2.14.0"),
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
        .executableTarget(
            name: "IntegrationsComparison",
            dependencies: [
                "PostgresWireSQLKit",
                "FluentPostgresWireDriver",
                .product(name: "PostgresWire", package: "PostgresWire"),
                .product(name: "PostgresWireTestSupport", package: "PostgresWire"),
                .product(name: "SQLKitBenchmark", package: "sql-kit"),
                .product(name: "FluentBenchmark", package: "fluent-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "TodoAPI",
            dependencies: [
                "FluentPostgresWireDriver",
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Fluent", package: "fluent"),
            ],
            path: "Examples/TodoAPI/Sources/TodoAPI"
        ),
        .executableTarget(
            name: "ReadmeExampleSQLKit",
            dependencies: ["PostgresWireSQLKit"],
            path: "ReadmeExamples/SQLKit"
        ),
        .executableTarget(
            name: "TodoAPIServer",
            dependencies: ["TodoAPI", .product(name: "Vapor", package: "vapor")],
            path: "Examples/TodoAPI/Sources/TodoAPIServer"
        ),
        .testTarget(
            name: "TodoAPITests",
            dependencies: [
                "TodoAPI",
                .product(name: "Vapor", package: "vapor"),
                .product(name: "PostgresWire", package: "PostgresWire"),
                .product(name: "PostgresWireTestSupport", package: "PostgresWire"),
            ],
            path: "Examples/TodoAPI/Tests/TodoAPITests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
