import Foundation
import Testing
@testable import PostgresWireProtocol

/// PQTraceFormatter against lines written by PostgreSQL 15's libpq (PQtrace with
/// PQTRACE_SUPPRESS_TIMESTAMPS); the end-to-end comparison with a live libpq is TraceOracleTests.
@Suite struct PQTraceFormatterTests {
    func line(_ direction: TraceDirection, _ message: [UInt8], formatter: inout PQTraceFormatter) -> String {
        formatter.format(direction, message[...])
    }

    func line(_ direction: TraceDirection, _ message: FrontendMessage) -> String {
        var f = PQTraceFormatter(options: .init(timestamps: false))
        return f.format(direction, message.encoded[...])
    }

    func line(_ message: BackendMessage) -> String {
        var f = PQTraceFormatter(options: .init(timestamps: false))
        return f.format(.backend, message.encoded[...])
    }

    // MARK: Messages as libpq prints them

    @Test func simpleQueryCycle() {
        #expect(line(.frontend, .query("SELECT 1 AS one, 'two'::text AS two, NULL AS three"))
            == "F\t55\tQuery\t \"SELECT 1 AS one, 'two'::text AS two, NULL AS three\"\n")
        let description = RowDescription(fields: [
            .init(name: "one", dataTypeOID: 23, dataTypeSize: 4),
            .init(name: "two", dataTypeOID: 25),
            .init(name: "three", dataTypeOID: 25),
        ])
        // Int16 fields print unsigned, as libpq reads them: a type size of -1 is 65535.
        #expect(line(.rowDescription(description))
            == "B\t74\tRowDescription\t 3 \"one\" 0 0 23 4 -1 0 \"two\" 0 0 25 65535 -1 0 \"three\" 0 0 25 65535 -1 0\n")
        #expect(line(.dataRow(DataRow(values: [Array("1".utf8), Array("two".utf8), nil])))
            == "B\t22\tDataRow\t 3 1 '1' 3 'two' -1\n")
        #expect(line(.commandComplete(CommandComplete(tag: "SELECT 1"))) == "B\t13\tCommandComplete\t \"SELECT 1\"\n")
        #expect(line(.readyForQuery(.idle)) == "B\t5\tReadyForQuery\t I\n")
        #expect(line(.readyForQuery(.inTransaction)) == "B\t5\tReadyForQuery\t T\n")
        #expect(line(.emptyQueryResponse) == "B\t4\tEmptyQueryResponse\n")
        #expect(line(.frontend, .query("")) == "F\t5\tQuery\t \"\"\n")
        #expect(line(.parameterStatus(ParameterStatus(name: "application_name", value: "pqtrace oracle")))
            == "B\t36\tParameterStatus\t \"application_name\" \"pqtrace oracle\"\n")
    }

    @Test func byteStringsEscapeNonPrintableBytes() {
        let row = DataRow(values: [Array("line1\nline2".utf8), Array("café".utf8), [], [0, 3, 0xc4, 0x80], Array("tab\there".utf8)])
        #expect(line(.dataRow(row))
            == "B\t54\tDataRow\t 5 11 'line1\\x0aline2' 5 'caf\\xc3\\xa9' 0 '' 4 '\\x00\\x03\\xc4\\x80' 8 'tab\\x09here'\n")
        // Quotes and backslashes are printable: written as they are.
        #expect(line(.dataRow(DataRow(values: [Array("it's \\ ok".utf8)]))) == "B\t19\tDataRow\t 1 9 'it's \\ ok'\n")
    }

    @Test func stringsAreWrittenRaw() {
        // libpq prints strings with %s: no escaping at all, even of tabs, newlines or UTF-8.
        #expect(line(.frontend, .query("SELECT E'a\\tb', 'é'\nFROM t")) == "F\t32\tQuery\t \"SELECT E'a\\tb', 'é'\nFROM t\"\n")
        #expect(line(.frontend, .query("SELECT 'tab\there'")) == "F\t22\tQuery\t \"SELECT 'tab\there'\"\n")
    }

    @Test func errorsAndNotices() {
        let fields = DiagnosticFields([
            (UInt8(ascii: "S"), "ERROR"), (UInt8(ascii: "V"), "ERROR"), (UInt8(ascii: "C"), "22012"),
            (UInt8(ascii: "M"), "division by zero"), (UInt8(ascii: "F"), "int.c"), (UInt8(ascii: "L"), "869"),
            (UInt8(ascii: "R"), "int4div"),
        ])
        #expect(line(.errorResponse(fields))
            == "B\t65\tErrorResponse\t S \"ERROR\" V \"ERROR\" C \"22012\" M \"division by zero\" F \"int.c\" L \"869\" R \"int4div\" \\x00\n")
        let notice = DiagnosticFields([(UInt8(ascii: "S"), "NOTICE"), (UInt8(ascii: "M"), "hello \"42\"")])
        #expect(line(.noticeResponse(notice)) == "B\t25\tNoticeResponse\t S \"NOTICE\" M \"hello \"42\"\" \\x00\n")

        var regress = PQTraceFormatter(options: .init(timestamps: false, regress: true))
        #expect(regress.format(.backend, BackendMessage.errorResponse(fields).encoded[...])
            == "B\tNN\tErrorResponse\t S \"ERROR\" V \"ERROR\" C \"22012\" M \"division by zero\" F \"SSSS\" L \"SSSS\" R \"SSSS\" \\x00\n")
    }

    @Test func extendedQueryMessages() {
        #expect(line(.frontend, .parse(Parse(query: "SELECT $1::int + 1 AS n, upper($2) AS s, $3::text IS NULL AS isnull")))
            == "F\t75\tParse\t \"\" \"SELECT $1::int + 1 AS n, upper($2) AS s, $3::text IS NULL AS isnull\" 0\n")
        #expect(line(.frontend, .parse(Parse(statement: "s1", query: "SELECT $1", parameterTypes: [23, 17])))
            == "F\t27\tParse\t \"s1\" \"SELECT $1\" 2 23 17\n")
        #expect(line(.frontend, .bind(Bind(parameters: [Array("42".utf8), Array("hello".utf8), nil], resultFormats: [0])))
            == "F\t33\tBind\t \"\" \"\" 0 3 2 '42' 5 'hello' -1 1 0\n")
        #expect(line(.frontend, .bind(Bind(parameterFormats: [1, 1], parameters: [[0, 1, 0xe2, 0x40], [0, 1, 0x41, 0x0a, 0xff]], resultFormats: [1])))
            == "F\t35\tBind\t \"\" \"\" 2 1 1 2 4 '\\x00\\x01\\xe2@' 5 '\\x00\\x01A\\x0a\\xff' 1 1\n")
        #expect(line(.frontend, .describe(Describe(target: .portal, name: ""))) == "F\t6\tDescribe\t P \"\"\n")
        #expect(line(.frontend, .describe(Describe(target: .statement, name: "by_name"))) == "F\t13\tDescribe\t S \"by_name\"\n")
        #expect(line(.frontend, .execute(Execute())) == "F\t9\tExecute\t \"\" 0\n")
        #expect(line(.frontend, .close(Close(target: .statement, name: "s1"))) == "F\t8\tClose\t S \"s1\"\n")
        #expect(line(.frontend, .sync) == "F\t4\tSync\n")
        #expect(line(.frontend, .flush) == "F\t4\tFlush\n")
        #expect(line(.frontend, .terminate) == "F\t4\tTerminate\n")
        #expect(line(.parseComplete) == "B\t4\tParseComplete\n")
        #expect(line(.bindComplete) == "B\t4\tBindComplete\n")
        #expect(line(.closeComplete) == "B\t4\tCloseComplete\n")
        #expect(line(.noData) == "B\t4\tNoData\n")
        #expect(line(.portalSuspended) == "B\t4\tPortalSuspended\n")
        #expect(line(.parameterDescription([25])) == "B\t10\tParameterDescription\t 1 25\n")
    }

    @Test func copyMessagesKeepLibpqQuirks() {
        #expect(line(.copyInResponse(CopyResponse(overallFormat: 0, columnFormats: [0, 0]))) == "B\t11\tCopyInResponse\t \\x00 2 0 0\n")
        #expect(line(.copyOutResponse(CopyResponse(overallFormat: 1, columnFormats: [1, 1]))) == "B\t11\tCopyOutResponse\t \\x01 2 1 1\n")
        #expect(line(.copyBothResponse(CopyResponse(overallFormat: 0, columnFormats: [0]))) == "B\t9\tCopyBothResponse\t \\x00 1 0\n")
        // libpq writes nothing for the client's CopyData, then complains that it consumed only the length.
        #expect(line(.frontend, .copyData(Array("10\tten\n".utf8)[...]))
            == "F\t11\t\nmismatched message length: consumed 4, expected 11\n")
        // …and never traces the server's CopyData.
        #expect(line(.copyData(Array("1\tone\n".utf8)[...])) == "")
        #expect(line(.frontend, .copyDone) == "F\t4\tCopyDone\n")
        #expect(line(.copyDone) == "B\t4\tCopyDone\n")
        #expect(line(.frontend, .copyFail(message: "client changed its mind")) == "F\t28\tCopyFail\t \"client changed its mind\"\n")

        var full = PQTraceFormatter(options: .init(timestamps: false, copyData: .full))
        #expect(full.format(.frontend, FrontendMessage.copyData(Array("10\tten\n".utf8)[...]).encoded[...])
            == "F\t11\tCopyData\t '10\\x09ten\\x0a'\n")
        #expect(full.format(.backend, BackendMessage.copyData(Array("x".utf8)[...]).encoded[...]) == "B\t5\tCopyData\t 'x'\n")
    }

    @Test func notificationsAndKeys() {
        #expect(line(.notificationResponse(NotificationResponse(processID: 16148, channel: "trace_channel", payload: "first payload")))
            == "B\t36\tNotificationResponse\t 16148 \"trace_channel\" \"first payload\"\n")
        #expect(line(.backendKeyData(BackendKeyData(processID: 4242, secretKey: -17))) == "B\t12\tBackendKeyData\t 4242 -17\n")
        var regress = PQTraceFormatter(options: .init(timestamps: false, regress: true))
        #expect(regress.format(.backend, BackendMessage.backendKeyData(BackendKeyData(processID: 1, secretKey: 2)).encoded[...])
            == "B\t12\tBackendKeyData\t NNNN NNNN\n")
    }

    @Test func functionCalls() {
        let call = FunctionCall(functionOID: 1598, argumentFormats: [1], arguments: [[0, 0, 0, 7], nil], resultFormat: 1)
        #expect(line(.frontend, .functionCall(call)) == "F\t28\tFunctionCall\t 1598 1 1 2 4 '\\x00\\x00\\x00\\x07' -1 1\n")
        #expect(line(.functionCallResponse([1, 2][...])) == "B\t10\tFunctionCallResponse\t 2 '\\x01\\x02'\n")
        #expect(line(.functionCallResponse(nil)) == "B\t8\tFunctionCallResponse\t -1\n")
    }

    @Test func negotiateProtocolVersionAsLibpq() {
        // libpq prints the two Int32s and notes that it did not consume the option names.
        #expect(line(.negotiateProtocolVersion(NegotiateProtocolVersion(newestMinorVersion: 0, unrecognizedOptions: ["_pq_.x"])))
            == "B\t19\tNegotiateProtocolVersion\t 0 1\nmismatched message length: consumed 12, expected 19\n")
    }

    // MARK: What PQtrace never shows

    @Test func startupPackets() {
        let startup = FrontendMessage.startup(StartupMessage(parameters: [("user", "alice"), ("database", "db")]))
        #expect(line(.frontend, startup) == "F\t32\tStartupMessage\t 3 0 \"user\" \"alice\" \"database\" \"db\"\n")
        #expect(line(.frontend, .sslRequest) == "F\t8\tSSLRequest\t 80877103\n")
        #expect(line(.frontend, .gssEncRequest) == "F\t8\tGSSENCRequest\t 80877104\n")
        // PG15's own rendering of CancelRequest: code, process ID, secret key.
        #expect(line(.frontend, .cancelRequest(CancelRequest(processID: 1234, secretKey: 5678)))
            == "F\t16\tCancelRequest\t 80877102 1234 5678\n")
        var f = PQTraceFormatter(options: .init(timestamps: false))
        #expect(line(.backend, [UInt8(ascii: "N")], formatter: &f) == "B\t1\tSSLResponse\t N\n")
        var out: [UInt8] = []
        f.formatEncryptionResponse(UInt8(ascii: "N"), gss: true, into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "B\t1\tGSSENCResponse\t N\n")
    }

    @Test func scramExchangeIsRedacted() throws {
        var f = PQTraceFormatter(options: .init(timestamps: false))
        #expect(f.format(.backend, BackendMessage.authentication(.sasl(mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])).encoded[...])
            == "B\t42\tAuthenticationSASL\t \"SCRAM-SHA-256-PLUS\" \"SCRAM-SHA-256\"\n")
        let first = Array("n,,n=,r=secretnonce".utf8)
        let initial = f.format(.frontend, FrontendMessage.saslInitialResponse(SASLInitialResponse(mechanism: "SCRAM-SHA-256", data: first)).encoded[...])
        #expect(initial == "F\t41\tSASLInitialResponse\t \"SCRAM-SHA-256\" <redacted 19 bytes>\n")
        let serverFirst = Array("r=secretnonceSERVER,s=c2FsdA==,i=4096".utf8)
        #expect(f.format(.backend, BackendMessage.authentication(.saslContinue(serverFirst[...])).encoded[...])
            == "B\t45\tAuthenticationSASLContinue\t <redacted 37 bytes>\n")
        let proof = Array("c=biws,r=secretnonceSERVER,p=PROOFPROOF".utf8)
        let response = f.format(.frontend, FrontendMessage.saslResponse(proof[...]).encoded[...])
        #expect(response == "F\t43\tSASLResponse\t <redacted 39 bytes>\n")
        let final = f.format(.backend, BackendMessage.authentication(.saslFinal(Array("v=SIGNATURE".utf8)[...])).encoded[...])
        #expect(final == "B\t19\tAuthenticationSASLFinal\t <redacted 11 bytes>\n")
        #expect(f.format(.backend, BackendMessage.authentication(.ok).encoded[...]) == "B\t8\tAuthenticationOk\n")
        for text in [initial, response, final] {
            #expect(!text.contains("secretnonce") && !text.contains("PROOF") && !text.contains("SIGNATURE"))
        }
    }

    @Test func passwordsAreRedacted() {
        var f = PQTraceFormatter(options: .init(timestamps: false))
        #expect(f.format(.backend, BackendMessage.authentication(.cleartextPassword).encoded[...]) == "B\t8\tAuthenticationCleartextPassword\n")
        let cleartext = f.format(.frontend, FrontendMessage.password("pw-secret").encoded[...])
        #expect(cleartext == "F\t14\tPasswordMessage\t <redacted 10 bytes>\n")
        #expect(f.format(.backend, BackendMessage.authentication(.md5Password(salt: [1, 0x41, 0xff, 0x20])).encoded[...])
            == "B\t12\tAuthenticationMD5Password\t '\\x01A\\xff '\n")
        let md5 = f.format(.frontend, FrontendMessage.password("md5" + String(repeating: "a", count: 32)).encoded[...])
        #expect(md5 == "F\t40\tPasswordMessage\t <redacted 36 bytes>\n")
        // Even with no authentication request seen, a 'p' message never shows its content.
        var fresh = PQTraceFormatter(options: .init(timestamps: false))
        #expect(!fresh.format(.frontend, FrontendMessage.password("pw-secret").encoded[...]).contains("secret"))
    }

    // MARK: Timestamps, prefixes, malformed input

    @Test func timestampsAsLibpq() throws {
        var f = PQTraceFormatter()
        let text = f.format(.frontend, FrontendMessage.sync.encoded[...], time: (seconds: 1_700_000_000, microseconds: 42))
        let expected = PQTraceFormatter.timestamp(seconds: 1_700_000_000, microseconds: 42)
        #expect(text == expected + "\tF\t4\tSync\n")
        // strftime("%Y-%m-%d %H:%M:%S") of local time, then .%06u.
        #expect(expected.wholeMatch(of: /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.000042/) != nil)
        var t = time_t(1_700_000_000)
        var parts = tm()
        localtime_r(&t, &parts)
        #expect(Int(parts.tm_sec) == Int(expected.split(separator: ":")[2].prefix(2))!)
        // The clock is used when no time is given.
        let live = f.format(.frontend, FrontendMessage.sync.encoded[...])
        #expect(live.wholeMatch(of: /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}\tF\t4\tSync\n/) != nil)
    }

    @Test func linePrefixOnEveryLine() {
        var f = PQTraceFormatter(options: .init(timestamps: false, linePrefix: Array("7\t".utf8)))
        #expect(f.format(.frontend, FrontendMessage.copyData([1][...]).encoded[...])
            == "7\tF\t5\t\n7\tmismatched message length: consumed 4, expected 5\n")
        var out: [UInt8] = []
        f.formatComment("connection 7\nopened", into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "7\t#\tconnection 7 opened\n")
    }

    @Test func malformedMessagesAreReportedNotTrusted() {
        var f = PQTraceFormatter(options: .init(timestamps: false))
        // A DataRow announcing a 100-byte column in a 20-byte message.
        var row: [UInt8] = [UInt8(ascii: "D")] + int32(14) + int16(1) + int32(100) + Array("abcd".utf8)
        #expect(f.format(.backend, row[...]) == "B\t14\tDataRow\t 1 100\nmalformed message: a value of 100 bytes runs past the end of the message (length 14)\n")
        // An unterminated string.
        row = [UInt8(ascii: "Q")] + int32(7) + Array("abc".utf8)
        #expect(f.format(.frontend, row[...]) == "F\t7\tQuery\t\nmalformed message: unterminated string runs past the end of the message (length 7)\n")
        // The length field disagrees with the bytes given.
        #expect(f.format(.backend, ([UInt8(ascii: "Z")] + int32(9) + [UInt8(ascii: "I")])[...])
            == "B\t9\t\nmalformed message: length field says 9 but the message has 5 bytes\n")
        // An unknown type byte: libpq's words.
        #expect(f.format(.backend, ([UInt8(ascii: "?")] + int32(4))[...]) == "B\t4\tUnknown message: 3f\n")
        #expect(f.format(.backend, [UInt8(ascii: "Z"), 0][...]) == "B\t?\t\nmalformed message: only 2 bytes, shorter than a message header\n")
        // Random bytes never crash the formatter.
        var rng = SeededRNG(seed: 15)
        let budget = FuzzBudget(2000)
        var iteration = 0
        while budget.continues(iteration) {
            iteration += 1
            let type = UInt8(ascii: Array("ABCDEFGHIKNPQRSTVWXZcdfnpstv123").randomElement(using: &rng)!.unicodeScalars.first!)
            let body = rng.bytes(Int.random(in: 0...24, using: &rng))
            let message = [type] + int32(Int32(body.count + 4)) + body
            _ = f.format(.backend, message[...])
            _ = f.format(.frontend, message[...])
            _ = f.format(.frontend, (int32(Int32(body.count + 8)) + int32(StartupCode.protocolVersion3) + body)[...])
        }
    }
}
