/// One simple-protocol Query, from sending it to its ReadyForQuery.
///
/// A query string may hold several statements: each yields its own RowDescription (if it returns
/// rows), DataRows and CommandComplete (or EmptyQueryResponse). An ErrorResponse ends the string's
/// execution but the cycle still ends with ReadyForQuery, after which the session is usable.
public struct SimpleQueryStateMachine: Sendable {
    public enum Event: Sendable, Equatable {
        case rowDescription(RowDescription)
        case row(DataRow)
        case commandComplete(CommandComplete)
        case emptyQuery
        case error(DiagnosticFields)
        case notice(DiagnosticFields)
        case parameterStatus(ParameterStatus)
        case notification(NotificationResponse)
        /// The server wants COPY data from the client (CopyInResponse).
        case copyIn(CopyResponse)
        case copyOut(CopyResponse)
        /// CopyBothResponse (streaming replication); the driver ends it with CopyDone.
        case copyBoth(CopyResponse)
        case copyData(ArraySlice<UInt8>)
        case copyDone
        /// The cycle is over.
        case ready(TransactionStatus)
    }

    enum State: Sendable {
        case waiting           // between statements
        case rows(Int)         // after RowDescription with n fields
        case copyIn
        case copyOut
        case copyBoth
        case done
    }

    private var state: State = .waiting

    public init() {}

    public var isDone: Bool { if case .done = state { return true } else { return false } }

    public mutating func receive(_ message: BackendMessage) throws(ProtocolError) -> Event {
        switch (state, message) {
        case (_, .noticeResponse(let f)): return .notice(f)
        case (_, .parameterStatus(let p)): return .parameterStatus(p)
        case (_, .notificationResponse(let n)): return .notification(n)
        case (.waiting, .rowDescription(let d)):
            state = .rows(d.fields.count)
            return .rowDescription(d)
        case (.rows(let count), .dataRow(let row)):
            guard row.columnCount == count else {
                throw .malformed(message: "DataRow", reason: "\(row.columnCount) columns where RowDescription announced \(count)")
            }
            return .row(row)
        case (.waiting, .commandComplete(let c)), (.rows, .commandComplete(let c)):
            state = .waiting
            return .commandComplete(c)
        case (.waiting, .emptyQueryResponse):
            return .emptyQuery
        case (.waiting, .copyInResponse(let c)):
            state = .copyIn
            return .copyIn(c)
        case (.waiting, .copyOutResponse(let c)):
            state = .copyOut
            return .copyOut(c)
        case (.waiting, .copyBothResponse(let c)):
            state = .copyBoth
            return .copyBoth(c)
        case (.copyOut, .copyData(let data)), (.copyBoth, .copyData(let data)):
            return .copyData(data)
        case (.copyOut, .copyDone), (.copyBoth, .copyDone):
            state = .waiting
            return .copyDone
        case (.copyBoth, .commandComplete(let c)):
            state = .waiting
            return .commandComplete(c)
        case (.copyIn, .commandComplete(let c)):
            state = .waiting
            return .commandComplete(c)
        case (_, .errorResponse(let f)) where !isDone:
            state = .waiting
            return .error(f)
        case (.waiting, .readyForQuery(let s)):
            state = .done
            return .ready(s)
        default:
            throw .unexpectedMessage(message: message.name, state: "running a simple query (\(stateName))")
        }
    }

    var stateName: String {
        switch state {
        case .waiting: return "awaiting results"
        case .rows: return "receiving rows"
        case .copyIn: return "in COPY FROM STDIN"
        case .copyOut: return "in COPY TO STDOUT"
        case .copyBoth: return "in COPY BOTH"
        case .done: return "done"
        }
    }
}
