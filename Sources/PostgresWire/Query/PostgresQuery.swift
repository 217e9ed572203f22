import PostgresWireProtocol

/// Values bound to `$1 … $n`, encoded as they are appended into one buffer: one heap allocation
/// whatever the number of parameters (a record per parameter with its type, format and encoded
/// value, in the protocol core's `BindParameters`, which the Bind encoder copies from).
public struct PostgresBindings: Sendable {
    var values = BindParameters()

    public init() {}

    public var count: Int { values.count }

    /// Each parameter's type (`.unspecified`: left to the server).
    public var types: [PostgresDataType] { values.slots.map { PostgresDataType($0.typeOID) } }
    /// Each parameter's format.
    public var formats: [PostgresFormat] { values.slots.map { $0.format == 1 ? .binary : .text } }

    /// Whether both bind parameters of the same types, in order (no array built).
    func hasSameTypes(as other: PostgresBindings) -> Bool {
        guard values.count == other.values.count else { return false }
        var mine = values.slots.makeIterator(), theirs = other.values.slots.makeIterator()
        while let a = mine.next(), let b = theirs.next() {
            if a.typeOID != b.typeOID { return false }
        }
        return true
    }

    public mutating func append<T: PostgresEncodable>(_ value: T, context: PostgresEncodingContext = .default) throws(PostgresCodingError) {
        if value.isPostgresNull {
            values.appendNull(typeOID: T.postgresDataType.rawValue, format: T.postgresFormat.rawValue)
            return
        }
        let start = values.beginValue(typeOID: T.postgresDataType.rawValue, format: T.postgresFormat.rawValue)
        try values.withValueBytes(startedAt: start) { (bytes) throws(PostgresCodingError) in
            try value.encode(into: &bytes, context: context)
        }
    }

    /// Appends a value whose type is only known at run time.
    public mutating func append(any value: any PostgresEncodable, context: PostgresEncodingContext = .default) throws(PostgresCodingError) {
        try append(value, context: context)
    }

    /// Appends SQL NULL with the server left to infer the type.
    public mutating func appendNull() {
        values.appendNull(typeOID: PostgresDataType.unspecified.rawValue, format: 0)
    }

    /// Appends a text-format value the server will parse with the parameter's inferred type
    /// (what `pgwire query --param` sends).
    public mutating func appendText(_ text: String?) {
        guard let text else { return appendNull() }
        let start = values.beginValue(typeOID: PostgresDataType.unspecified.rawValue, format: 0)
        values.withValueBytes(startedAt: start) { $0.append(contentsOf: text.utf8) }
    }

    /// The bytes of parameter `index` (nil for NULL).
    public func value(at index: Int) -> ArraySlice<UInt8>? {
        let slot = values.slot(at: index)
        return slot.length < 0 ? nil : values.bytes[slot.offset..<(slot.offset + Int(slot.length))]
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
