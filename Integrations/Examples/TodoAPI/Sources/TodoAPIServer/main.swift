// The Todo API server: `scripts/with-server swift run todo-api serve` (from Integrations/) runs it
// against a throwaway PostgreSQL; DATABASE_URL (a libpq connection string) or the PG* variables name
// another server. Migrations run at startup.
import TodoAPI
import Vapor

var env = try Environment.detect()
try LoggingSystem.bootstrap(from: &env)
let app = try await Application.make(env)
do {
    try await configure(app)
    try await app.autoMigrate().get()
    try await app.execute()
} catch {
    app.logger.report(error: error)
    try? await app.asyncShutdown()
    throw error
}
try await app.asyncShutdown()
