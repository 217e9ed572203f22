import Foundation

// MARK: Optional (NULL)

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Self {
        try Wrapped.decode(from: bytes, type: type, format: format, context: context)
    }

    public static func decodeNull(type: PostgresDataType, context: PostgresDecodingContext) throws(PostgresCodingError) -> Self {
        nil
    }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { Wrapped.postgresDataType }
    public static var postgresFormat: PostgresFormat { Wrapped.postgresFormat }
    public static var postgresArrayDataType: PostgresDataType { Wrapped.postgresArrayDataType }
    public var isPostgresNull: Bool { self.map(\.isPostgresNull) ?? true }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        if let value = self { try value.encode(into: &buffer, context: context) }
    }
}

// MARK: Integers

/// Integer decoding shared by every Swift integer type: the column may be any integer type (int2,
/// int4, int8, oid-like, xid8, "char"); a value that does not fit is `.overflow`; anything else
/// (float, numeric, text) is `.typeMismatch`.
enum PostgresIntegerCodec {
    static func decode<T: FixedWidthInteger>(_: T.Type, from bytes: ArraySlice<UInt8>, type: PostgresDataType,
                                             format: PostgresFormat, allowChar: Bool) throws(PostgresCodingError) -> T {
        func fit<S: BinaryInteger>(_ v: S) throws(PostgresCodingError) -> T {
            guard let r = T(exactly: v) else { throw PostgresCodingError(.overflow, type: type, swiftType: T.self) }
            return r
        }
        switch format {
        case .binary:
            switch type {
            case .int2: return try fit(try PostgresBinaryReader.exact(Int16.self, bytes, type: type, swiftType: T.self))
            case .int4: return try fit(try PostgresBinaryReader.exact(Int32.self, bytes, type: type, swiftType: T.self))
            case .int8: return try fit(try PostgresBinaryReader.exact(Int64.self, bytes, type: type, swiftType: T.self))
            case .xid8, .pgLSN: return try fit(try PostgresBinaryReader.exact(UInt64.self, bytes, type: type, swiftType: T.self))
            case .char where allowChar:
                let b = try PostgresBinaryReader.exact(UInt8.self, bytes, type: type, swiftType: T.self)
                return T.isSigned ? try fit(Int8(bitPattern: b)) : try fit(b)
            default:
                if oidLike(type) { return try fit(try PostgresBinaryReader.exact(UInt32.self, bytes, type: type, swiftType: T.self)) }
                throw PostgresCodingError(.typeMismatch, type: type, swiftType: T.self)
            }
        case .text:
            switch type {
            case .int2, .int4, .int8, .oid, .xid, .cid, .xid8, .unknown:
                return try parse(T.self, bytes, type: type)
            case .char where allowChar:
                // charout: empty for 0, \ooo for bytes with the high bit set, else the byte itself.
                let b: UInt8
                if bytes.isEmpty { b = 0 }
                else if bytes.count == 1 { b = bytes[bytes.startIndex] }
                else if bytes.count == 4, bytes.first == UInt8(ascii: "\\"),
                        let v = UInt8(String(decoding: bytes.dropFirst(), as: UTF8.self), radix: 8) { b = v }
                else { throw PostgresCodingError(.invalidData("not a \"char\" value"), type: type, swiftType: T.self) }
                return T.isSigned ? try fit(Int8(bitPattern: b)) : try fit(b)
            default:
                throw PostgresCodingError(.typeMismatch, type: type, swiftType: T.self)
            }
        }
    }

    static func oidLike(_ type: PostgresDataType) -> Bool {
        switch type.rawValue {
        case 26, 28, 29, 24, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191: return true
        default: return false
        }
    }

    /// Parses a decimal integer (optional sign, surrounding spaces) with overflow detection.
    static func parse<T: FixedWidthInteger>(_: T.Type, _ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresCodingError) -> T {
        var i = bytes.startIndex, end = bytes.endIndex
        while i < end, PostgresCodecSupport.isSpace(bytes[i]) { i += 1 }
        while end > i, PostgresCodecSupport.isSpace(bytes[end - 1]) { end -= 1 }
        var negative = false
        if i < end, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
            negative = bytes[i] == UInt8(ascii: "-")
            i += 1
        }
        guard i < end else { throw PostgresCodingError(.invalidData("not an integer"), type: type, swiftType: T.self) }
        var value: T = 0
        var overflow = false
        while i < end {
            let c = bytes[i]
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else {
                throw PostgresCodingError(.invalidData("not an integer"), type: type, swiftType: T.self)
            }
            let d = T(c - UInt8(ascii: "0"))
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            overflow = overflow || o1 || o2
            value = s
            i += 1
        }
        if overflow { throw PostgresCodingError(.overflow, type: type, swiftType: T.self) }
        return value
    }
}

extension Int: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .int8 }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(Int64(self))
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Int {
        try PostgresIntegerCodec.decode(Int.self, from: bytes, type: type, format: format, allowChar: false)
    }
}

