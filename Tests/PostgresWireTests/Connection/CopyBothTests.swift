import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// COPY BOTH (streaming replication) is refused clearly, and the session goes on. The server here
/// is a fake: the real one only enters COPY BOTH on replication connections.
@Suite struct CopyBothTests {
    @Test func copyBothIsReportedAsUnsupportedAndTheConnectionStaysUsable() throws {
        let server = try FakeServer { client in
            try client.readStartup()
            client.completeTrustStartup()
            guard case .query = try client.readMessage() else { throw FakeServerError("expected a Query") }
            client.send(.copyBothResponse(CopyResponse(overallFormat: 1, columnFormats: [])),
                        .copyData([1, 2, 3][...]))
            guard case .copyDone = try client.readMessage() else { throw FakeServerError("expected CopyDone") }
            client.send(.copyDone, .commandComplete(CommandComplete(tag: "START_REPLICATION")), .readyForQuery(.idle))
            guard case .query = try client.readMessage() else { throw FakeServerError("expected a second Query") }
            client.send(.rowDescription(RowDescription(fields: [.init(name: "x", dataTypeOID: 25)])),
                        .dataRow(DataRow(values: [Array("ok".utf8)])),
                        .commandComplete(CommandComplete(tag: "SELECT 1")), .readyForQuery(.idle))
            _ = client.waitForClientClose(timeout: 5)
        }
        defer { server.stop() }
        let c = try Connection.connect("host=127.0.0.1 port=\(server.port) user=x sslmode=disable connect_timeout=5")
        #expect {
            try c.simpleQuery("START_REPLICATION 0/0")
        } throws: { error in
            guard case PostgresError.invalidUsage(let m) = error else { return false }
            return m.contains("COPY BOTH")
        }
        #expect(!c.isClosed)
        #expect(try c.simpleQuery("SELECT 'ok'")[0].rows[0][0] == "ok")
        c.close()
        #expect(server.scriptErrors.isEmpty, "\(server.scriptErrors)")
    }
}
