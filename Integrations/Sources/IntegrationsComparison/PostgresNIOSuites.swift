import FluentBenchmark
import FluentKit
import FluentPostgresDriver
import Logging
import NIOPosix
import PostgresKit
import SQLKitBenchmark

private func configuration(_ target: ServerTarget, _ database: String) -> SQLPostgresConfiguration {
    SQLPostgresConfiguration(hostname: target.host, port: target.port, username: target.user, password: nil, database: database, tls: .disable)
}

/// SQLBenchmarker.runAllTests() on one PostgresNIO connection (PostgresKit's `connection.sql()`).
func runSQLKitSuiteOnPostgresNIO(_ target: ServerTarget, database: String) async throws {
    let connection = try await PostgresConnection.connect(
        on: MultiThreadedEventLoopGroup.singleton.any(),
        configuration: configuration(target, database).coreConfiguration,
        id: 1,
        logger: Logger(label: "comparison.nio")
    )
    do {
        try await SQLBenchmarker(on: connection.sql(queryLogLevel: nil)).runAllTests()
    } catch {
        try? await connection.close()
        throw error
    }
    try await connection.close()
}

/// FluentBenchmarker.testAll() on two databases registered with FluentPostgresDriver's `.postgres(configuration:)`.
func runFluentSuiteOnPostgresNIO(_ target: ServerTarget, databases names: (String, String)) async throws {
    let databases = Databases(threadPool: .singleton, on: MultiThreadedEventLoopGroup.singleton)
    databases.use(.postgres(configuration: configuration(target, names.0)), as: DatabaseID(string: "nio_a"))
    databases.use(.postgres(configuration: configuration(target, names.1)), as: DatabaseID(string: "nio_b"))
    databases.default(to: DatabaseID(string: "nio_a"))
    do {
        try FluentBenchmarker(databases: databases).testAll()
    } catch {
        await databases.shutdownAsync()
        throw error
    }
    await databases.shutdownAsync()
}