extension Int64: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .int8 }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(self)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Int64 {
        try PostgresIntegerCodec.decode(Int64.self, from: bytes, type: type, format: format, allowChar: false)
    }
}

extension Int32: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .int4 }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(self)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Int32 {
        try PostgresIntegerCodec.decode(Int32.self, from: bytes, type: type, format: format, allowChar: false)
    }
}

extension Int16: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .int2 }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(self)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Int16 {
        try PostgresIntegerCodec.decode(Int16.self, from: bytes, type: type, format: format, allowChar: false)
    }
}

/// Int8 is PostgreSQL's one-byte `"char"` type (and reads any integer column that fits).
extension Int8: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .char }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.append(UInt8(bitPattern: self))
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Int8 {
        try PostgresIntegerCodec.decode(Int8.self, from: bytes, type: type, format: format, allowChar: true)
    }
}

/// UInt8 is PostgreSQL's one-byte `"char"` type; `[UInt8]` is `bytea`.
extension UInt8: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .char }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.append(self)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> UInt8 {
        try PostgresIntegerCodec.decode(UInt8.self, from: bytes, type: type, format: format, allowChar: true)
    }
}

/// UInt32 is `oid` (and reads xid, cid, regclass… in binary).
extension UInt32: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .oid }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(self)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> UInt32 {
        try PostgresIntegerCodec.decode(UInt32.self, from: bytes, type: type, format: format, allowChar: false)
    }
}

/// UInt64 is `xid8` (and reads pg_lsn and any non-negative integer column).
extension UInt64: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .xid8 }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(self)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> UInt64 {
        try PostgresIntegerCodec.decode(UInt64.self, from: bytes, type: type, format: format, allowChar: false)
    }
}

// MARK: Bool

extension Bool: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .bool }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.append(self ? 1 : 0)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Bool {
        guard type == .bool || type == .unknown else { throw PostgresCodingError(.typeMismatch, type: type, swiftType: Bool.self) }
        switch format {
        case .binary:
            switch try PostgresBinaryReader.exact(UInt8.self, bytes, type: type, swiftType: Bool.self) {
            case 0: return false
            case 1: return true
            case let b: throw PostgresCodingError(.invalidData("bool byte \(b)"), type: type, swiftType: Bool.self)
            }
        case .text:
            switch String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces).lowercased() {
            case "t", "true", "y", "yes", "on", "1": return true
            case "f", "false", "n", "no", "off", "0": return false
            case let s: throw PostgresCodingError(.invalidData("\"\(s)\" is not a boolean"), type: type, swiftType: Bool.self)
            }
        }
    }
}

// MARK: Floating point

enum PostgresFloatCodec {
    static func parse<F: BinaryFloatingPoint & LosslessStringConvertible>(_: F.Type = F.self, _ bytes: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> F {
        let s = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        switch s.lowercased() {
        case "nan": return .nan
        case "infinity", "+infinity", "inf", "+inf": return .infinity
        case "-infinity", "-inf": return -.infinity
        default:
            guard let d = F(s), !s.isEmpty else {
                throw PostgresCodingError(.invalidData("\"\(s)\" is not a number"), type: type, swiftType: swiftType)
            }
            return d
        }
    }
}

extension Double: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .float8 }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(bitPattern)
    }
    /// Reads float8 and float4 (exact widening); integer and numeric columns are a type mismatch.
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Double {
        switch (type, format) {
        case (.float8, .binary): return Double(bitPattern: try PostgresBinaryReader.exact(UInt64.self, bytes, type: type, swiftType: Double.self))
        case (.float4, .binary): return Double(Float(bitPattern: try PostgresBinaryReader.exact(UInt32.self, bytes, type: type, swiftType: Double.self)))
        case (.float8, .text), (.unknown, .text): return try PostgresFloatCodec.parse(Double.self, bytes, type: type, swiftType: Double.self)
        case (.float4, .text):
            // The text is float4's shortest form: parse it as a Float so the value is the float4 one.
            return Double(try PostgresFloatCodec.parse(Float.self, bytes, type: type, swiftType: Double.self))
        default: throw PostgresCodingError(.typeMismatch, type: type, swiftType: Double.self)
        }
    }
}

extension Float: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .float4 }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(bitPattern)
    }
    /// Reads float4; a float8 value only if it converts exactly (else `.overflow`).
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Float {
        switch (type, format) {
        case (.float4, .binary): return Float(bitPattern: try PostgresBinaryReader.exact(UInt32.self, bytes, type: type, swiftType: Float.self))
        case (.float4, .text), (.unknown, .text): return try PostgresFloatCodec.parse(Float.self, bytes, type: type, swiftType: Float.self)
        case (.float8, _):
            let d = try Double.decode(from: bytes, type: type, format: format, context: context)
            let f = Float(d)
            guard d.isNaN || Double(f) == d else { throw PostgresCodingError(.overflow, type: type, swiftType: Float.self) }
            return f
        default: throw PostgresCodingError(.typeMismatch, type: type, swiftType: Float.self)
        }
    }
}
