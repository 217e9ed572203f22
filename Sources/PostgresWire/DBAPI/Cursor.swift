import Foundation
import PostgresWireProtocol

/// One column of a result, PEP 249's `description` entry.
public struct ColumnDescription: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    /// The column's type OID (PEP 249's type_code).
    public let typeOID: UInt32
    /// The type's name ("int4", "text") when the type registry knows it.
    public let typeName: String?
    /// Maximum characters for char(n)/varchar(n), digits for numeric(p, s); nil otherwise.
    public let displaySize: Int?
    /// The type's size in bytes on the server (nil for variable-length types).
    public let internalSize: Int?
    /// numeric's precision; fractional-seconds precision of time, timestamp and interval.
    public let precision: Int?
    /// numeric's scale.
    public let scale: Int?
    /// Not known from the protocol (always nil, like psycopg).
    public let nullable: Bool?
    /// The table the column comes from (0 if none) and its attribute number.
    public let tableOID: UInt32
    public let columnNumber: Int16
    public let typeModifier: Int32

    public init(_ field: RowDescription.Field, registry: PostgresTypeRegistry = .shared) {
        name = field.name
        typeOID = field.dataTypeOID
        typeName = registry.name(of: PostgresDataType(field.dataTypeOID))
        internalSize = field.dataTypeSize >= 0 ? Int(field.dataTypeSize) : nil
        tableOID = field.tableOID
        columnNumber = field.columnAttributeNumber
        typeModifier = field.typeModifier
        let mod = Int(field.typeModifier)
        switch field.dataTypeOID {
        case 1042, 1043:  // bpchar, varchar
            displaySize = mod >= 4 ? mod - 4 : nil
            precision = nil
            scale = nil
        case 1700:  // numeric
            if mod >= 4 {
                precision = ((mod - 4) >> 16) & 0xFFFF
                scale = (mod - 4) & 0xFFFF
                displaySize = precision
            } else {
                precision = nil
                scale = nil
                displaySize = nil
            }
        case 1083, 1114, 1184, 1266:  // time, timestamp, timestamptz, timetz
            precision = mod >= 0 ? mod : nil
            scale = nil
            displaySize = nil
        case 1186:  // interval
            precision = mod >= 0 && (mod & 0xFFFF) != 0xFFFF ? mod & 0xFFFF : nil
            scale = nil
            displaySize = nil
        case 1560, 1562:  // bit, varbit
            precision = nil
            scale = nil
            displaySize = mod >= 0 ? mod : nil
        default:
            precision = nil
            scale = nil
            displaySize = nil
        }
        nullable = nil
    }

    public var description: String { "\(name) \(typeName ?? String(typeOID))" }
}

/// A PEP 249 cursor: runs statements and hands their rows out.
///
/// Unnamed cursors run each statement with the extended protocol and keep its rows client-side.
/// Named cursors (`connection.cursor(name:)`) DECLARE a server-side cursor and FETCH `itersize`
/// rows at a time. A cursor is for one thread at a time (PEP 249 threadsafety level 1 for cursors).
public final class Cursor: Sequence, IteratorProtocol {
    public let connection: Connection
    /// The server-side cursor name, nil for a client-side cursor.
    public let name: String?
    public let withHold: Bool
    /// Rows `fetchMany()` returns by default.
    public var arraySize = 1
    /// Rows a named cursor fetches per round trip.
    public var itersize = 2000

    /// Rows the last statement produced or affected; -1 when unknown (no statement yet, or one
    /// without a count such as CREATE TABLE). For a named cursor: rows fetched so far.
    public private(set) var rowCount = -1
    /// PEP 249's description: the last result's columns, nil when it returned no rows.
    public private(set) var columns: [ColumnDescription]?
    /// The command tag of the last statement ("INSERT 0 3").
    public private(set) var commandTag: String?
    /// The error that ended a `for row in cursor` loop early (Sequence iteration cannot throw).
    public private(set) var iterationError: DatabaseError?

