import PostgresWireProtocol

/// Column metadata shared by every row of one result.
public final class ResultColumns: Sendable {
    /// The RowDescription's fields, as the protocol core parsed them.
    package let fields: [RowDescription.Field]

    package init(_ description: RowDescription) {
        fields = description.fields
    }

    public var count: Int { fields.count }
    public var names: [String] { fields.map(\.name) }
    /// Like libpq's PQfnumber, the first column of a given name wins. A linear scan: results have
    /// few columns, and most queries never look a column up by name.
    public func index(of name: String) -> Int? { fields.firstIndex { $0.name == name } }

    /// The name of column `index`.
    public func name(at index: Int) -> String { fields[index].name }
    /// The PostgreSQL type of column `index` (its OID is `dataType(at:).rawValue`).
    public func dataType(at index: Int) -> PostgresDataType { PostgresDataType(fields[index].dataTypeOID) }
    /// The format the server sends column `index` in.
    public func format(at index: Int) -> PostgresFormat { fields[index].formatCode == 1 ? .binary : .text }
    /// The type modifier of column `index` (`atttypmod`: a varchar's length + 4, a numeric's
    /// precision and scale…), -1 when the type has none.
    public func typeModifier(at index: Int) -> Int32 { fields[index].typeModifier }
    /// The OID of the table column `index` comes from, 0 when it is not a plain table column.
    public func tableOID(at index: Int) -> UInt32 { fields[index].tableOID }
    /// The attribute number of column `index` in that table (`pg_attribute.attnum`), 0 when it is
    /// not a plain table column.
    public func columnAttributeNumber(at index: Int) -> Int16 { fields[index].columnAttributeNumber }
}

/// One row of a result. Values stay as the server sent them until asked for.
public struct Row: Sendable {
    public let columns: ResultColumns
    /// The DataRow as received (the protocol core's value; users read it through the methods below).
    @usableFromInline package let data: DataRow

    @inlinable
    package init(columns: ResultColumns, data: DataRow) {
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

    /// Every column rendered in PostgreSQL's text form whatever its wire format (nil for NULL):
    /// text-format values as sent, binary ones as the server's output functions would print them
    /// for `settings` (DateStyle, IntervalStyle, TimeZone, extra_float_digits, bytea_output), as
    /// psql shows them. Throws for a binary value of a type `PostgresTextRenderer` cannot print
    /// (`PostgresTextRenderer.supportsBinary` says which can) or a malformed one.
    public func textValues(settings: PostgresSessionSettings,
                           registry: PostgresTypeRegistry = .shared) throws(PostgresCodingError) -> [String?] {
        var values: [String?] = []
        values.reserveCapacity(count)
        var renderError: PostgresCodingError?
        let fields = columns.fields
        data.forEachColumn { index, bytes in
            guard let bytes else { values.append(nil); return }
            let field = fields[index]
            guard field.formatCode == 1 else { values.append(String(decoding: bytes, as: UTF8.self)); return }
            do throws(PostgresCodingError) {
                values.append(try PostgresTextRenderer.render(bytes, type: PostgresDataType(field.dataTypeOID),
                                                              typeModifier: field.typeModifier,
                                                              settings: settings, registry: registry))
            } catch {
                if renderError == nil { renderError = error }
                values.append(nil)
            }
        }
        if let renderError { throw renderError }
        return values
    }

    /// Calls `body` with each column's index and raw bytes (nil for NULL), in order: one walk
    /// over the row, the cheapest way to read every column.
    public func forEachColumn(_ body: (_ index: Int, _ bytes: ArraySlice<UInt8>?) throws -> Void) rethrows {
        try data.forEachColumn(body)
    }

    /// A copy that owns its bytes, so it does not keep the connection's read buffer alive.
    public func detached() -> Row {
        Row(columns: columns, data: DataRow(columnCount: data.columnCount, storage: ArraySlice(Array(data.storage))))
    }
}
