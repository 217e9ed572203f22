/// Runs `body`, turning every error into a `PostgresError` (the DB-API's `DatabaseError`).
@inline(__always) @discardableResult
func asDatabaseError<T>(_ body: () throws -> T) throws(PostgresError) -> T {
    do { return try body() } catch { throw PostgresError.wrap(error) }
}
