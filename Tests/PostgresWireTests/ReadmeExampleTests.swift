import Foundation
import PostgresWire
import Testing
import TestSupport

/// The library example of README.md, run against the test server (kept in step with the README).
@Suite struct ReadmeExampleTests {
    @Test func readmeLibraryExample() throws {
        let server = try TestServer.shared()
        let connection = try Connection.connect(server.dsn())
        defer { connection.close() }
        try connection.simpleQuery("CREATE TEMP TABLE users (id int, name text, created timestamptz)")
        try connection.simpleQuery("INSERT INTO users VALUES (42, 'Ada', '2024-05-06 07:08:09+00'), (7, 'Bob', NULL)")

        var seen: [String] = []
        try connection.simpleQuery("SELECT id, name FROM users") { event in
            if case .row(let row) = event { seen.append("\(row["id"] ?? "NULL") \(row["name"] ?? "NULL")") }
        }
        #expect(seen == ["42 Ada", "7 Bob"])

        let id = 42
        let result = try connection.query("SELECT name, created FROM users WHERE id = \(id)")
        #expect(result.rows.count == 1)
        for row in result.rows {
            let name = try row.decode(String.self, named: "name")
            let created = try row.decode(Date?.self, at: 1)
            #expect(name == "Ada")
            #expect(created == Date(timeIntervalSince1970: 1_714_979_289))
        }
        #expect(connection.transactionStatus == .idle)

        let results = try connection.pipeline((1...100).map { "SELECT \($0)::int * 2" })
        #expect(results.count == 100)
        #expect(try results[99].get().rows[0].decode(Int.self, at: 0) == 200)
    }
}
