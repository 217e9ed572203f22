import Foundation
import PostgresWire
import TestSupport

/// The throwaway cluster of PostgresWire's own tests (TestSupport), with one fresh database per name.
enum IntegrationServer {
    static let lock = NSLock()
    nonisolated(unsafe) static var created: Set<String> = []

    /// A libpq conninfo string for database `name`, created empty the first time it is asked for in
    /// this process (dropped first if an earlier run left it).
    static func dsn(database name: String) throws -> String {
        let server = try TestServer.shared()
        try lock.withLock {
            if !created.contains(name) {
                try server.execute("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE); CREATE DATABASE \"\(name)\" OWNER pgwire_trust;")
                created.insert(name)
            }
        }
        return server.dsn(database: name)
    }

    static func configuration(database name: String) throws -> ConnectionConfiguration {
        try ConnectionConfiguration.parse(try dsn(database: name))
    }
}
