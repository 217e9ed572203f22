/// Values bound to `$1 … $n`, encoded as they are appended into one buffer (no per-value array).
public struct PostgresBindings: Sendable {
    /// Encoded values back to back.
    var bytes: [UInt8] = []
    /// Per parameter: offset into `bytes` and length, or length -1 for NULL.
    var slots: [(offset: Int, length: Int)] = []
    public private(set) var types: [PostgresDataType] = []
    public private(set) var formats: [PostgresFormat] = []

    public init() {}

    public var count: Int { slots.count }

    public mutating func append<T: PostgresEncodable>(_ value: T, context: PostgresEncodingContext = .default) throws(PostgresCodingError) {
        types.append(T.postgresDataType)
        formats.append(T.postgresFormat)
        if value.isPostgresNull {
            slots.append((bytes.count, -1))
            return
        }
        let start = bytes.count
        do {
            try value.encode(into: &bytes, context: context)
        } catch {
            bytes.removeSubrange(start...)
            types.removeLast()
            formats.removeLast()
            throw error
        }
        slots.append((start, bytes.count - start))
    }

    /// Appends a value whose type is only known at run time.
    public mutating func append(any value: any PostgresEncodable, context: PostgresEncodingContext = .default) throws(PostgresCodingError) {
        try append(value, context: context)
    }

    /// Appends SQL NULL with the server left to infer the type.
    public mutating func appendNull() {
        types.append(.unspecified)
        formats.append(.text)
        slots.append((bytes.count, -1))
    }

    /// Appends a text-format value the server will parse with the parameter's inferred type
    /// (what `pgwire query --param` sends).
    public mutating func appendText(_ text: String?) {
        types.append(.unspecified)
        formats.append(.text)
        guard let text else {
            slots.append((bytes.count, -1))
            return
        }
        let start = bytes.count
        bytes.append(contentsOf: text.utf8)
        slots.append((start, bytes.count - start))
    }

    /// The bytes of parameter `index` (nil for NULL).
    public func value(at index: Int) -> ArraySlice<UInt8>? {
        let slot = slots[index]
        return slot.length < 0 ? nil : bytes[slot.offset..<(slot.offset + slot.length)]
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
