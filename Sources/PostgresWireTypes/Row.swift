import PostgresWireProtocol

/// Column metadata shared by every row of one result.
public final class ResultColumns: Sendable {
    public let fields: [RowDescription.Field]

    public init(_ description: RowDescription) {
        fields = description.fields
    }

    public var count: Int { fields.count }
    public var names: [String] { fields.map(\.name) }
    /// Like libpq's PQfnumber, the first column of a given name wins. A linear scan: results have
    /// few columns, and most queries never look a column up by name.
    public func index(of name: String) -> Int? { fields.firstIndex { $0.name == name } }
}

/// One row of a result. Values stay as the server sent them until asked for.
public struct Row: Sendable {
    public let columns: ResultColumns
    public let data: DataRow

    public init(columns: ResultColumns, data: DataRow) {
        self.columns = columns
        self.data = data
    }

    public var count: Int { data.columnCount }

    /// The raw bytes of a column (nil for NULL).
    public func bytes(at index: Int) -> ArraySlice<UInt8>? { data[index] }

    public func isNull(at index: Int) -> Bool { data[index] == nil }

    /// The column's value as text, nil for NULL: text-format values as sent, binary ones as the
    /// server would print them (default session settings).
    public subscript(index: Int) -> String? {
        guard let bytes = data[index] else { return nil }
        let field = columns.fields[index]
        if field.formatCode == 0 { return String(decoding: bytes, as: UTF8.self) }
        return try? String.decode(from: bytes, type: PostgresDataType(field.dataTypeOID), format: .binary, context: .default)
    }

    /// The value of the first column with this name, nil for NULL or an unknown name.
    public subscript(name: String) -> String? {
        guard let i = columns.index(of: name) else { return nil }
        return self[i]
    }

    /// Every column as text (nil for NULL), as `self[i]` gives it.
    public var textValues: [String?] {
        var values: [String?] = []
        values.reserveCapacity(count)
        let fields = columns.fields
        data.forEachColumn { index, bytes in
            guard let bytes else { values.append(nil); return }
            if fields[index].formatCode == 0 {
                values.append(String(decoding: bytes, as: UTF8.self))
            } else {
                values.append(try? String.decode(from: bytes, type: PostgresDataType(fields[index].dataTypeOID), format: .binary, context: .default))
            }
        }
        return values
    }

    /// A copy that owns its bytes, so it does not keep the connection's read buffer alive.
    public func detached() -> Row {
        Row(columns: columns, data: DataRow(columnCount: data.columnCount, storage: ArraySlice(Array(data.storage))))
    }
}
