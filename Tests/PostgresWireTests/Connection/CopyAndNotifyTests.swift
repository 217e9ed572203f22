import Foundation
import PostgresWire
import Testing
import TestSupport

@Suite struct CopyAndNotifyTests {
    let server: TestServer
    init() throws { server = try TestServer.shared() }

    private func peakRSSKilobytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    @Test func copyInRowsWithAwkwardCharactersRoundTrips() throws {
        let c = try Connection.connect(server.dsn())
        try c.simpleQuery("CREATE TEMP TABLE awkward (id int, t text)")
        let values: [String?] = ["tab\there", "new\nline", "cr\rhere", "back\\slash", "\\N", "", nil, "日本語 é", "comma,\"quote\"", "\\."]
        let copied = try c.copyIn("COPY awkward FROM STDIN") { writer in
            for (i, v) in values.enumerated() { try writer.writeRow([String(i), v]) }
        }
        #expect(copied == values.count)
        var back: [String?] = []
        try c.copyOutRows("COPY (SELECT t FROM awkward ORDER BY id) TO STDOUT") { fields in back.append(fields[0]) }
        #expect(back == values)
        let nulls = try c.simpleQuery("SELECT count(*) FROM awkward WHERE t IS NULL")
        #expect(nulls[0].rows[0][0] == "1")
    }

    @Test func copyInCSVBytes() throws {
        let c = try Connection.connect(server.dsn())
        try c.simpleQuery("CREATE TEMP TABLE csv_in (a int, b text)")
        let n = try c.copyIn("COPY csv_in FROM STDIN (FORMAT csv)") { w in try w.write("1,\"x, y\"\n2,\n") }
        #expect(n == 2)
        #expect(try c.simpleQuery("SELECT b FROM csv_in ORDER BY a")[0].rows.map { $0[0] } == ["x, y", nil])
    }

    @Test func serverErrorMidCopyLeavesConnectionUsable() throws {
        let c = try Connection.connect(server.dsn())
        try c.simpleQuery("CREATE TEMP TABLE strict_ints (a int)")
        #expect {
            try c.copyIn("COPY strict_ints FROM STDIN") { w in
                for i in 0..<1000 { try w.writeRow([i == 500 ? "not a number" : String(i)]) }
            }
        } throws: { ($0 as? PostgresError)?.sqlState == "22P02" }
        #expect(c.transactionStatus == .idle)
        #expect(try c.simpleQuery("SELECT count(*) FROM strict_ints")[0].rows[0][0] == "0")
    }

    @Test func errorThrownByTheWriterSendsCopyFail() throws {
        struct Stop: Error {}
        let c = try Connection.connect(server.dsn())
        try c.simpleQuery("CREATE TEMP TABLE aborted (a int)")
        #expect(throws: Stop.self) {
            try c.copyIn("COPY aborted FROM STDIN") { w in
                try w.writeRow(["1"])
                throw Stop()
            }
        }
        #expect(try c.simpleQuery("SELECT count(*) FROM aborted")[0].rows[0][0] == "0")
        #expect(try c.simpleQuery("SELECT 1")[0].rows.count == 1)
    }

    @Test func millionRowsBothWaysInBoundedMemory() throws {
        let c = try Connection.connect(server.dsn())
        try c.simpleQuery("CREATE TEMP TABLE big (id int, t text)")
        let before = peakRSSKilobytes()
        let payload = String(repeating: "x", count: 40)
        let n = try c.copyIn("COPY big FROM STDIN") { w in
            for i in 0..<1_000_000 { try w.writeRow([String(i), payload]) }
        }
        #expect(n == 1_000_000)
        var rows = 0
        var bytes = 0
        let out = try c.copyOut("COPY big TO STDOUT") { chunk in
            rows += 1
            bytes += chunk.count
        }
        #expect(out == 1_000_000 && rows == 1_000_000)
        #expect(bytes > 40_000_000)
        let growthMB = (peakRSSKilobytes() - before) / 1024
        #expect(growthMB < 64, "peak RSS grew by \(growthMB) MB for ~48 MB copied each way")
    }

    @Test func copyOutRejectsNonCopyStatements() throws {
        let c = try Connection.connect(server.dsn())
        #expect(throws: PostgresError.self) { try c.copyOut("SELECT 1") { _ in } }
        #expect(try c.simpleQuery("SELECT 2")[0].rows.count == 1)
    }

    @Test func notificationsFromAnotherConnectionWhileIdle() throws {
        let listener = try Connection.connect(server.dsn())
        let notifier = try Connection.connect(server.dsn())
        let received = NotificationBox<[String]>([])
        listener.notificationHandler = { n in received.mutate { $0.append("\(n.channel):\(n.payload)") } }
        try listener.simpleQuery("LISTEN pgwire_events")
        try notifier.simpleQuery("NOTIFY pgwire_events, 'one'; NOTIFY pgwire_events, 'two'")
        let start = Date()
        while received.value.count < 2 && Date().timeIntervalSince(start) < 5 {
            try listener.waitForNotifications(timeout: 1)
        }
        #expect(received.value == ["pgwire_events:one", "pgwire_events:two"])
        // Nothing more arrives: the wait returns after its timeout.
        let waitStart = Date()
        try listener.waitForNotifications(timeout: 0.3)
        #expect(Date().timeIntervalSince(waitStart) >= 0.25)
        // A notification arriving while a query runs is delivered with that query's results.
        try notifier.simpleQuery("NOTIFY pgwire_events, 'three'")
        Thread.sleep(forTimeInterval: 0.2)
        try listener.simpleQuery("SELECT 1")
        #expect(received.value.last == "pgwire_events:three")
    }
}

