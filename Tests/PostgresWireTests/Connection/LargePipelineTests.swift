import Foundation
import PostgresWire
import Testing
import TestSupport

/// A pipeline whose requests and results both exceed the socket buffers (about 13 MB each way
/// here): the server stops reading once it cannot send its results, so a client that only
/// writes until it has sent everything would wait forever. The driver reads while it cannot
/// write (as libpq does). The queries share one 400-byte parameter and `executeMany` keeps no
/// rows, so the test process stays small (other suites measure its peak RSS).
@Suite("Pipelines larger than the socket buffers", .timeLimit(.minutes(2)))
struct LargePipelineTests {
    static let count = 30_000

    static func parameterSets() -> [PostgresBindings] {
        var b = PostgresBindings()
        b.appendText(String(repeating: "p", count: 400))
        return [PostgresBindings](repeating: b, count: count)
    }

    /// Each query sends 400 bytes and gets back a row of about 800.
    static func check(_ connection: Connection) throws {
        let counts = try connection.executeMany("SELECT $1::text, repeat('r', 400)", Self.parameterSets())
        #expect(counts.count == Self.count)
        #expect(counts.allSatisfy { $0 == 1 })
        // The connection is in step afterwards.
        #expect(try connection.query("SELECT 41 + 1").rows.first?.decode(Int.self, at: 0) == 42)
    }

    @Test("30,000 pipelined queries, 13 MB each way, over TCP complete")
    func overTCP() throws {
        let server = try TestServer.shared()
        let connection = try Connection.connect(server.dsn())
        defer { connection.close() }
        try Self.check(connection)
    }

    @Test("30,000 pipelined queries, 13 MB each way, over TLS complete")
    func overTLS() throws {
        let server = try TLSTestServer.shared()
        let connection = try Connection.connect(server.dsn(host: "127.0.0.1", extra: "sslmode=require"))
        defer { connection.close() }
        #expect(try connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").rows.first?.decode(Bool.self, at: 0) == true)
        try Self.check(connection)
    }

    @Test("executeMany inserting 30,000 rows of 400 bytes completes, every row stored")
    func executeManyLarge() throws {
        let server = try TestServer.shared()
        let connection = try Connection.connect(server.dsn())
        defer { connection.close() }
        try connection.simpleQuery("CREATE TEMP TABLE big_batch (t text)")
        let counts = try connection.executeMany("INSERT INTO big_batch VALUES ($1)", Self.parameterSets())
        #expect(counts.count == Self.count)
        #expect(counts.allSatisfy { $0 == 1 })
        #expect(try connection.query("SELECT count(*), sum(length(t)) FROM big_batch").rows.first.map {
            [try $0.decode(Int.self, at: 0), try $0.decode(Int.self, at: 1)]
        } == [Self.count, Self.count * 400])
    }
}
