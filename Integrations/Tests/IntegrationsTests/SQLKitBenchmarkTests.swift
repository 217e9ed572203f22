import Logging
import NIOCore
import NIOPosix
import PostgresWire
import PostgresWireSQLKit
import SQLKit
import SQLKitBenchmark
import XCTest

/// sql-kit's own conformance suite (SQLKitBenchmark), run against a real server through PostgresWire.
final class SQLKitBenchmarkTests: XCTestCase {
    /// Each public test of SQLBenchmarker on a pool (`asyncConnectionPool.sql()`), in a database of its own.
    private func withPoolBenchmarker(_ name: String, _ body: (SQLBenchmarker) async throws -> Void) async throws {
        let pool = try AsyncConnectionPool(try IntegrationServer.dsn(database: "sqlkit_\(name)"))
        do {
            try await body(SQLBenchmarker(on: pool.sql()))
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
    }

    func testPlanets() async throws { try await withPoolBenchmarker("planets") { try await $0.testPlanets() } }
    func testCodable() async throws { try await withPoolBenchmarker("codable") { try await $0.testCodable() } }
    func testEnum() async throws { try await withPoolBenchmarker("enum") { try await $0.testEnum() } }
    func testUpserts() async throws { try await withPoolBenchmarker("upserts") { try await $0.testUpserts() } }
    func testUnions() async throws { try await withPoolBenchmarker("unions") { try await $0.testUnions() } }
    func testJSONPaths() async throws { try await withPoolBenchmarker("jsonpaths") { try await $0.testJSONPaths() } }

    /// The whole suite (`runAllTests()`) on one connection (`asyncConnection.sql()`).
    func testRunAllTestsOnOneConnection() async throws {
        let connection = try await AsyncConnection.connect(try IntegrationServer.dsn(database: "sqlkit_all"))
        let sql = connection.sql()
        XCTAssertEqual(sql.dialect.name, "postgresql")
        XCTAssertNotNil(sql.version)
        do {
            try await SQLBenchmarker(on: sql).runAllTests()
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
    }
}

/// What the benchmark does not check by itself.
final class PostgresWireSQLKitTests: XCTestCase {
    func testServerErrorsCarryTheirSQLState() async throws {
        let pool = try AsyncConnectionPool(try IntegrationServer.dsn(database: "sqlkit_misc"))
        let sql = pool.sql()
        do {
            try await sql.raw("SELECT * FROM no_such_table").run()
            XCTFail("the query should have failed")
        } catch let error as PostgresWire.DatabaseError {
            XCTAssertEqual(error.sqlState, .undefinedTable)
            XCTAssertEqual(error.category, .programming)
        }
        try await sql.drop(table: "uniq").ifExists().run()
        try await sql.create(table: "uniq").column("name", type: .text, .unique).run()
        try await sql.insert(into: "uniq").columns("name").values("a").run()
        do {
            try await sql.insert(into: "uniq").columns("name").values("a").run()
            XCTFail("the insert should have failed")
        } catch SQLState.uniqueViolation {
        }
        await pool.close()
    }

    /// The EventLoopFuture API completes from PostgresWire's threads, so `.wait()` works from inside a
    /// task (as FluentBenchmarker and SQLBenchmarker's deprecated `testAll()` use it) and from an event loop's caller.
    func testFuturesCompleteWhileTheCallerWaitsInATask() async throws {
        let pool = try AsyncConnectionPool(try IntegrationServer.dsn(database: "sqlkit_misc"))
        let sql = pool.sql(on: MultiThreadedEventLoopGroup.singleton.any())
        struct Row: Decodable, Equatable { let n: Int; let s: String?; let a: [Int]; let j: [String: Int] }
        let rows = try blockingWait(sql.raw("SELECT 1::int8 AS n, NULL::text AS s, ARRAY[1,2]::int8[] AS a, '{\"k\": 3}'::jsonb AS j").all(decoding: Row.self))
        XCTAssertEqual(rows, [Row(n: 1, s: nil, a: [1, 2], j: ["k": 3])])
        // Binds: an enum through its raw value, an array, a struct as jsonb, NULL.
        enum Color: String, Codable { case red }
        struct Payload: Codable, Equatable { let x: Int }
        let back = try await sql.raw("SELECT \(bind: Color.red) AS c, \(bind: [Color.red, Color.red]) AS cs, \(bind: Payload(x: 5)) AS p, \(bind: Int?.none)::int AS z")
            .first()
        XCTAssertEqual(try back?.decode(column: "c", as: Color.self), .red)
        XCTAssertEqual(try back?.decode(column: "cs", as: [Color].self), [.red, .red])
        XCTAssertEqual(try back?.decode(column: "p", as: Payload.self), Payload(x: 5))
        XCTAssertEqual(try back?.decodeNil(column: "z"), true)
        await pool.close()
    }
}

/// `.wait()` from a synchronous function called by a task, as FluentBenchmarker does.
func blockingWait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T { try future.wait() }
