import PostgresWire
import SQLKit

/// A result row for SQLKit: `decode(column:as:)` goes through PostgresWire's codecs (see
/// `PostgresWireDataTranslation`); NULL, missing columns and type mismatches are `DecodingError`s
/// naming the column.
public struct PostgresWireRow: SQLRow, Sendable, CustomStringConvertible {
    public let row: Row
    let context: PostgresDecodingContext
    let json: PostgresWireJSONCoders

    init(row: Row, context: PostgresDecodingContext, json: PostgresWireJSONCoders) {
        self.row = row
        self.context = context
        self.json = json
    }

    public var allColumns: [String] { row.columns.names }

    public func contains(column: String) -> Bool { row.columns.index(of: column) != nil }

    public func decodeNil(column: String) throws -> Bool {
        guard let index = row.columns.index(of: column) else { return true }
        return row.isNull(at: index)
    }

    public func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        guard let index = row.columns.index(of: column), index < row.count else {
            throw DecodingError.keyNotFound(SQLColumnKey(column), .init(codingPath: [], debugDescription: "the row has no column \"\(column)\" (columns: \(allColumns.joined(separator: ", ")))"))
        }
        let cell = Cell(bytes: row.bytes(at: index), type: row.dataType(at: index), format: row.format(at: index), column: column, context: context)
        return try PostgresWireDataTranslation.decode(D.self, from: cell, json: json, codingPath: [SQLColumnKey(column)])
    }

    public var description: String {
        "[" + allColumns.enumerated().map { i, name in "\(name): \(row[i] ?? "NULL")" }.joined(separator: ", ") + "]"
    }
}

struct SQLColumnKey: CodingKey {
    let stringValue: String
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
    var intValue: Int? { nil }
}
