import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// Rows made on demand (nothing materialised): `count` rows (Int.max: endless), optionally
/// throwing `Stop` before row `failAt`.
private struct GeneratedRows: AsyncSequence, Sendable {
    typealias Element = [String?]
    let count: Int
    var failAt: Int?
    let make: @Sendable (Int) -> [String?]

    struct Stop: Error {}

    func makeAsyncIterator() -> Iterator { Iterator(source: self) }

    struct Iterator: AsyncIteratorProtocol {
        let source: GeneratedRows
        var i = 0
        mutating func next() async throws -> [String?]? {
            guard i < source.count else { return nil }
            if let failAt = source.failAt, i == failAt { throw Stop() }
            defer { i += 1 }
            return source.make(i)
        }
    }
}

/// An array as an AsyncSequence.
private struct AsyncArray<Element: Sendable>: AsyncSequence, Sendable {
    let elements: [Element]
    func makeAsyncIterator() -> Iterator { Iterator(elements: elements) }
    struct Iterator: AsyncIteratorProtocol {
        let elements: [Element]
        var i = 0
        mutating func next() async -> Element? {
            guard i < elements.count else { return nil }
            defer { i += 1 }
            return elements[i]
        }
    }
}

private func peakRSSKilobytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}

private func connect() async throws -> AsyncConnection {
    try await AsyncConnection.connect(TestServer.shared().dsn(extra: "connect_timeout=10"))
}

private func count(_ conn: AsyncConnection, _ table: String) async throws -> Int {
    try await conn.query("SELECT count(*) FROM \(unescaped: table)").rows[0].decode(Int.self, at: 0)
}

private func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

