import Logging
import NIOCore
import NIOPosix
import PostgresWire
import SQLKit

/// An `SQLDatabase` over a PostgresWire `AsyncConnectionPool` (each query on a pooled connection,
/// sessions via `withSession`) or one `AsyncConnection`.
///
///     let pool = try AsyncConnectionPool("postgresql://app@localhost/app")
///     let sql = pool.sql()
///     let planets = try await sql.select().column("*").from("planets").all(decoding: Planet.self)
///
/// Queries run on the connection's own I/O thread (the extended protocol: `$n` binds in binary,
/// prepared statements cached per connection); rows are decoded there too. The `EventLoopFuture` API
/// runs on PostgresWire's bridge thread and completes a promise: it never blocks an event loop or the
/// cooperative pool. Errors are PostgresWire's `DatabaseError`s, carrying the server's SQLSTATE and
/// every field of its ErrorResponse.
public struct PostgresWireSQLDatabase: SQLDatabase {
    public enum Source: Sendable {
        case pool(AsyncConnectionPool)
        case connection(AsyncConnection)
    }

    public let source: Source
    public let logger: Logger
    public let eventLoop: any EventLoop
    public let queryLogLevel: Logger.Level?
    public let json: PostgresWireJSONCoders

    public init(source: Source, logger: Logger = Logger(label: "PostgresWire.SQLKit"), on eventLoop: (any EventLoop)? = nil,
                queryLogLevel: Logger.Level? = .debug, json: PostgresWireJSONCoders = .default) {
        self.source = source
        self.logger = logger
        self.eventLoop = eventLoop ?? MultiThreadedEventLoopGroup.singleton.any()
        self.queryLogLevel = queryLogLevel
        self.json = json
    }

    public var dialect: any SQLDialect { PostgresWireDialect() }

    public var version: (any SQLDatabaseReportedVersion)? {
        guard case .connection(let connection) = source, let text = connection.serverParameters["server_version"] else { return nil }
        return PostgresWireServerVersion(text)
    }

    /// The same database with another logger.
    public func logging(to logger: Logger) -> PostgresWireSQLDatabase {
        PostgresWireSQLDatabase(source: source, logger: logger, on: eventLoop, queryLogLevel: queryLogLevel, json: json)
    }

    /// The same database bound to one connection (for sessions and transactions).
    public func scoped(to connection: AsyncConnection) -> PostgresWireSQLDatabase {
        PostgresWireSQLDatabase(source: .connection(connection), logger: logger, on: eventLoop, queryLogLevel: queryLogLevel, json: json)
    }

    // MARK: Execution

    public func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        let (sql, binds) = serialize(query)
        if let queryLogLevel {
            logger.log(level: queryLogLevel, "Executing query", metadata: ["sql": .string(sql), "binds": .array(binds.map { .string("\($0)") })])
        }
        let bindings = try PostgresWireDataTranslation.bindings(for: binds, json: json)
        let query = PostgresQuery(unsafeSQL: sql, bindings: bindings)
        let json = self.json
        try await withAsyncConnection { connection in
            try await connection.withConnection { c in
                let context = PostgresDecodingContext(parameters: c.parameters)
                try c.query(query) { row in
                    onRow(PostgresWireRow(row: row.detached(), context: context, json: json))
                }
            }
        }
    }

    public func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        eventLoop.postgresWireFuture { try await self.execute(sql: query, onRow) }
    }

    public func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        switch source {
        case .connection:
            return try await closure(self)
        case .pool(let pool):
            return try await pool.withConnection { try await closure(self.scoped(to: $0)) }
        }
    }

    /// Runs `body` with this database's connection, or with a pooled one (given back afterwards).
    public func withAsyncConnection<T>(_ body: (AsyncConnection) async throws -> T) async throws -> T {
        switch source {
        case .connection(let connection): return try await body(connection)
        case .pool(let pool): return try await pool.withConnection(body)
        }
    }
}

/// The server version as the server reports it (`server_version`, e.g. "15.4 (Debian 15.4-1)").
public struct PostgresWireServerVersion: SQLDatabaseReportedVersion {
    public let stringValue: String
    public let components: [Int]

    init(_ text: String) {
        stringValue = text
        let numeric = text.prefix { $0.isNumber || $0 == "." }
        components = numeric.split(separator: ".").compactMap { Int($0) }
    }

    public func isEqual(to otherVersion: any SQLDatabaseReportedVersion) -> Bool {
        (otherVersion as? PostgresWireServerVersion)?.components == components
    }

    public func isOlder(than otherVersion: any SQLDatabaseReportedVersion) -> Bool {
        guard let other = otherVersion as? PostgresWireServerVersion else { return false }
        return components.lexicographicallyPrecedes(other.components)
    }
}

extension AsyncConnectionPool {
    /// This pool as an `SQLDatabase` (as PostgresKit's `sql()`): every query runs on a pooled connection.
    public func sql(logger: Logger = Logger(label: "PostgresWire.SQLKit"), on eventLoop: (any EventLoop)? = nil,
                    queryLogLevel: Logger.Level? = .debug, json: PostgresWireJSONCoders = .default) -> PostgresWireSQLDatabase {
        PostgresWireSQLDatabase(source: .pool(self), logger: logger, on: eventLoop, queryLogLevel: queryLogLevel, json: json)
    }
}

extension AsyncConnection {
    /// This connection as an `SQLDatabase` (as PostgresKit's `connection.sql()`).
    public func sql(logger: Logger = Logger(label: "PostgresWire.SQLKit"), on eventLoop: (any EventLoop)? = nil,
                    queryLogLevel: Logger.Level? = .debug, json: PostgresWireJSONCoders = .default) -> PostgresWireSQLDatabase {
        PostgresWireSQLDatabase(source: .connection(self), logger: logger, on: eventLoop, queryLogLevel: queryLogLevel, json: json)
    }
}
