// `pgwire trace` and `pgwire query --trace` against libpq's own PQtrace: a C program
// (Tests/Oracles/pqtrace_script.c) traces a session with PQtrace while the proxy traces the same
// session from the middle of the wire; the two traces must agree line for line.

import Foundation
import PostgresWire
import Testing
import TestSupport

// MARK: - Helpers

/// Tests/Oracles/pqtrace_script.c compiled against the installed libpq (once per test process).
enum PQTraceOracle {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let source = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Oracles/pqtrace_script.c")

    static func binary() throws -> String { try built.get() }

    private static let built: Result<String, Failure> = {
        do {
            let include = try runProcess("pg_config", ["--includedir"], timeout: 30)
            guard include.status == 0 else {
                return .failure(Failure(description: "pg_config failed (is libpq-dev installed?): \(include)"))
            }
            let includeDir = include.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // Kept under the package's .build (a cache, not litter in the temporary directory).
            let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/test-oracles").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            // Binaries left by earlier test processes (older than an hour).
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("pqtrace_script-") {
                let path = directory + "/" + name
                if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                   modified.timeIntervalSinceNow < -3600 {
                    try? FileManager.default.removeItem(atPath: path)
                }
            }
            let output = directory + "/pqtrace_script-\(getpid())"
            let cc = try runProcess("cc", ["-O1", "-o", output, source.path, "-I\(includeDir)", "-lpq"], timeout: 120)
            guard cc.status == 0 else {
                return .failure(Failure(description: "cc failed building the PQtrace oracle (libpq-dev and a C compiler are required): \(cc)"))
            }
            return .success(output)
        } catch {
            return .failure(Failure(description: "could not build the PQtrace oracle: \(error)"))
        }
    }()

    /// Runs the script on `conninfo`; returns the PQtrace output and the program's result.
    static func run(conninfo: String, script: String = "full", environment: [String: String]) throws -> (trace: [UInt8], result: ProcessResult) {
        let traceFile = temporaryPath("libpq-trace")
        defer { unlink(traceFile) }
        let result = try runProcess(try binary(), [conninfo, traceFile, script], environment: environment, timeout: 120)
        let trace = (try? Data(contentsOf: URL(fileURLWithPath: traceFile))).map { [UInt8]($0) } ?? []
        return (trace, result)
    }
}

func temporaryPath(_ name: String) -> String {
    NSTemporaryDirectory() + "pgwire-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))"
}

/// A running `pgwire trace` process.
final class TraceProxyProcess {
    let process = Process()
    let port: Int
    let outputPath: String

