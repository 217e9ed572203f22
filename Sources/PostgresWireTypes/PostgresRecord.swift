/// A row value (anonymous `record` or a composite type): each field's type and raw bytes.
/// From a binary result the field types are known; from a text result they are `.unknown` and
/// each field holds its text.
public struct PostgresRecord: Sendable, Hashable {
    public struct Field: Sendable, Hashable {
        public var type: PostgresDataType
        /// nil for NULL.
        public var bytes: [UInt8]?
        public init(type: PostgresDataType, bytes: [UInt8]?) {
            self.type = type
            self.bytes = bytes
        }
    }

    public var fields: [Field]
    /// The format of the field bytes.
    public var format: PostgresFormat

    public init(fields: [Field], format: PostgresFormat = .binary) {
        self.fields = fields
        self.format = format
    }

    public var count: Int { fields.count }

    /// Decodes field `index` (0-based) as `T`.
    public func decode<T: PostgresDecodable>(_: T.Type = T.self, at index: Int,
                                             context: PostgresDecodingContext = .default) throws(PostgresCodingError) -> T {
        guard fields.indices.contains(index) else {
            throw PostgresCodingError(.missingColumn, type: .record, swiftType: T.self, column: "field \(index + 1)")
        }
        let f = fields[index]
        do {
            if let b = f.bytes { return try T.decode(from: b[...], type: f.type, format: format, context: context) }
            return try T.decodeNull(type: f.type, context: context)
        } catch {
            var e = error
            e.column = e.column ?? "field \(index + 1)"
            throw e
        }
    }

    static func parseBinary(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> PostgresRecord {
        var r = PostgresBinaryReader(bytes, type: type, swiftType: swiftType)
        let count = try r.readInteger(Int32.self, "field count")
        guard count >= 0, Int(count) <= r.remaining / 8 else { throw r.invalid("invalid field count \(count)") }
        var fields: [Field] = []
        for _ in 0..<count {
            let oid = try r.readInteger(UInt32.self, "field type")
            let value = try r.readLengthPrefixed("field")
            fields.append(Field(type: PostgresDataType(oid), bytes: value.map(Array.init)))
        }
        try r.expectEnd("record")
        return PostgresRecord(fields: fields, format: .binary)
    }

    /// record_in's syntax: "(a,,"b c")": empty unquoted fields are NULL.
    static func parseText(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> PostgresRecord {
        func invalid() -> PostgresCodingError { PostgresCodingError(.invalidData("malformed record literal"), type: type, swiftType: swiftType) }
        let s = bytes
        var i = s.startIndex
        while i < s.endIndex, PostgresCodecSupport.isSpace(s[i]) { i += 1 }
        guard i < s.endIndex, s[i] == UInt8(ascii: "(") else { throw invalid() }
        i += 1
        var fields: [Field] = []
        if i < s.endIndex, s[i] == UInt8(ascii: ")") {
            return PostgresRecord(fields: [], format: .text)
        }
        while true {
            guard let field = PostgresCodecSupport.readQuotedField(s, &i, terminators: [UInt8(ascii: ","), UInt8(ascii: ")")]) else {
                throw invalid()
            }
            guard i < s.endIndex else { throw invalid() }
            fields.append(Field(type: .unknown, bytes: field.present ? field.bytes : nil))
            if s[i] == UInt8(ascii: ")") { break }
            i += 1
        }
        return PostgresRecord(fields: fields, format: .text)
    }
}

extension PostgresRecord: PostgresDecodable {
    /// Reads `record` and registered composite types.
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresRecord {
        guard type == .record || context.registry.kind(of: type) == .composite || context.registry.kind(of: type) == nil else {
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: Self.self)
        }
        return format == .binary ? try parseBinary(bytes, type: type, swiftType: Self.self) : try parseText(bytes, type: type, swiftType: Self.self)
    }
}
