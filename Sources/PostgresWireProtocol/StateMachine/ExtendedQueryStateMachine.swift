/// The extended query protocol, pipelined: the client queues Parse/Describe/Bind/Execute/Close/Sync
/// steps (sending them in one write) and this machine matches each server message to the step it
/// answers.
///
/// PostgreSQL's pipeline rule: after an ErrorResponse the server discards every message up to the
/// next Sync, so each step queued between the failing one and that Sync is reported `.skipped`,
/// and the Sync's ReadyForQuery ends the group. Steps carry a caller-chosen tag (e.g. the index
/// of the query in a batch) so results can be matched to queries in order.
public struct ExtendedQueryStateMachine: Sendable {
    public enum Step: Sendable, Equatable {
        case parse
        case describeStatement
        case describePortal
        case bind
        case execute
        case close
        case sync
    }

    public enum Event: Sendable, Equatable {
        case parseComplete(tag: Int)
        case parameterDescription([UInt32], tag: Int)
        /// nil for NoData (a statement that returns no rows).
        case rowDescription(RowDescription?, tag: Int)
        case bindComplete(tag: Int)
        case row(DataRow, tag: Int)
        case commandComplete(CommandComplete, tag: Int)
        case emptyQuery(tag: Int)
        /// Execute's row limit was reached; the portal can be executed again.
        case portalSuspended(tag: Int)
        case closeComplete(tag: Int)
        /// COPY started by an Execute; the caller must answer (CopyFail/CopyData) or read CopyData.
        case copyIn(CopyResponse, tag: Int)
        case copyOut(CopyResponse, tag: Int)
        case copyData(ArraySlice<UInt8>, tag: Int)
        case copyDone(tag: Int)
        /// The step with this tag failed; the steps up to the next Sync follow as `.skipped`.
        case error(DiagnosticFields, tag: Int)
        /// The step was discarded by the server because an earlier step of its Sync group failed.
        case skipped(Step, tag: Int)
        /// A Sync completed.
        case ready(TransactionStatus, tag: Int)
        case notice(DiagnosticFields)
        case parameterStatus(ParameterStatus)
        case notification(NotificationResponse)
    }

    private struct Pending: Sendable {
        var step: Step
        var tag: Int
    }

    private var queue: [Pending] = []
    private var head = 0
    /// COPY started by the head Execute: out (CopyData/CopyDone expected), out after CopyDone
    /// (CommandComplete expected), in (CommandComplete expected once the client ends the data).
    private enum Copy: Sendable { case none, out, outDone, `in` }
    private var copy = Copy.none
    /// After Describe(statement): ParameterDescription received, RowDescription/NoData pending.
    private var awaitingRowDescription = false

    public init() {}

    /// Back to the state of a new machine, keeping the queue's storage (a connection reuses one
    /// machine for its batches instead of allocating a queue per query).
    public mutating func reset() {
        queue.removeAll(keepingCapacity: true)
        head = 0
        copy = .none
        awaitingRowDescription = false
    }

    public var hasPendingSteps: Bool { head < queue.count }
    public var pendingStepCount: Int { queue.count - head }

