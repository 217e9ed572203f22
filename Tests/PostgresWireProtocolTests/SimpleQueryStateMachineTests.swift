import Testing
@testable import PostgresWireProtocol

@Suite("Simple query state machine")
struct SimpleQueryStateMachineTests {
    typealias Event = SimpleQueryStateMachine.Event

    static let oneColumn = RowDescription(fields: [.init(name: "?column?", dataTypeOID: 23, dataTypeSize: 4)])
    static let twoColumns = RowDescription(fields: [.init(name: "a", dataTypeOID: 23), .init(name: "b", dataTypeOID: 25)])

    /// Feeds all messages; returns the events, or the first error with the index it happened at.
    static func run(_ messages: [BackendMessage], machine: inout SimpleQueryStateMachine)
        -> (events: [Event], error: (index: Int, error: ProtocolError)?) {
        var events: [Event] = []
        for (i, m) in messages.enumerated() {
            do throws(ProtocolError) {
                events.append(try machine.receive(m))
            } catch {
                return (events, (i, error))
            }
        }
        return (events, nil)
    }

    static func run(_ messages: [BackendMessage]) -> (events: [Event], error: (index: Int, error: ProtocolError)?, done: Bool) {
        var machine = SimpleQueryStateMachine()
        let r = run(messages, machine: &machine)
        return (r.events, r.error, machine.isDone)
    }

