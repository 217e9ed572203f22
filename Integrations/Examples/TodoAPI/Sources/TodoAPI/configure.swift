import Fluent
import FluentPostgresWireDriver
import PostgresWire
import Vapor

/// Sets the application up on PostgresWire: the database (a libpq connection string; empty means the
/// PG* environment variables and libpq's defaults, as with psql), the migrations and the routes.
public func configure(_ app: Application, connectionString: String? = nil) async throws {
    let dsn = connectionString ?? Environment.get("DATABASE_URL") ?? ""
    app.databases.use(try .postgresWire(connectionString: dsn), as: .psql)
    app.migrations.add(CreateTodoList(), CreateTodo())
    app.middleware.use(DatabaseErrorMiddleware())
    try routes(app)
}

/// Unique violations are conflicts (409) and other integrity errors bad requests (400), instead of 500s.
struct DatabaseErrorMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        do {
            return try await next.respond(to: request)
        } catch let error as PostgresWire.DatabaseError where error.category == .integrity {
            let status: HTTPResponseStatus = error.sqlState == .uniqueViolation ? .conflict : .badRequest
            throw Abort(status, reason: error.serverError?.detail ?? error.message)
        }
    }
}