    init(upstreamPort: Int, extraArguments: [String] = ["--no-timestamps"]) throws {
        outputPath = temporaryPath("proxy-trace")
        process.executableURL = URL(fileURLWithPath: try PgwireBinary.path())
        process.arguments = ["trace", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(upstreamPort)", "--output", outputPath] + extraArguments
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // The first line on stderr says where it listens (port 0 = a free port chosen by the kernel).
        var text = ""
        let handle = stderr.fileHandleForReading
        while !text.contains("\n") {
            let data = handle.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let match = text.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/), let port = Int(match.1) else {
            process.terminate()
            throw PQTraceOracle.Failure(description: "pgwire trace did not start: \(text)")
        }
        self.port = port
    }

    /// Waits (up to 10 s) until `count` connections have been traced to the end: the client's
    /// last message may reach the server before the proxy notes that the connection closed.
    func waitForClosedConnections(_ count: Int) {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            if text.components(separatedBy: "#\tconnection ").filter({ $0.contains(" closed (") }).count >= count { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Stops the proxy (SIGTERM flushes the trace) and returns the whole trace.
    func stop() -> [UInt8] {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        let bytes = (try? Data(contentsOf: URL(fileURLWithPath: outputPath))).map { [UInt8]($0) } ?? []
        unlink(outputPath)
        return bytes
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

/// Trace text as lines (without their newlines).
func traceLines(_ bytes: [UInt8]) -> [String] {
    var lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\n")
    if lines.last == "" { lines.removeLast() }
    return lines
}

/// The lines after the startup phase: everything after the first ReadyForQuery, without the
/// proxy's own `#` notes. (PQtrace is switched on after PQconnectdb, so it shows none of the startup.)
func afterStartup(_ lines: [String]) -> [String] {
    let messages = lines.filter { !$0.hasPrefix("#\t") }
    guard let ready = messages.firstIndex(where: { $0.hasPrefix("B\t5\tReadyForQuery\t") }) else { return [] }
    return Array(messages[(ready + 1)...])
}

/// The first differing line with some context, or nil when equal.
func lineDifference(expected: [String], actual: [String], expectedLabel: String = "PQtrace", actualLabel: String = "pgwire trace") -> String? {
    if expected == actual { return nil }
    let common = min(expected.count, actual.count)
    let first = (0..<common).first { expected[$0] != actual[$0] } ?? common
    func window(_ lines: [String]) -> String {
        let from = max(0, first - 3)
        let to = min(lines.count, first + 4)
        guard from < to else { return "(ends at line \(lines.count))" }
        return (from..<to).map { "\($0 + 1)\($0 == first ? ">" : " ") \(visualize($0 < lines.count ? lines[$0] : ""))" }.joined(separator: "\n")
    }
    return """
        first difference at line \(first + 1) (\(expectedLabel): \(expected.count) lines, \(actualLabel): \(actual.count) lines)
        --- \(expectedLabel) ---
        \(window(expected))
        --- \(actualLabel) ---
        \(window(actual))
        """
}

/// A raw TCP connection, for sending what no real client would.
final class RawSocket {
    private(set) var fd: Int32

    init(port: Int) throws {
        fd = Platform.socket(AF_INET, Platform.socketStream, 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else { throw PQTraceOracle.Failure(description: "connect failed: \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Platform.send(fd, $0.baseAddress, $0.count) }
    }

    /// Reads until the peer closes (returns what came before) or the 10 s receive timeout (nil).
    func readUntilClosed() -> [UInt8]? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return received }
            if n < 0 { return errno == ECONNRESET ? received : nil }
            received += buffer[0..<n]
        }
    }

    /// Exactly `count` bytes (nil on end of stream or timeout).
    func read(count: Int) -> [UInt8]? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: count)
        while received.count < count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count - received.count, 0) }
            if n <= 0 { return nil }
            received += buffer[0..<n]
        }
        return received
    }

    func close() {
        if fd >= 0 { _ = Platform.close(fd) }
        fd = -1
    }

    deinit { close() }
}

/// An untyped startup-phase packet: length, code or protocol version, body.
func untypedPacket(code: UInt32, body: [UInt8] = []) -> [UInt8] {
    let length = UInt32(8 + body.count)
    func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
    return be(length) + be(code) + body
}

// MARK: - Tests

@Suite("pgwire trace agrees with libpq's PQtrace", .serialized)
struct TraceOracleTests {
    static let secrets: [TestServer.Role: String] = [.password: "pw-secret", .md5: "md5-secret", .scram: "scram-secret"]

    func conninfo(port: Int, role: TestServer.Role = .trust, server: TestServer) -> String {
        var parts = ["host=127.0.0.1", "port=\(port)", "user=\(role.rawValue)", "dbname=pgwire_test"]
        if let password = server.password(for: role) { parts.append("password=\(password)") }
        return parts.joined(separator: " ")
    }

