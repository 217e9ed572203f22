// COPY … FROM STDIN reaching the simple-query and extended-query methods (issue 11): fed by
// simpleQuery(_:copyIn:_:), refused with a clear client-side error elsewhere, the connection
// staying usable either way.

import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

@Suite struct CopyFromStdinTests {
    let server: TestServer
    init() throws { server = try TestServer.shared() }

    private func expectRefusal(_ error: any Error, naming method: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case PostgresError.invalidUsage(let message)? = error as? PostgresError else {
            Issue.record("expected PostgresError.invalidUsage, got \(error)", sourceLocation: sourceLocation)
            return
        }
        #expect(message.contains(method) && message.contains("copyIn(_:_:)"), "\(message)", sourceLocation: sourceLocation)
        #expect(!message.contains("57014"), sourceLocation: sourceLocation)
    }

    @Test func simpleQueryWithoutAFeederRefusesCOPYFromStdinClearly() throws {
        let c = try Connection.connect(server.dsn())
        defer { c.close() }
        try c.simpleQuery("CREATE TEMP TABLE refused (a int)")
        var tags: [String] = []
        do {
            try c.simpleQuery("SELECT 1; COPY refused FROM STDIN; SELECT 2") { event in
                if case .commandComplete(let complete) = event { tags.append(complete.tag) }
            }
            Issue.record("COPY FROM STDIN without data succeeded")
        } catch {
            expectRefusal(error, naming: "simpleQuery(_:_:)")
        }
        // The statements before it ran, the string was abandoned there, and the connection is usable.
        #expect(tags == ["SELECT 1"])
        #expect(c.transactionStatus == .idle)
        #expect(try c.simpleQuery("SELECT count(*) FROM refused")[0].rows[0][0] == "0")
        do {
            _ = try c.simpleQuery("COPY refused FROM STDIN")
            Issue.record("COPY FROM STDIN without data succeeded")
        } catch {
            expectRefusal(error, naming: "simpleQuery(_:_:)")
        }
        #expect(try c.simpleQuery("SELECT 42")[0].rows[0][0] == "42")
    }

    @Test func queryRefusesCOPYFromStdinClearly() throws {
        let c = try Connection.connect(server.dsn())
        defer { c.close() }
        try c.simpleQuery("CREATE TEMP TABLE refused2 (a int)")
        do {
            _ = try c.query("COPY refused2 FROM STDIN")
            Issue.record("COPY FROM STDIN through query() succeeded")
        } catch {
            expectRefusal(error, naming: "query()")
        }
        #expect(c.transactionStatus == .idle)
        #expect(try c.query("SELECT 7::int AS n").rows[0].decode(Int.self, at: 0) == 7)
    }

    @Test func aPipelineEndingWithCOPYFromStdinRefusesIt() throws {
        let c = try Connection.connect(server.dsn())
        defer { c.close() }
        try c.simpleQuery("CREATE TEMP TABLE refused3 (a int)")
        // Last in the batch (the server swallows the batch's Sync in copy-in mode). (With more
        // statements after it, their messages reach the server in copy-in mode, which it treats as
        // a lost protocol synchronization (FATAL), as with libpq, which forbids COPY in pipelines.)
        let last = try c.pipeline(["SELECT 1", "COPY refused3 FROM STDIN"].map { PostgresQuery(unsafeSQL: $0) })
        #expect(try last[0].get().rows[0][0] == "1")
        if case .failure(let error) = last[1] { expectRefusal(error, naming: "query()") } else { Issue.record("COPY succeeded") }
        #expect(try c.query("SELECT 2::int").rows[0].decode(Int.self, at: 0) == 2)
        #expect(c.transactionStatus == .idle)
        #expect(try c.query("SELECT 4::int").rows[0].decode(Int.self, at: 0) == 4)
        #expect(try c.simpleQuery("SELECT 5")[0].rows[0][0] == "5")
    }

    @Test func simpleQueryFeedsEveryCOPYFromStdinOfTheString() throws {
        let c = try Connection.connect(server.dsn())
        defer { c.close() }
        var formats: [Int8] = []
        var events: [String] = []
        var fed = 0
        try c.simpleQuery(
            "CREATE TEMP TABLE fed (a int, b text); COPY fed FROM STDIN; SELECT count(*) FROM fed; COPY fed FROM STDIN (FORMAT csv)",
            copyIn: { response, writer in
                formats.append(response.overallFormat)
                fed += 1
                if fed == 1 { try writer.writeRow(["1", "x"]); try writer.writeRow(["2", nil]) } else { try writer.write("3,\"y, z\"\n") }
            },
            { event in
                switch event {
                case .commandComplete(let complete): events.append(complete.tag)
                case .row(let row): events.append("row \(row[0] ?? "NULL")")
                default: break
                }
            })
        #expect(formats == [0, 0])
        #expect(events == ["CREATE TABLE", "COPY 2", "row 2", "SELECT 1", "COPY 1"])
        #expect(try c.simpleQuery("SELECT b FROM fed ORDER BY a")[0].rows.map { $0[0] } == ["x", nil, "y, z"])
    }

    struct Abandon: Error {}

    @Test func aFeederThatThrowsAbortsTheCOPYAndTheConnectionStaysUsable() throws {
        let c = try Connection.connect(server.dsn())
        defer { c.close() }
        try c.simpleQuery("CREATE TEMP TABLE abandoned (a int)")
        do {
            try c.simpleQuery("COPY abandoned FROM STDIN; SELECT 'unreached'", copyIn: { _, writer in
                try writer.writeRow(["1"])
                throw Abandon()
            }, { _ in })
            Issue.record("the feeder's error was swallowed")
        } catch is Abandon {
        }
        #expect(c.transactionStatus == .idle)
        #expect(try c.simpleQuery("SELECT count(*) FROM abandoned")[0].rows[0][0] == "0")
    }
}
