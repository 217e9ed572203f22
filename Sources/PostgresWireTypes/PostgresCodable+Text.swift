import Foundation

// MARK: String

extension String: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .text }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.append(contentsOf: utf8)
    }

    /// Text format: any column, as the server printed it. Binary format: text-like types (text,
    /// varchar, bpchar, name, json, jsonb, enums…) as they are, and any other type the text
    /// renderer knows printed as the server would for the session's settings (from `context`).
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> String {
        if format == .text || context.registry.isTextual(type) {
            return try PostgresCodecSupport.strictString(bytes, type: type, swiftType: String.self)
        }
        if type == .jsonb || type == .jsonpath {
            guard bytes.first == 1 else {
                throw PostgresCodingError(.invalidData("unsupported \(type) version \(bytes.first.map(String.init) ?? "none")"),
                                          type: type, swiftType: String.self)
            }
            return try PostgresCodecSupport.strictString(bytes.dropFirst(), type: type, swiftType: String.self)
        }
        let settings = PostgresSessionSettings(parameters: context.parameters)
        guard PostgresTextRenderer.supportsBinary(type, registry: context.registry) else {
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: String.self)
        }
        return try PostgresTextRenderer.render(bytes, type: type, typeModifier: -1, settings: settings, registry: context.registry)
    }
}

extension Substring: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .text }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.append(contentsOf: utf8)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Substring {
        Substring(try String.decode(from: bytes, type: type, format: format, context: context))
    }
}

// MARK: bytea

enum PostgresByteaCodec {
    static func decode(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                       swiftType: Any.Type) throws(PostgresCodingError) -> [UInt8] {
        guard type == .bytea || type == .unknown else { throw PostgresCodingError(.typeMismatch, type: type, swiftType: swiftType) }
        if format == .binary { return Array(bytes) }
        return try parseText(bytes, type: type, swiftType: swiftType)
    }

    /// byteain: `\x` hex (whitespace between pairs allowed) or the escape format (`\\`, `\ooo`).
    static func parseText(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> [UInt8] {
        func invalid(_ why: String) -> PostgresCodingError { PostgresCodingError(.invalidData(why), type: type, swiftType: swiftType) }
        let backslash = UInt8(ascii: "\\")
        var out: [UInt8] = []
        var i = bytes.startIndex
        if bytes.count >= 2, bytes[i] == backslash, bytes[i + 1] == UInt8(ascii: "x") {
            i += 2
            out.reserveCapacity((bytes.count - 2) / 2)
            while i < bytes.endIndex {
                if PostgresCodecSupport.isSpace(bytes[i]) { i += 1; continue }
                guard i + 1 < bytes.endIndex, let hi = PostgresCodecSupport.hexValue(bytes[i]),
                      let lo = PostgresCodecSupport.hexValue(bytes[i + 1]) else { throw invalid("invalid hexadecimal data") }
                out.append(hi << 4 | lo)
                i += 2
            }
            return out
        }
        while i < bytes.endIndex {
            let c = bytes[i]
            if c != backslash { out.append(c); i += 1; continue }
            if i + 1 < bytes.endIndex, bytes[i + 1] == backslash { out.append(backslash); i += 2; continue }
            guard i + 3 < bytes.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "3")).contains(bytes[i + 1]),
                  (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(bytes[i + 2]),
                  (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(bytes[i + 3]) else { throw invalid("invalid escape sequence") }
            out.append((bytes[i + 1] - 48) << 6 | (bytes[i + 2] - 48) << 3 | (bytes[i + 3] - 48))
            i += 4
        }
        return out
    }
}

extension Data: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .bytea }
    public static var postgresFormat: PostgresFormat { .binary }
    public static var postgresArrayDataType: PostgresDataType { .byteaArray }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.append(contentsOf: self)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Data {
        Data(try PostgresByteaCodec.decode(bytes, type: type, format: format, swiftType: Data.self))
    }
}

// MARK: uuid

extension UUID: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .uuid }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        withUnsafeBytes(of: uuid) { buffer.append(contentsOf: $0) }
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> UUID {
        switch (type, format) {
        case (.uuid, .binary):
            guard bytes.count == 16 else {
                throw PostgresCodingError(.invalidData("expected 16 bytes, got \(bytes.count)"), type: type, swiftType: UUID.self)
            }
            // Read in place: copying the bytes into an Array first cost an allocation per value.
            return bytes.withUnsafeBytes { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
        case (.uuid, .text), (.unknown, .text):
            let s = String(decoding: bytes, as: UTF8.self)
            if let u = UUID(uuidString: s) { return u }
            // uuid_in also accepts braces and hyphen-less forms.
            let hex = s.filter { $0.isHexDigit }
            guard hex.count == 32 else { throw PostgresCodingError(.invalidData("\"\(s)\" is not a UUID"), type: type, swiftType: UUID.self) }
            var parts = Array(hex)
            for i in [8, 13, 18, 23] { parts.insert("-", at: i) }
            guard let u = UUID(uuidString: String(parts)) else {
                throw PostgresCodingError(.invalidData("\"\(s)\" is not a UUID"), type: type, swiftType: UUID.self)
            }
            return u
        default:
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: UUID.self)
        }
    }
}