    @Test("the proxy's trace of a libpq session equals the session's own PQtrace")
    func proxyMatchesPQtrace() throws {
        let server = try TestServer.shared()
        let proxy = try TraceProxyProcess(upstreamPort: server.port)
        let run = try PQTraceOracle.run(conninfo: conninfo(port: proxy.port, server: server), environment: server.environment())
        proxy.waitForClosedConnections(1)
        let proxyTrace = traceLines(proxy.stop())
        #expect(run.result.status == 0, "the oracle script failed:\n\(run.result)")

        let expected = traceLines(run.trace)
        let actual = afterStartup(proxyTrace)
        // The script covers what it should (guards against an oracle that silently ran nothing).
        for name in ["Query", "Parse", "Bind", "Describe", "Execute", "Sync", "RowDescription", "DataRow", "ErrorResponse",
                     "NoticeResponse", "CopyInResponse", "CopyOutResponse", "CopyDone", "CopyFail", "NotificationResponse",
                     "ParameterDescription", "NoData", "EmptyQueryResponse", "ParameterStatus", "Terminate"] {
            #expect(expected.contains { $0.split(separator: "\t").dropFirst(2).first.map(String.init) == name }, "PQtrace shows no \(name)")
        }
        #expect(expected.contains("B\t5\tReadyForQuery\t E"), "no failed transaction in the script")
        #expect(expected.count > 250)
        let difference = lineDifference(expected: expected, actual: actual)
        #expect(difference == nil, "\(difference ?? "")")

        // What PQtrace cannot show: the proxy answered the SSLRequest and traced the startup.
        let messages = proxyTrace.filter { !$0.hasPrefix("#\t") }
        let ssl = try #require(messages.firstIndex(of: "F\t8\tSSLRequest\t 80877103"), "no SSLRequest: \(messages.prefix(4))")
        #expect(messages[ssl + 1] == "B\t1\tSSLResponse\t N")
        #expect(messages[ssl + 2].contains("\tStartupMessage\t 3 0 \"user\" \"pgwire_trust\" \"database\" \"pgwire_test\""), "\(messages[ssl + 2])")
        #expect(messages.contains("B\t8\tAuthenticationOk"))
        #expect(messages.contains { $0.hasPrefix("B\t12\tBackendKeyData\t ") })
        #expect(proxyTrace.first?.hasPrefix("#\tconnection 1 from 127.0.0.1:") == true)
        #expect(proxyTrace.last?.hasPrefix("#\tconnection 1 closed") == true)
    }

    @Test("several clients at once: each connection's lines (by prefix) equal its own PQtrace")
    func concurrentConnectionsWithPrefixes() throws {
        let server = try TestServer.shared()
        let proxy = try TraceProxyProcess(upstreamPort: server.port, extraArguments: ["--no-timestamps", "--prefix-connections"])
        let count = 3
        let results = ResultBox(count: count)
        let target = conninfo(port: proxy.port, server: server)
        let environment = server.environment()
        DispatchQueue.concurrentPerform(iterations: count) { i in
            results.set(i, Result { try PQTraceOracle.run(conninfo: target, environment: environment) })
        }
        proxy.waitForClosedConnections(count)
        let proxyTrace = traceLines(proxy.stop())
        var byConnection: [String: [String]] = [:]
        for line in proxyTrace {
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, Int(parts[0]) != nil else {
                Issue.record("line without a connection number: \(visualize(line))")
                continue
            }
            byConnection[String(parts[0]), default: []].append(String(parts[1]))
        }
        #expect(Set(byConnection.keys) == Set((1...count).map(String.init)))
        let sessions = byConnection.values.map(afterStartup)
        for i in 0..<count {
            let run = try results.get(i)
            #expect(run.result.status == 0, "\(run.result)")
            let expected = traceLines(run.trace)
            // Each session has its own process ID (in NotificationResponse), so exactly one connection matches.
            let matches = sessions.filter { $0 == expected }
            #expect(matches.count == 1, "run \(i): \(sessions.map { lineDifference(expected: expected, actual: $0) ?? "equal" }.joined(separator: "\n\n"))")
        }
    }