    @Test("single SELECT")
    func singleSelect() {
        let r1 = DataRow(values: [bytes("1")]), r2 = DataRow(values: [nil])
        let r = Self.run([.rowDescription(Self.oneColumn), .dataRow(r1), .dataRow(r2),
                          .commandComplete(CommandComplete(tag: "SELECT 2")), .readyForQuery(.idle)])
        #expect(r.error == nil)
        #expect(r.events == [.rowDescription(Self.oneColumn), .row(r1), .row(r2),
                             .commandComplete(CommandComplete(tag: "SELECT 2")), .ready(.idle)])
        #expect(r.done)
    }

    @Test("isDone only after ReadyForQuery")
    func isDone() throws {
        var machine = SimpleQueryStateMachine()
        #expect(!machine.isDone)
        _ = try machine.receive(.commandComplete(CommandComplete(tag: "CREATE TABLE")))
        #expect(!machine.isDone)
        _ = try machine.receive(.readyForQuery(.inTransaction))
        #expect(machine.isDone)
    }

    @Test("several statements in one query string")
    func multipleStatements() {
        let row = DataRow(values: [bytes("1"), bytes("x")])
        let messages: [BackendMessage] = [
            .commandComplete(CommandComplete(tag: "BEGIN")),
            .rowDescription(Self.twoColumns), .dataRow(row), .commandComplete(CommandComplete(tag: "SELECT 1")),
            .commandComplete(CommandComplete(tag: "INSERT 0 3")),
            .rowDescription(Self.oneColumn), .commandComplete(CommandComplete(tag: "SELECT 0")),
            .emptyQueryResponse,
            .rowDescription(RowDescription(fields: [])), .dataRow(DataRow(values: [])), .commandComplete(CommandComplete(tag: "SELECT 1")),
            .commandComplete(CommandComplete(tag: "COMMIT")),
            .readyForQuery(.idle),
        ]
        let r = Self.run(messages)
        #expect(r.error == nil)
        #expect(r.events == [
            .commandComplete(CommandComplete(tag: "BEGIN")),
            .rowDescription(Self.twoColumns), .row(row), .commandComplete(CommandComplete(tag: "SELECT 1")),
            .commandComplete(CommandComplete(tag: "INSERT 0 3")),
            .rowDescription(Self.oneColumn), .commandComplete(CommandComplete(tag: "SELECT 0")),
            .emptyQuery,
            .rowDescription(RowDescription(fields: [])), .row(DataRow(values: [])), .commandComplete(CommandComplete(tag: "SELECT 1")),
            .commandComplete(CommandComplete(tag: "COMMIT")),
            .ready(.idle),
        ])
        #expect(r.done)
    }

    @Test("empty query string")
    func emptyQuery() {
        let r = Self.run([.emptyQueryResponse, .readyForQuery(.idle)])
        #expect(r.error == nil)
        #expect(r.events == [.emptyQuery, .ready(.idle)])
    }

    @Test("an error mid-string ends execution; ReadyForQuery still closes the cycle")
    func errorMidString() {
        let row = DataRow(values: [bytes("1")])
        let r = Self.run([.rowDescription(Self.oneColumn), .dataRow(row), .errorResponse(Samples.errorFields), .readyForQuery(.idle)])
        #expect(r.error == nil)
        #expect(r.events == [.rowDescription(Self.oneColumn), .row(row), .error(Samples.errorFields), .ready(.idle)])
        #expect(r.done)

        let inTx = Self.run([.commandComplete(CommandComplete(tag: "BEGIN")), .errorResponse(Samples.errorFields), .readyForQuery(.failed)])
        #expect(inTx.error == nil)
        #expect(inTx.events.last == .ready(.failed))

        let first = Self.run([.errorResponse(Samples.errorFields), .readyForQuery(.idle)])
        #expect(first.events == [.error(Samples.errorFields), .ready(.idle)])
    }

    @Test("after an error, rows of the aborted statement are not accepted")
    func rowsAfterError() {
        let r = Self.run([.rowDescription(Self.oneColumn), .errorResponse(Samples.errorFields), .dataRow(DataRow(values: [nil]))])
        #expect(r.error?.index == 2)
        #expect(r.error?.error.isUnexpectedMessage == true)
    }

    @Test("notices, notifications and parameter status are passed through in every state")
    func asynchronousMessages() {
        let notice = BackendMessage.noticeResponse(Samples.noticeFields)
        let notification = BackendMessage.notificationResponse(NotificationResponse(processID: 9, channel: "c", payload: "p"))
        let status = BackendMessage.parameterStatus(ParameterStatus(name: "TimeZone", value: "UTC"))
        let async: [BackendMessage] = [notice, notification, status]
        let asyncEvents: [Event] = [.notice(Samples.noticeFields),
                                    .notification(NotificationResponse(processID: 9, channel: "c", payload: "p")),
                                    .parameterStatus(ParameterStatus(name: "TimeZone", value: "UTC"))]
        let row = DataRow(values: [bytes("7")])
        let copy = CopyResponse(overallFormat: 0, columnFormats: [0])
        let messages: [BackendMessage] = async + [.rowDescription(Self.oneColumn)] + async + [.dataRow(row)] + async
            + [.commandComplete(CommandComplete(tag: "SELECT 1"))] + async
            + [.copyOutResponse(copy)] + async + [.copyData([1, 2][...])] + async + [.copyDone]
            + [.commandComplete(CommandComplete(tag: "COPY 1"))]
            + [.copyInResponse(copy)] + async + [.commandComplete(CommandComplete(tag: "COPY 0"))]
            + async + [.readyForQuery(.idle)] + [notice]
        let r = Self.run(messages)
        #expect(r.error == nil)
        let expected: [Event] = asyncEvents + [.rowDescription(Self.oneColumn)] + asyncEvents + [.row(row)] + asyncEvents
            + [.commandComplete(CommandComplete(tag: "SELECT 1"))] + asyncEvents
            + [.copyOut(copy)] + asyncEvents + [.copyData([1, 2][...])] + asyncEvents + [.copyDone]
            + [.commandComplete(CommandComplete(tag: "COPY 1"))]
            + [.copyIn(copy)] + asyncEvents + [.commandComplete(CommandComplete(tag: "COPY 0"))]
            + asyncEvents + [.ready(.idle)] + [.notice(Samples.noticeFields)]
        #expect(r.events == expected)
    }

    @Test("a DataRow with the wrong column count is rejected", arguments: [0, 2, 5])
    func columnCountMismatch(_ columns: Int) {
        let row = DataRow(values: Array(repeating: nil, count: columns))
        let r = Self.run([.rowDescription(Self.oneColumn), .dataRow(row)])
        #expect(r.error?.index == 1)
        #expect(r.error?.error.isMalformed == true)
    }

    @Test("a DataRow without a RowDescription is rejected")
    func dataRowWithoutDescription() {
        let r = Self.run([.dataRow(DataRow(values: [nil]))])
        #expect(r.error?.index == 0)
        #expect(r.error?.error.isUnexpectedMessage == true)

        // Nor after the previous statement's CommandComplete.
        let r2 = Self.run([.rowDescription(Self.oneColumn), .commandComplete(CommandComplete(tag: "SELECT 0")),
                           .dataRow(DataRow(values: [nil]))])
        #expect(r2.error?.index == 2)
        #expect(r2.error?.error.isUnexpectedMessage == true)
    }

    @Test("COPY TO STDOUT")
    func copyOut() {
        let copy = CopyResponse(overallFormat: 0, columnFormats: [0, 0])
        let r = Self.run([.copyOutResponse(copy), .copyData(bytes("1\ta\n")[...]), .copyData(bytes("2\tb\n")[...]), .copyDone,
                          .commandComplete(CommandComplete(tag: "COPY 2")), .readyForQuery(.idle)])
        #expect(r.error == nil)
        #expect(r.events == [.copyOut(copy), .copyData(bytes("1\ta\n")[...]), .copyData(bytes("2\tb\n")[...]), .copyDone,
                             .commandComplete(CommandComplete(tag: "COPY 2")), .ready(.idle)])
    }

    @Test("COPY FROM STDIN")
    func copyIn() {
        let copy = CopyResponse(overallFormat: 1, columnFormats: [1])
        let r = Self.run([.copyInResponse(copy), .commandComplete(CommandComplete(tag: "COPY 3")), .readyForQuery(.idle)])
        #expect(r.error == nil)
        #expect(r.events == [.copyIn(copy), .commandComplete(CommandComplete(tag: "COPY 3")), .ready(.idle)])
    }

    @Test("COPY failures end with ErrorResponse then ReadyForQuery")
    func copyErrors() {
        let copy = CopyResponse(overallFormat: 0, columnFormats: [0])
        let inFail = Self.run([.copyInResponse(copy), .errorResponse(Samples.errorFields), .readyForQuery(.idle)])
        #expect(inFail.error == nil)
        #expect(inFail.events == [.copyIn(copy), .error(Samples.errorFields), .ready(.idle)])

        let outFail = Self.run([.copyOutResponse(copy), .copyData([1][...]), .errorResponse(Samples.errorFields), .readyForQuery(.idle)])
        #expect(outFail.error == nil)
        #expect(outFail.events == [.copyOut(copy), .copyData([1][...]), .error(Samples.errorFields), .ready(.idle)])
    }

    @Test("COPY protocol violations", arguments: [
        // CopyData outside COPY OUT.
        [BackendMessage.copyData([1][...])],
        [.copyInResponse(CopyResponse(overallFormat: 0, columnFormats: [])), .copyData([1][...])],
        // CopyDone outside COPY OUT.
        [.copyDone],
        [.copyInResponse(CopyResponse(overallFormat: 0, columnFormats: [])), .copyDone],
        // ReadyForQuery inside COPY.
        [.copyOutResponse(CopyResponse(overallFormat: 0, columnFormats: [])), .readyForQuery(.idle)],
        [.copyInResponse(CopyResponse(overallFormat: 0, columnFormats: [])), .readyForQuery(.idle)],
        // CommandComplete before CopyDone.
        [.copyOutResponse(CopyResponse(overallFormat: 0, columnFormats: [])), .commandComplete(CommandComplete(tag: "COPY 0"))],
        // Nested COPY responses.
        [.copyOutResponse(CopyResponse(overallFormat: 0, columnFormats: [])), .copyOutResponse(CopyResponse(overallFormat: 0, columnFormats: []))],
        [.copyBothResponse(CopyResponse(overallFormat: 0, columnFormats: [])), .copyInResponse(CopyResponse(overallFormat: 0, columnFormats: []))],
        [.rowDescription(RowDescription(fields: [])), .copyInResponse(CopyResponse(overallFormat: 0, columnFormats: []))],
    ])
    func copyViolations(_ messages: [BackendMessage]) {
        // (CopyBothResponse alone is valid: the driver ends it and reports COPY BOTH as unsupported.)
        let r = Self.run(messages)
        #expect(r.error?.index == messages.count - 1)
        #expect(r.error?.error.isUnexpectedMessage == true)
    }

    @Test("other protocol violations", arguments: [
        // Two RowDescriptions without a CommandComplete between them.
        [BackendMessage.rowDescription(RowDescription(fields: [])), .rowDescription(RowDescription(fields: []))],
        // ReadyForQuery while rows are still coming.
        [.rowDescription(RowDescription(fields: [])), .readyForQuery(.idle)],
        // EmptyQueryResponse during rows.
        [.rowDescription(RowDescription(fields: [])), .emptyQueryResponse],
        // Extended-protocol and startup messages.
        [.parseComplete], [.bindComplete], [.noData], [.portalSuspended], [.parameterDescription([])], [.closeComplete],
        [.authentication(.ok)], [.backendKeyData(BackendKeyData(processID: 1, secretKey: 1))],
        [.functionCallResponse(nil)], [.negotiateProtocolVersion(NegotiateProtocolVersion(newestMinorVersion: 0, unrecognizedOptions: []))],
    ])
    func otherViolations(_ messages: [BackendMessage]) {
        let r = Self.run(messages)
        #expect(r.error?.index == messages.count - 1)
        #expect(r.error?.error.isUnexpectedMessage == true)
    }

    @Test("messages after ReadyForQuery are rejected", arguments: [
        BackendMessage.readyForQuery(.idle), .commandComplete(CommandComplete(tag: "SELECT 1")), .errorResponse(Samples.errorFields),
        .rowDescription(RowDescription(fields: [])), .dataRow(DataRow(values: [])), .emptyQueryResponse,
        .copyOutResponse(CopyResponse(overallFormat: 0, columnFormats: [])),
    ])
    func afterReady(_ message: BackendMessage) {
        let r = Self.run([.emptyQueryResponse, .readyForQuery(.idle), message])
        #expect(r.error?.index == 2)
        #expect(r.error?.error.isUnexpectedMessage == true)
    }

    @Test("COPY BOTH: data both ways until CopyDone, then the command completes")
    func copyBoth() {
        let r = Self.run([
            .copyBothResponse(CopyResponse(overallFormat: 1, columnFormats: [])),
            .copyData([1, 2][...]), .copyDone,
            .commandComplete(CommandComplete(tag: "START_REPLICATION")), .readyForQuery(.idle),
        ])
        #expect(r.error == nil)
        #expect(r.done)
        #expect(r.events.count == 5)
    }
}
