import Foundation
import PostgresWire

/// The JSON coders used for values that have no PostgreSQL codec of their own (structs, dictionaries):
/// they travel as `jsonb`. A class so that the (non-Sendable) Foundation coders are shared safely:
/// each use copies them under a lock.
public final class PostgresWireJSONCoders: @unchecked Sendable {
    private let lock = NSLock()
    private let encoder: JSONEncoder
    private let decoder: JSONDecoder

    public init(encoder: JSONEncoder = JSONEncoder(), decoder: JSONDecoder = JSONDecoder()) {
        self.encoder = encoder
        self.decoder = decoder
    }

    public static let `default` = PostgresWireJSONCoders()

    func encode<T: Encodable>(_ value: T) throws -> Data {
        try lock.withLock { try encoder.encode(value) }
    }

    func decode<T: Decodable>(_: T.Type, from data: Data) throws -> T {
        try lock.withLock { try decoder.decode(T.self, from: data) }
    }
}

/// How SQLKit's `Encodable` binds become PostgresWire parameters, and how result cells become
/// `Decodable` values. PostgresWire's codecs are used wherever a type has one; other values go
/// through the `Codable` machinery: single values (RawRepresentable enums, wrappers) to the codec of
/// what they encode to, arrays to PostgreSQL arrays, anything keyed to `jsonb`.
enum PostgresWireDataTranslation {
    // MARK: Encoding

    static func bindings(for binds: [any Encodable & Sendable], json: PostgresWireJSONCoders) throws -> PostgresBindings {
        var bindings = PostgresBindings()
        for (index, bind) in binds.enumerated() {
            do {
                try append(bind, to: &bindings, json: json)
            } catch {
                throw EncodingError.invalidValue(bind, .init(codingPath: [], debugDescription: "bind $\(index + 1) (\(type(of: bind))): \(error)", underlyingError: error))
            }
        }
        return bindings
    }

    static func append(_ value: any Encodable, to bindings: inout PostgresBindings, json: PostgresWireJSONCoders) throws {
        switch try encodedValue(value, json: json) {
        case .null: bindings.appendNull()
        case .value(let v): try bindings.append(any: v)
        case .untypedText(let text): bindings.appendText(text)
        }
    }

    enum Encoded {
        case null
        case value(any PostgresEncodable)
        /// Text the server parses with the parameter's inferred type (an empty array of unknown type).
        case untypedText(String)
    }

    static func encodedValue(_ value: any Encodable, json: PostgresWireJSONCoders) throws -> Encoded {
        if let optional = value as? any OptionalProtocol {
            guard let wrapped = optional.wrappedEncodable else { return .null }
            return try encodedValue(wrapped, json: json)
        }
        if let url = value as? URL { return .value(url.absoluteString) }
        // PostgresWire reads UInt32 as oid and UInt64 as xid8; Fluent's unsigned fields are integer columns.
        if let v = value as? UInt64 { return .value(try ProbingEncoder.signed(v)) }
        if let v = value as? UInt32 { return .value(Int64(v)) }
        if let v = value as? UInt16 { return .value(Int32(v)) }
        if let v = value as? UInt { return .value(try ProbingEncoder.signed(v)) }
        if let p = value as? any PostgresEncodable { return .value(p) }
        let encoder = ProbingEncoder(json: json)
        do {
            try value.encode(to: encoder)
        } catch is ProbingEncoder.NeedsJSON {
            return .value(JSONBValue(bytes: Array(try json.encode(AnyEncodable(value)))))
        }
        switch encoder.result {
        case .none: return .value(JSONBValue(bytes: Array(try json.encode(AnyEncodable(value)))))
        case .single(let encoded)?: return encoded
        case .array(let elements)?:
            if let array = try makeArray(elements) { return array }
            return .value(JSONBValue(bytes: Array(try json.encode(AnyEncodable(value)))))
        }
    }

