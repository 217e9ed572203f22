// `import PostgresWireSQLKit` is enough to use the pool and SQLKit's query builders, as
// `import PostgresKit` is with PostgresNIO.
@_exported import PostgresWire
@_exported import SQLKit
