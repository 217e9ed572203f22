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
    @inlinable @inline(__always)
    public func decode<T: PostgresDecodable>(_: T.Type = T.self, at index: Int,
                                             context: PostgresDecodingContext = .default) throws(PostgresError) -> T {
        // Inlinable so that, specialised for `T` in the caller, the built-in scalars go straight
        // to a reader of the row's bytes in place: no slice, no context, no protocol witness, no
        // generic value handling. Whatever those readers do not take (other types and formats,
        // NULL, malformed values, bad indexes) goes the general way, with the same value or error.
        // Each reader gives nil when it does not take the column, .some(nil) for NULL (which
        // only the optional types take here).
        if T.self == Int.self, let v = _inPlaceInt(at: index), let v { return unsafeBitCast(v, to: T.self) }
        if T.self == String.self, let v = _inPlaceString(at: index), let v { return unsafeBitCast(v, to: T.self) }
        if T.self == Double.self, let v = _inPlaceDouble(at: index), let v { return unsafeBitCast(v, to: T.self) }
        if T.self == Date.self, let v = _inPlaceDate(at: index), let v { return unsafeBitCast(v, to: T.self) }
        if T.self == Int64.self, let v = _inPlaceInt(at: index), let v { return unsafeBitCast(Int64(v), to: T.self) }
        if T.self == Int32.self, let v = _inPlaceInt(at: index), let v, let v32 = Int32(exactly: v) {
            return unsafeBitCast(v32, to: T.self)
        }
        if T.self == Bool.self, let v = _inPlaceBool(at: index), let v { return unsafeBitCast(v, to: T.self) }
        if T.self == UUID.self, let v = _inPlaceUUID(at: index), let v { return unsafeBitCast(v, to: T.self) }
        if T.self == Int?.self, let v = _inPlaceInt(at: index) { return unsafeBitCast(v, to: T.self) }
        if T.self == String?.self, let v = _inPlaceString(at: index) { return unsafeBitCast(v, to: T.self) }
        if T.self == Double?.self, let v = _inPlaceDouble(at: index) { return unsafeBitCast(v, to: T.self) }
        if T.self == Date?.self, let v = _inPlaceDate(at: index) { return unsafeBitCast(v, to: T.self) }
        if T.self == Int64?.self, let v = _inPlaceInt(at: index) { return unsafeBitCast(v.map(Int64.init), to: T.self) }
        if T.self == Bool?.self, let v = _inPlaceBool(at: index) { return unsafeBitCast(v, to: T.self) }
        if T.self == UUID?.self, let v = _inPlaceUUID(at: index) { return unsafeBitCast(v, to: T.self) }
        return try _decode(T.self, at: index, context: context)
    }

    /// The general path of `decode(_:at:context:)`: every type, through its codec.
    @usableFromInline
    func _decode<T: PostgresDecodable>(_: T.Type, at index: Int,
                                       context: PostgresDecodingContext) throws(PostgresError) -> T {
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

    // MARK: Built-in scalars read in place

    /// Calls `body` with column `index`'s type OID, whether it is binary, and its bytes read in
    /// place (nil for NULL); returns nil without calling it for an index out of range or a
    /// column area too short for the column (the general path reports those). One walk over
    /// the column lengths, no slice and no reference counting.
    @inline(__always)
    private func withColumn<R>(_ index: Int, _ body: (_ oid: UInt32, _ binary: Bool, _ bytes: UnsafeRawBufferPointer?) -> R?) -> R? {
        let fields = columns.fields
        guard index >= 0, index < fields.count, index < data.columnCount else { return nil }
        let oid = fields[index].dataTypeOID
        let binary = fields[index].formatCode == 1
        return data.storage.withUnsafeBytes { buffer -> R? in
            var offset = 0
            var column = 0
            let end = buffer.count
            while true {
                guard end - offset >= 4 else { return nil }
                let length = Int(Int32(bitPattern: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self).bigEndian))
                offset += 4
                if column == index {
                    if length < 0 { return body(oid, binary, nil) }
                    guard length <= end - offset else { return nil }
                    return body(oid, binary, UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + length)]))
                }
                if length > 0 { offset += length }
                column += 1
            }
        }
    }

    /// Binary int2/int4/int8 (what `PostgresIntegerCodec` reads into an Int).
    @usableFromInline
    func _inPlaceInt(at index: Int) -> Int?? {
        withColumn(index) { oid, binary, bytes -> Int?? in
            guard let bytes else { return .some(nil) }
            guard binary else { return nil }
            switch (oid, bytes.count) {
            case (PostgresDataType.int4.rawValue, 4): return Int(Int32(bitPattern: bytes.loadUnaligned(as: UInt32.self).bigEndian))
            case (PostgresDataType.int8.rawValue, 8): return Int(Int64(bitPattern: bytes.loadUnaligned(as: UInt64.self).bigEndian))
            case (PostgresDataType.int2.rawValue, 2): return Int(Int16(bitPattern: bytes.loadUnaligned(as: UInt16.self).bigEndian))
            default: return nil
            }
        }
    }

    /// Binary float8 and float4 (what `Double.decode` reads).
    @usableFromInline
    func _inPlaceDouble(at index: Int) -> Double?? {
        withColumn(index) { oid, binary, bytes -> Double?? in
            guard let bytes else { return .some(nil) }
            guard binary else { return nil }
            switch (oid, bytes.count) {
            case (PostgresDataType.float8.rawValue, 8): return Double(bitPattern: bytes.loadUnaligned(as: UInt64.self).bigEndian)
            case (PostgresDataType.float4.rawValue, 4): return Double(Float(bitPattern: bytes.loadUnaligned(as: UInt32.self).bigEndian))
            default: return nil
            }
        }
    }

    /// Binary timestamptz and timestamp within Date's range (what `Date.decode` reads).
    @usableFromInline
    func _inPlaceDate(at index: Int) -> Date?? {
        withColumn(index) { oid, binary, bytes -> Date?? in
            guard let bytes else { return .some(nil) }
            guard binary, oid == PostgresDataType.timestamptz.rawValue || oid == PostgresDataType.timestamp.rawValue,
                  bytes.count == 8 else { return nil }
            let us = Int64(bitPattern: bytes.loadUnaligned(as: UInt64.self).bigEndian)
            guard us != .max, us != .min else { return nil }
            return PostgresTimestampCodec.date(microsecondsSince2000: us)
        }
    }

    /// Binary bool (what `Bool.decode` reads).
    @usableFromInline
    func _inPlaceBool(at index: Int) -> Bool?? {
        withColumn(index) { oid, binary, bytes -> Bool?? in
            guard let bytes else { return .some(nil) }
            guard binary, oid == PostgresDataType.bool.rawValue, bytes.count == 1, bytes[0] <= 1 else { return nil }
            return bytes[0] == 1
        }
    }

    /// Binary uuid (what `UUID.decode` reads).
    @usableFromInline
    func _inPlaceUUID(at index: Int) -> UUID?? {
        withColumn(index) { oid, binary, bytes -> UUID?? in
            guard let bytes else { return .some(nil) }
            guard binary, oid == PostgresDataType.uuid.rawValue, bytes.count == 16 else { return nil }
            return UUID(uuid: bytes.loadUnaligned(as: uuid_t.self))
        }
    }

    /// Text-format values and the built-in textual types in binary, in ASCII (what
    /// `String.decode` reads them as; registered textual types and other text take the general
    /// path and its strict UTF-8 validation).
    @usableFromInline
    func _inPlaceString(at index: Int) -> String?? {
        withColumn(index) { oid, binary, bytes -> String?? in
            guard let bytes else { return .some(nil) }
            if binary {
                switch oid {
                case PostgresDataType.text.rawValue, PostgresDataType.varchar.rawValue, PostgresDataType.bpchar.rawValue,
                     PostgresDataType.name.rawValue, PostgresDataType.unknown.rawValue, PostgresDataType.json.rawValue,
                     PostgresDataType.refcursor.rawValue, PostgresDataType.xml.rawValue:
                    break
                default:
                    return nil
                }
            }
            guard let base = bytes.baseAddress else { return "" }
            // ASCII, checked eight bytes at a time, is valid UTF-8 as it is.
            let count = bytes.count
            var high: UInt64 = 0
            var i = 0
            while count - i >= 8 {
                high |= base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < count {
                high |= UInt64(bytes[i])
                i += 1
            }
            guard high & 0x8080_8080_8080_8080 == 0 else { return nil }
            return String(decoding: bytes, as: UTF8.self)
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
