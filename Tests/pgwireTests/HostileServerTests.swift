// A fake server that puts boundary numbers in every numeric field the client reads (ParameterStatus,
// ErrorResponse/NoticeResponse positions and lines, command tags, text and binary DataRow values),
// run through the built `pgwire query` in text and --binary modes: the process must exit 0, 1 or 2,
// never die from a signal (a Swift trap is SIGTRAP/SIGILL). And a server that declares a 1 GiB
// message during startup and then goes silent: pgwire exits 2 at once instead of waiting forever.

import Foundation
import PostgresWireProtocol
import Testing
import TestSupport

/// One statement's answer from the fake server.
struct HostileResult: Sendable {
    var columns: [UInt32] = []
    /// One row; its bytes are sent as they are, whatever format the client asked for.
    var row: [[UInt8]?] = []
    var tag = "SELECT 1"
    var notice: [(code: UInt8, value: String)]?
    /// Sent instead of the CommandComplete.
    var error: [(code: UInt8, value: String)]?

    var rowDescription: BackendMessage? {
        columns.isEmpty ? nil : .rowDescription(RowDescription(fields: columns.enumerated().map { .init(name: "c\($0.offset)", dataTypeOID: $0.element) }))
    }

    /// Notice, rows and completion (the part of the answer that follows RowDescription).
    var execution: [BackendMessage] {
        var out: [BackendMessage] = []
        if let notice { out.append(.noticeResponse(DiagnosticFields(notice))) }
        if !columns.isEmpty { out.append(.dataRow(DataRow(values: row))) }
        if let error {
            out.append(.errorResponse(DiagnosticFields([(UInt8(ascii: "S"), "ERROR"), (UInt8(ascii: "V"), "ERROR"),
                                                        (UInt8(ascii: "C"), "42601"), (UInt8(ascii: "M"), "hostile error")] + error)))
        } else {
            out.append(.commandComplete(CommandComplete(tag: tag)))
        }
        return out
    }
}

struct HostileCase: Sendable, CustomTestStringConvertible {
    let name: String
    var binary = false
    /// ParameterStatus values overriding the defaults at startup.
    var parameters: [String: String] = [:]
    /// What `current_setting('extra_float_digits')` answers (--binary asks for it).
    var extraFloatDigits = "1"
    var results: [HostileResult]

    var testDescription: String { name + (binary ? " (--binary)" : "") }
    var sql: String { results.indices.map { "SELECT \($0)" }.joined(separator: "; ") }

    /// The fake server's side of one connection: trust startup, then simple and extended queries.
    func serve(_ client: FakeClientConnection) throws {
        try client.readStartup()
        var status: [String: String] = ["server_version": "15.0 (fake)", "client_encoding": "UTF8", "TimeZone": "UTC",
                                        "DateStyle": "ISO, MDY", "IntervalStyle": "postgres", "integer_datetimes": "on",
                                        "standard_conforming_strings": "on"]
        status.merge(parameters) { $1 }
        var startup: [BackendMessage] = [.authentication(.ok)]
        for (name, value) in status.sorted(by: { $0.key < $1.key }) {
            startup.append(.parameterStatus(ParameterStatus(name: name, value: value)))
        }
        startup += [.backendKeyData(BackendKeyData(processID: 4242, secretKey: 1234)), .readyForQuery(.idle)]
        client.send(startup)
        var pending: [BackendMessage] = []
        var statement = -1
        var skipping = false
        while true {
            guard let message = try? client.readMessage(timeout: 30) else { return }
            switch message {
            case .query(let sql) where sql.contains("current_setting"):
                client.send(.rowDescription(RowDescription(fields: [.init(name: "efd", dataTypeOID: 25), .init(name: "bytea", dataTypeOID: 25)])),
                            .dataRow(DataRow(values: [Array(extraFloatDigits.utf8), Array("hex".utf8)])),
                            .commandComplete(CommandComplete(tag: "SELECT 1")), .readyForQuery(.idle))
            case .query:
                var out: [BackendMessage] = []
                for result in results {
                    if let d = result.rowDescription { out.append(d) }
                    out += result.execution
                    if result.error != nil { break }
                }
                client.send(out + [.readyForQuery(.idle)])
            case .parse:
                statement += 1
                if !skipping { pending.append(.parseComplete) }
            case .describe(let d):
                guard !skipping else { break }
                let result = results[min(max(statement, 0), results.count - 1)]
                if d.target == .statement { pending.append(.parameterDescription([])) }
                pending.append(result.rowDescription ?? .noData)
            case .bind:
                if !skipping { pending.append(.bindComplete) }
            case .execute:
                guard !skipping else { break }
                let result = results[min(max(statement, 0), results.count - 1)]
                pending += result.execution
                if result.error != nil { skipping = true }
            case .close:
                if !skipping { pending.append(.closeComplete) }
            case .flush:
                client.send(pending)
                pending = []
            case .sync:
                client.send(pending + [.readyForQuery(.idle)])
                pending = []
                skipping = false
            default:
                return
            }
        }
    }
}

