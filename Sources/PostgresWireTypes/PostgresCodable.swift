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
///
/// Cheap to pass: the default context (no parameters, the shared registry) holds no reference,
/// so passing it to every `Row.decode` retains and releases nothing; any other context keeps its
/// parameters and registry in one shared box, read only by the codecs that need them.
public struct PostgresDecodingContext: Sendable {
    @usableFromInline
    final class Storage: Sendable {
        let parameters: [String: String]
        let registry: PostgresTypeRegistry
        init(parameters: [String: String], registry: PostgresTypeRegistry) {
            self.parameters = parameters
            self.registry = registry
        }
    }

    /// nil: no parameters and `PostgresTypeRegistry.shared`.
    @usableFromInline
    var storage: Storage?

    public var parameters: [String: String] {
        get { storage?.parameters ?? [:] }
        set { self = PostgresDecodingContext(parameters: newValue, registry: registry) }
    }

    public var registry: PostgresTypeRegistry {
        get { storage?.registry ?? .shared }
        set { self = PostgresDecodingContext(parameters: parameters, registry: newValue) }
    }

    public init(parameters: [String: String] = [:], registry: PostgresTypeRegistry = .shared) {
        storage = parameters.isEmpty && registry === PostgresTypeRegistry.shared
            ? nil : Storage(parameters: parameters, registry: registry)
    }

    /// No parameters and `PostgresTypeRegistry.shared`: a value with no reference in it, which
    /// callers build inline (a `static let` would be read through an accessor and retained).
    @inlinable
    public static var `default`: PostgresDecodingContext { PostgresDecodingContext(storage: nil) }

    @usableFromInline
    init(storage: Storage?) { self.storage = storage }
}
