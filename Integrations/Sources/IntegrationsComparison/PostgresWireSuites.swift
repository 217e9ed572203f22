import FluentBenchmark
import FluentKit
import FluentPostgresWireDriver
import Logging
import NIOPosix
import PostgresWire
import PostgresWireSQLKit
import SQLKitBenchmark

private func dsn(_ target: ServerTarget, _ database: String) -> String {
    "host=\(target.host) port=\(target.port) user=\(target.user) dbname=\(database)"
}

/// SQLBenchmarker.runAllTests() on one PostgresWire connection (`asyncConnection.sql()`).
func runSQLKitSuiteOnPostgresWire(_ target: ServerTarget, database: String) async throws {
    let connection = try await AsyncConnection.connect(dsn(target, database))
    do {
        try await SQLBenchmarker(on: connection.sql(queryLogLevel: nil)).runAllTests()
    } catch {
        await connection.close()
        throw error
    }
    await connection.close()
}

/// FluentBenchmarker.testAll() on two databases registered with `.postgresWire(connectionString:)`.
func runFluentSuiteOnPostgresWire(_ target: ServerTarget, databases names: (String, String)) async throws {
    let databases = Databases(threadPool: .singleton, on: MultiThreadedEventLoopGroup.singleton)
    databases.use(try .postgresWire(connectionString: dsn(target, names.0)), as: DatabaseID(string: "wire_a"))
    databases.use(try .postgresWire(connectionString: dsn(target, names.1)), as: DatabaseID(string: "wire_b"))
    databases.default(to: DatabaseID(string: "wire_a"))
    do {
        try FluentBenchmarker(databases: databases).testAll()
    } catch {
        await databases.shutdownAsync()
        throw error
    }
    await databases.shutdownAsync()
}
