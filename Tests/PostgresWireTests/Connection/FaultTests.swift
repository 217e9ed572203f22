import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// A value shared between a test and the fake server's threads.
private final class SharedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ newValue: Value) { lock.lock(); value = newValue; lock.unlock() }
    func update(_ body: (inout Value) -> Void) { lock.lock(); body(&value); lock.unlock() }
    var current: Value { lock.lock(); defer { lock.unlock() }; return value }
}

/// The outcome of a call run with a time bound.
private struct Bounded<T> {
    /// nil when the call did not finish in time (it keeps running on its thread).
    var result: Result<T, Error>?
    var elapsed: Double

    var postgresError: PostgresError? {
        if case .failure(let error as PostgresError)? = result { return error }
        return nil
    }

    var value: T? {
        if case .success(let v)? = result { return v }
        return nil
    }
}

/// Runs `body` on its own thread and waits at most `seconds`, so a hanging driver fails the test
/// instead of hanging the test run.
private func bounded<T>(_ seconds: Double, _ body: @escaping @Sendable () throws -> T) -> Bounded<T> {
    let box = SharedValue<Result<T, Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    let started = DispatchTime.now()
    Thread {
        let result = Result { try body() }
        box.set(result)
        done.signal()
    }.start()
    let finished = done.wait(timeout: .now() + seconds) == .success
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
    return Bounded(result: finished ? box.current : nil, elapsed: elapsed)
}

private func procStatusKilobytes(_ field: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
    }
    return nil
}

/// The driver against a deliberately broken server: every failure must be a clear, typed error
/// within a bounded time, never a crash or a hang.
@Suite struct FaultTests {
    /// A configuration for the fake server that ignores the test process's environment and ~/.pgpass.
    static func configuration(_ server: FakeServer, extra: String = "connect_timeout=10") throws -> ConnectionConfiguration {
        try ConnectionConfiguration.parse(
            "host=127.0.0.1 port=\(server.port) user=fake_user dbname=fake_db sslmode=disable \(extra)",
            environment: ["PGPASSFILE": "/nonexistent/pgwire-fault-tests/pgpass"])
    }

