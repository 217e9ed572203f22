import Testing
@testable import PostgresWireProtocol

@Suite("Extended query state machine")
struct ExtendedQueryStateMachineTests {
    typealias Machine = ExtendedQueryStateMachine
    typealias Event = ExtendedQueryStateMachine.Event
    typealias Step = ExtendedQueryStateMachine.Step

    static let oneColumn = RowDescription(fields: [.init(name: "?column?", dataTypeOID: 23, dataTypeSize: 4)])
    static let copyFormat = CopyResponse(overallFormat: 0, columnFormats: [0, 0])

    /// Parse, Bind, Execute for each tag, then one Sync (tagged `syncTag`): a pipeline as the driver sends it.
    static func pipeline(_ tags: [Int], describePortal: Bool = false, syncTag: Int = 99) -> [(Step, Int)] {
        var steps: [(Step, Int)] = []
        for tag in tags {
            steps.append((.parse, tag))
            steps.append((.bind, tag))
            if describePortal { steps.append((.describePortal, tag)) }
            steps.append((.execute, tag))
        }
        steps.append((.sync, syncTag))
        return steps
    }

    /// Feeds all messages; returns the events, or the first error with the index it happened at.
    static func run(_ messages: [BackendMessage], machine: inout Machine)
        -> (events: [Event], error: (index: Int, error: ProtocolError)?) {
        var events: [Event] = []
        for (i, m) in messages.enumerated() {
            do throws(ProtocolError) {
                try machine.receive(m, into: &events)
            } catch {
                return (events, (i, error))
            }
        }
        return (events, nil)
    }

    static func run(_ steps: [(Step, Int)], _ messages: [BackendMessage])
        -> (events: [Event], error: (index: Int, error: ProtocolError)?, pending: Int) {
        var machine = Machine()
        for (step, tag) in steps { machine.enqueue(step, tag: tag) }
        let r = run(messages, machine: &machine)
        return (r.events, r.error, machine.pendingStepCount)
    }

    // MARK: Happy paths