    /// A PostgreSQL array from encoded elements of one Swift type (NULLs allowed); nil when they are
    /// of mixed or non-scalar types (the caller falls back to jsonb).
    static func makeArray(_ elements: [Encoded]) throws -> Encoded? {
        var values: [(any PostgresEncodable)?] = []
        for e in elements {
            switch e {
            case .null: values.append(nil)
            case .value(let v): values.append(v)
            case .untypedText: return nil
            }
        }
        guard let first = values.lazy.compactMap({ $0 }).first else {
            // Empty or all NULL: no element type to name; let the server infer it from the context.
            return .untypedText("{" + Array(repeating: "NULL", count: values.count).joined(separator: ",") + "}")
        }
        func build<E: PostgresEncodable>(_: E) -> (any PostgresEncodable)? {
            var out: [E?] = []
            out.reserveCapacity(values.count)
            for v in values {
                guard let v else { out.append(nil); continue }
                guard let e = v as? E else { return nil }
                out.append(e)
            }
            return out
        }
        return build(first).map { .value($0) }
    }

    // MARK: Decoding

    static func decode<T: Decodable>(_: T.Type, from cell: Cell, json: PostgresWireJSONCoders, codingPath: [any CodingKey] = []) throws -> T {
        if let p = T.self as? any PostgresDecodable.Type {
            switch decodeOpened(p, from: cell) {
            case .success(let value):
                guard let value = value as? T else {
                    throw DecodingError.typeMismatch(T.self, .init(codingPath: codingPath, debugDescription: "column \"\(cell.column)\""))
                }
                return value
            case .failure(let error):
                if cell.isJSON, error.reason == .typeMismatch { return try decodeJSON(T.self, from: cell, json: json) }
                throw decodingError(error, T.self, cell, codingPath)
            }
        }
        if cell.isJSON, cell.bytes != nil {
            // Structs, dictionaries and arrays of them stored as json/jsonb (what encoding produced).
            do {
                return try decodeJSON(T.self, from: cell, json: json)
            } catch {
                if let decoded = try? T(from: CellDecoder(cell: cell, json: json, codingPath: codingPath)) { return decoded }
                throw error
            }
        }
        return try T(from: CellDecoder(cell: cell, json: json, codingPath: codingPath))
    }

    static func decodeJSON<T: Decodable>(_: T.Type, from cell: Cell, json: PostgresWireJSONCoders) throws -> T {
        guard var bytes = cell.bytes else {
            throw DecodingError.valueNotFound(T.self, .init(codingPath: [], debugDescription: "column \"\(cell.column)\" is NULL"))
        }
        if cell.type == .jsonb, cell.format == .binary {
            guard bytes.first == 1 else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "column \"\(cell.column)\": unsupported jsonb version"))
            }
            bytes = bytes.dropFirst()
        }
        return try json.decode(T.self, from: Data(bytes))
    }

    static func decodeOpened<P: PostgresDecodable>(_: P.Type, from cell: Cell) -> Result<Any, PostgresCodingError> {
        do {
            return .success(try decodeCodec(P.self, from: cell))
        } catch {
            return .failure(error)
        }
    }

    /// A PostgresWire codec, with the conversions Fluent relies on that the codecs do not make by
    /// themselves (numeric into Double, text into Decimal).
    static func decodeCodec<P: PostgresDecodable>(_: P.Type, from cell: Cell) throws(PostgresCodingError) -> P {
        let context = cell.context
        guard let bytes = cell.bytes else { return try P.decodeNull(type: cell.type, context: context) }
        if cell.type == .numeric, P.self == Double.self || P.self == Double?.self || P.self == Float.self || P.self == Float?.self {
            let numeric = try PostgresNumeric.decode(from: bytes, type: cell.type, format: cell.format, context: context)
            guard let d = Double(numeric.description) else {
                throw PostgresCodingError(.invalidData("\(numeric) is not a number"), type: cell.type, swiftType: P.self)
            }
            if let r = d as? P { return r }
            if let r = Float(d) as? P { return r }
            if let r = Optional(d) as? P { return r }
            if let r = Optional(Float(d)) as? P { return r }
        }
        if P.self == Decimal.self || P.self == Decimal?.self, [.text, .varchar, .bpchar, .unknown].contains(cell.type) {
            let text = try String.decode(from: bytes, type: cell.type, format: cell.format, context: context)
            guard let d = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
                throw PostgresCodingError(.invalidData("\"\(text)\" is not a number"), type: cell.type, swiftType: P.self)
            }
            if let r = d as? P { return r }
            if let r = Optional(d) as? P { return r }
        }
        return try P.decode(from: bytes, type: cell.type, format: cell.format, context: context)
    }

    static func decodingError<T>(_ error: PostgresCodingError, _: T.Type, _ cell: Cell, _ codingPath: [any CodingKey]) -> DecodingError {
        var error = error
        if error.column == nil { error.column = cell.column }
        let context = DecodingError.Context(codingPath: codingPath, debugDescription: error.description, underlyingError: error)
        switch error.reason {
        case .unexpectedNull: return .valueNotFound(T.self, context)
        case .typeMismatch: return .typeMismatch(T.self, context)
        default: return .dataCorrupted(context)
        }
    }
}