enum HostileCases {
    /// 0, -1, ±2^31 (one past), ±2^63 (one past), 20-digit runs, non-ASCII digits, empty.
    static let values = ["0", "-1", "2147483648", "-2147483649", "9223372036854775807", "9223372036854775808",
                         "-9223372036854775808", "99999999999999999999", "٣", "1\u{301}", ""]

    static func text(_ s: String) -> [UInt8] { Array(s.utf8) }
    static func int16(_ v: Int16) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    static func int32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    static func int64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }

    /// A float8 and a timestamptz, whose rendering follows server_version, extra_float_digits and TimeZone.
    static func settingsProbe(binary: Bool) -> HostileResult {
        HostileResult(columns: [701, 1184, 1186],
                      row: binary ? [int64(0x3FF8_0000_0000_0000), int64(0), int64(3_600_000_000) + int32(1) + int32(1)]
                                  : [text("1.5"), text("2000-01-01 00:00:00+00"), text("1 mon 1 day 01:00:00")])
    }

    /// Text values with V in every numeric field, one column per type.
    static let textTemplates: [(UInt32, String)] = [
        (23, "V"), (20, "V"), (701, "V"), (1700, "V.V"), (1082, "V-01-01"), (1083, "V:00:00"), (1266, "00:00:00+V"),
        (1114, "2000-01-01 V:00:00"), (1184, "2000-01-01 00:00:00+V"), (1184, "V-01-01 00:00:00+00"), (1186, "V years V days"),
        (1186, "@ V mins ago"), (1007, "[V:V]={1}"), (1007, "{V}"), (829, "08:00:2b:01:02:V"),
    ]

    static var all: [HostileCase] {
        var cases: [HostileCase] = []
        for binary in [false, true] {
            for v in values {
                let label = v.isEmpty ? "empty" : v
                // ParameterStatus and the settings query.
                cases.append(HostileCase(name: "ParameterStatus V=\(label)", binary: binary,
                                         parameters: ["server_version": v, "integer_datetimes": v, "TimeZone": "UTC+\(v)",
                                                      "DateStyle": v, "IntervalStyle": v],
                                         results: [settingsProbe(binary: binary)]))
                cases.append(HostileCase(name: "server_version 15.V, TimeZone <+V>-V, V=\(label)", binary: binary,
                                         parameters: ["server_version": "15.\(v)", "TimeZone": "<+\(v)>-\(v)"],
                                         results: [settingsProbe(binary: binary)]))
                cases.append(HostileCase(name: "server_version V.V.V, extra_float_digits V, V=\(label)", binary: binary,
                                         parameters: ["server_version": "\(v).\(v).\(v)"], extraFloatDigits: v,
                                         results: [settingsProbe(binary: binary)]))
                // ErrorResponse and NoticeResponse positions and lines.
                cases.append(HostileCase(name: "ErrorResponse P=\(label) L=\(label)", binary: binary,
                                         results: [HostileResult(error: [(UInt8(ascii: "P"), v), (UInt8(ascii: "L"), v)])]))
                cases.append(HostileCase(name: "ErrorResponse p=\(label) with q", binary: binary,
                                         results: [HostileResult(error: [(UInt8(ascii: "p"), v), (UInt8(ascii: "q"), "SELECT 1 FROM t")])]))
                cases.append(HostileCase(name: "NoticeResponse P=\(label) p=\(label) L=\(label)", binary: binary,
                                         results: [HostileResult(tag: "DO", notice: [(UInt8(ascii: "S"), "NOTICE"), (UInt8(ascii: "V"), "NOTICE"),
                                                                                     (UInt8(ascii: "C"), "00000"), (UInt8(ascii: "M"), "hostile notice"),
                                                                                     (UInt8(ascii: "P"), v), (UInt8(ascii: "p"), v),
                                                                                     (UInt8(ascii: "q"), "SELECT 1"), (UInt8(ascii: "L"), v)])]))
                // Command tags, one statement each.
                let tags = ["INSERT 0 \(v)", "INSERT \(v) \(v)", "UPDATE \(v)", "DELETE \(v)", "MERGE \(v)", "COPY \(v)", "MOVE \(v)",
                            "FETCH \(v)", v, "SELECT \(v)"]
                var tagResults = tags.map { HostileResult(tag: $0) }
                tagResults.append(HostileResult(columns: [23], row: [binary ? int32(1) : text("1")], tag: "SELECT \(v)"))
                cases.append(HostileCase(name: "CommandComplete tags with \(label)", binary: binary, results: tagResults))
                // Text DataRow values (in --binary mode the same bytes arrive where binary was asked for).
                let columns = textTemplates.map(\.0)
                let row = textTemplates.map { text($0.1.replacingOccurrences(of: "V", with: v)) as [UInt8]? }
                cases.append(HostileCase(name: "text DataRow values with \(label)", binary: binary,
                                         results: [HostileResult(columns: columns, row: row)]))
            }
        }
        // Binary DataRow values with hostile headers and extreme numbers (--binary).
        var binaryValues: [(String, UInt32, [UInt8])] = []
        let array = { (ndim: Int32, flags: Int32, element: Int32, dims: [(Int32, Int32)], elements: Int) -> [UInt8] in
            int32(ndim) + int32(flags) + int32(element) + dims.flatMap { int32($0.0) + int32($0.1) }
                + (0..<elements).flatMap { _ in int32(4) + int32(7) }
        }
        binaryValues += [
            ("array ndim 7", 1007, array(7, 0, 23, Array(repeating: (1, 1), count: 7), 1)),
            ("array ndim -1", 1007, array(-1, 0, 23, [], 0)),
            ("array ndim Int32.max", 1007, array(.max, 0, 23, [(1, 1)], 1)),
            ("array flags 2", 1007, array(1, 2, 23, [(1, 1)], 1)),
            ("array length Int32.max", 1007, array(1, 0, 23, [(.max, 1)], 1)),
            ("array length Int32.min", 1007, array(1, 0, 23, [(.min, 1)], 1)),
            ("array length product overflow", 1007, array(6, 0, 23, Array(repeating: (65536, 1), count: 6), 1)),
            ("array lower bound Int32.min", 1007, array(1, 0, 23, [(1, .min)], 1)),
            ("array lower bound Int32.max, length 2", 1007, array(1, 0, 23, [(2, .max)], 2)),
            ("array 2-D lower bounds at the extremes", 1007, array(2, 0, 23, [(1, .max), (1, .min)], 1)),
            ("array element type Int32.min", 1007, array(1, 0, .min, [(1, 1)], 1)),
            ("array element length -2", 1007, int32(1) + int32(0) + int32(23) + int32(1) + int32(1) + int32(-2)),
            ("array element length Int32.max", 1007, int32(1) + int32(0) + int32(23) + int32(1) + int32(1) + int32(.max)),
        ]
        let numeric = { (ndigits: Int16, weight: Int16, sign: UInt16, dscale: Int16, digits: [Int16]) -> [UInt8] in
            int16(ndigits) + int16(weight) + int16(Int16(bitPattern: sign)) + int16(dscale) + digits.flatMap { int16($0) }
        }
        binaryValues += [
            ("numeric ndigits -1", 1700, numeric(-1, 0, 0, 0, [])),
            ("numeric ndigits Int16.max", 1700, numeric(.max, 0, 0, 0, [1])),
            ("numeric weight Int16.max", 1700, numeric(1, .max, 0, 0, [9999])),
            ("numeric weight Int16.min", 1700, numeric(1, .min, 0x4000, .max, [1])),
            ("numeric dscale Int16.max", 1700, numeric(1, 0, 0, .max, [1])),
            ("numeric dscale -1", 1700, numeric(1, 0, 0, -1, [1])),
            ("numeric digit 10000", 1700, numeric(1, 0, 0, 0, [10000])),
            ("numeric digit -1", 1700, numeric(1, 0, 0, 0, [-1])),
            ("numeric sign 0xFFFF", 1700, numeric(1, 0, 0xFFFF, 0, [1])),
        ]
        for (name, v) in [("Int32.min", Int32.min), ("Int32.max", .max), ("Int32.min+1", .min + 1), ("Int32.max-1", .max - 1), ("-1", -1)] {
            binaryValues.append(("date \(name)", 1082, int32(v)))
            binaryValues.append(("timetz zone \(name)", 1266, int64(0) + int32(v)))
            binaryValues.append(("interval days and months \(name)", 1186, int64(0) + int32(v) + int32(v)))
        }
        for (name, v) in [("Int64.min", Int64.min), ("Int64.max", .max), ("Int64.min+1", .min + 1), ("Int64.max-1", .max - 1), ("-1", -1)] {
            binaryValues.append(("timestamp \(name)", 1114, int64(v)))
            binaryValues.append(("timestamptz \(name)", 1184, int64(v)))
            binaryValues.append(("time \(name)", 1083, int64(v)))
            binaryValues.append(("interval microseconds \(name)", 1186, int64(v) + int32(.min) + int32(.min)))
            binaryValues.append(("int8 \(name)", 20, int64(v)))
        }
        for (name, oid, bytes) in binaryValues {
            cases.append(HostileCase(name: "binary \(name)", binary: true,
                                     parameters: ["TimeZone": "America/New_York"],
                                     results: [HostileResult(columns: [oid], row: [bytes])]))
        }
        return cases
    }
}

