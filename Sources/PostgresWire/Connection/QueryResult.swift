import PostgresWireProtocol

/// The outcome of one statement: its rows (if any) and its command tag.
public struct QueryResult: Sendable {
    public let columns: ResultColumns?
    public let rows: [Row]
    /// The CommandComplete tag ("SELECT 2", "INSERT 0 1"); empty for an empty query string.
    public let commandTag: String

    /// Rows affected or returned, parsed from the command tag.
    public var rowCount: Int? { CommandComplete(tag: commandTag).rowCount }
}

/// What a streaming simple query delivers, in the server's order.
public enum SimpleQueryEvent: Sendable {
    /// A statement that returns rows starts; its rows follow.
    case columns(ResultColumns)
    case row(Row)
    /// A statement finished.
    case commandComplete(CommandComplete)
    /// The query string (or one of its statements) was empty.
    case emptyQuery
    /// COPY TO STDOUT starts; copyData events follow.
    case copyOut(CopyResponse)
    case copyData(ArraySlice<UInt8>)
}