    @Test("Parse, Bind, Describe portal, Execute, Sync: every answer matched to its step")
    func happyPath() {
        let r1 = DataRow(values: [bytes("1")]), r2 = DataRow(values: [nil])
        let r = Self.run(Self.pipeline([0], describePortal: true, syncTag: 1), [
            .parseComplete, .bindComplete, .rowDescription(Self.oneColumn), .dataRow(r1), .dataRow(r2),
            .commandComplete(CommandComplete(tag: "SELECT 2")), .readyForQuery(.idle),
        ])
        #expect(r.error == nil)
        #expect(r.events == [
            .parseComplete(tag: 0), .bindComplete(tag: 0), .rowDescription(Self.oneColumn, tag: 0),
            .row(r1, tag: 0), .row(r2, tag: 0), .commandComplete(CommandComplete(tag: "SELECT 2"), tag: 0),
            .ready(.idle, tag: 1),
        ])
        #expect(r.pending == 0)
    }

    @Test("pendingStepCount falls step by step and reaches zero only at ReadyForQuery")
    func pendingCount() throws {
        var machine = Machine()
        #expect(!machine.hasPendingSteps)
        for (step, tag) in Self.pipeline([0]) { machine.enqueue(step, tag: tag) }
        #expect(machine.pendingStepCount == 4)
        var events: [Event] = []
        try machine.receive(.parseComplete, into: &events)
        try machine.receive(.bindComplete, into: &events)
        #expect(machine.pendingStepCount == 2)
        try machine.receive(.dataRow(DataRow(values: [nil])), into: &events)
        #expect(machine.pendingStepCount == 2)
        try machine.receive(.commandComplete(CommandComplete(tag: "SELECT 1")), into: &events)
        #expect(machine.pendingStepCount == 1)
        #expect(machine.hasPendingSteps)
        try machine.receive(.readyForQuery(.inTransaction), into: &events)
        #expect(!machine.hasPendingSteps)
        #expect(events.last == .ready(.inTransaction, tag: 99))
    }

    @Test("NoData answers a Describe of a portal that returns no rows")
    func noData() {
        let r = Self.run(Self.pipeline([3], describePortal: true), [
            .parseComplete, .bindComplete, .noData, .commandComplete(CommandComplete(tag: "INSERT 0 1")), .readyForQuery(.idle),
        ])
        #expect(r.error == nil)
        #expect(r.events == [.parseComplete(tag: 3), .bindComplete(tag: 3), .rowDescription(nil, tag: 3),
                             .commandComplete(CommandComplete(tag: "INSERT 0 1"), tag: 3), .ready(.idle, tag: 99)])
    }

    @Test("Describe statement: ParameterDescription, then RowDescription or NoData")
    func describeStatement() {
        let steps: [(Step, Int)] = [(.parse, 0), (.describeStatement, 0), (.parse, 1), (.describeStatement, 1), (.sync, 2)]
        let r = Self.run(steps, [
            .parseComplete, .parameterDescription([23, 25]), .rowDescription(Self.oneColumn),
            .parseComplete, .parameterDescription([]), .noData,
            .readyForQuery(.idle),
        ])
        #expect(r.error == nil)
        #expect(r.events == [
            .parseComplete(tag: 0), .parameterDescription([23, 25], tag: 0), .rowDescription(Self.oneColumn, tag: 0),
            .parseComplete(tag: 1), .parameterDescription([], tag: 1), .rowDescription(nil, tag: 1),
            .ready(.idle, tag: 2),
        ])
    }

    @Test("a pipeline of queries, each result tagged with its query")
    func pipelineOfQueries() {
        let row = DataRow(values: [bytes("x")])
        let r = Self.run(Self.pipeline([0, 1, 2]), [
            .parseComplete, .bindComplete, .dataRow(row), .commandComplete(CommandComplete(tag: "SELECT 1")),
            .parseComplete, .bindComplete, .commandComplete(CommandComplete(tag: "UPDATE 4")),
            .parseComplete, .bindComplete, .dataRow(row), .dataRow(row), .commandComplete(CommandComplete(tag: "SELECT 2")),
            .readyForQuery(.idle),
        ])
        #expect(r.error == nil)
        #expect(r.events == [
            .parseComplete(tag: 0), .bindComplete(tag: 0), .row(row, tag: 0), .commandComplete(CommandComplete(tag: "SELECT 1"), tag: 0),
            .parseComplete(tag: 1), .bindComplete(tag: 1), .commandComplete(CommandComplete(tag: "UPDATE 4"), tag: 1),
            .parseComplete(tag: 2), .bindComplete(tag: 2), .row(row, tag: 2), .row(row, tag: 2),
            .commandComplete(CommandComplete(tag: "SELECT 2"), tag: 2),
            .ready(.idle, tag: 99),
        ])
    }

    @Test("Close of a statement answered by CloseComplete")
    func close() {
        let r = Self.run([(.close, -1), (.close, -1), (.sync, 0)], [.closeComplete, .closeComplete, .readyForQuery(.idle)])
        #expect(r.error == nil)
        #expect(r.events == [.closeComplete(tag: -1), .closeComplete(tag: -1), .ready(.idle, tag: 0)])
    }

    @Test("an empty query string: EmptyQueryResponse ends the Execute")
    func emptyQuery() {
        let r = Self.run(Self.pipeline([0, 1]), [
            .parseComplete, .bindComplete, .emptyQueryResponse,
            .parseComplete, .bindComplete, .commandComplete(CommandComplete(tag: "SELECT 0")),
            .readyForQuery(.idle),
        ])
        #expect(r.error == nil)
        #expect(r.events == [
            .parseComplete(tag: 0), .bindComplete(tag: 0), .emptyQuery(tag: 0),
            .parseComplete(tag: 1), .bindComplete(tag: 1), .commandComplete(CommandComplete(tag: "SELECT 0"), tag: 1),
            .ready(.idle, tag: 99),
        ])
    }

    // MARK: Errors

    @Test("an error mid-pipeline: the rest of the group up to Sync is reported skipped")
    func errorMidGroup() {
        let row = DataRow(values: [bytes("1")])
        let r = Self.run(Self.pipeline([0, 1, 2]), [
            .parseComplete, .bindComplete, .dataRow(row), .commandComplete(CommandComplete(tag: "SELECT 1")),
            .parseComplete, .bindComplete, .dataRow(row), .errorResponse(Samples.errorFields),
            .readyForQuery(.failed),
        ])
        #expect(r.error == nil)
        #expect(r.events == [
            .parseComplete(tag: 0), .bindComplete(tag: 0), .row(row, tag: 0), .commandComplete(CommandComplete(tag: "SELECT 1"), tag: 0),
            .parseComplete(tag: 1), .bindComplete(tag: 1), .row(row, tag: 1), .error(Samples.errorFields, tag: 1),
            .skipped(.parse, tag: 2), .skipped(.bind, tag: 2), .skipped(.execute, tag: 2),
            .ready(.failed, tag: 99),
        ])
        #expect(r.pending == 0)
    }

    @Test("an error at the first step skips that query's own later steps too", arguments: [Step.parse, .bind])
    func errorAtFirstSteps(_ failing: Step) {
        var messages: [BackendMessage] = []
        if failing == .bind { messages.append(.parseComplete) }
        messages += [.errorResponse(Samples.errorFields), .readyForQuery(.idle)]
        let r = Self.run(Self.pipeline([0, 1], describePortal: true), messages)
        #expect(r.error == nil)
        var expected: [Event] = failing == .bind ? [.parseComplete(tag: 0)] : []
        expected.append(.error(Samples.errorFields, tag: 0))
        if failing == .parse { expected.append(.skipped(.bind, tag: 0)) }
        expected += [.skipped(.describePortal, tag: 0), .skipped(.execute, tag: 0),
                     .skipped(.parse, tag: 1), .skipped(.bind, tag: 1), .skipped(.describePortal, tag: 1), .skipped(.execute, tag: 1),
                     .ready(.idle, tag: 99)]
        #expect(r.events == expected)
    }

    @Test("an error skips only up to its own Sync; the next group runs")
    func errorStopsAtSync() {
        let steps: [(Step, Int)] = [(.parse, 0), (.bind, 0), (.execute, 0), (.sync, 10),
                                    (.parse, 1), (.bind, 1), (.execute, 1), (.sync, 11)]
        let r = Self.run(steps, [
            .parseComplete, .errorResponse(Samples.errorFields), .readyForQuery(.idle),
            .parseComplete, .bindComplete, .commandComplete(CommandComplete(tag: "DELETE 0")), .readyForQuery(.idle),
        ])
        #expect(r.error == nil)
        #expect(r.events == [
            .parseComplete(tag: 0), .error(Samples.errorFields, tag: 0), .skipped(.execute, tag: 0), .ready(.idle, tag: 10),
            .parseComplete(tag: 1), .bindComplete(tag: 1), .commandComplete(CommandComplete(tag: "DELETE 0"), tag: 1),
            .ready(.idle, tag: 11),
        ])
    }

    @Test("an error while the statement description is half received resets the describe state")
    func errorDuringDescribe() {
        let steps: [(Step, Int)] = [(.parse, 0), (.describeStatement, 0), (.sync, 1),
                                    (.parse, 2), (.describeStatement, 2), (.sync, 3)]
        let r = Self.run(steps, [
            .parseComplete, .parameterDescription([23]), .errorResponse(Samples.errorFields), .readyForQuery(.idle),
            .parseComplete, .parameterDescription([25]), .noData, .readyForQuery(.idle),
        ])
        #expect(r.error == nil)
        #expect(r.events == [
            .parseComplete(tag: 0), .parameterDescription([23], tag: 0), .error(Samples.errorFields, tag: 0), .ready(.idle, tag: 1),
            .parseComplete(tag: 2), .parameterDescription([25], tag: 2), .rowDescription(nil, tag: 2), .ready(.idle, tag: 3),
        ])
    }

    @Test("an error at Sync (the implicit COMMIT failed) is tagged with the Sync, then ReadyForQuery")
    func errorAtSync() {
        let r = Self.run(Self.pipeline([0], syncTag: 7), [
            .parseComplete, .bindComplete, .commandComplete(CommandComplete(tag: "INSERT 0 1")),
            .errorResponse(Samples.errorFields), .readyForQuery(.idle),
        ])
        #expect(r.error == nil)
        #expect(r.events == [
            .parseComplete(tag: 0), .bindComplete(tag: 0), .commandComplete(CommandComplete(tag: "INSERT 0 1"), tag: 0),
            .error(Samples.errorFields, tag: 7), .ready(.idle, tag: 7),
        ])
        #expect(r.pending == 0)
    }

    @Test("after an error, rows of the failed Execute are not accepted")
    func rowsAfterError() {
        let r = Self.run(Self.pipeline([0]), [.parseComplete, .bindComplete, .errorResponse(Samples.errorFields),
                                              .dataRow(DataRow(values: [nil]))])
        #expect(r.error?.index == 3)
        #expect(r.error?.error.isUnexpectedMessage == true)
    }

    // MARK: Row limits and COPY

    @Test("Execute with a row limit: PortalSuspended, then the portal executed again to the end")
    func portalSuspended() throws {
        let row = { (i: Int) in DataRow(values: [bytes(String(i))]) }
        var machine = Machine()
        machine.enqueue(.parse, tag: 0)
        machine.enqueue(.bind, tag: 0)
        machine.enqueue(.execute, tag: 0)
        var r = Self.run([.parseComplete, .bindComplete, .dataRow(row(1)), .dataRow(row(2)), .portalSuspended], machine: &machine)
        #expect(r.error == nil)
        #expect(r.events == [.parseComplete(tag: 0), .bindComplete(tag: 0), .row(row(1), tag: 0), .row(row(2), tag: 0),
                             .portalSuspended(tag: 0)])
        #expect(!machine.hasPendingSteps)

        // As the driver does: Execute again (after Flush), then Sync once the command completes.
        machine.enqueue(.execute, tag: 0)
        r = Self.run([.dataRow(row(3)), .portalSuspended], machine: &machine)
        #expect(r.error == nil)
        #expect(r.events == [.row(row(3), tag: 0), .portalSuspended(tag: 0)])
        machine.enqueue(.execute, tag: 0)
        r = Self.run([.dataRow(row(4)), .commandComplete(CommandComplete(tag: "SELECT 1"))], machine: &machine)
        #expect(r.events == [.row(row(4), tag: 0), .commandComplete(CommandComplete(tag: "SELECT 1"), tag: 0)])
        machine.enqueue(.sync, tag: 1)
        r = Self.run([.readyForQuery(.idle)], machine: &machine)
        #expect(r.error == nil)
        #expect(r.events == [.ready(.idle, tag: 1)])
        #expect(!machine.hasPendingSteps)
    }

    @Test("COPY FROM STDIN started by an Execute")
    func copyIn() {
        let r = Self.run(Self.pipeline([0, 1]), [
            .parseComplete, .bindComplete, .copyInResponse(Self.copyFormat), .commandComplete(CommandComplete(tag: "COPY 3")),
            .parseComplete, .bindComplete, .dataRow(DataRow(values: [nil, nil])), .commandComplete(CommandComplete(tag: "SELECT 1")),
            .readyForQuery(.idle),
        ])
        #expect(r.error == nil)
        #expect(r.events == [
            .parseComplete(tag: 0), .bindComplete(tag: 0), .copyIn(Self.copyFormat, tag: 0), .commandComplete(CommandComplete(tag: "COPY 3"), tag: 0),
            .parseComplete(tag: 1), .bindComplete(tag: 1), .row(DataRow(values: [nil, nil]), tag: 1),
            .commandComplete(CommandComplete(tag: "SELECT 1"), tag: 1),
            .ready(.idle, tag: 99),
        ])
    }

    @Test("COPY TO STDOUT started by an Execute")
    func copyOut() {
        let r = Self.run(Self.pipeline([0, 1]), [
            .parseComplete, .bindComplete, .copyOutResponse(Self.copyFormat),
            .copyData(bytes("1\ta\n")[...]), .copyData(bytes("2\tb\n")[...]), .copyDone, .commandComplete(CommandComplete(tag: "COPY 2")),
            .parseComplete, .bindComplete, .dataRow(DataRow(values: [nil])), .commandComplete(CommandComplete(tag: "SELECT 1")),
            .readyForQuery(.idle),
        ])
        #expect(r.error == nil)
        #expect(r.events == [
            .parseComplete(tag: 0), .bindComplete(tag: 0), .copyOut(Self.copyFormat, tag: 0),
            .copyData(bytes("1\ta\n")[...], tag: 0), .copyData(bytes("2\tb\n")[...], tag: 0), .copyDone(tag: 0),
            .commandComplete(CommandComplete(tag: "COPY 2"), tag: 0),
            .parseComplete(tag: 1), .bindComplete(tag: 1), .row(DataRow(values: [nil]), tag: 1),
            .commandComplete(CommandComplete(tag: "SELECT 1"), tag: 1),
            .ready(.idle, tag: 99),
        ])
    }

    @Test("a COPY that fails ends the COPY state and skips the rest of the group")
    func copyFailure() {
        for start in [BackendMessage.copyInResponse(Self.copyFormat), .copyOutResponse(Self.copyFormat)] {
            let r = Self.run(Self.pipeline([0, 1]), [.parseComplete, .bindComplete, start, .errorResponse(Samples.errorFields),
                                                     .readyForQuery(.idle)])
            #expect(r.error == nil)
            #expect(r.events.dropFirst(3) == [.error(Samples.errorFields, tag: 0),
                                              .skipped(.parse, tag: 1), .skipped(.bind, tag: 1), .skipped(.execute, tag: 1),
                                              .ready(.idle, tag: 99)])
        }
        // And the next group's Execute returns rows again.
        let steps = Self.pipeline([0], syncTag: 1) + Self.pipeline([2], syncTag: 3)
        let r = Self.run(steps, [.parseComplete, .bindComplete, .copyOutResponse(Self.copyFormat), .copyData([1][...]),
                                 .errorResponse(Samples.errorFields), .readyForQuery(.idle),
                                 .parseComplete, .bindComplete, .dataRow(DataRow(values: [nil])),
                                 .commandComplete(CommandComplete(tag: "SELECT 1")), .readyForQuery(.idle)])
        #expect(r.error == nil)
        #expect(r.events.last == .ready(.idle, tag: 3))
    }

    @Test("notices, notifications and parameter status pass through in every state, even with nothing pending")
    func asynchronousMessages() {
        let notice = BackendMessage.noticeResponse(Samples.noticeFields)
        let notification = BackendMessage.notificationResponse(NotificationResponse(processID: 9, channel: "c", payload: "p"))
        let status = BackendMessage.parameterStatus(ParameterStatus(name: "TimeZone", value: "UTC"))
        let async: [BackendMessage] = [notice, notification, status]
        let asyncEvents: [Event] = [.notice(Samples.noticeFields),
                                    .notification(NotificationResponse(processID: 9, channel: "c", payload: "p")),
                                    .parameterStatus(ParameterStatus(name: "TimeZone", value: "UTC"))]
        let row = DataRow(values: [nil])
        let r = Self.run(Self.pipeline([0, 1]), async + [.parseComplete] + async + [.bindComplete] + async
            + [.dataRow(row)] + async + [.commandComplete(CommandComplete(tag: "SELECT 1"))] + async
            + [.parseComplete, .bindComplete, .copyOutResponse(Self.copyFormat)] + async + [.copyData([1][...])] + async
            + [.copyDone] + async + [.commandComplete(CommandComplete(tag: "COPY 1"))] + async
            + [.readyForQuery(.idle)] + async)
        #expect(r.error == nil)
        let expected: [Event] = asyncEvents + [.parseComplete(tag: 0)] + asyncEvents + [.bindComplete(tag: 0)] + asyncEvents
            + [.row(row, tag: 0)] + asyncEvents + [.commandComplete(CommandComplete(tag: "SELECT 1"), tag: 0)] + asyncEvents
            + [.parseComplete(tag: 1), .bindComplete(tag: 1), .copyOut(Self.copyFormat, tag: 1)] + asyncEvents
            + [.copyData([1][...], tag: 1)] + asyncEvents
            + [.copyDone(tag: 1)] + asyncEvents + [.commandComplete(CommandComplete(tag: "COPY 1"), tag: 1)] + asyncEvents
            + [.ready(.idle, tag: 99)] + asyncEvents
        #expect(r.events == expected)
    }

    // MARK: Protocol violations

    /// (steps, messages): the last message is a protocol violation.
    static let violations: [(String, [(Step, Int)], [BackendMessage])] = [
        ("a DataRow before the portal's RowDescription", pipeline([0], describePortal: true),
         [.parseComplete, .bindComplete, .dataRow(DataRow(values: [nil]))]),
        ("a DataRow before BindComplete", pipeline([0]), [.parseComplete, .dataRow(DataRow(values: [nil]))]),
        ("a second ReadyForQuery", pipeline([0]),
         [.parseComplete, .bindComplete, .emptyQueryResponse, .readyForQuery(.idle), .readyForQuery(.idle)]),
        ("ReadyForQuery while the Execute is still pending", pipeline([0]),
         [.parseComplete, .bindComplete, .readyForQuery(.idle)]),
        ("AuthenticationOk mid-query", pipeline([0]), [.parseComplete, .authentication(.ok)]),
        ("BackendKeyData mid-query", pipeline([0]), [.parseComplete, .bindComplete, .backendKeyData(BackendKeyData(processID: 1, secretKey: 2))]),
        ("anything but an asynchronous message with nothing pending", [], [.dataRow(DataRow(values: []))]),
        ("ReadyForQuery with nothing pending", [], [.readyForQuery(.idle)]),
        ("ErrorResponse with nothing pending", [], [.errorResponse(Samples.errorFields)]),
        ("answers out of order: BindComplete for a Parse", pipeline([0]), [.bindComplete]),
        ("answers out of order: ParseComplete for a Bind", pipeline([0]), [.parseComplete, .parseComplete]),
        ("CloseComplete for a Parse", pipeline([0]), [.closeComplete]),
        ("NoData for an Execute", pipeline([0]), [.parseComplete, .bindComplete, .noData]),
        ("RowDescription for an Execute", pipeline([0]), [.parseComplete, .bindComplete, .rowDescription(oneColumn)]),
        ("PortalSuspended for a Bind", pipeline([0]), [.parseComplete, .portalSuspended]),
        ("EmptyQueryResponse for a Describe", pipeline([0], describePortal: true), [.parseComplete, .bindComplete, .emptyQueryResponse]),
        ("ParameterDescription for a portal", pipeline([0], describePortal: true), [.parseComplete, .bindComplete, .parameterDescription([])]),
        ("RowDescription of a statement before its ParameterDescription", [(.parse, 0), (.describeStatement, 0), (.sync, 1)],
         [.parseComplete, .rowDescription(oneColumn)]),
        ("NoData of a statement before its ParameterDescription", [(.parse, 0), (.describeStatement, 0), (.sync, 1)],
         [.parseComplete, .noData]),
        ("two ParameterDescriptions", [(.parse, 0), (.describeStatement, 0), (.sync, 1)],
         [.parseComplete, .parameterDescription([]), .parameterDescription([])]),
        ("CopyData outside COPY", pipeline([0]), [.parseComplete, .bindComplete, .copyData([1][...])]),
        ("CopyDone outside COPY", pipeline([0]), [.parseComplete, .bindComplete, .copyDone]),
        ("CopyData from the server during COPY FROM STDIN", pipeline([0]),
         [.parseComplete, .bindComplete, .copyInResponse(copyFormat), .copyData([1][...])]),
        ("a DataRow during COPY TO STDOUT", pipeline([0]),
         [.parseComplete, .bindComplete, .copyOutResponse(copyFormat), .dataRow(DataRow(values: [nil]))]),
        ("nested COPY responses", pipeline([0]),
         [.parseComplete, .bindComplete, .copyOutResponse(copyFormat), .copyInResponse(copyFormat)]),
        // COPY states: each answer only where the COPY sub-protocol allows it.
        ("CommandComplete during COPY TO STDOUT before CopyDone", pipeline([0]),
         [.parseComplete, .bindComplete, .copyOutResponse(copyFormat), .commandComplete(CommandComplete(tag: "COPY 0"))]),
        ("CopyData after CopyDone", pipeline([0]),
         [.parseComplete, .bindComplete, .copyOutResponse(copyFormat), .copyDone, .copyData([1][...])]),
        ("a second CopyDone", pipeline([0]),
         [.parseComplete, .bindComplete, .copyOutResponse(copyFormat), .copyDone, .copyDone]),
        ("PortalSuspended during COPY TO STDOUT", pipeline([0]),
         [.parseComplete, .bindComplete, .copyOutResponse(copyFormat), .portalSuspended]),
        ("PortalSuspended during COPY FROM STDIN", pipeline([0]),
         [.parseComplete, .bindComplete, .copyInResponse(copyFormat), .portalSuspended]),
        ("EmptyQueryResponse during COPY FROM STDIN", pipeline([0]),
         [.parseComplete, .bindComplete, .copyInResponse(copyFormat), .emptyQueryResponse]),
        ("CopyBothResponse for an Execute", pipeline([0]), [.parseComplete, .bindComplete, .copyBothResponse(copyFormat)]),
        ("a FunctionCallResponse", pipeline([0]), [.functionCallResponse(nil)]),
    ]

    @Test("unexpected messages are protocol errors, never a crash", arguments: violations.indices)
    func unexpectedMessages(_ i: Int) {
        let (name, steps, messages) = Self.violations[i]
        var machine = Machine()
        for (step, tag) in steps { machine.enqueue(step, tag: tag) }
        let before = Self.run(Array(messages.dropLast()), machine: &machine)
        #expect(before.error == nil, "\(name)")
        let pending = machine.pendingStepCount
        let r = Self.run([messages.last!], machine: &machine)
        #expect(r.error?.error.isUnexpectedMessage == true, "\(name)")
        #expect(r.events.isEmpty, "\(name)")
        // A rejected message changes nothing.
        #expect(machine.pendingStepCount == pending, "\(name)")
    }
}