    /// Connects to the fake server, expecting failure within `seconds`.
    static func connectFailure(_ server: FakeServer, extra: String = "connect_timeout=10", within seconds: Double = 5,
                               sourceLocation: SourceLocation = #_sourceLocation) throws -> (error: PostgresError?, elapsed: Double) {
        let configuration = try configuration(server, extra: extra)
        let outcome = bounded(seconds) { try Connection(configuration: configuration) }
        switch outcome.result {
        case nil:
            Issue.record("connecting did not finish within \(seconds) s", sourceLocation: sourceLocation)
        case .success(let connection)?:
            connection.close()
            Issue.record("connected to a broken server", sourceLocation: sourceLocation)
        case .failure(let error)?:
            if !(error is PostgresError) {
                Issue.record("expected a PostgresError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
            }
        }
        return (outcome.postgresError, outcome.elapsed)
    }

    /// A fake server that completes a trust startup, waits for one Query and then runs `afterQuery`.
    static func queryServer(_ afterQuery: @escaping @Sendable (FakeClientConnection, String) throws -> Void) throws -> FakeServer {
        try FakeServer { client in
            try client.readStartup()
            client.completeTrustStartup()
            guard case .query(let sql) = try client.readMessage() else { throw FakeServerError("expected a Query") }
            try afterQuery(client, sql)
        }
    }

    static let twoColumns = RowDescription(fields: [
        .init(name: "id", dataTypeOID: 23, dataTypeSize: 4),
        .init(name: "name", dataTypeOID: 25),
    ])

    // MARK: Garbage during startup

    @Test func garbageInsteadOfAuthenticationRequest() throws {
        let server = try FakeServer { client in
            try client.readStartup()
            client.write([0x00, 0xde, 0xad, 0xbe, 0xef] + Array("this is not PostgreSQL".utf8))
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let (error, elapsed) = try Self.connectFailure(server)
        guard case .protocolViolation(let violation)? = error else {
            Issue.record("expected protocolViolation, got \(String(describing: error))")
            return
        }
        #expect(violation == .unknownMessageType(0x00))
        #expect(elapsed < 2)
        #expect(error?.message.contains("protocol violation") == true)
    }

    @Test func httpServerInsteadOfPostgres() throws {
        // 'H' is a valid type byte (CopyOutResponse); "TTP/" as a length is ~1.4 GB.
        let server = try FakeServer { client in
            try client.readStartup()
            client.write(Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let (error, elapsed) = try Self.connectFailure(server)
        guard case .protocolViolation? = error else {
            Issue.record("expected protocolViolation, got \(String(describing: error))")
            return
        }
        #expect(elapsed < 2)
    }

    @Test func invalidLength() throws {
        let server = try FakeServer { client in
            try client.readStartup()
            client.write([UInt8(ascii: "R"), 0, 0, 0, 2, 0, 0, 0, 0])
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let (error, elapsed) = try Self.connectFailure(server)
        guard case .protocolViolation(let violation)? = error else {
            Issue.record("expected protocolViolation, got \(String(describing: error))")
            return
        }
        #expect(violation == .invalidLength(type: UInt8(ascii: "R"), length: 2))
        #expect(elapsed < 2)
    }

    @Test func malformedAuthenticationRequest() throws {
        // Authentication code 99 does not exist; an MD5 request without its salt is truncated.
        for body: [UInt8] in [[0, 0, 0, 99], [0, 0, 0, 5, 1, 2]] {
            let server = try FakeServer { client in
                try client.readStartup()
                var message = [UInt8(ascii: "R")]
                let length = UInt32(body.count + 4)
                message += [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
                client.write(message + body)
                client.waitForClientClose(timeout: 10)
            }
            defer { server.stop() }
            let (error, _) = try Self.connectFailure(server)
            guard case .protocolViolation? = error else {
                Issue.record("body \(body): expected protocolViolation, got \(String(describing: error))")
                continue
            }
        }
    }

    @Test func unexpectedMessageDuringStartup() throws {
        // A DataRow before authentication is well-formed but not allowed.
        let server = try FakeServer { client in
            try client.readStartup()
            client.send(.dataRow(DataRow(values: [Array("1".utf8)])))
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let (error, _) = try Self.connectFailure(server)
        guard case .protocolViolation(.unexpectedMessage(let message, _))? = error else {
            Issue.record("expected protocolViolation(.unexpectedMessage), got \(String(describing: error))")
            return
        }
        #expect(message == "DataRow")
    }

    @Test func twoGigabyteMessageIsRejectedPromptly() throws {
        let server = try FakeServer { client in
            try client.readStartup()
            // 'R' announcing 0x7fffffff bytes, followed by only a few.
            client.write([UInt8(ascii: "R"), 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0])
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let before = procStatusKilobytes("VmRSS") ?? 0
        let (error, elapsed) = try Self.connectFailure(server)
        let after = procStatusKilobytes("VmRSS") ?? 0
        guard case .protocolViolation(let violation)? = error else {
            Issue.record("expected protocolViolation(.messageTooLarge), got \(String(describing: error))")
            return
        }
        guard case .messageTooLarge(let type, let length, let limit) = violation else {
            Issue.record("expected messageTooLarge, got \(violation)")
            return
        }
        #expect(type == UInt8(ascii: "R"))
        #expect(length == 0x7fff_ffff)
        #expect(limit <= 1 << 30)
        #expect(elapsed < 1, "took \(elapsed) s")
        // Nothing close to the announced size was allocated (other tests run concurrently: generous bound).
        #expect(after - before < 512 * 1024, "RSS grew by \(after - before) kB")
    }

    @Test func twoGigabyteDataRowDuringQuery() throws {
        let server = try Self.queryServer { client, _ in
            client.send(.rowDescription(Self.twoColumns))
            client.write([UInt8(ascii: "D"), 0x7f, 0xff, 0xff, 0xf0, 0, 2])
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let connection = try Connection(configuration: Self.configuration(server))
        defer { connection.close() }
        let outcome = bounded(5) { try connection.simpleQuery("SELECT big") }
        guard case .protocolViolation(.messageTooLarge)? = outcome.postgresError else {
            Issue.record("expected protocolViolation(.messageTooLarge), got \(String(describing: outcome.result))")
            return
        }
        #expect(outcome.elapsed < 1)
        #expect(connection.isClosed)
    }

    // MARK: Timeouts and closed sockets

    @Test(.timeLimit(.minutes(1)))
    func serverThatNeverAnswersTimesOut() throws {
        let server = try FakeServer { client in
            try client.readStartup()
            client.waitForClientClose(timeout: 15)
        }
        defer { server.stop() }
        let (error, elapsed) = try Self.connectFailure(server, extra: "connect_timeout=2", within: 8)
        guard case .timeout(let message)? = error else {
            Issue.record("expected timeout, got \(String(describing: error))")
            return
        }
        #expect(message.contains("timeout expired"))
        #expect(elapsed >= 1.8 && elapsed < 4, "took \(elapsed) s")
    }

    @Test(.timeLimit(.minutes(1)))
    func connectTimeoutBoundsTheWholeStartup() throws {
        // The server answers promptly at first but stalls before ReadyForQuery: the deadline covers
        // all of startup, not each read.
        let server = try FakeServer { client in
            try client.readStartup()
            client.send(.authentication(.ok))
            for i in 0..<10 {
                client.sleep(0.5)
                client.send(.parameterStatus(ParameterStatus(name: "slow_\(i)", value: "x")))
            }
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let (error, elapsed) = try Self.connectFailure(server, extra: "connect_timeout=2", within: 8)
        guard case .timeout? = error else {
            Issue.record("expected timeout, got \(String(describing: error))")
            return
        }
        #expect(elapsed >= 1.8 && elapsed < 4, "took \(elapsed) s")
    }

    @Test func serverClosingRightAfterAccept() throws {
        let server = try FakeServer { client in client.close() }
        defer { server.stop() }
        let (error, elapsed) = try Self.connectFailure(server)
        guard case .connectionLost? = error else {
            Issue.record("expected connectionLost, got \(String(describing: error))")
            return
        }
        #expect(elapsed < 2)
    }

    @Test func serverClosingAfterStartupPacket() throws {
        let server = try FakeServer { client in
            try client.readStartup()
            client.close()
        }
        defer { server.stop() }
        let (error, _) = try Self.connectFailure(server)
        guard case .connectionLost(let message)? = error else {
            Issue.record("expected connectionLost, got \(String(describing: error))")
            return
        }
        #expect(message.contains("server closed the connection unexpectedly"))
    }

    @Test func serverClosingInTheMiddleOfAResult() throws {
        let server = try Self.queryServer { client, _ in
            client.send(.rowDescription(Self.twoColumns))
            for i in 1...3 {
                client.send(.dataRow(DataRow(values: [Array(String(i).utf8), Array("row \(i)".utf8)])))
            }
            client.close()
        }
        defer { server.stop() }
        let connection = try Connection(configuration: Self.configuration(server))
        defer { connection.close() }
        #expect(connection.authenticationMethod == "trust")
        #expect(connection.parameters["server_version"] == "15.0 (fake)")
        #expect(connection.backendKeyData == BackendKeyData(processID: 4242, secretKey: 1234))

        let rows = SharedValue<[String]>([])
        let outcome = bounded(5) {
            try connection.simpleQuery("SELECT id, name FROM t") { event in
                if case .row(let row) = event { rows.update { $0.append(row["name"] ?? "nil") } }
            }
        }
        guard case .connectionLost? = outcome.postgresError else {
            Issue.record("expected connectionLost, got \(String(describing: outcome.result))")
            return
        }
        #expect(rows.current == ["row 1", "row 2", "row 3"])
        #expect(connection.isClosed)

        // Every later call fails fast with connectionLost.
        for _ in 0..<3 {
            let later = bounded(1) { try connection.simpleQuery("SELECT 1") }
            guard case .connectionLost? = later.postgresError else {
                Issue.record("expected connectionLost, got \(String(describing: later.result))")
                return
            }
            #expect(later.elapsed < 0.5)
        }
        connection.close()
        #expect(connection.isClosed)
    }

    @Test func fatalErrorThenCloseDuringQuery() throws {
        // What a terminated backend does: a FATAL ErrorResponse, then end of stream.
        let server = try Self.queryServer { client, _ in
            client.send(.errorResponse(DiagnosticFields([
                (UInt8(ascii: "S"), "FATAL"), (UInt8(ascii: "V"), "FATAL"), (UInt8(ascii: "C"), "57P01"),
                (UInt8(ascii: "M"), "terminating connection due to administrator command"),
            ])))
            client.close()
        }
        defer { server.stop() }
        let connection = try Connection(configuration: Self.configuration(server))
        defer { connection.close() }
        let outcome = bounded(5) { try connection.simpleQuery("SELECT 1") }
        switch outcome.postgresError {
        case .server(let e)?: #expect(e.sqlState == "57P01")
        case .connectionLost?: break
        default: Issue.record("expected 57P01 or connectionLost, got \(String(describing: outcome.result))")
        }
        #expect(connection.isClosed)
        let later = bounded(1) { try connection.simpleQuery("SELECT 1") }
        guard case .connectionLost? = later.postgresError else {
            Issue.record("expected connectionLost, got \(String(describing: later.result))")
            return
        }
    }

    @Test func dataRowWithWrongColumnCountBreaksTheConnection() throws {
        let sawClose = SharedValue(false)
        let server = try Self.queryServer { client, _ in
            client.send(
                .rowDescription(Self.twoColumns),
                .dataRow(DataRow(values: [Array("1".utf8), Array("a".utf8)])),
                .dataRow(DataRow(values: [Array("2".utf8), Array("b".utf8), Array("extra".utf8)])),
                .commandComplete(CommandComplete(tag: "SELECT 2")),
                .readyForQuery(.idle))
            // The client must give up on its own (closing its socket), not wait for more.
            sawClose.set(client.waitForClientClose(timeout: 10))
        }
        defer { server.stop() }
        let connection = try Connection(configuration: Self.configuration(server))
        defer { connection.close() }
        let delivered = SharedValue(0)
        let outcome = bounded(5) {
            try connection.simpleQuery("SELECT id, name FROM t") { event in
                if case .row = event { delivered.update { $0 += 1 } }
            }
        }
        guard case .protocolViolation(.malformed(let message, let reason))? = outcome.postgresError else {
            Issue.record("expected protocolViolation(.malformed), got \(String(describing: outcome.result))")
            return
        }
        #expect(message == "DataRow")
        #expect(reason.contains("3 columns"))
        #expect(delivered.current == 1)
        #expect(connection.isClosed)
        let later = bounded(1) { try connection.simpleQuery("SELECT 1") }
        guard case .connectionLost? = later.postgresError else {
            Issue.record("expected connectionLost after a protocol violation, got \(String(describing: later.result))")
            return
        }
        // The broken connection's socket was closed.
        for _ in 0..<50 where !sawClose.current { Thread.sleep(forTimeInterval: 0.05) }
        #expect(sawClose.current)
    }

    @Test func unexpectedMessageDuringQueryBreaksTheConnection() throws {
        let server = try Self.queryServer { client, _ in
            // AuthenticationOk in the middle of a query cycle.
            client.send(.authentication(.ok))
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let connection = try Connection(configuration: Self.configuration(server))
        defer { connection.close() }
        let outcome = bounded(5) { try connection.simpleQuery("SELECT 1") }
        guard case .protocolViolation? = outcome.postgresError else {
            Issue.record("expected protocolViolation, got \(String(describing: outcome.result))")
            return
        }
        #expect(connection.isClosed)
    }

    @Test func fakeServerQueryRoundTrip() throws {
        // Control case: a well-behaved fake server works, so the failures above are the driver's reaction.
        let server = try Self.queryServer { client, sql in
            client.send(
                .noticeResponse(DiagnosticFields([(UInt8(ascii: "S"), "NOTICE"), (UInt8(ascii: "V"), "NOTICE"),
                                                  (UInt8(ascii: "C"), "00000"), (UInt8(ascii: "M"), "echo")])),
                .rowDescription(RowDescription(fields: [.init(name: "sql", dataTypeOID: 25)])),
                .dataRow(DataRow(values: [Array(sql.utf8)])),
                .commandComplete(CommandComplete(tag: "SELECT 1")),
                .parameterStatus(ParameterStatus(name: "TimeZone", value: "Fake/Zone")),
                .readyForQuery(.inTransaction))
            _ = try client.readMessage()  // Terminate
        }
        defer { server.stop() }
        let connection = try Connection(configuration: Self.configuration(server))
        let notices = SharedValue<[String]>([])
        connection.noticeHandler = { n in notices.update { $0.append(n.message) } }
        let results = try connection.simpleQuery("SELECT 'hello'")
        #expect(results.first?.rows.first?[0] == "SELECT 'hello'")
        #expect(results.first?.commandTag == "SELECT 1")
        #expect(notices.current == ["echo"])
        #expect(connection.parameters["TimeZone"] == "Fake/Zone")
        #expect(connection.transactionStatus == .inTransaction)
        connection.close()
    }

    // MARK: Authentication

    @Test func scramWithWrongServerSignature() throws {
        let server = try FakeServer { client in
            try client.readStartup()
            try FakeSCRAMServer(password: "fake-secret").run(on: client, corruptSignature: true)
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let (error, elapsed) = try Self.connectFailure(server, extra: "password=fake-secret connect_timeout=10")
        guard case .authentication(.serverSignatureMismatch)? = error else {
            Issue.record("expected .authentication(.serverSignatureMismatch), got \(String(describing: error))")
            return
        }
        #expect(elapsed < 3)
        #expect(error?.message.contains("fake-secret") == false)
    }

    @Test func scramWithCorrectServerSignature() throws {
        // Control case for the fake's SCRAM: the driver's proof verifies and the signature is accepted.
        let proofValid = SharedValue<Bool?>(nil)
        let server = try FakeServer { client in
            try client.readStartup()
            let exchange = try FakeSCRAMServer(password: "fake-secret").run(on: client, corruptSignature: false)
            proofValid.set(exchange.clientProofValid)
            client.completeTrustStartup()
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let connection = try Connection(configuration: Self.configuration(server, extra: "password=fake-secret"))
        defer { connection.close() }
        #expect(connection.authenticationMethod == "SCRAM-SHA-256")
        #expect(proofValid.current == true)
    }

    @Test func scramServerRejectsWrongPassword() throws {
        let server = try FakeServer { client in
            try client.readStartup()
            let exchange = try FakeSCRAMServer(password: "fake-secret").run(on: client, corruptSignature: false)
            if !exchange.clientProofValid {
                // What PostgreSQL does (it would not send SASLFinal, but the client must not care).
                client.send(.errorResponse(DiagnosticFields([
                    (UInt8(ascii: "S"), "FATAL"), (UInt8(ascii: "V"), "FATAL"), (UInt8(ascii: "C"), "28P01"),
                    (UInt8(ascii: "M"), "password authentication failed for user \"fake_user\""),
                ])))
            } else {
                client.completeTrustStartup()
            }
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        // With a wrong password our signature check fails first (the server's proof does not match ours).
        let (error, _) = try Self.connectFailure(server, extra: "password=wrong connect_timeout=10")
        guard case .authentication(.serverSignatureMismatch)? = error else {
            Issue.record("expected .authentication(.serverSignatureMismatch), got \(String(describing: error))")
            return
        }
    }

    static let unsupportedMethods: [(Authentication, String)] = [
        (.gss, "GSSAPI"), (.sspi, "SSPI"), (.kerberosV5, "Kerberos"), (.scmCredential, "SCM"),
    ]

    @Test(arguments: unsupportedMethods)
    func unsupportedAuthenticationMethod(request: Authentication, name: String) throws {
        let server = try FakeServer { client in
            try client.readStartup()
            client.send(.authentication(request))
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let (error, elapsed) = try Self.connectFailure(server, extra: "password=x connect_timeout=10")
        guard case .authentication(.unsupportedMethod)? = error else {
            Issue.record("expected .authentication(.unsupportedMethod), got \(String(describing: error))")
            return
        }
        #expect(error?.description.contains(name) == true, "\(String(describing: error))")
        #expect(elapsed < 2)
    }

    @Test func gssRequestIsCodeSevenOnTheWire() throws {
        // The GSS request written as raw bytes, independent of the encoder.
        let server = try FakeServer { client in
            try client.readStartup()
            client.write([UInt8(ascii: "R"), 0, 0, 0, 8, 0, 0, 0, 7])
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let (error, _) = try Self.connectFailure(server)
        guard case .authentication(.unsupportedMethod(let method))? = error else {
            Issue.record("expected .authentication(.unsupportedMethod), got \(String(describing: error))")
            return
        }
        #expect(method.contains("GSSAPI"))
        #expect(error?.description.contains("GSSAPI") == true)
    }

    @Test func noSupportedSASLMechanism() throws {
        let server = try FakeServer { client in
            try client.readStartup()
            client.send(.authentication(.sasl(mechanisms: ["SCRAM-SHA-1", "OAUTHBEARER"])))
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let (error, _) = try Self.connectFailure(server, extra: "password=x connect_timeout=10")
        guard case .authentication(.noSupportedSASLMechanism(let offered))? = error else {
            Issue.record("expected .authentication(.noSupportedSASLMechanism), got \(String(describing: error))")
            return
        }
        #expect(offered == ["SCRAM-SHA-1", "OAUTHBEARER"])
    }

    @Test func errorResponseDuringStartup() throws {
        let server = try FakeServer { client in
            try client.readStartup()
            client.send(.errorResponse(DiagnosticFields([
                (UInt8(ascii: "S"), "FATAL"), (UInt8(ascii: "V"), "FATAL"), (UInt8(ascii: "C"), "53300"),
                (UInt8(ascii: "M"), "sorry, too many clients already"),
            ])))
            client.close()
        }
        defer { server.stop() }
        let (error, _) = try Self.connectFailure(server)
        guard case .connectionRejected(let peer, let e)? = error else {
            Issue.record("expected connectionRejected, got \(String(describing: error))")
            return
        }
        #expect(e.sqlState == "53300")
        #expect(e.severity == "FATAL")
        #expect(peer.contains("127.0.0.1"))
        #expect(error?.message.contains("sorry, too many clients already") == true)
    }

    // MARK: The pgwire command-line tool

    /// The pgwire executable built alongside the test bundle (or $PGWIRE_BINARY).
    static func pgwireBinary() -> String? {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["PGWIRE_BINARY"] { candidates.append(explicit) }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // The test binary may sit inside an .xctest bundle (Contents/MacOS on Darwin).
        for _ in 0..<4 {
            candidates.append(directory.appendingPathComponent("pgwire").path)
            directory = directory.deletingLastPathComponent()
        }
        for argument in CommandLine.arguments.prefix(1) {
            candidates.append(URL(fileURLWithPath: argument).deletingLastPathComponent().appendingPathComponent("pgwire").path)
        }
        // Tests/PostgresWireTests/Connection/FaultTests.swift → package root.
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for scratch in [".build-integ", ".build"] {
            candidates.append(packageRoot.appendingPathComponent("\(scratch)/debug/pgwire").path)
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) && !$0.hasSuffix(".xctest") }
    }

    static func cliEnvironment() -> [String: String] {
        [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PGPASSFILE": "/nonexistent/pgwire-fault-tests/pgpass",
        ]
    }

    @Test func cliReportsAProtocolViolation() throws {
        let binary = try #require(Self.pgwireBinary(), "pgwire executable not found next to the test bundle; set PGWIRE_BINARY")
        let server = try FakeServer { client in
            try client.readStartup()
            client.write([0x00, 0xde, 0xad, 0xbe, 0xef] + Array("garbage".utf8))
            client.waitForClientClose(timeout: 10)
        }
        defer { server.stop() }
        let started = Date()
        let result = try runProcess(
            binary, ["query", "--dsn", "host=127.0.0.1 port=\(server.port) user=x connect_timeout=2", "select 1"],
            environment: Self.cliEnvironment(), timeout: 20)
        #expect(result.status == 2, "\(result)")
        #expect(result.stdout.isEmpty, "\(result)")
        #expect(result.stderr.hasPrefix("pgwire: error: "), "\(result)")
        #expect(result.stderr.contains("protocol violation"), "\(result)")
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test(.timeLimit(.minutes(1)))
    func cliReportsATimeout() throws {
        let binary = try #require(Self.pgwireBinary(), "pgwire executable not found next to the test bundle; set PGWIRE_BINARY")
        let server = try FakeServer { client in
            try client.readStartup()
            client.waitForClientClose(timeout: 15)
        }
        defer { server.stop() }
        let started = Date()
        let result = try runProcess(
            binary, ["query", "--dsn", "host=127.0.0.1 port=\(server.port) user=x connect_timeout=2", "select 1"],
            environment: Self.cliEnvironment(), timeout: 20)
        let elapsed = Date().timeIntervalSince(started)
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("timeout expired"), "\(result)")
        #expect(elapsed >= 1.8 && elapsed < 6, "took \(elapsed) s")
    }
}
