import Foundation

/// A `json` or `jsonb` value decoded into (or encoded from) a Codable Swift value with
/// Foundation's JSON coders. Encodes as `jsonb` (binary: version byte 1, then the JSON text).
public struct PostgresJSON<Value: Codable & Sendable>: Sendable {
    public var value: Value
    public init(_ value: Value) { self.value = value }
}

extension PostgresJSON: Equatable where Value: Equatable {}
extension PostgresJSON: Hashable where Value: Hashable {}

enum PostgresJSONCodec {
    /// The JSON text of a json or jsonb column in either format.
    static func text(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                     swiftType: Any.Type) throws(PostgresCodingError) -> ArraySlice<UInt8> {
        switch (type, format) {
        case (.json, _), (.jsonb, .text), (.unknown, .text), (.text, _), (.varchar, _):
            return bytes
        case (.jsonb, .binary):
            guard bytes.first == 1 else {
                throw PostgresCodingError(.invalidData("unsupported jsonb version \(bytes.first.map(String.init) ?? "none")"),
                                          type: type, swiftType: swiftType)
            }
            return bytes.dropFirst()
        default:
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: swiftType)
        }
    }

    static func decode<T: Decodable>(_: T.Type, from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat) throws(PostgresCodingError) -> T {
        let json = try text(bytes, type: type, format: format, swiftType: T.self)
        do {
            return try JSONDecoder().decode(T.self, from: Data(json))
        } catch {
            throw PostgresCodingError(.invalidData("JSON: \(error)"), type: type, swiftType: T.self)
        }
    }
}

extension PostgresJSON: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .jsonb }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        do {
            let data = try JSONEncoder().encode(value)
            buffer.append(1)
            buffer.append(contentsOf: data)
        } catch {
            throw PostgresCodingError(.invalidData("JSON: \(error)"), type: .jsonb, swiftType: Self.self)
        }
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresJSON<Value> {
        PostgresJSON(try PostgresJSONCodec.decode(Value.self, from: bytes, type: type, format: format))
    }
}
