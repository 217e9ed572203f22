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

    /// What `acceptInPlace` matched a message to.
    public enum InPlace: Sendable, Equatable {
        /// A DataRow of the head Execute (the step stays).
        case row(tag: Int)
        /// The head Execute's CommandComplete.
        case commandComplete(tag: Int)
        /// The head Execute's EmptyQueryResponse.
        case emptyQuery(tag: Int)
        /// The head Execute's PortalSuspended.
        case portalSuspended(tag: Int)
        /// ParseComplete, BindComplete or CloseComplete of the head Parse, Bind or Close.
        case stepComplete(tag: Int)
        /// The head Sync's ReadyForQuery.
        case ready(tag: Int)
    }

    /// The in-place path for the messages a result is made of, matched by their type alone
    /// (no `BackendMessage` built): DataRow, CommandComplete, EmptyQueryResponse and
    /// PortalSuspended of the head Execute outside COPY, ParseComplete/BindComplete/CloseComplete
    /// of the head Parse/Bind/Close, and the head Sync's ReadyForQuery. The step is popped as
    /// `receive(_:)` pops it; the caller then decodes the body (`DataRow(decoding:)`,
    /// `CommandComplete(decoding:)`, `TransactionStatus(decoding:)`, `BackendMessage.checkEmptyBody`).
    /// nil, with nothing changed, for any other message or state: decode the message and pass
    /// it to `receive(_:)`, which handles it or throws as for any message.
    @inline(__always)
    public mutating func acceptInPlace(_ type: UInt8) -> InPlace? {
        guard head < queue.count else { return nil }
        let pending = queue[head]
        typealias T = BackendMessageType
        switch pending.step {
        case .execute:
            guard copy == .none else {
                // After CopyDone (or in copy-in), CommandComplete ends the Execute.
                if type == T.commandComplete && copy != .out {
                    copy = .none
                    head += 1
                    return .commandComplete(tag: pending.tag)
                }
                return nil
            }
            switch type {
            case T.dataRow: return .row(tag: pending.tag)
            case T.commandComplete: head += 1; return .commandComplete(tag: pending.tag)
            case T.emptyQueryResponse: head += 1; return .emptyQuery(tag: pending.tag)
            case T.portalSuspended: head += 1; return .portalSuspended(tag: pending.tag)
            default: return nil
            }
        case .bind:
            guard type == T.bindComplete else { return nil }
        case .parse:
            guard type == T.parseComplete else { return nil }
        case .close:
            guard type == T.closeComplete else { return nil }
        case .sync:
            guard type == T.readyForQuery else { return nil }
            head += 1
            return .ready(tag: pending.tag)
        case .describeStatement, .describePortal:
            return nil
        }
        head += 1
        return .stepComplete(tag: pending.tag)
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

extension ExtendedQueryStateMachine.InPlace {
    /// The event `receive(_:)` gives for the message `acceptInPlace` matched, its body read in
    /// place from `framer` with the checks of `BackendMessage.decode` (`inout` only so that a
    /// decoder stored in a class is read where it is, not copied: nothing is changed).
    @inline(__always)
    public func event(_ header: FrameDecoder.FrameHeader, in framer: inout FrameDecoder) throws(ProtocolError) -> ExtendedQueryStateMachine.Event {
        var tags = CommandTagMemo()
        return try event(header, in: &framer, tags: &tags)
    }

    /// The same, with command tags read through `tags` (a tag repeated is not read again).
    @inline(__always)
    public func event(_ header: FrameDecoder.FrameHeader, in framer: inout FrameDecoder,
                      tags: inout CommandTagMemo) throws(ProtocolError) -> ExtendedQueryStateMachine.Event {
        typealias T = BackendMessageType
        switch self {
        case .row(let tag):
            return .row(try DataRow(decoding: framer.body(of: header)), tag: tag)
        case .commandComplete(let tag):
            return .commandComplete(try tags.commandComplete(header, in: &framer), tag: tag)
        case .emptyQuery(let tag):
            try BackendMessage.checkEmptyBody(count: header.bodyCount, of: .emptyQueryResponse)
            return .emptyQuery(tag: tag)
        case .portalSuspended(let tag):
            try BackendMessage.checkEmptyBody(count: header.bodyCount, of: .portalSuspended)
            return .portalSuspended(tag: tag)
        case .ready(let tag):
            return .ready(try TransactionStatus(readyForQuery: header, in: &framer), tag: tag)
        case .stepComplete(let tag):
            switch header.type {
            case T.parseComplete:
                try BackendMessage.checkEmptyBody(count: header.bodyCount, of: .parseComplete)
                return .parseComplete(tag: tag)
            case T.bindComplete:
                try BackendMessage.checkEmptyBody(count: header.bodyCount, of: .bindComplete)
                return .bindComplete(tag: tag)
            default:
                try BackendMessage.checkEmptyBody(count: header.bodyCount, of: .closeComplete)
                return .closeComplete(tag: tag)
            }
        }
    }
}