@Suite(.serialized) struct AsyncCopyTests {
    @Test func millionRowsBothWaysInBoundedMemory() async throws {
        let conn = try await connect()
        try await conn.simpleQuery("CREATE TEMP TABLE big (id int, t text)")
        let before = peakRSSKilobytes()
        let payload = String(repeating: "x", count: 40)
        let clock = ContinuousClock()
        let t0 = clock.now
        let n = try await conn.copyIn("COPY big FROM STDIN", rows: GeneratedRows(count: 1_000_000) { [String($0), payload] })
        #expect(n == 1_000_000)
        let t1 = clock.now
        var chunks = 0
        var bytes = 0
        for try await chunk in conn.copyOut("COPY big TO STDOUT") {
            chunks += 1
            bytes += chunk.count
        }
        #expect(chunks == 1_000_000)
        #expect(bytes > 40_000_000)
        let t2 = clock.now
        var rows = 0
        var idSum = 0
        for try await fields in conn.copyOutRows("COPY big TO STDOUT") {
            rows += 1
            idSum += Int(fields[0]!)!
            if rows == 1 { #expect(fields[1] == payload) }
        }
        #expect(rows == 1_000_000 && idSum == 999_999 * 1_000_000 / 2)
        let growthMB = (peakRSSKilobytes() - before) / 1024
        print("async COPY 1M rows: in \(t1 - t0), out \(t2 - t1), out rows \(clock.now - t2); VmHWM \(before) kB -> \(peakRSSKilobytes()) kB")
        #expect(growthMB < 64, "peak RSS grew by \(growthMB) MB for ~48 MB copied each way")
        #expect(try await conn.query("SELECT 1").rows.count == 1)
        await conn.close()
    }

    @Test func awkwardCharactersRoundTrip() async throws {
        let conn = try await connect()
        try await conn.simpleQuery("CREATE TEMP TABLE awkward (id int, t text)")
        let values: [String?] = ["tab\there", "new\nline", "cr\rhere", "back\\slash", "\\N", "", nil, "日本語 é", "comma,\"quote\"", "\\.", "emoji 🐘"]
        let rows = values.enumerated().map { [String($0.offset), $0.element] }
        let copied = try await conn.copyIn("COPY awkward FROM STDIN", rows: AsyncArray(elements: rows))
        #expect(copied == values.count)
        var back: [String?] = []
        for try await fields in conn.copyOutRows("COPY (SELECT t FROM awkward ORDER BY id) TO STDOUT") { back.append(fields[0]) }
        #expect(back == values)

        // Raw bytes: CSV split at awkward places (inside a quoted field, inside a UTF-8 sequence).
        try await conn.simpleQuery("CREATE TEMP TABLE csv_in (a int, b text)")
        let csv = Array("1,\"x, y\"\n2,\n3,\"é\n\"\"q\"\"\"\n".utf8)
        let pieces = stride(from: 0, to: csv.count, by: 3).map { Array(csv[$0..<min($0 + 3, csv.count)]) }
        let n = try await conn.copyIn("COPY csv_in FROM STDIN (FORMAT csv)", data: AsyncArray(elements: pieces))
        #expect(n == 3)
        let b = try await conn.query("SELECT b FROM csv_in ORDER BY a").rows.map { try $0.decode(String?.self, at: 0) }
        #expect(b == ["x, y", nil, "é\n\"q\""])
        var csvBack: [UInt8] = []
        for try await chunk in conn.copyOut("COPY csv_in TO STDOUT (FORMAT csv)") { csvBack += chunk }
        #expect(csvBack == csv)
        await conn.close()
    }

    @Test func errorThrownBySequenceSendsCopyFail() async throws {
        let conn = try await connect()
        try await conn.simpleQuery("CREATE TEMP TABLE aborted (a int)")
        // Thrown after several 64 KiB chunks went to the server.
        await #expect(throws: GeneratedRows.Stop.self) {
            try await conn.copyIn("COPY aborted FROM STDIN", rows: GeneratedRows(count: 100_000, failAt: 50_000) { [String($0)] })
        }
        #expect(conn.transactionStatus == .idle)
        #expect(try await count(conn, "aborted") == 0)
        // Thrown before any data went.
        await #expect(throws: GeneratedRows.Stop.self) {
            try await conn.copyIn("COPY aborted FROM STDIN", rows: GeneratedRows(count: 10, failAt: 0) { [String($0)] })
        }
        #expect(try await conn.copyIn("COPY aborted FROM STDIN", rows: GeneratedRows(count: 3) { [String($0)] }) == 3)
        #expect(try await count(conn, "aborted") == 3)
        await conn.close()
    }

    @Test func serverErrorMidCopyLeavesConnectionUsable() async throws {
        let conn = try await connect()
        try await conn.simpleQuery("CREATE TEMP TABLE strict_ints (a int)")
        await #expect {
            try await conn.copyIn("COPY strict_ints FROM STDIN", rows: GeneratedRows(count: 200_000) { [$0 == 500 ? "not a number" : String($0)] })
        } throws: { ($0 as? DatabaseError)?.sqlState?.rawValue == "22P02" }
        #expect(conn.transactionStatus == .idle)
        #expect(try await count(conn, "strict_ints") == 0)
        // A statement that is not COPY FROM STDIN.
        await #expect(throws: DatabaseError.self) {
            try await conn.copyIn("SELECT 1", rows: GeneratedRows(count: 100_000) { [String($0)] })
        }
        await #expect(throws: DatabaseError.self) {
            for try await _ in conn.copyOut("SELECT 1") {}
        }
        await #expect {
            for try await _ in conn.copyOut("COPY (SELECT 1/(g - 500) FROM generate_series(1, 1000) g) TO STDOUT") {}
        } throws: { ($0 as? DatabaseError)?.sqlState?.rawValue == "22012" }
        #expect(try await conn.query("SELECT 2").rows[0].decode(Int.self, at: 0) == 2)
        await conn.close()
    }

    @Test func taskCancellationDuringCopyIn() async throws {
        let conn = try await connect()
        try await conn.simpleQuery("CREATE TEMP TABLE endless (a int, b text)")
        let started = Counter()
        let task = Task {
            try await conn.copyIn("COPY endless FROM STDIN", rows: GeneratedRows(count: Int.max) { i in
                started.increment()
                return [String(i), "some text"]
            })
        }
        while started.value < 200_000 { try await Task.sleep(for: .milliseconds(10)) }
        let cancelledAt = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(ContinuousClock.now - cancelledAt < .seconds(15))
        #expect(conn.transactionStatus == .idle)
        #expect(try await count(conn, "endless") == 0)
        // Cancelled before it starts: nothing runs.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await conn.copyIn("COPY endless FROM STDIN", rows: GeneratedRows(count: 10) { [String($0), nil] })
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        #expect(try await conn.copyIn("COPY endless FROM STDIN", rows: GeneratedRows(count: 10) { [String($0), nil] }) == 10)

        // The server waits for a lock before COPY starts: the CancelRequest ends it (57014).
        let table = "locked_\(UInt32.random(in: 0...UInt32.max))"
        try await conn.simpleQuery("CREATE TABLE \(table) (a int)")
        let locker = try await connect()
        try await locker.simpleQuery("BEGIN; LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE")
        let blocked = Task {
            try await conn.copyIn("COPY \(table) FROM STDIN", rows: GeneratedRows(count: 10) { [String($0)] })
        }
        try await Task.sleep(for: .milliseconds(300))
        let blockedAt = ContinuousClock.now
        blocked.cancel()
        await #expect(throws: CancellationError.self) { try await blocked.value }
        #expect(ContinuousClock.now - blockedAt < .seconds(15))
        try await locker.simpleQuery("ROLLBACK")
        #expect(try await count(conn, table) == 0)
        try await conn.simpleQuery("DROP TABLE \(table)")
        await locker.close()
        await conn.close()
    }

    @Test func taskCancellationAndEarlyExitDuringCopyOut() async throws {
        let conn = try await connect()
        // Streaming: cancelled while rows flow.
        let seen = Counter()
        let task = Task {
            for try await _ in conn.copyOut("COPY (SELECT g, repeat('x', 50) FROM generate_series(1, 50000000) g) TO STDOUT", bufferSize: 16) {
                seen.increment()
            }
        }
        while seen.value < 10_000 { try await Task.sleep(for: .milliseconds(5)) }
        var cancelledAt = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await conn.query("SELECT 3").rows[0].decode(Int.self, at: 0) == 3)
        #expect(ContinuousClock.now - cancelledAt < .seconds(15))

        // The server sends nothing for a while: cancellation goes through a CancelRequest (57014).
        let slow = Task {
            for try await _ in conn.copyOut("COPY (SELECT pg_sleep(30)) TO STDOUT") {}
        }
        try await Task.sleep(for: .milliseconds(300))
        cancelledAt = ContinuousClock.now
        slow.cancel()
        await #expect(throws: CancellationError.self) { try await slow.value }
        #expect(try await conn.query("SELECT 4").rows[0].decode(Int.self, at: 0) == 4)
        #expect(ContinuousClock.now - cancelledAt < .seconds(15))

        // Leaving the loop early.
        var first = 0
        for try await fields in conn.copyOutRows("COPY (SELECT g FROM generate_series(1, 10000000) g) TO STDOUT") {
            first = Int(fields[0]!)!
            break
        }
        #expect(first == 1)
        #expect(try await conn.query("SELECT 5").rows[0].decode(Int.self, at: 0) == 5)
        #expect(conn.transactionStatus == .idle)
        await conn.close()
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}