/// One value of a result: a column of a row, or an element of an array column.
struct Cell: Sendable {
    var bytes: ArraySlice<UInt8>?
    var type: PostgresDataType
    var format: PostgresFormat
    var column: String
    var context: PostgresDecodingContext

    var isJSON: Bool { type == .json || type == .jsonb }
}

/// An array element kept as raw bytes, decoded later through `Decodable`.
private struct RawElement: PostgresDecodable {
    let bytes: ArraySlice<UInt8>?
    let type: PostgresDataType
    let format: PostgresFormat

    static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                       context: PostgresDecodingContext) throws(PostgresCodingError) -> RawElement {
        RawElement(bytes: bytes, type: type, format: format)
    }

    static func decodeNull(type: PostgresDataType, context: PostgresDecodingContext) throws(PostgresCodingError) -> RawElement {
        RawElement(bytes: nil, type: type, format: .binary)
    }
}

/// Decodes one cell through `Decodable`: single values recurse into the codecs (RawRepresentable
/// enums, wrappers), unkeyed containers read array columns.
private struct CellDecoder: Decoder, SingleValueDecodingContainer {
    let cell: Cell
    let json: PostgresWireJSONCoders
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        throw DecodingError.typeMismatch([String: Any].self, .init(codingPath: codingPath,
            debugDescription: "column \"\(cell.column)\" of type \(cell.type) cannot hold a keyed value (store it as json/jsonb)"))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard let bytes = cell.bytes else {
            throw DecodingError.valueNotFound([Any].self, .init(codingPath: codingPath, debugDescription: "column \"\(cell.column)\" is NULL"))
        }
        let array: PostgresArray<RawElement>
        do {
            array = try PostgresArray<RawElement>.decode(from: bytes, type: cell.type, format: cell.format, context: cell.context)
        } catch {
            throw PostgresWireDataTranslation.decodingError(error, [Any].self, cell, codingPath)
        }
        guard array.dimensions.count <= 1 else {
            throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "column \"\(cell.column)\" is a multi-dimensional array"))
        }
        let cells = array.elements.map {
            Cell(bytes: $0.bytes, type: $0.type, format: $0.format, column: cell.column, context: cell.context)
        }
        return ArrayContainer(cells: cells, json: json, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { cell.bytes == nil }

    func decode<T: Decodable>(_: T.Type) throws -> T {
        try PostgresWireDataTranslation.decode(T.self, from: cell, json: json, codingPath: codingPath)
    }

    private struct ArrayContainer: UnkeyedDecodingContainer {
        let cells: [Cell]
        let json: PostgresWireJSONCoders
        var codingPath: [any CodingKey]
        var currentIndex = 0

        init(cells: [Cell], json: PostgresWireJSONCoders, codingPath: [any CodingKey]) {
            self.cells = cells
            self.json = json
            self.codingPath = codingPath
        }

        var count: Int? { cells.count }
        var isAtEnd: Bool { currentIndex >= cells.count }

        private func current() throws -> Cell {
            guard currentIndex < cells.count else {
                throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "the array has no more elements"))
            }
            return cells[currentIndex]
        }

        mutating func decodeNil() throws -> Bool {
            guard try current().bytes == nil else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode<T: Decodable>(_: T.Type) throws -> T {
            let cell = try current()
            let value = try PostgresWireDataTranslation.decode(T.self, from: cell, json: json, codingPath: codingPath + [IndexKey(index: currentIndex)])
            currentIndex += 1
            return value
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            let cell = try current()
            currentIndex += 1
            return try CellDecoder(cell: cell, json: json, codingPath: codingPath).container(keyedBy: NestedKey.self)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let cell = try current()
            currentIndex += 1
            return try CellDecoder(cell: cell, json: json, codingPath: codingPath).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder {
            let cell = try current()
            currentIndex += 1
            return CellDecoder(cell: cell, json: json, codingPath: codingPath)
        }
    }
}