    public mutating func enqueue(_ step: Step, tag: Int) {
        if head > 0 && head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
        }
        // One allocation for a typical group (Bind, Execute, Sync; or Parse, Describe, Sync)
        // instead of three as the queue grows one step at a time.
        if queue.capacity == 0 { queue.reserveCapacity(8) }
        queue.append(Pending(step: step, tag: tag))
    }

    private var current: Pending? { head < queue.count ? queue[head] : nil }

    private mutating func pop() { head += 1 }

    /// Handles one server message; most produce one event, an ErrorResponse produces the error
    /// followed by a `.skipped` event for every step discarded up to the Sync.
    public mutating func receive(_ message: BackendMessage, into events: inout [Event]) throws(ProtocolError) {
        if case .errorResponse(let f) = message {
            try receiveError(f, into: &events)
        } else {
            events.append(try receiveOther(message))
        }
    }

    /// The one event of a message that is not an ErrorResponse (the common case: a caller
    /// handles it without an events array); nil, with nothing changed, for an ErrorResponse,
    /// which may end several steps: pass that one to `receive(_:into:)`.
    public mutating func receive(_ message: BackendMessage) throws(ProtocolError) -> Event? {
        if case .errorResponse = message { return nil }
        return try receiveOther(message)
    }

    private mutating func receiveOther(_ message: BackendMessage) throws(ProtocolError) -> Event {
        switch message {
        case .noticeResponse(let f): return .notice(f)
        case .parameterStatus(let p): return .parameterStatus(p)
        case .notificationResponse(let n): return .notification(n)
        default: break
        }
        guard let pending = current else {
            throw .unexpectedMessage(message: message.name, state: "no extended-query step is pending")
        }
        let tag = pending.tag
        switch (pending.step, message) {
        case (.parse, .parseComplete):
            pop(); return .parseComplete(tag: tag)
        case (.describeStatement, .parameterDescription(let oids)) where !awaitingRowDescription:
            awaitingRowDescription = true
            return .parameterDescription(oids, tag: tag)
        case (.describeStatement, .rowDescription(let d)) where awaitingRowDescription:
            awaitingRowDescription = false
            pop(); return .rowDescription(d, tag: tag)
        case (.describeStatement, .noData) where awaitingRowDescription:
            awaitingRowDescription = false
            pop(); return .rowDescription(nil, tag: tag)
        case (.describePortal, .rowDescription(let d)):
            pop(); return .rowDescription(d, tag: tag)
        case (.describePortal, .noData):
            pop(); return .rowDescription(nil, tag: tag)
        case (.bind, .bindComplete):
            pop(); return .bindComplete(tag: tag)
        case (.execute, .dataRow(let row)) where copy == .none:
            return .row(row, tag: tag)
        case (.execute, .commandComplete(let c)) where copy != .out:
            copy = .none
            pop(); return .commandComplete(c, tag: tag)
        case (.execute, .emptyQueryResponse) where copy == .none:
            pop(); return .emptyQuery(tag: tag)
        case (.execute, .portalSuspended) where copy == .none:
            pop(); return .portalSuspended(tag: tag)
        case (.execute, .copyInResponse(let c)) where copy == .none:
            copy = .in
            return .copyIn(c, tag: tag)
        case (.execute, .copyOutResponse(let c)) where copy == .none:
            copy = .out
            return .copyOut(c, tag: tag)
        case (.execute, .copyData(let d)) where copy == .out:
            return .copyData(d, tag: tag)
        case (.execute, .copyDone) where copy == .out:
            copy = .outDone
            return .copyDone(tag: tag)
        case (.close, .closeComplete):
            pop(); return .closeComplete(tag: tag)
        case (.sync, .readyForQuery(let status)):
            pop(); return .ready(status, tag: tag)
        default:
            throw .unexpectedMessage(message: message.name, state: "awaiting the response to \(pending.step)")
        }
    }

    /// An ErrorResponse: at Sync, the Sync's own error; else the error of the head step, then a
    /// `.skipped` event for every step discarded up to the Sync.
    private mutating func receiveError(_ f: DiagnosticFields, into events: inout [Event]) throws(ProtocolError) {
        guard let pending = current else {
            throw .unexpectedMessage(message: BackendMessage.errorResponse(f).name, state: "no extended-query step is pending")
        }
        let tag = pending.tag
        if pending.step == .sync {
            // An error reported at Sync itself (e.g. a failed COMMIT of an implicit transaction).
            events.append(.error(f, tag: tag))
            return
        }
        awaitingRowDescription = false
        copy = .none
        pop()
        events.append(.error(f, tag: tag))
        while let next = current, next.step != .sync {
            pop()
            events.append(.skipped(next.step, tag: next.tag))
        }
    }
}
