import Foundation

/// Which type OIDs the driver can read in binary format, and what they are (array of what, range of
/// what, enum, composite…).
///
/// The connection asks `resultFormat(for:)` for each result column: binary for the types registered
/// here (the built-ins with a codec plus whatever the user registered), text for everything else,
/// so a type without a codec falls back to text and never fails. Thread-safe; `shared` is the
/// registry every connection and the renderer use unless given another.
public final class PostgresTypeRegistry: Sendable {
    /// Renders one binary value of a user-registered type as the server's text output would.
    public typealias Renderer = @Sendable (_ bytes: ArraySlice<UInt8>, _ settings: PostgresSessionSettings) throws -> String

    public struct Entry: Sendable {
        public var type: PostgresDataType
        public var name: String
        public var kind: PostgresTypeKind
        /// The array type over this type, if any.
        public var arrayType: PostgresDataType?
        /// Whether results of this type are requested (and decoded) in binary format.
        public var binary: Bool
        /// For user types of kind `.base`: prints the binary form as the server's text output.
        public var render: Renderer?
    }

    public static let shared = PostgresTypeRegistry()

    private let lock = NSLock()
    nonisolated(unsafe) private var entries: [UInt32: Entry]
    nonisolated(unsafe) private var arrayOf: [UInt32: UInt32]

    /// A registry holding the built-in types (or nothing, with `builtins: false`).
    public init(builtins: Bool = true) {
        var entries: [UInt32: Entry] = [:]
        var arrayOf: [UInt32: UInt32] = [:]
        if builtins {
            for t in PostgresBuiltinTypes.all {
                entries[t.oid] = Entry(type: PostgresDataType(t.oid), name: t.name, kind: t.kind,
                                       arrayType: t.arrayOID.map(PostgresDataType.init(rawValue:)), binary: t.binary, render: nil)
                if let a = t.arrayOID { arrayOf[t.oid] = a }
            }
        }
        self.entries = entries
        self.arrayOf = arrayOf
    }

    // MARK: Lookups (what the connection and renderer call)

    /// The format to request for a result column of this type: binary when registered as such.
    public func resultFormat(for type: PostgresDataType) -> PostgresFormat {
        hasBinaryDecoder(for: type) ? .binary : .text
    }

    /// Whether values of this type can be requested and decoded in binary format. Arrays, ranges
    /// and multiranges qualify when their element type does.
    public func hasBinaryDecoder(for type: PostgresDataType) -> Bool {
        lock.withLock { binaryLocked(type.rawValue, depth: 0) }
    }

    private func binaryLocked(_ oid: UInt32, depth: Int) -> Bool {
        guard depth < 8, let e = entries[oid], e.binary else { return false }
        switch e.kind {
        case .array(let element): return binaryLocked(element.rawValue, depth: depth + 1)
        case .range(let subtype): return binaryLocked(subtype.rawValue, depth: depth + 1)
        case .multirange(let range): return binaryLocked(range.rawValue, depth: depth + 1)
        case .base, .enumeration, .textual, .composite: return true
        }
    }

    public func entry(for type: PostgresDataType) -> Entry? { lock.withLock { entries[type.rawValue] } }

    public func kind(of type: PostgresDataType) -> PostgresTypeKind? { lock.withLock { entries[type.rawValue]?.kind } }

    public func name(of type: PostgresDataType) -> String? { lock.withLock { entries[type.rawValue]?.name } }

    /// The element type of an array type.
    public func elementType(ofArray type: PostgresDataType) -> PostgresDataType? {
        if case .array(let e)? = kind(of: type) { return e }
        return nil
    }

    /// The array type over `type`.
    public func arrayType(of type: PostgresDataType) -> PostgresDataType? {
        lock.withLock { arrayOf[type.rawValue].map(PostgresDataType.init(rawValue:)) }
    }

    /// The range type over `subtype` (int4 → int4range).
    public func rangeType(of subtype: PostgresDataType) -> PostgresDataType? {
        lock.withLock {
            entries.values.filter { $0.kind == .range(subtype: subtype) }.map(\.type).min { $0.rawValue < $1.rawValue }
        }
    }

    /// The multirange type over `range` (int4range → int4multirange).
    public func multirangeType(of range: PostgresDataType) -> PostgresDataType? {
        lock.withLock {
            entries.values.filter { $0.kind == .multirange(range: range) }.map(\.type).min { $0.rawValue < $1.rawValue }
        }
    }

    /// Whether the binary form of this type is its text (text, varchar, enums, registered textual types…).
    public func isTextual(_ type: PostgresDataType) -> Bool {
        switch type {
        case .text, .varchar, .bpchar, .name, .unknown, .json, .refcursor, .xml: return true
        default:
            switch kind(of: type) {
            case .enumeration?, .textual?: return true
            default: return false
            }
        }
    }

    // MARK: Registration

    /// Registers a type. `binary: true` makes the connection request it in binary format: the Swift
    /// types users decode it into must then read its binary form, and `render` (for kind `.base`)
    /// lets `pgwire query --binary` print it. Re-registering an OID replaces the entry.
    public func register(_ type: PostgresDataType, name: String, kind: PostgresTypeKind = .base,
                         arrayType: PostgresDataType? = nil, binary: Bool = true, render: Renderer? = nil) {
        lock.withLock {
            entries[type.rawValue] = Entry(type: type, name: name, kind: kind, arrayType: arrayType, binary: binary, render: render)
            if let arrayType {
                arrayOf[type.rawValue] = arrayType.rawValue
                entries[arrayType.rawValue] = Entry(type: arrayType, name: "_" + name, kind: .array(element: type),
                                                    arrayType: nil, binary: binary, render: nil)
            }
        }
    }

    /// Registers an enum type (and optionally its array type): decoded as String, rendered as its label.
    public func registerEnum(_ type: PostgresDataType, name: String, arrayType: PostgresDataType? = nil) {
        register(type, name: name, kind: .enumeration, arrayType: arrayType)
    }

    /// Registers a type whose binary form is its text (citext, a domain-less text-like extension type).
    public func registerTextual(_ type: PostgresDataType, name: String, arrayType: PostgresDataType? = nil) {
        register(type, name: name, kind: .textual, arrayType: arrayType)
    }

    /// Registers a composite type: decoded as `PostgresRecord`, rendered with record_out's rules
    /// (its fields must all be types with a binary codec).
    public func registerComposite(_ type: PostgresDataType, name: String, arrayType: PostgresDataType? = nil) {
        register(type, name: name, kind: .composite, arrayType: arrayType)
    }

    /// Removes a registration (built-ins included).
    public func unregister(_ type: PostgresDataType) {
        lock.withLock {
            if let a = arrayOf.removeValue(forKey: type.rawValue) { entries[a] = nil }
            entries[type.rawValue] = nil
        }
    }

    /// Every registered OID with binary support (for diagnostics).
    public var binaryTypes: [PostgresDataType] {
        lock.withLock { entries.keys.sorted() }.map(PostgresDataType.init(rawValue:)).filter { hasBinaryDecoder(for: $0) }
    }
}