    @Test("pgwire query --trace writes the session in PQtrace's format", arguments: [
        "SELECT 1 AS one, 'two'::text AS two, NULL AS three",
        "SELECT g, E'tab\\there' AS t, '\\x00ff'::bytea AS b FROM generate_series(1, 3) g; SELECT 1/0",
        "DO $$BEGIN RAISE NOTICE 'hello'; END$$; SELECT ''::text AS empty",
        "COPY (SELECT 1, 'x' UNION ALL SELECT 2, NULL) TO STDOUT",
    ])
    func queryTraceMatchesPQtrace(sql: String) throws {
        let server = try TestServer.shared()
        let traceFile = temporaryPath("query-trace")
        defer { unlink(traceFile) }
        let environment = server.environment(role: .trust)
        let pgwire = try runPgwire(["query", "--trace", traceFile, sql], environment: environment)
        #expect(pgwire.status == 0 || pgwire.status == 1, "\(pgwire)")
        let traced = traceLines((try? Data(contentsOf: URL(fileURLWithPath: traceFile))).map { [UInt8]($0) } ?? [])
        // Timestamps as libpq prints them, on every message line.
        var untimed: [String] = []
        for line in traced {
            if let match = line.wholeMatch(of: /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}\t([FB]\t.*)/) {
                untimed.append(String(match.1))
            } else {
                #expect(line.hasPrefix("mismatched message length"), "no timestamp: \(visualize(line))")
                untimed.append(line)
            }
        }
        #expect(untimed.first?.hasPrefix("F\t") == true && untimed.first?.contains("\tStartupMessage\t 3 0 \"user\" \"pgwire_trust\"") == true,
                "\(untimed.prefix(2))")
        let oracle = try PQTraceOracle.run(conninfo: conninfo(port: server.port, server: server), script: "query:" + sql, environment: environment)
        #expect(oracle.result.status == 0, "\(oracle.result)")
        let difference = lineDifference(expected: traceLines(oracle.trace), actual: afterStartup(untimed), actualLabel: "pgwire query --trace")
        #expect(difference == nil, "\(difference ?? "")")
    }

    @Test("Connection.connect(_:traceFile:) traces the library's own session")
    func libraryConnectionTrace() throws {
        let server = try TestServer.shared()
        let traceFile = temporaryPath("library-trace")
        defer { unlink(traceFile) }
        do {
            let connection = try Connection.connect(server.dsn(role: .scram), traceFile: traceFile, timestamps: false)
            try connection.simpleQuery("SELECT 42 AS answer")
            connection.close()
            (connection.tracer as? PQTraceWriter)?.flush()
        }
        let lines = traceLines((try? Data(contentsOf: URL(fileURLWithPath: traceFile))).map { [UInt8]($0) } ?? [])
        #expect(lines.first?.hasPrefix("F\t") == true && lines.first?.contains("\tStartupMessage\t 3 0 \"user\" \"pgwire_scram\"") == true)
        #expect(lines.contains("F\t24\tQuery\t \"SELECT 42 AS answer\""))
        #expect(lines.contains("B\t12\tDataRow\t 1 2 '42'"))
        #expect(lines.last == "F\t4\tTerminate")
        #expect(!lines.joined().contains("scram-secret"))
    }

    @Test("no password or SASL secret reaches a trace", arguments: [TestServer.Role.password, .md5, .scram])
    func secretsAreRedacted(role: TestServer.Role) throws {
        let server = try TestServer.shared()
        let secret = try #require(Self.secrets[role])

        // Through the proxy, with libpq (psql) as the client.
        let proxy = try TraceProxyProcess(upstreamPort: server.port, extraArguments: [])
        var environment = server.environment(role: role)
        environment["PGPORT"] = String(proxy.port)
        environment["PGHOST"] = "127.0.0.1"
        let psql = try runPsql(server, ["-A", "-t", "-c", "SELECT current_user"], environment: environment)
        proxy.waitForClosedConnections(1)
        let proxied = proxy.stop()
        #expect(psql.status == 0, "\(psql)")
        #expect(psql.stdout == role.rawValue + "\n")

        // Our own driver's --trace.
        let traceFile = temporaryPath("secret-trace")
        defer { unlink(traceFile) }
        let pgwire = try runPgwire(["query", "--trace", traceFile, "SELECT current_user"], environment: server.environment(role: role))
        #expect(pgwire.status == 0, "\(pgwire)")
        let own = (try? Data(contentsOf: URL(fileURLWithPath: traceFile))).map { [UInt8]($0) } ?? []

        for (label, bytes) in [("proxy", proxied), ("pgwire query --trace", own)] {
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains(secret), "\(label) trace contains the password")
            #expect(!text.isEmpty)
            switch role {
            case .scram:
                #expect(text.contains("\tAuthenticationSASL\t \"SCRAM-SHA-256\""), "\(label): \(text)")
                #expect(text.contains("\tSASLInitialResponse\t \"SCRAM-SHA-256\" <redacted "), "\(label)")
                #expect(text.contains("\tAuthenticationSASLContinue\t <redacted "), "\(label)")
                #expect(text.contains("\tSASLResponse\t <redacted "), "\(label)")
                #expect(text.contains("\tAuthenticationSASLFinal\t <redacted "), "\(label)")
                // None of the SCRAM messages' text (client-first "n,,n=…", client-final "c=biws,r=…,p=proof").
                #expect(!text.contains("n,,n=") && !text.contains("c=biws") && !text.contains(",p="), "\(label)")
            case .md5:
                #expect(text.contains("\tAuthenticationMD5Password\t '"), "\(label)")
                #expect(text.contains("\tPasswordMessage\t <redacted 36 bytes>"), "\(label)")
                #expect(text.range(of: #"md5[0-9a-f]{32}"#, options: .regularExpression) == nil, "\(label)")
            default:
                #expect(text.contains("\tAuthenticationCleartextPassword"), "\(label)")
                #expect(text.contains("\tPasswordMessage\t <redacted 10 bytes>"), "\(label)")
            }
            #expect(text.contains("\tAuthenticationOk"), "\(label)")
        }
    }

    @Test("malformed traffic closes that connection only; the proxy keeps serving the others")
    func malformedClientIsDisconnected() throws {
        let server = try TestServer.shared()
        let proxy = try TraceProxyProcess(upstreamPort: server.port, extraArguments: ["--no-timestamps", "--prefix-connections"])
        // A healthy session, kept open throughout.
        let healthy = try Connection.connect("host=127.0.0.1 port=\(proxy.port) user=pgwire_trust dbname=pgwire_test sslmode=disable")
        #expect(try healthy.simpleQuery("SELECT 1").first?.rows.count == 1)

        // Not PostgreSQL at all: the "length" of "GET " is absurd.
        let http = try RawSocket(port: proxy.port)
        http.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(http.readUntilClosed() != nil, "the proxy did not close the HTTP client's connection")

        // A valid startup, then a message type that does not exist.
        let garbage = try RawSocket(port: proxy.port)
        var body: [UInt8] = [0, 3, 0, 0]  // protocol 3.0
        for text in ["user", "pgwire_trust", "database", "pgwire_test", ""] { body += Array(text.utf8) + [0] }
        let length = UInt32(body.count + 4)
        var startup: [UInt8] = [UInt8(length >> 24), UInt8((length >> 16) & 0xff), UInt8((length >> 8) & 0xff), UInt8(length & 0xff)] + body
        startup += [0x01, 0, 0, 0, 4]
        garbage.send(startup)
        let answered = garbage.readUntilClosed()
        #expect(answered != nil, "the proxy did not close the garbage client's connection")

        // The healthy session still works, and new sessions are served.
        #expect(try healthy.simpleQuery("SELECT 2").first?.rows.count == 1)
        let later = try Connection.connect("host=127.0.0.1 port=\(proxy.port) user=pgwire_trust dbname=pgwire_test sslmode=disable")
        #expect(try later.simpleQuery("SELECT 3").first?.rows.count == 1)
        later.close()
        healthy.close()
        proxy.waitForClosedConnections(4)

        let trace = String(decoding: proxy.stop(), as: UTF8.self)
        #expect(trace.contains("2\t#\tmalformed frontend traffic from connection 2: startup message of 1195725856 bytes exceeds"), "\(trace)")
        #expect(trace.contains("3\t#\tmalformed frontend traffic from connection 3: unknown message type 0x1; closing the connection"), "\(trace)")
        #expect(trace.contains("2\t#\tconnection 2 closed (malformed client traffic)"))
        #expect(trace.contains("3\t#\tconnection 3 closed (malformed client traffic)"))
        #expect(trace.contains("1\tF\t13\tQuery\t \"SELECT 2\""))
        #expect(trace.contains("4\tF\t13\tQuery\t \"SELECT 3\""))
    }

    @Test("SSLRequest and GSSENCRequest are answered 'N' by the proxy, never forwarded")
    func encryptionRequestsAreDeclined() throws {
        let server = try TestServer.shared()
        let proxy = try TraceProxyProcess(upstreamPort: server.port)
        let socket = try RawSocket(port: proxy.port)
        socket.send(untypedPacket(code: 80_877_104))  // GSSENCRequest
        #expect(socket.read(count: 1) == [UInt8(ascii: "N")])
        socket.send(untypedPacket(code: 80_877_103))  // SSLRequest
        #expect(socket.read(count: 1) == [UInt8(ascii: "N")])
        var parameters: [UInt8] = []
        for text in ["user", "pgwire_trust", "database", "pgwire_test", ""] { parameters += Array(text.utf8) + [0] }
        // The StartupMessage and a Terminate in one write: both go through.
        socket.send(untypedPacket(code: 3 << 16, body: parameters) + [UInt8(ascii: "X"), 0, 0, 0, 4])
        let answer = try #require(socket.readUntilClosed())
        socket.close()
        #expect(Array(answer.prefix(9)) == [UInt8(ascii: "R"), 0, 0, 0, 8, 0, 0, 0, 0], "no AuthenticationOk first: \(answer.prefix(16))")
        proxy.waitForClosedConnections(1)
        let lines = traceLines(proxy.stop()).filter { !$0.hasPrefix("#\t") }
        #expect(Array(lines.prefix(6)) == [
            "F\t8\tGSSENCRequest\t 80877104",
            "B\t1\tGSSENCResponse\t N",
            "F\t8\tSSLRequest\t 80877103",
            "B\t1\tSSLResponse\t N",
            "F\t48\tStartupMessage\t 3 0 \"user\" \"pgwire_trust\" \"database\" \"pgwire_test\"",
            "F\t4\tTerminate",
        ])
        #expect(lines.contains("B\t8\tAuthenticationOk"))
    }

    @Test("a CancelRequest through the proxy is forwarded and traced")
    func cancelRequestIsForwarded() throws {
        let server = try TestServer.shared()
        let proxy = try TraceProxyProcess(upstreamPort: server.port, extraArguments: ["--no-timestamps", "--prefix-connections"])
        let connection = try Connection.connect("host=127.0.0.1 port=\(proxy.port) user=pgwire_trust dbname=pgwire_test sslmode=disable")
        let key = try #require(connection.backendKeyData)
        let canceller = Thread {
            Thread.sleep(forTimeInterval: 0.5)
            try? connection.cancel()
        }
        canceller.start()
        var sqlState: SQLState?
        do {
            try connection.simpleQuery("SELECT pg_sleep(30)")
        } catch let error as PostgresError {
            sqlState = error.sqlState
        }
        #expect(sqlState == "57014")
        connection.close()
        proxy.waitForClosedConnections(2)
        let trace = String(decoding: proxy.stop(), as: UTF8.self)
        #expect(trace.contains("2\tF\t16\tCancelRequest\t 80877102 \(key.processID) \(key.secretKey)"), "\(trace)")
        #expect(trace.contains("1\tB\t") && trace.contains("\"canceling statement due to user request\""))
    }
}

/// Results written by concurrent workers.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<(trace: [UInt8], result: ProcessResult), any Error>?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<(trace: [UInt8], result: ProcessResult), any Error>) {
        lock.withLock { results[index] = result }
    }

    func get(_ index: Int) throws -> (trace: [UInt8], result: ProcessResult) {
        try lock.withLock { results[index] }!.get()
    }
}