    private var rows: [Row] = []
    private var position = 0
    private var isCursorClosed = false
    private let generation: Int
    /// For a named cursor: DECLAREd on the server and not yet exhausted / closed.
    private var declared = false
    private var serverExhausted = true

    init(connection: Connection, name: String?, withHold: Bool) {
        self.connection = connection
        self.name = name
        self.withHold = withHold
        self.generation = connection.cursorGeneration
    }

    deinit {
        if declared, !isCursorClosed, !connection.isClosed, let name {
            _ = try? connection.simpleQuery("CLOSE \(Self.quote(name))")
        }
    }

    /// Whether the cursor (or its connection) is closed.
    public var isClosed: Bool { isCursorClosed || connection.isClosed || connection.cursorGeneration != generation }

    /// Index of the next row in the current client-side batch (nil without a result).
    public var rowNumber: Int? { columns == nil ? nil : position }

    // MARK: Executing

    /// Runs a statement with `$1 … $n` parameters given as Swift values (`[1, "x", nil]`).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [(any PostgresEncodable)?]) throws -> Cursor {
        try execute(PostgresQuery(unsafeSQL: sql, bindings: Self.bindings(parameters)))
    }

    /// Runs a statement built by string interpolation (every interpolated value is a parameter).
    @discardableResult
    public func execute(_ query: PostgresQuery) throws -> Cursor {
        try checkUsable()
        try closeServerCursor()
        reset()
        if let name {
            if !withHold { try connection.beginImplicitTransactionIfNeeded() }
            let declare = "DECLARE \(Self.quote(name)) NO SCROLL CURSOR \(withHold ? "WITH HOLD " : "")FOR \(query.sql)"
            let result = try asDatabaseError { try connection.query(PostgresQuery(unsafeSQL: declare, bindings: query.bindings)) }
            commandTag = result.commandTag
            declared = true
            serverExhausted = false
            rowCount = 0
            try fetchFromServer(itersize)
            return self
        }
        try connection.beginImplicitTransactionIfNeeded()
        let result = try asDatabaseError { try connection.query(query) }
        commandTag = result.commandTag
        rowCount = result.rowCount ?? -1
        if let c = result.columns {
            columns = c.fields.map { ColumnDescription($0) }
            rows = result.rows
        }
        return self
    }

    /// Runs the statement once per parameter set, pipelined (one round trip for the batch). The
    /// first failure is thrown; `rowCount` is the total of the affected rows.
    public func executeMany(_ sql: String, _ parameterSets: [[(any PostgresEncodable)?]]) throws {
        var sets: [PostgresBindings] = []
        sets.reserveCapacity(parameterSets.count)
        for p in parameterSets { sets.append(try Self.bindings(p)) }
        try checkUsable()
        try closeServerCursor()
        reset()
        guard !sets.isEmpty else { rowCount = 0; return }
        try connection.beginImplicitTransactionIfNeeded()
        let counts = try asDatabaseError { try connection.executeMany(sql, sets) }
        // The counts are the server's numbers: a sum that overflows is unknown (-1), not a trap.
        rowCount = counts.reduce(Optional(0)) { total, count in count.flatMap { total?.checkedAdding($0) } } ?? -1
    }

    // MARK: Fetching

    /// The next row, nil when there are no more.
    public func fetchOne() throws -> Row? {
        try checkFetchable()
        if position == rows.count, declared, !serverExhausted {
            try fetchFromServer(itersize)
        }
        guard position < rows.count else { return nil }
        defer { position += 1 }
        return rows[position]
    }

    /// The next `size` rows (default `arraySize`); fewer (or none) at the end.
    public func fetchMany(_ size: Int? = nil) throws -> [Row] {
        try checkFetchable()
        let n = Swift.max(0, size ?? arraySize)
        var out: [Row] = []
        out.reserveCapacity(Swift.min(n, 1024))
        while out.count < n {
            if position == rows.count {
                guard declared, !serverExhausted else { break }
                try fetchFromServer(Swift.max(n - out.count, itersize))
                if position == rows.count { break }
            }
            let take = Swift.min(n - out.count, rows.count - position)
            out.append(contentsOf: rows[position..<(position + take)])
            position += take
        }
        return out
    }

    /// Every remaining row.
    public func fetchAll() throws -> [Row] {
        try checkFetchable()
        var out = Array(rows[position...])
        position = rows.count
        if declared, !serverExhausted, let name {
            let result = try fetchStatement("FETCH ALL FROM \(Self.quote(name))")
            out.append(contentsOf: result.rows)
            rowCount += result.rows.count
            serverExhausted = true
        }
        rows = []
        position = 0
        return out
    }

    /// Sequence iteration: `for row in cursor`. An error stops the loop and is kept in `iterationError`.
    public func next() -> Row? {
        do {
            return try fetchOne()
        } catch {
            iterationError = DatabaseError.wrap(error)
            return nil
        }
    }

    // MARK: Closing

    /// Closes the cursor (a named cursor is closed on the server). Later use is an interface error.
    public func close() {
        guard !isCursorClosed else { return }
        try? closeServerCursor()
        isCursorClosed = true
        rows = []
        position = 0
    }

    // MARK: PEP 249 no-ops

    public func setInputSizes(_ sizes: [Any]) {}
    public func setOutputSize(_ size: Int, column: Int? = nil) {}

    // MARK: Internals

    private func reset() {
        rows = []
        position = 0
        columns = nil
        rowCount = -1
        commandTag = nil
        iterationError = nil
    }

    private func fetchFromServer(_ count: Int) throws(DatabaseError) {
        guard let name else { return }
        let result = try fetchStatement("FETCH FORWARD \(Swift.max(1, count)) FROM \(Self.quote(name))")
        if columns == nil, let c = result.columns { columns = c.fields.map { ColumnDescription($0) } }
        // Drop what was consumed, keep what was not.
        rows = Array(rows[position...]) + result.rows
        position = 0
        rowCount += result.rows.count
        if result.rows.count < Swift.max(1, count) { serverExhausted = true }
    }

    /// FETCH runs with the simple protocol: a prepared FETCH would keep the columns of the cursor
    /// it was first described against.
    private func fetchStatement(_ sql: String) throws(DatabaseError) -> QueryResult {
        let results = try asDatabaseError { try connection.simpleQuery(sql) }
        guard let result = results.first else { throw PostgresError.protocolViolation(.malformed(message: "FETCH", reason: "returned no result")) }
        return result
    }

    private func closeServerCursor() throws(DatabaseError) {
        guard declared, let name else { return }
        declared = false
        serverExhausted = true
        // Outside its transaction a WITHOUT HOLD cursor is already gone.
        guard !connection.isClosed, connection.cursorGeneration == generation else { return }
        let status = connection.transactionStatus
        if status == .inTransaction || (withHold && status == .idle) {
            try asDatabaseError { try connection.simpleQuery("CLOSE \(Self.quote(name))") }
        }
    }

    private func checkUsable() throws(DatabaseError) {
        if isCursorClosed { throw PostgresError.connectionClosed("cursor is closed") }
        if let error = connection.unusableError { throw error }
        if connection.cursorGeneration != generation { throw PostgresError.connectionClosed("cursor is closed (its connection was reset)") }
    }

    private func checkFetchable() throws(DatabaseError) {
        try checkUsable()
        if columns == nil && !declared {
            throw PostgresError.invalidUsage(commandTag == nil ? "no statement has been executed" : "the last statement returned no rows")
        }
    }

    static func bindings(_ parameters: [(any PostgresEncodable)?]) throws -> PostgresBindings {
        var b = PostgresBindings()
        for (i, p) in parameters.enumerated() {
            guard let p else { b.appendNull(); continue }
            do {
                try b.append(any: p)
            } catch {
                // The payload names the parameter where a row's error names the column.
                var e = error
                if e.column == nil { e.column = "$\(i + 1)" }
                throw PostgresError.coding(e)
            }
        }
        return b
    }

    static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
