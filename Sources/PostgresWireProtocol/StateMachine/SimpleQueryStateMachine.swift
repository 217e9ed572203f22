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
            return .row(try Self.checked(row, columns: count))
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

    /// The in-place path for the messages a result is made of: a DataRow while receiving rows,
    /// CommandComplete after rows or between statements, and ReadyForQuery between statements,
    /// matched by type and read from `framer` with the checks of `BackendMessage.decode` (`inout`
    /// only so that a decoder stored in a class is not copied). nil, with nothing changed, for
    /// any other message or state: decode it and pass it to `receive(_:)`.
    @inline(__always)
    public mutating func receiveInPlace(_ header: FrameDecoder.FrameHeader, in framer: inout FrameDecoder) throws(ProtocolError) -> Event? {
        var tags = CommandTagMemo()
        return try receiveInPlace(header, in: &framer, tags: &tags)
    }

    /// The same, with command tags read through `tags` (a tag repeated is not read again).
    @inline(__always)
    public mutating func receiveInPlace(_ header: FrameDecoder.FrameHeader, in framer: inout FrameDecoder,
                                        tags: inout CommandTagMemo) throws(ProtocolError) -> Event? {
        typealias T = BackendMessageType
        switch (state, header.type) {
        case (.rows(let count), T.dataRow):
            let row = try DataRow(decoding: framer.body(of: header))
            return .row(try Self.checked(row, columns: count))
        case (.rows, T.commandComplete), (.waiting, T.commandComplete):
            let command = try tags.commandComplete(header, in: &framer)
            state = .waiting
            return .commandComplete(command)
        case (.waiting, T.readyForQuery):
            state = .done
            return .ready(try TransactionStatus(readyForQuery: header, in: &framer))
        default:
            return nil
        }
    }

    /// A DataRow of the result being received must have the columns RowDescription announced.
    @inline(__always)
    private static func checked(_ row: DataRow, columns count: Int) throws(ProtocolError) -> DataRow {
        guard row.columnCount == count else {
            throw .malformed(message: "DataRow", reason: "\(row.columnCount) columns where RowDescription announced \(count)")
        }
        return row
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