final class NotificationBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func mutate(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}

@Suite struct TimeoutTests {
    @Test func clientSideQueryTimeoutCancels() throws {
        let server = try TestServer.shared()
        let c = try Connection.connect(server.dsn())
        c.queryTimeout = 0.5
        let start = Date()
        #expect { try c.simpleQuery("SELECT pg_sleep(30)") } throws: { ($0 as? PostgresError)?.sqlState == "57014" }
        #expect(Date().timeIntervalSince(start) < 10)  // well before pg_sleep(30); loose for CI's load
        #expect { try c.query("SELECT pg_sleep(30)") } throws: { ($0 as? PostgresError)?.sqlState == "57014" }
        // Fast queries are unaffected, and the connection is usable.
        #expect(try c.simpleQuery("SELECT 1")[0].rows.count == 1)
        Thread.sleep(forTimeInterval: 0.7)  // an expired timer of a finished query must not cancel the next one
        c.queryTimeout = nil
        #expect(try c.simpleQuery("SELECT pg_sleep(0.8)")[0].rows.count == 1)
    }

    @Test func serverSideTimeoutsAsStartupOptions() throws {
        let server = try TestServer.shared()
        let c = try Connection.connect(server.dsn(extra: "options='-c statement_timeout=300 -c lock_timeout=100 -c idle_in_transaction_session_timeout=5000'"))
        #expect(try c.simpleQuery("SHOW lock_timeout")[0].rows[0][0] == "100ms")
        #expect { try c.simpleQuery("SELECT pg_sleep(5)") } throws: { ($0 as? PostgresError)?.sqlState == "57014" }
        #expect(try c.simpleQuery("SELECT 1")[0].rows.count == 1)
    }
}

@Suite struct KeepaliveTests {
    @Test func keepaliveSettingsReachTheSocket() throws {
        let server = try TestServer.shared()
        let c = try Connection.connect(server.dsn(extra: "sslmode=disable keepalives_idle=17 keepalives_interval=5 keepalives_count=4"))
        let options = try #require(c.testingSocketOptions())
        #expect(options == [1, 17, 5, 4])
        let off = try Connection.connect(server.dsn(extra: "sslmode=disable keepalives=0"))
        #expect(off.testingSocketOptions()?.first == 0)
    }
}
