import FluentKit
import FluentPostgresWireDriver
import Logging
import NIOCore
import NIOPosix
import PostgresWire
import SQLKit
import XCTest

/// What FluentBenchmark does not check: the configuration spellings, the errors' Fluent
/// classification, the Database being an SQLDatabase, transaction control.
final class FluentPostgresWireDriverTests: XCTestCase {
    func testConnectionStringIsValidated() throws {
        XCTAssertThrowsError(try DatabaseConfigurationFactory.postgresWire(connectionString: "postgresql://host:notaport/db")) { error in
            XCTAssertEqual((error as? PostgresWire.DatabaseError)?.category, .programming, "\(error)")
        }
        XCTAssertThrowsError(try DatabaseConfigurationFactory.postgresWire(connectionString: "host=x bogus_keyword=1"))
        XCTAssertNoThrow(try DatabaseConfigurationFactory.postgresWire(connectionString: "postgresql://app@localhost/app"))
    }

    func testErrorsAnswerFluentsQuestionsAndTheDatabaseIsAnSQLDatabase() async throws {
        try await withFluentDatabases { databases in
            let db = databases.database(.a, logger: Logger(label: "test"), on: databases.eventLoopGroup.any())!
            let sql = try XCTUnwrap(db as? any SQLDatabase)
            XCTAssertEqual(sql.dialect.name, "postgresql")

            do {
                try await sql.raw("asdf").run()
                XCTFail("a syntax error was expected")
            } catch let error as any FluentKit.DatabaseError {
                XCTAssertTrue(error.isSyntaxError)
                XCTAssertFalse(error.isConstraintFailure)
                XCTAssertFalse(error.isConnectionClosed)
            }

            try await sql.create(table: "foo").column("name", type: .text, .unique).run()
            try await sql.insert(into: "foo").columns("name").values("bar").run()
            do {
                try await sql.insert(into: "foo").columns("name").values("bar").run()
                XCTFail("a unique violation was expected")
            } catch let error as any FluentKit.DatabaseError {
                XCTAssertFalse(error.isSyntaxError)
                XCTAssertTrue(error.isConstraintFailure)
                XCTAssertEqual((error as? PostgresWire.DatabaseError)?.sqlState, .uniqueViolation)
            }
        }
    }

    func testTransactionsCommitAndRollBackOnOneConnection() async throws {
        try await withFluentDatabases { databases in
            let db = databases.database(.a, logger: Logger(label: "test"), on: databases.eventLoopGroup.any())!
            let sql = try XCTUnwrap(db as? any SQLDatabase)
            try await sql.create(table: "t").column("n", type: .int).run()

            try await db.transaction { tx in
                let s = tx as! any SQLDatabase
                try await s.insert(into: "t").columns("n").values(1).run()
                // Visible inside the transaction (same connection)...
                let inside = try await s.select().column(SQLFunction("count", args: SQLLiteral.all)).from("t").first(decodingColumn: "count", as: Int.self)
                XCTAssertEqual(inside, 1)
            }
            struct Boom: Error {}
            do {
                try await db.transaction { tx in
                    try await (tx as! any SQLDatabase).insert(into: "t").columns("n").values(2).run()
                    throw Boom()
                }
                XCTFail("the transaction should have thrown")
            } catch is Boom {}
            let all = try await sql.select().column("n").from("t").orderBy("n").all(decodingColumn: "n", as: Int.self)
            XCTAssertEqual(all, [1])

            // Manual transaction control needs one connection.
            let control = try XCTUnwrap(db as? any TransactionControlDatabase)
            do {
                try await control.beginTransaction().get()
                XCTFail("BEGIN on a pooled database should be refused")
            } catch let error as PostgresWire.DatabaseError {
                XCTAssertEqual(error.category, .programming)
            }
            try await db.withConnection { conn in
                let control = conn as! any TransactionControlDatabase
                try await control.beginTransaction().get()
                try await (conn as! any SQLDatabase).insert(into: "t").columns("n").values(3).run()
                try await control.rollbackTransaction().get()
            }
            let after = try await sql.select().column("n").from("t").all(decodingColumn: "n", as: Int.self)
            XCTAssertEqual(after, [1])
        }
    }
}

