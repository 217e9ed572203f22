// `import FluentPostgresWireDriver` is enough in a `configure.swift`, as `import FluentPostgresDriver` is.
@_exported import FluentKit
@_exported import PostgresWireSQLKit
