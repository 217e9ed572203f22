/// Values bound to `$1 … $n`, encoded as they are appended into one buffer (no per-value array).
/// Two heap buffers whatever the number of parameters: the encoded bytes, and one slot per
/// parameter holding where its bytes are, its type and its format.
public struct PostgresBindings: Sendable {
    /// Where one parameter's bytes are in `bytes` (length -1 for NULL), its type and format.
    struct Slot: Sendable {
        var offset: Int32
        var length: Int32
        var type: PostgresDataType
        var format: PostgresFormat

        init(offset: Int, length: Int, type: PostgresDataType, format: PostgresFormat) {
            self.offset = Int32(truncatingIfNeeded: offset)
            self.length = Int32(truncatingIfNeeded: length)
            self.type = type
            self.format = format
        }
    }

    /// Encoded values back to back.
    var bytes: [UInt8] = []
    var slots: [Slot] = []

    public init() {}

    public var count: Int { slots.count }

    /// Each parameter's type (`.unspecified`: left to the server).
    public var types: [PostgresDataType] { slots.map(\.type) }
    /// Each parameter's format.
    public var formats: [PostgresFormat] { slots.map(\.format) }

    /// Whether both bind parameters of the same types, in order (no array built).
    func hasSameTypes(as other: PostgresBindings) -> Bool {
        guard slots.count == other.slots.count else { return false }
        for i in slots.indices where slots[i].type != other.slots[i].type { return false }
        return true
    }

    /// The format code list a Bind message needs: none when every parameter is text, one when
    /// every parameter is binary, else one per parameter (nil: that case).
    var uniformFormatCode: Int16?? {
        var allText = true
        var allBinary = true
        for slot in slots {
            if slot.format == .text { allBinary = false } else { allText = false }
        }
        if allText { return .some(nil) }
        if allBinary { return .some(1) }
        return nil
    }

    public mutating func append<T: PostgresEncodable>(_ value: T, context: PostgresEncodingContext = .default) throws(PostgresCodingError) {
        if value.isPostgresNull {
            slots.append(Slot(offset: bytes.count, length: -1, type: T.postgresDataType, format: T.postgresFormat))
            return
        }
        let start = bytes.count
        do {
            try value.encode(into: &bytes, context: context)
        } catch {
            bytes.removeSubrange(start...)
            throw error
        }
        slots.append(Slot(offset: start, length: bytes.count - start, type: T.postgresDataType, format: T.postgresFormat))
    }

    /// Appends a value whose type is only known at run time.
    public mutating func append(any value: any PostgresEncodable, context: PostgresEncodingContext = .default) throws(PostgresCodingError) {
        try append(value, context: context)
    }

    /// Appends SQL NULL with the server left to infer the type.
    public mutating func appendNull() {
        slots.append(Slot(offset: bytes.count, length: -1, type: .unspecified, format: .text))
    }

    /// Appends a text-format value the server will parse with the parameter's inferred type
    /// (what `pgwire query --param` sends).
    public mutating func appendText(_ text: String?) {
        guard let text else {
            slots.append(Slot(offset: bytes.count, length: -1, type: .unspecified, format: .text))
            return
        }
        let start = bytes.count
        bytes.append(contentsOf: text.utf8)
        slots.append(Slot(offset: start, length: bytes.count - start, type: .unspecified, format: .text))
    }

    /// The bytes of parameter `index` (nil for NULL).
    public func value(at index: Int) -> ArraySlice<UInt8>? {
        let slot = slots[index]
        return slot.length < 0 ? nil : bytes[Int(slot.offset)..<Int(slot.offset + slot.length)]
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