@Suite("Hostile server numbers through pgwire")
struct HostileServerTests {
    static func environment() -> [String: String] {
        ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "LANG": "C.UTF-8",
         "HOME": "/nonexistent/pgwire-hostile-tests", "PGPASSFILE": "/nonexistent/pgwire-hostile-tests/pgpass"]
    }

    static func dsn(_ server: FakeServer) -> String {
        "host=127.0.0.1 port=\(server.port) user=fake dbname=fake sslmode=disable connect_timeout=10"
    }

    /// "exit status N" or "killed by signal N" (ProcessResult reports a signal as 128 + N).
    static func termination(_ result: ProcessResult) -> String {
        result.status > 128 ? "killed by signal \(result.status - 128)" : "exit status \(result.status)"
    }

    @Test("pgwire query survives boundary numbers in every numeric server field", arguments: HostileCases.all)
    func survives(_ hostile: HostileCase) throws {
        let server = try FakeServer { client in try hostile.serve(client) }
        defer { server.stop() }
        let arguments = ["query", "--dsn", Self.dsn(server)] + (hostile.binary ? ["--binary"] : []) + [hostile.sql]
        let result = try runPgwire(arguments, environment: Self.environment(), timeout: 60)
        #expect([0, 1, 2].contains(result.status), "\(Self.termination(result))\n\(result)")
        #expect(!result.stderr.contains("Fatal error"), "\(result.stderr)")
        #expect(server.scriptErrors.isEmpty, "\(server.scriptErrors)")
    }

    @Test("the boundary cases do reach the client: an error position out of range prints no cursor")
    func positionOutOfRange() throws {
        for position in ["-9223372036854775808", "0", "99999999999999999999", "٣", "9223372036854775807"] {
            let hostile = HostileCase(name: "P=\(position)", results: [HostileResult(error: [(UInt8(ascii: "P"), position)])])
            let server = try FakeServer { client in try hostile.serve(client) }
            defer { server.stop() }
            let result = try runPgwire(["query", "--dsn", Self.dsn(server), hostile.sql], environment: Self.environment(), timeout: 60)
            #expect(result.status == 1, "\(Self.termination(result))\n\(result)")
            #expect(result.stderr.contains("hostile error"), "\(result.stderr)")
            #expect(!result.stderr.contains("LINE 1"), "\(result.stderr)")
        }
        // In range: the cursor is there (the fake server really delivers P).
        let hostile = HostileCase(name: "P=8", results: [HostileResult(error: [(UInt8(ascii: "P"), "8")])])
        let server = try FakeServer { client in try hostile.serve(client) }
        defer { server.stop() }
        let result = try runPgwire(["query", "--dsn", Self.dsn(server), hostile.sql], environment: Self.environment(), timeout: 60)
        #expect(result.status == 1)
        #expect(result.stderr.contains("LINE 1: SELECT 0\n               ^"), "\(result.stderr)")
    }

    // MARK: Declared lengths

    /// A server that answers the StartupMessage with `header` (a type byte and a length), a few
    /// bytes of body, then nothing.
    static func silentServer(_ bytes: [UInt8], afterAuthenticationOk: Bool = false) throws -> FakeServer {
        try FakeServer { client in
            try client.readStartup()
            if afterAuthenticationOk { client.send(.authentication(.ok)) }
            client.write(bytes)
            client.waitForClientClose(timeout: 20)
        }
    }

    struct Declared: Sendable, CustomTestStringConvertible {
        let label: String
        let type: UInt8
        let afterAuthenticationOk: Bool
        let limit: Int
        var testDescription: String { label }
    }

    @Test("a 1 GiB message declared during startup, then silence: exit 2 at once", arguments: [
        Declared(label: "AuthenticationRequest", type: UInt8(ascii: "R"), afterAuthenticationOk: false, limit: 2000),
        Declared(label: "ErrorResponse", type: UInt8(ascii: "E"), afterAuthenticationOk: false, limit: 30000),
        Declared(label: "NegotiateProtocolVersion", type: UInt8(ascii: "v"), afterAuthenticationOk: false, limit: 2000),
        Declared(label: "DataRow", type: UInt8(ascii: "D"), afterAuthenticationOk: false, limit: 30000),
        Declared(label: "ParameterStatus after AuthenticationOk", type: UInt8(ascii: "S"), afterAuthenticationOk: true, limit: 30000),
        Declared(label: "BackendKeyData after AuthenticationOk", type: UInt8(ascii: "K"), afterAuthenticationOk: true, limit: 30000),
    ])
    func oneGigabyteDuringStartup(_ declared: Declared) throws {
        let (label, type, afterOk, limit) = (declared.label, declared.type, declared.afterAuthenticationOk, declared.limit)
        let server = try Self.silentServer([type] + HostileCases.int32(1 << 30) + [0, 0, 0, 0], afterAuthenticationOk: afterOk)
        defer { server.stop() }
        let start = ContinuousClock.now
        // Without the length check pgwire would wait forever: the timeout kills it and throws.
        let result = try runPgwire(["query", "--dsn", Self.dsn(server), "SELECT 1"], environment: Self.environment(), timeout: 10)
        let elapsed = ContinuousClock.now - start
        #expect(result.status == 2, "\(label): \(Self.termination(result))\n\(result)")
        #expect(result.stderr.contains("1073741824 bytes exceeds the limit of \(limit) bytes"), "\(label): \(result.stderr)")
        #expect(elapsed < .seconds(10))
    }

    @Test("the tracing proxy applies the same rules: a 1 GiB authentication request ends that session at once")
    func proxyRejectsDeclaredGigabyte() throws {
        let server = try Self.silentServer([UInt8(ascii: "R")] + HostileCases.int32(1 << 30) + [0, 0, 0, 0])
        defer { server.stop() }
        let proxy = try TraceProxyProcess(upstreamPort: server.port)
        let dsn = "host=127.0.0.1 port=\(proxy.port) user=fake dbname=fake sslmode=disable connect_timeout=10"
        let result = try runPgwire(["query", "--dsn", dsn, "SELECT 1"], environment: Self.environment(), timeout: 10)
        #expect(result.status == 2, "\(Self.termination(result))\n\(result)")
        proxy.waitForClosedConnections(1)
        let trace = String(decoding: proxy.stop(), as: UTF8.self)
        #expect(trace.contains("#\tmalformed backend traffic on connection 1: 'R' message of 1073741824 bytes exceeds the limit of 2000 bytes"),
                "\(trace)")
    }

    @Test("a 1 GiB CommandComplete declared after a query: the connection fails at once")
    func oneGigabyteCommandComplete() throws {
        let server = try FakeServer { client in
            try client.readStartup()
            client.completeTrustStartup()
            _ = try client.readMessage()
            client.write([UInt8(ascii: "C")] + HostileCases.int32(1 << 30) + Array("SELECT".utf8))
            client.waitForClientClose(timeout: 20)
        }
        defer { server.stop() }
        let result = try runPgwire(["query", "--dsn", Self.dsn(server), "SELECT 1"], environment: Self.environment(), timeout: 10)
        #expect(result.status == 2, "\(Self.termination(result))\n\(result)")
        #expect(result.stderr.contains("'C' message of 1073741824 bytes exceeds the limit of 30000 bytes"), "\(result.stderr)")
    }
}