/// Collects a notification sequence in a task.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(NotificationResponse, ContinuousClock.Instant)] = []
    func append(_ n: NotificationResponse) { lock.withLock { items.append((n, .now)) } }
    var all: [NotificationResponse] { lock.withLock { items.map(\.0) } }
    var times: [ContinuousClock.Instant] { lock.withLock { items.map(\.1) } }

    /// Waits (polling) until `count` items arrived or `timeout` passed.
    func wait(for count: Int, timeout: Duration = .seconds(5)) async throws {
        let end = ContinuousClock.now + timeout
        while all.count < count && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(2)) }
    }
}

@Suite struct AsyncNotificationTests {
    private func consume(_ conn: AsyncConnection, into box: Collected) -> Task<Void, Error> {
        let sequence = conn.notifications()
        return Task {
            for try await n in sequence { box.append(n) }
        }
    }

    @Test func deliveredWhileIdle() async throws {
        let listener = try await connect()
        let notifier = try await connect()
        let channel = "idle_\(UInt32.random(in: 0...UInt32.max))"
        try await listener.simpleQuery("LISTEN \(channel)")
        let box = Collected()
        let other = Collected()
        let consumer = consume(listener, into: box)
        let second = consume(listener, into: other)
        try await Task.sleep(for: .milliseconds(100))  // the listener is idle now
        let sent = ContinuousClock.now
        try await notifier.simpleQuery("NOTIFY \(channel), 'hello'")
        try await box.wait(for: 1)
        let latency = (box.times.first ?? .now) - sent
        #expect(box.all.map(\.payload) == ["hello"])
        #expect(box.all.first?.channel == channel)
        #expect(box.all.first?.processID == notifier.backendPID)
        // Delivered with no query on the listener; the bound is a hang guard (CI runs ~600 tests
        // at once on 2 cores: 3 s was exceeded there), not a latency figure.
        #expect(latency < .seconds(30), "delivered after \(latency)")
        try await other.wait(for: 1)
        #expect(other.all.map(\.payload) == ["hello"])
        // Several in a row, still idle.
        try await notifier.simpleQuery("NOTIFY \(channel), 'a'; NOTIFY \(channel), 'b'; SELECT pg_notify('\(channel)', 'c')")
        try await box.wait(for: 4)
        #expect(box.all.map(\.payload) == ["hello", "a", "b", "c"])
        // Closing the listener ends the sequences normally.
        await listener.close()
        try await consumer.value
        try await second.value
        await notifier.close()
    }

