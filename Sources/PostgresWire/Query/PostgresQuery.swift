import PostgresWireProtocol

/// Values bound to `$1 … $n`, encoded as they are appended into one buffer (no per-value array).
/// Two heap buffers whatever the number of parameters: the encoded bytes, and one slot per
/// parameter holding where its bytes are, its type and its format.
public struct PostgresBindings: Sendable {
    /// Encoded values back to back and one slot per parameter (where its bytes are in the
    /// buffer, length -1 for NULL, its type OID and format code): the protocol core's type, which
    /// its Bind encoder writes from.
    var values = BindParameters()

    public init() {}

    public var count: Int { values.slots.count }

    /// Each parameter's type (`.unspecified`: left to the server).
    public var types: [PostgresDataType] { values.slots.map { PostgresDataType($0.typeOID) } }
    /// Each parameter's format.
    public var formats: [PostgresFormat] { values.slots.map { $0.format == 1 ? .binary : .text } }

    /// Whether both bind parameters of the same types, in order (no array built).
    func hasSameTypes(as other: PostgresBindings) -> Bool {
        guard values.slots.count == other.values.slots.count else { return false }
        for i in values.slots.indices where values.slots[i].typeOID != other.values.slots[i].typeOID { return false }
        return true
    }

    public mutating func append<T: PostgresEncodable>(_ value: T, context: PostgresEncodingContext = .default) throws(PostgresCodingError) {
        if value.isPostgresNull {
            values.slots.append(.init(offset: values.bytes.count, length: -1, typeOID: T.postgresDataType.rawValue, format: T.postgresFormat.rawValue))
            return
        }
        let start = values.bytes.count
        do {
            try value.encode(into: &values.bytes, context: context)
        } catch {
            values.bytes.removeSubrange(start...)
            throw error
        }
        values.slots.append(.init(offset: start, length: values.bytes.count - start, typeOID: T.postgresDataType.rawValue, format: T.postgresFormat.rawValue))
    }

    /// Appends a value whose type is only known at run time.
    public mutating func append(any value: any PostgresEncodable, context: PostgresEncodingContext = .default) throws(PostgresCodingError) {
        try append(value, context: context)
    }

    /// Appends SQL NULL with the server left to infer the type.
    public mutating func appendNull() {
        values.slots.append(.init(offset: values.bytes.count, length: -1, typeOID: PostgresDataType.unspecified.rawValue, format: 0))
    }

    /// Appends a text-format value the server will parse with the parameter's inferred type
    /// (what `pgwire query --param` sends).
    public mutating func appendText(_ text: String?) {
        guard let text else {
            values.slots.append(.init(offset: values.bytes.count, length: -1, typeOID: PostgresDataType.unspecified.rawValue, format: 0))
            return
        }
        let start = values.bytes.count
        values.bytes.append(contentsOf: text.utf8)
        values.slots.append(.init(offset: start, length: values.bytes.count - start, typeOID: PostgresDataType.unspecified.rawValue, format: 0))
    }

    /// The bytes of parameter `index` (nil for NULL).
    public func value(at index: Int) -> ArraySlice<UInt8>? {
        let slot = values.slots[index]
        return slot.length < 0 ? nil : values.bytes[Int(slot.offset)..<Int(slot.offset + slot.length)]
    }
}

/// SQL with its parameters. Built with string interpolation, every interpolated value becomes a
/// bound parameter (`$n`), never text spliced into the SQL:
///
///     try connection.query("SELECT * FROM users WHERE id = \(id) AND name = \(name)")
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public var sql: String
    public var bindings: PostgresBindings
    /// The first value that could not be encoded; reported when the query is run.
    var encodingError: PostgresCodingError?

    public init(unsafeSQL sql: String, bindings: PostgresBindings = PostgresBindings()) {
        self.sql = sql
        self.bindings = bindings
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.bindings = stringInterpolation.bindings
        self.encodingError = stringInterpolation.encodingError
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var bindings = PostgresBindings()
        var encodingError: PostgresCodingError?

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Binds the value as the next parameter.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T) {
            do {
                try bindings.append(value)
            } catch {
                if encodingError == nil { encodingError = error }
                bindings.appendNull()
            }
            sql += "$\(bindings.count)"
        }

        /// Binds the value, or NULL when it is nil.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T?) {
            if let value {
                appendInterpolation(value)
            } else {
                bindings.appendNull()
                sql += "$\(bindings.count)"
            }
        }

        /// Splices text into the SQL as it is: only for trusted SQL fragments such as identifiers
        /// you have validated, never for user input.
        public mutating func appendInterpolation(unescaped fragment: String) {
            sql += fragment
        }
    }

    public var description: String { sql }
}