struct IndexKey: CodingKey {
    let index: Int
    init(index: Int) { self.index = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.index = intValue }
    var stringValue: String { "Index \(index)" }
    var intValue: Int? { index }
}

// MARK: Encoding helpers

protocol OptionalProtocol {
    var wrappedEncodable: (any Encodable)? { get }
}

extension Optional: OptionalProtocol where Wrapped: Encodable {
    var wrappedEncodable: (any Encodable)? { self.map { $0 as any Encodable } }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

/// jsonb in binary format: a version byte (1) and the JSON text.
struct JSONBValue: PostgresEncodable {
    let bytes: [UInt8]
    static var postgresDataType: PostgresDataType { .jsonb }
    static var postgresFormat: PostgresFormat { .binary }
    func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.append(1)
        buffer.append(contentsOf: bytes)
    }
}

/// Finds out what shape an `Encodable` value has: a single value (encoded through the codec of
/// what it encodes to), an array of such values, or something keyed (`NeedsJSON`: the caller
/// encodes the whole value as jsonb).
fileprivate final class ProbingEncoder: Encoder, SingleValueEncodingContainer {
    struct NeedsJSON: Error {}

    enum Result {
        case single(PostgresWireDataTranslation.Encoded)
        case array([PostgresWireDataTranslation.Encoded])
    }

    let json: PostgresWireJSONCoders
    var result: Result?
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(json: PostgresWireJSONCoders) { self.json = json }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(FailingKeyedContainer<Key>())
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if result == nil { result = .array([]) }
        return ArrayContainer(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    private func store(_ encoded: PostgresWireDataTranslation.Encoded) throws {
        guard result == nil else { throw NeedsJSON() }
        result = .single(encoded)
    }

    func encodeNil() throws { try store(.null) }
    func encode(_ value: Bool) throws { try store(.value(value)) }
    func encode(_ value: String) throws { try store(.value(value)) }
    func encode(_ value: Double) throws { try store(.value(value)) }
    func encode(_ value: Float) throws { try store(.value(value)) }
    func encode(_ value: Int) throws { try store(.value(value)) }
    func encode(_ value: Int8) throws { try store(.value(value)) }
    func encode(_ value: Int16) throws { try store(.value(value)) }
    func encode(_ value: Int32) throws { try store(.value(value)) }
    func encode(_ value: Int64) throws { try store(.value(value)) }
    func encode(_ value: UInt) throws { try store(.value(try Self.signed(value))) }
    func encode(_ value: UInt8) throws { try store(.value(value)) }
    func encode(_ value: UInt16) throws { try store(.value(Int32(value))) }
    func encode(_ value: UInt32) throws { try store(.value(Int64(value))) }
    func encode(_ value: UInt64) throws { try store(.value(try Self.signed(value))) }
    func encode<T: Encodable>(_ value: T) throws {
        try store(try PostgresWireDataTranslation.encodedValue(value, json: json))
    }

    fileprivate static func signed<U: BinaryInteger>(_ value: U) throws -> Int64 {
        guard let v = Int64(exactly: value) else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "\(value) does not fit in bigint"))
        }
        return v
    }

    private struct ArrayContainer: UnkeyedEncodingContainer {
        let encoder: ProbingEncoder
        var codingPath: [any CodingKey] { [] }
        var count: Int {
            if case .array(let a)? = encoder.result { return a.count }
            return 0
        }

        private func append(_ e: PostgresWireDataTranslation.Encoded) throws {
            guard case .array(var a)? = encoder.result else { throw NeedsJSON() }
            a.append(e)
            encoder.result = .array(a)
        }

        mutating func encodeNil() throws { try append(.null) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            let probe = ProbingEncoder(json: encoder.json)
            if let optional = value as? any OptionalProtocol, optional.wrappedEncodable == nil { try append(.null); return }
            if let url = value as? URL { try append(.value(url.absoluteString)); return }
            if let p = value as? any PostgresEncodable { try append(.value(p)); return }
            // Keyed elements (structs) become jsonb elements (a jsonb[] array, as PostgresKit sends
            // them); nested arrays make the whole value jsonb.
            do {
                try value.encode(to: probe)
            } catch is NeedsJSON {
                try append(.value(JSONBValue(bytes: Array(try encoder.json.encode(AnyEncodable(value))))))
                return
            }
            switch probe.result {
            case .single(let e)?: try append(e)
            case nil: try append(.value(JSONBValue(bytes: Array(try encoder.json.encode(AnyEncodable(value))))))
            case .array?: throw NeedsJSON()
            }
        }
        mutating func encode(_ value: Bool) throws { try append(.value(value)) }
        mutating func encode(_ value: String) throws { try append(.value(value)) }
        mutating func encode(_ value: Double) throws { try append(.value(value)) }
        mutating func encode(_ value: Float) throws { try append(.value(value)) }
        mutating func encode(_ value: Int) throws { try append(.value(value)) }
        mutating func encode(_ value: Int16) throws { try append(.value(value)) }
        mutating func encode(_ value: Int32) throws { try append(.value(value)) }
        mutating func encode(_ value: Int64) throws { try append(.value(value)) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            KeyedEncodingContainer(FailingKeyedContainer<NestedKey>())
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { FailingUnkeyedContainer() }
        mutating func superEncoder() -> any Encoder { FailingEncoder() }
    }
}