    @Test func deliveredDuringAQuery() async throws {
        let listener = try await connect()
        let notifier = try await connect()
        let channel = "busy_\(UInt32.random(in: 0...UInt32.max))"
        try await listener.simpleQuery("LISTEN \(channel)")
        let box = Collected()
        let consumer = consume(listener, into: box)
        let query = Task { try await listener.query("SELECT pg_sleep(1)") }
        try await Task.sleep(for: .milliseconds(200))
        try await notifier.simpleQuery("NOTIFY \(channel), 'while busy'")
        _ = try await query.value
        let queryDone = ContinuousClock.now
        try await box.wait(for: 1, timeout: .seconds(10))
        #expect(box.all.map(\.payload) == ["while busy"])
        // Delivered with the query's results (the server sends it just before ReadyForQuery).
        if let t = box.times.first { #expect(t - queryDone < .seconds(30)) }  // a hang guard under CI's load
        consumer.cancel()
        await listener.close()
        await notifier.close()
    }

    @Test func queriesStayFastWithAnActiveListener() async throws {
        let listener = try await connect()
        let notifier = try await connect()
        let channel = "fast_\(UInt32.random(in: 0...UInt32.max))"
        try await listener.simpleQuery("LISTEN \(channel)")
        let box = Collected()
        let consumer = consume(listener, into: box)
        try await Task.sleep(for: .milliseconds(50))
        // Each query on the listening connection is timed against the same query on a connection
        // without a listener, interleaved, so that both see the same machine load: an idle listener
        // that held each query back by a polling interval would make the first sum many times the
        // second. Not a speed test (those are benchmarks).
        let clock = ContinuousClock()
        var withListener = Duration.zero
        var without = Duration.zero
        for i in 0..<100 {
            let start = clock.now
            let v = try await listener.query("SELECT \(i)::int").rows[0].decode(Int.self, at: 0)
            let middle = clock.now
            let w = try await notifier.query("SELECT \(i)::int").rows[0].decode(Int.self, at: 0)
            without += clock.now - middle
            withListener += middle - start
            #expect(v == i && w == i)
        }
        print("100 sequential queries: \(withListener) with an idle listener, \(without) without")
        #expect(withListener < without * 4 + .seconds(1), "\(withListener) with an idle listener, \(without) without")
        // Streaming and COPY still work, and notifications still arrive.
        var streamed = 0
        for try await _ in listener.rows("SELECT generate_series(1, 1000)", fetchSize: 100) { streamed += 1 }
        #expect(streamed == 1000)
        try await notifier.simpleQuery("NOTIFY \(channel), 'after'")
        try await box.wait(for: 1)
        #expect(box.all.map(\.payload) == ["after"])
        // The idle wait does not spin: the listener's I/O thread uses (almost) no CPU while it waits.
        let tid = try await listener.withConnection { _ in
            // "PID/task/TID" of the I/O thread.
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""
        }
        let cpuBefore = threadCPUTicks(tid)
        try await Task.sleep(for: .milliseconds(500))
        let ticks = threadCPUTicks(tid) - cpuBefore
        #expect(!tid.isEmpty)
        #expect(ticks < 5, "\(ticks) clock ticks of CPU in 0.5 s of idle listening")
        consumer.cancel()
        await listener.close()
        await notifier.close()
    }

    @Test func cancellingTheConsumerEndsTheSequence() async throws {
        let listener = try await connect()
        let notifier = try await connect()
        let channel = "cancel_\(UInt32.random(in: 0...UInt32.max))"
        try await listener.simpleQuery("LISTEN \(channel)")
        let box = Collected()
        let consumer = consume(listener, into: box)
        try await Task.sleep(for: .milliseconds(50))
        consumer.cancel()
        let ended = ContinuousClock.now
        _ = try? await consumer.value
        // A hang guard, not a speed test: it ends (at once when the machine is quiet; 3.3 s was seen
        // with the whole suite running on two cores).
        #expect(ContinuousClock.now - ended < .seconds(30))
        #expect(try await listener.query("SELECT 1").rows.count == 1)
        // Notifications sent meanwhile are dispatched with the next query; a new sequence works.
        let again = Collected()
        let next = consume(listener, into: again)
        try await notifier.simpleQuery("NOTIFY \(channel), 'again'")
        try await again.wait(for: 1)
        #expect(again.all.map(\.payload) == ["again"])
        #expect(box.all.isEmpty)
        next.cancel()
        _ = try? await next.value
        await listener.close()
        await notifier.close()
    }

    @Test func deliveredWhileIdleOverTLS() async throws {
        let server = try TLSTestServer.shared()
        let dsn = server.dsn(extra: "sslmode=verify-full sslrootcert=\(server.certificates.caCertificate)")
        let listener = try await AsyncConnection.connect(dsn)
        let notifier = try await AsyncConnection.connect(dsn)
        let channel = "tls_\(UInt32.random(in: 0...UInt32.max))"
        try await listener.simpleQuery("LISTEN \(channel)")
        let box = Collected()
        let consumer = consume(listener, into: box)
        try await Task.sleep(for: .milliseconds(100))
        // Large payloads: several TLS records, more than one read's worth, all sent at once.
        let payloads = (0..<6).map { String(repeating: Character(UnicodeScalar(UInt8(97 + $0))), count: 7000) }
        let sent = ContinuousClock.now
        try await notifier.simpleQuery("BEGIN; " + payloads.map { "NOTIFY \(channel), '\($0)';" }.joined(separator: " ") + " COMMIT")
        try await box.wait(for: payloads.count)
        #expect(box.all.map(\.payload) == payloads)
        if let last = box.times.last { #expect(last - sent < .seconds(30)) }  // a hang guard, as above
        #expect(try await listener.query("SELECT 1").rows.count == 1)
        consumer.cancel()
        await listener.close()
        await notifier.close()
    }

    /// The async example of README.md ("COPY, LISTEN/NOTIFY, cancellation and timeouts").
    @Test func readmeAsyncExample() async throws {
        let db = try await connect()
        let notifier = try await connect()
        try await db.simpleQuery("CREATE TEMP TABLE items (id int, name text)")
        let rows = AsyncArray(elements: [["1", "one"], ["2", nil]] as [[String?]])
        let copied = try await db.copyIn("COPY items (id, name) FROM STDIN", rows: rows)
        #expect(copied == 2)
        var seen: [[String?]] = []
        for try await fields in db.copyOutRows("COPY items TO STDOUT") { seen.append(fields) }
        #expect(seen == [["1", "one"], ["2", nil]])

        let channel = "jobs_\(UInt32.random(in: 0...UInt32.max))"
        try await db.simpleQuery("LISTEN \(channel)")
        let sequence = db.notifications()
        let listener = Task {
            var got: [String] = []
            for try await n in sequence {
                got.append("\(n.channel) \(n.payload) \(n.processID)")
            }
            return got
        }
        try await notifier.simpleQuery("NOTIFY \(channel), 'work'")
        try await Task.sleep(for: .milliseconds(300))
        listener.cancel()
        #expect(try await listener.value == ["\(channel) work \(notifier.backendPID!)"])
        await db.close()
        await notifier.close()
    }

    @Test func brokenConnectionEndsTheSequenceWithAnError() async throws {
        let listener = try await connect()
        let admin = try await connect()
        let sequence = listener.notifications()
        let consumer = Task { for try await _ in sequence {} }
        try await Task.sleep(for: .milliseconds(100))
        try await admin.execute("SELECT pg_terminate_backend($1)", [listener.backendPID!])
        await #expect(throws: DatabaseError.self) { try await consumer.value }
        #expect(listener.isClosed)
        await admin.close()
    }
}

/// User + system CPU time of a thread ("PID/task/TID"), in clock ticks (/proc/PID/task/TID/stat).
private func threadCPUTicks(_ thread: String) -> Int {
    guard let stat = try? String(contentsOfFile: "/proc/\(thread)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command: state (field 3), …, utime (14), stime (15).
    guard fields.count > 12 else { return 0 }
    return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
}
