import FluentBenchmark
import FluentKit
import FluentPostgresWireDriver
import Logging
import NIOCore
import NIOPosix
import PostgresWire
import SQLKit
import XCTest

extension DatabaseID {
    static let a = DatabaseID(string: "pgwire_a")
    static let b = DatabaseID(string: "pgwire_b")
}

/// Two databases registered through `.postgresWire(...)`, each with an empty `public` schema, as
/// fluent-postgres-driver's own test utilities set them up for FluentBenchmarker.
func withFluentDatabases(_ body: @escaping @Sendable (Databases) async throws -> Void) async throws {
    let databases = Databases(threadPool: .singleton, on: MultiThreadedEventLoopGroup.singleton)
    databases.use(.postgresWire(configuration: try IntegrationServer.configuration(database: "fluent_a")), as: .a)
    databases.use(try .postgresWire(connectionString: try IntegrationServer.dsn(database: "fluent_b")), as: .b)
    databases.default(to: .a)
    do {
        for id in [DatabaseID.a, .b] {
            let db = databases.database(id, logger: Logger(label: "test.fluent"), on: databases.eventLoopGroup.any())!
            let sql = try XCTUnwrap(db as? any SQLDatabase)
            try await sql.raw("DROP SCHEMA IF EXISTS public CASCADE").run()
            try await sql.raw("CREATE SCHEMA public").run()
        }
        try await body(databases)
    } catch {
        await databases.shutdownAsync()
        throw error
    }
    await databases.shutdownAsync()
}

/// fluent-kit's conformance suite (FluentBenchmark), each of the 32 tests of `testAll()` on its own,
/// called as fluent-postgres-driver calls them: synchronously (`.wait()` inside) from a test task.
final class FluentBenchmarkTests: XCTestCase {
    private func bench(_ body: @escaping @Sendable (FluentBenchmarker) throws -> Void) async throws {
        try await withFluentDatabases { databases in try body(FluentBenchmarker(databases: databases)) }
    }

    func testAggregate() async throws { try await bench { try $0.testAggregate() } }
    func testArray() async throws { try await bench { try $0.testArray() } }
    func testBatch() async throws { try await bench { try $0.testBatch() } }
    func testChild() async throws { try await bench { try $0.testChild() } }
    func testChildren() async throws { try await bench { try $0.testChildren() } }
    func testCodable() async throws { try await bench { try $0.testCodable() } }
    func testChunk() async throws { try await bench { try $0.testChunk() } }
    func testCompositeID() async throws { try await bench { try $0.testCompositeID() } }
    func testCRUD() async throws { try await bench { try $0.testCRUD() } }
    func testEagerLoad() async throws { try await bench { try $0.testEagerLoad() } }
    func testEnum() async throws { try await bench { try $0.testEnum() } }
    func testFilter() async throws { try await bench { try $0.testFilter() } }
    func testGroup() async throws { try await bench { try $0.testGroup() } }
    func testID() async throws { try await bench { try $0.testID() } }
    func testJoin() async throws { try await bench { try $0.testJoin() } }
    func testMiddleware() async throws { try await bench { try $0.testMiddleware() } }
    func testMigrator() async throws { try await bench { try $0.testMigrator() } }
    func testModel() async throws { try await bench { try $0.testModel() } }
    func testOptionalParent() async throws { try await bench { try $0.testOptionalParent() } }
    func testPagination() async throws { try await bench { try $0.testPagination() } }
    func testParent() async throws { try await bench { try $0.testParent() } }
    func testPerformance() async throws { try await bench { try $0.testPerformance() } }
    func testRange() async throws { try await bench { try $0.testRange() } }
    func testSchema() async throws { try await bench { try $0.testSchema() } }
    func testSet() async throws { try await bench { try $0.testSet() } }
    func testSiblings() async throws { try await bench { try $0.testSiblings() } }
    func testSoftDelete() async throws { try await bench { try $0.testSoftDelete() } }
    func testSort() async throws { try await bench { try $0.testSort() } }
    func testSQL() async throws { try await bench { try $0.testSQL() } }
    func testTimestamp() async throws { try await bench { try $0.testTimestamp() } }
    func testTransaction() async throws { try await bench { try $0.testTransaction() } }
    func testUnique() async throws { try await bench { try $0.testUnique() } }

    /// The whole suite in one go, as `testAll()` runs it.
    func testAll() async throws { try await bench { try $0.testAll() } }
}
