import FluentKit
import FluentSQL
import Logging
import NIOCore
import PostgresWire
import PostgresWireSQLKit
import SQLKit

/// A Fluent `Database` on a PostgresWire pool (or, inside `withConnection` and `transaction`, on one
/// of its connections). It is also an `SQLDatabase`, as FluentPostgresDriver's is, so
/// `db as! any SQLDatabase` gives SQLKit's builders on the same connection.
struct FluentPostgresWireDatabase: Database, SQLDatabase, TransactionControlDatabase {
    let sql: PostgresWireSQLDatabase
    let context: DatabaseContext
    let inTransaction: Bool

    private func scoped(to connection: AsyncConnection, inTransaction: Bool) -> FluentPostgresWireDatabase {
        FluentPostgresWireDatabase(sql: sql.scoped(to: connection), context: context, inTransaction: inTransaction)
    }

    private var connection: AsyncConnection? {
        if case .connection(let c) = sql.source { return c }
        return nil
    }

    // MARK: Database

    func execute(query: DatabaseQuery, onOutput: @escaping @Sendable (any DatabaseOutput) -> ()) -> EventLoopFuture<Void> {
        var expression = SQLQueryConverter(delegate: PostgresWireConverterDelegate()).convert(query)
        // Creates return the generated IDs, except for composite IDs (Fluent signals them with an empty custom ID key).
        if case .create = query.action, query.customIDKey != .some(.string("")) {
            expression = SQLKit.SQLList([expression, SQLReturning(SQLColumn((query.customIDKey ?? .id).description))], separator: SQLRaw(" "))
        }
        return execute(sql: expression) { onOutput(SQLRowDatabaseOutput(row: $0, schema: nil)) }
    }

    func execute(schema: DatabaseSchema) -> EventLoopFuture<Void> {
        let expression = SQLSchemaConverter(delegate: PostgresWireConverterDelegate()).convert(schema)
        let logger = self.logger
        return execute(sql: expression) { logger.debug("Unexpected row returned from schema query: \($0)") }
    }

    func execute(enum e: DatabaseEnum) -> EventLoopFuture<Void> {
        eventLoop.postgresWireFuture {
            switch e.action {
            case .create:
                var builder = self.create(enum: e.name)
                for value in e.createCases { builder = builder.value(value) }
                try await builder.run()
            case .update:
                if !e.deleteCases.isEmpty {
                    self.logger.debug("PostgreSQL cannot delete enum cases; ignoring: \(e.deleteCases)")
                }
                for value in e.createCases {
                    try await self.alter(enum: e.name).add(value: value).run()
                }
            case .delete:
                try await self.drop(enum: e.name).run()
            }
            return ()
        }
    }

    func transaction<T>(_ closure: @escaping @Sendable (any Database) -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        if inTransaction { return closure(self) }
        return eventLoop.postgresWireFuture {
            try await self.sql.withAsyncConnection { connection in
                let db = self.scoped(to: connection, inTransaction: true)
                try await db.raw("BEGIN").run()
                let result: UncheckedSendable<T>
                do {
                    result = try await closure(db).map { UncheckedSendable($0) }.get()
                } catch {
                    // The pool rolls back whatever is still open if this fails too.
                    try? await db.raw("ROLLBACK").run()
                    throw error
                }
                try await db.raw("COMMIT").run()
                return result
            }
        }.map { $0.value }
    }

    func withConnection<T>(_ closure: @escaping @Sendable (any Database) -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        if connection != nil { return closure(self) }
        return eventLoop.postgresWireFuture {
            try await self.sql.withAsyncConnection { connection in
                try await closure(self.scoped(to: connection, inTransaction: self.inTransaction)).map { UncheckedSendable($0) }.get()
            }
        }.map { $0.value }
    }

    // MARK: TransactionControlDatabase (only on one connection: inside withConnection)

    func beginTransaction() -> EventLoopFuture<Void> { transactionControl("BEGIN") }
    func commitTransaction() -> EventLoopFuture<Void> { transactionControl("COMMIT") }
    func rollbackTransaction() -> EventLoopFuture<Void> { transactionControl("ROLLBACK") }

