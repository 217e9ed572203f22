import Dispatch
import FluentKit
import Logging
import PostgresWire
import PostgresWireSQLKit

extension DatabaseConfigurationFactory {
    /// Fluent on PostgresWire, from a parsed configuration (as FluentPostgresDriver's
    /// `.postgres(configuration:)`):
    ///
    ///     app.databases.use(.postgresWire(configuration: try .parse("postgresql://app@localhost/app")), as: .psql)
    ///
    /// - Parameters:
    ///   - pool: the pool's limits (connections are opened on demand, up to `maxConnections`).
    ///   - options: driver settings without a connection-string keyword (statement cache…).
    ///   - json: the coders for values stored as jsonb (nested fields, dictionaries).
    ///   - sqlLogLevel: the level at which each query is logged.
    public static func postgresWire(
        configuration: ConnectionConfiguration,
        pool: PoolConfiguration = PoolConfiguration(),
        options: ConnectionOptions = ConnectionOptions(),
        json: PostgresWireJSONCoders = .default,
        sqlLogLevel: Logger.Level = .debug
    ) -> Self {
        .init {
            FluentPostgresWireConfiguration(configuration: configuration, pool: pool, options: options, json: json,
                                            sqlLogLevel: sqlLogLevel, middleware: [])
        }
    }

    /// Fluent on PostgresWire, from a libpq connection string (`postgresql://…` URI or `key=value …`;
    /// PG* environment variables and `~/.pgpass` fill what it leaves out, as with psql). Throws
    /// PostgresWire's `DatabaseError` (category `.programming`) when the string is invalid.
    public static func postgresWire(
        connectionString: String,
        pool: PoolConfiguration = PoolConfiguration(),
        options: ConnectionOptions = ConnectionOptions(),
        json: PostgresWireJSONCoders = .default,
        sqlLogLevel: Logger.Level = .debug
    ) throws -> Self {
        let configuration: ConnectionConfiguration
        do {
            configuration = try ConnectionConfiguration.parse(connectionString)
        } catch {
            throw PostgresWire.DatabaseError(.configuration(error))
        }
        return .postgresWire(configuration: configuration, pool: pool, options: options, json: json, sqlLogLevel: sqlLogLevel)
    }
}

extension DatabaseID {
    /// The conventional ID of a PostgreSQL database (as FluentPostgresDriver's).
    public static var psql: DatabaseID { .init(string: "psql") }
}

struct FluentPostgresWireConfiguration: DatabaseConfiguration {
    let configuration: ConnectionConfiguration
    let pool: PoolConfiguration
    let options: ConnectionOptions
    let json: PostgresWireJSONCoders
    let sqlLogLevel: Logger.Level
    var middleware: [any AnyModelMiddleware]

    func makeDriver(for databases: Databases) -> any DatabaseDriver {
        FluentPostgresWireDatabaseDriver(
            pool: AsyncConnectionPool(connectionConfiguration: configuration, configuration: pool, options: options),
            json: json,
            sqlLogLevel: sqlLogLevel
        )
    }
}

/// One pool per registered database; each `Database` Fluent asks for is a light view on it.
struct FluentPostgresWireDatabaseDriver: DatabaseDriver {
    let pool: AsyncConnectionPool
    let json: PostgresWireJSONCoders
    let sqlLogLevel: Logger.Level

    func makeDatabase(with context: DatabaseContext) -> any Database {
        FluentPostgresWireDatabase(
            sql: PostgresWireSQLDatabase(source: .pool(pool), logger: context.logger, on: context.eventLoop,
                                         queryLogLevel: sqlLogLevel, json: json),
            context: context,
            inTransaction: false
        )
    }

    /// Closes the pool, blocking the caller (Fluent calls it off the event loops); the close itself
    /// runs on PostgresWire's threads.
    func shutdown() {
        let pool = self.pool
        let done = DispatchSemaphore(value: 0)
        postgresWireDetachedTask {
            await pool.close(timeout: 10)
            done.signal()
        }
        done.wait()
    }

    func shutdownAsync() async {
        await pool.close(timeout: 10)
    }
}
