import Foundation
import PostgresWireProtocol

extension Row {
    /// The column's PostgreSQL type.
    public func dataType(at index: Int) -> PostgresDataType { PostgresDataType(columns.fields[index].dataTypeOID) }

    /// The column's wire format.
    public func format(at index: Int) -> PostgresFormat { columns.fields[index].formatCode == 1 ? .binary : .text }

    /// Decodes column `index` as `T`. NULL becomes nil for optional `T` and `.unexpectedNull`
    /// otherwise; every error is a `PostgresError.coding` naming the column. Pass `PostgresDecodingContext(parameters:
    /// connection.parameters)` so text-format dates and intervals follow the session's styles.
    public func decode<T: PostgresDecodable>(_: T.Type = T.self, at index: Int,
                                             context: PostgresDecodingContext = .default) throws(PostgresError) -> T {
        guard index >= 0, index < columns.count, index < count else {
            throw .coding(PostgresCodingError(.missingColumn, type: .unspecified, swiftType: T.self, column: "#\(index)"))
        }
        // The field's type and format are read in place: copying the whole field (its name
        // included) cost a retain and a release per column decoded.
        let type = PostgresDataType(columns.fields[index].dataTypeOID)
        let format: PostgresFormat = columns.fields[index].formatCode == 1 ? .binary : .text
        do {
            if let bytes = bytes(at: index) {
                return try T.decode(from: bytes, type: type, format: format, context: context)
            }
            return try T.decodeNull(type: type, context: context)
        } catch {
            var e = error
            e.column = columns.fields[index].name
            throw .coding(e)
        }
    }

    /// Decodes the first column named `name` as `T`.
    public func decode<T: PostgresDecodable>(_: T.Type = T.self, named name: String,
                                             context: PostgresDecodingContext = .default) throws(PostgresError) -> T {
        guard let index = columns.index(of: name) else {
            throw .coding(PostgresCodingError(.missingColumn, type: .unspecified, swiftType: T.self, column: name))
        }
        return try decode(T.self, at: index, context: context)
    }

    /// How struct property names map to column names.
    public enum KeyStrategy: Sendable {
        /// The property name is the column name.
        case useDefaultKeys
        /// `createdAt` reads column `created_at`.
        case convertFromSnakeCase
    }

    /// Decodes the whole row into a Decodable type, each property from the column of the same
    /// name: PostgresDecodable properties through their codecs, other Codable properties from
    /// json/jsonb columns, single-value types (RawRepresentable enums…) through their raw value.
    /// A type that decodes a single value reads a one-column row.
    public func decode<T: Decodable>(_: T.Type, keyStrategy: KeyStrategy = .useDefaultKeys,
                                     context: PostgresDecodingContext = .default) throws -> T {
        do {
            return try T(from: RowDecoder(row: self, context: context, keyStrategy: keyStrategy))
        } catch let error as PostgresCodingError {
            throw PostgresError.coding(error)
        }
    }
}

// MARK: Decoder

private struct RowDecoder: Decoder {
    let row: Row
    let context: PostgresDecodingContext
    let keyStrategy: Row.KeyStrategy
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(RowKeyedContainer<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "a row decodes as a keyed container (a struct)"))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        guard row.count == 1 else {
            throw DecodingError.typeMismatch(Any.self, .init(codingPath: codingPath,
                                                             debugDescription: "a single value needs a one-column row, this one has \(row.count)"))
        }
        return ColumnDecoder(row: row, index: 0, context: context, codingPath: codingPath)
    }

    func columnIndex(for key: some CodingKey) -> Int? {
        switch keyStrategy {
        case .useDefaultKeys: return row.columns.index(of: key.stringValue)
        case .convertFromSnakeCase:
            if let i = row.columns.index(of: key.stringValue) { return i }
            return row.columns.names.firstIndex { Self.camelCase($0) == key.stringValue }
        }
    }

    static func camelCase(_ snake: String) -> String {
        let parts = snake.split(separator: "_", omittingEmptySubsequences: true)
        guard let first = parts.first else { return snake }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}

private struct RowKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: RowDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        decoder.row.columns.names.compactMap {
            Key(stringValue: $0) ?? (decoder.keyStrategy == .convertFromSnakeCase ? Key(stringValue: RowDecoder.camelCase($0)) : nil)
        }
    }

    func contains(_ key: Key) -> Bool { decoder.columnIndex(for: key) != nil }

    func index(_ key: Key, _ swiftType: Any.Type) throws -> Int {
        guard let i = decoder.columnIndex(for: key) else {
            throw PostgresCodingError(.missingColumn, type: .unspecified, swiftType: swiftType, column: key.stringValue)
        }
        return i
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        decoder.row.isNull(at: try index(key, Any.self))
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try ColumnDecoder(row: decoder.row, index: try index(key, T.self), context: decoder.context,
                          codingPath: codingPath + [key]).decode(T.self)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        throw DecodingError.typeMismatch([String: Any].self, .init(codingPath: codingPath + [key], debugDescription: "nested containers are read from json/jsonb columns via Decodable properties"))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath + [key], debugDescription: "nested containers are read from json/jsonb columns via Decodable properties"))
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { decoder }
}

/// Decodes one column: PostgresDecodable types directly, other Decodable types from JSON or
/// through a single-value container.
private struct ColumnDecoder: Decoder, SingleValueDecodingContainer {
    let row: Row
    let index: Int
    let context: PostgresDecodingContext
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    private func decodePostgres<P: PostgresDecodable>(_: P.Type) throws -> P {
        try row.decode(P.self, at: index, context: context)
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if let p = T.self as? any PostgresDecodable.Type {
            return try decodePostgres(p) as! T
        }
        let dataType = row.dataType(at: index)
        if dataType == .json || dataType == .jsonb {
            guard let bytes = row.bytes(at: index) else {
                throw PostgresCodingError(.unexpectedNull, type: dataType, swiftType: T.self, column: row.columns.fields[index].name)
            }
            do {
                return try PostgresJSONCodec.decode(T.self, from: bytes, type: dataType, format: row.format(at: index))
            } catch {
                var e = error
                e.column = row.columns.fields[index].name
                throw e
            }
        }
        return try T(from: self)
    }

    func decodeNil() -> Bool { row.isNull(at: index) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        throw PostgresCodingError(.typeMismatch, type: row.dataType(at: index), swiftType: Key.self, column: row.columns.fields[index].name)
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw PostgresCodingError(.typeMismatch, type: row.dataType(at: index), swiftType: [Any].self, column: row.columns.fields[index].name)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }
}