    private func transactionControl(_ statement: String) -> EventLoopFuture<Void> {
        guard connection != nil else {
            return eventLoop.makeFailedFuture(PostgresWire.PostgresError.invalidUsage(
                "\(statement) on a pooled database would run on an arbitrary connection: call it inside withConnection { }"))
        }
        return raw(SQLQueryString(statement)).run()
    }

    // MARK: SQLDatabase

    var logger: Logger { context.logger }
    var eventLoop: any EventLoop { context.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { sql.version }
    var dialect: any SQLDialect { sql.dialect }
    var queryLogLevel: Logger.Level? { sql.queryLogLevel }

    /// Fluent expects rows and completion on the database's event loop: rows decoded on the I/O
    /// thread are handed to the loop in order, and the promise completes there after them.
    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        let loop = eventLoop
        return sql.execute(sql: query) { row in
            if loop.inEventLoop { onRow(row) } else { loop.execute { onRow(row) } }
        }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        try await sql.execute(sql: query, onRow)
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        if connection != nil { return try await closure(self) }
        return try await sql.withAsyncConnection { connection in
            try await closure(self.scoped(to: connection, inTransaction: self.inTransaction))
        }
    }
}

/// Carries a value Fluent's protocols leave unconstrained across the bridge task.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A result row as Fluent output; `schema(_:)` reads the `<schema>_<field>` columns of joins and eager loads.
struct SQLRowDatabaseOutput: DatabaseOutput {
    let row: any SQLRow
    let schema: String?

    var description: String { String(describing: row) }

    private func column(_ key: FieldKey) -> String {
        (schema.map { .prefix(.prefix(.string($0), "_"), key) } ?? key).description
    }

    func schema(_ schema: String) -> any DatabaseOutput { SQLRowDatabaseOutput(row: row, schema: schema) }
    func contains(_ key: FieldKey) -> Bool { row.contains(column: column(key)) }
    func decodeNil(_ key: FieldKey) throws -> Bool { try row.decodeNil(column: column(key)) }
    func decode<T: Decodable>(_ key: FieldKey, as: T.Type) throws -> T { try row.decode(column: column(key), as: T.self) }
}

/// Fluent's data types as PostgreSQL column types (the same choices as FluentPostgresDriver).
struct PostgresWireConverterDelegate: SQLConverterDelegate {
    func customDataType(_ dataType: DatabaseSchema.DataType) -> (any SQLExpression)? {
        switch dataType {
        case .uuid: return SQLRaw("UUID")
        case .bool: return SQLRaw("BOOL")
        case .data: return SQLRaw("BYTEA")
        case .date: return SQLRaw("DATE")
        case .datetime: return SQLRaw("TIMESTAMPTZ")
        case .double: return SQLRaw("DOUBLE PRECISION")
        case .dictionary: return SQLRaw("JSONB")
        case .array(of: let element):
            if let element, let elementType = customDataType(element) { return ArrayOf(element: elementType) }
            return SQLRaw("JSONB")
        case .enum(let value): return SQLIdentifier(value.name)
        case .int8, .uint8: return SQLIdentifier("char")
        case .int16, .uint16: return SQLRaw("SMALLINT")
        case .int32, .uint32: return SQLRaw("INT")
        case .int64, .uint64: return SQLRaw("BIGINT")
        case .string: return SQLRaw("TEXT")
        case .time: return SQLRaw("TIME")
        case .float: return SQLRaw("FLOAT")
        case .custom: return nil
        }
    }

    private struct ArrayOf: SQLExpression {
        let element: any SQLExpression
        func serialize(to serializer: inout SQLSerializer) {
            element.serialize(to: &serializer)
            serializer.write("[]")
        }
    }
}

// MARK: Errors

/// PostgresWire's errors answer Fluent's questions from their SQLSTATE.
extension PostgresWire.DatabaseError: @retroactive FluentKit.DatabaseError {
    public var isSyntaxError: Bool {
        guard let state = sqlState?.rawValue else { return false }
        // Class 42 (syntax error or access rule violation) and the undefined/duplicate/invalid object codes in it.
        return state.hasPrefix("42")
    }

    public var isConstraintFailure: Bool {
        sqlState?.errorClass == "23"
    }

    public var isConnectionClosed: Bool {
        switch self {
        case .connectionClosed, .connectionLost: return true
        default: return sqlState?.errorClass == "08"
        }
    }
}
