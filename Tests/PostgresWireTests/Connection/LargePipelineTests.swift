import Foundation
import PostgresWire
import Testing
import TestSupport

/// A pipeline whose requests and results both exceed the socket buffers: the server stops
/// reading once it cannot send its results, so a client that only writes until it has sent
/// everything would wait forever. The driver reads while it cannot write (as libpq does).
@Suite("Pipelines larger than the socket buffers", .timeLimit(.minutes(2)))
struct LargePipelineTests {
    static let count = 300_000

    static func queries() -> [PostgresQuery] {
        (0..<count).map { i in "SELECT \(i)::int8, repeat('x', 20)" }
    }

    static func check(_ connection: Connection) throws {
        let results = try connection.pipeline(Self.queries())
        #expect(results.count == Self.count)
        var sum = 0
        for result in results {
            let rows = try result.get().rows
            #expect(rows.count == 1)
            sum &+= try rows[0].decode(Int.self, at: 0)
        }
        #expect(sum == (Self.count - 1) * Self.count / 2)
        // The connection is in step afterwards.
        #expect(try connection.query("SELECT 41 + 1").rows.first?.decode(Int.self, at: 0) == 42)
    }

    @Test("300,000 pipelined queries over TCP complete")
    func overTCP() throws {
        let server = try TestServer.shared()
        let connection = try Connection.connect(server.dsn())
        defer { connection.close() }
        try Self.check(connection)
    }

    @Test("300,000 pipelined queries over TLS complete")
    func overTLS() throws {
        let server = try TLSTestServer.shared()
        let connection = try Connection.connect(server.dsn(host: "127.0.0.1", extra: "sslmode=require"))
        defer { connection.close() }
        #expect(try connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").rows.first?.decode(Bool.self, at: 0) == true)
        try Self.check(connection)
    }

    @Test("executeMany with 300,000 parameter sets completes")
    func executeManyLarge() throws {
        let server = try TestServer.shared()
        let connection = try Connection.connect(server.dsn())
        defer { connection.close() }
        try connection.simpleQuery("CREATE TEMP TABLE big_batch (i int8, t text)")
        let sets = (0..<Self.count).map { i -> PostgresBindings in
            var b = PostgresBindings()
            try! b.append(i)
            try! b.append("row \(i) of a batch insert that is larger than the socket buffers")
            return b
        }
        let counts = try connection.executeMany("INSERT INTO big_batch VALUES ($1, $2)", sets)
        #expect(counts.count == Self.count)
        #expect(counts.allSatisfy { $0 == 1 })
        #expect(try connection.query("SELECT count(*) FROM big_batch").rows.first?.decode(Int.self, at: 0) == Self.count)
    }
}
