/// Wire format of a value: text (0) or binary (1).
public enum PostgresFormat: Int16, Sendable {
    case text = 0
    case binary = 1
}

/// A value that can be sent as a query parameter.
public protocol PostgresEncodable: Sendable {
    /// The type to declare in Parse; `.unspecified` lets the server infer it.
    static var postgresDataType: PostgresDataType { get }
    /// The format `encode` produces.
    static var postgresFormat: PostgresFormat { get }
    /// Appends the value's bytes (without a length prefix).
    func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError)
    /// Whether this value is SQL NULL (Optional.none); NULL has no bytes.
    var isPostgresNull: Bool { get }
    /// The array type whose elements are of this type (`int4` → `_int4`), used when an array of
    /// these values is a parameter. The default looks the element type up among the built-ins and in
    /// `PostgresTypeRegistry.shared`; `.unspecified` if unknown.
    static var postgresArrayDataType: PostgresDataType { get }
}

extension PostgresEncodable {
    public var isPostgresNull: Bool { false }
    public static var postgresArrayDataType: PostgresDataType {
        PostgresTypeRegistry.shared.arrayType(of: postgresDataType) ?? .unspecified
    }
}

/// A value that can be read from a result column.
public protocol PostgresDecodable {
    /// Decodes a non-NULL value of column type `type` sent in `format`.
    static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                       context: PostgresDecodingContext) throws(PostgresCodingError) -> Self
    /// The value for SQL NULL; types that cannot be NULL throw.
    static func decodeNull(type: PostgresDataType, context: PostgresDecodingContext) throws(PostgresCodingError) -> Self
}

extension PostgresDecodable {
    public static func decodeNull(type: PostgresDataType, context: PostgresDecodingContext) throws(PostgresCodingError) -> Self {
        throw PostgresCodingError(.unexpectedNull, type: type, swiftType: Self.self)
    }
}

public typealias PostgresCodable = PostgresEncodable & PostgresDecodable

/// Session facts that encoding needs (room for future settings).
public struct PostgresEncodingContext: Sendable {
    public init() {}
    public static let `default` = PostgresEncodingContext()
}

/// Session facts that decoding needs: the server's reported settings (for text-format values)
/// and the type registry (which OIDs are enums, arrays of what, ranges of what).
public struct PostgresDecodingContext: Sendable {
    public var parameters: [String: String]
    public var registry: PostgresTypeRegistry
    public init(parameters: [String: String] = [:], registry: PostgresTypeRegistry = .shared) {
        self.parameters = parameters
        self.registry = registry
    }
    public static let `default` = PostgresDecodingContext()
}