/// Containers that make the probe give up (the value is encoded as jsonb instead).
private struct FailingKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    var codingPath: [any CodingKey] { [] }
    mutating func encodeNil(forKey key: Key) throws { throw ProbingEncoder.NeedsJSON() }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { throw ProbingEncoder.NeedsJSON() }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(FailingKeyedContainer<NestedKey>())
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { FailingUnkeyedContainer() }
    mutating func superEncoder() -> any Encoder { FailingEncoder() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { FailingEncoder() }
}

private struct FailingUnkeyedContainer: UnkeyedEncodingContainer {
    var codingPath: [any CodingKey] { [] }
    var count: Int { 0 }
    mutating func encodeNil() throws { throw ProbingEncoder.NeedsJSON() }
    mutating func encode<T: Encodable>(_ value: T) throws { throw ProbingEncoder.NeedsJSON() }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(FailingKeyedContainer<NestedKey>())
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { self }
    mutating func superEncoder() -> any Encoder { FailingEncoder() }
}

private struct FailingEncoder: Encoder, SingleValueEncodingContainer {
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> { KeyedEncodingContainer(FailingKeyedContainer<Key>()) }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { FailingUnkeyedContainer() }
    func singleValueContainer() -> any SingleValueEncodingContainer { self }
    mutating func encodeNil() throws { throw ProbingEncoder.NeedsJSON() }
    mutating func encode<T: Encodable>(_ value: T) throws { throw ProbingEncoder.NeedsJSON() }
}
