/// A PostgreSQL range (int4range, tstzrange, a user range…): bounds that are nil are unbounded.
public struct PostgresRange<Bound> {
    public var lower: Bound?
    public var upper: Bound?
    public var lowerInclusive: Bool
    public var upperInclusive: Bool
    public var isEmpty: Bool

    public init(lower: Bound?, upper: Bound?, lowerInclusive: Bool = true, upperInclusive: Bool = false) {
        self.lower = lower
        self.upper = upper
        self.lowerInclusive = lower != nil && lowerInclusive
        self.upperInclusive = upper != nil && upperInclusive
        self.isEmpty = false
    }

    public static var empty: PostgresRange<Bound> {
        var r = PostgresRange(lower: nil, upper: nil)
        r.isEmpty = true
        return r
    }
}

extension PostgresRange: Sendable where Bound: Sendable {}
extension PostgresRange: Equatable where Bound: Equatable {}
extension PostgresRange: Hashable where Bound: Hashable {}

/// A PostgreSQL multirange: its ranges in order.
public struct PostgresMultirange<Bound> {
    public var ranges: [PostgresRange<Bound>]
    public init(_ ranges: [PostgresRange<Bound>]) { self.ranges = ranges }
}

extension PostgresMultirange: Sendable where Bound: Sendable {}
extension PostgresMultirange: Equatable where Bound: Equatable {}
extension PostgresMultirange: Hashable where Bound: Hashable {}

/// A range read from the wire, bounds still undecoded.
struct PostgresRawRange {
    static let empty: UInt8 = 0x01, lowerInclusive: UInt8 = 0x02, upperInclusive: UInt8 = 0x04
    static let lowerInfinite: UInt8 = 0x08, upperInfinite: UInt8 = 0x10

    var flags: UInt8
    var lower: ArraySlice<UInt8>?
    var upper: ArraySlice<UInt8>?

    var isEmpty: Bool { flags & Self.empty != 0 }

    static func parseBinary(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> PostgresRawRange {
        var r = PostgresBinaryReader(bytes, type: type, swiftType: swiftType)
        let flags = try r.readUInt8("flags")
        var raw = PostgresRawRange(flags: flags, lower: nil, upper: nil)
        if flags & empty == 0 {
            if flags & lowerInfinite == 0 {
                guard let l = try r.readLengthPrefixed("lower bound") else { throw r.invalid("NULL lower bound") }
                raw.lower = l
            }
            if flags & upperInfinite == 0 {
                guard let u = try r.readLengthPrefixed("upper bound") else { throw r.invalid("NULL upper bound") }
                raw.upper = u
            }
        }
        try r.expectEnd("range")
        return raw
    }

    /// range_in's syntax; returns the range and the index after it.
    static func parseText(_ s: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> (PostgresRawRange, Int) {
        func invalid() -> PostgresCodingError {
            PostgresCodingError(.invalidData("malformed range literal"), type: type, swiftType: swiftType)
        }
        var i = s.startIndex
        while i < s.endIndex, PostgresCodecSupport.isSpace(s[i]) { i += 1 }
        let emptyWord = Array("empty".utf8)
        if s.endIndex - i >= 5, s[i..<(i + 5)].map({ $0 | 0x20 }) == emptyWord {
            return (PostgresRawRange(flags: empty, lower: nil, upper: nil), i + 5)
        }
        guard i < s.endIndex, s[i] == UInt8(ascii: "[") || s[i] == UInt8(ascii: "(") else { throw invalid() }
        var flags: UInt8 = s[i] == UInt8(ascii: "[") ? lowerInclusive : 0
        i += 1
        func bound(_ terminators: [UInt8]) throws(PostgresCodingError) -> ArraySlice<UInt8>? {
            guard let field = PostgresCodecSupport.readQuotedField(s, &i, terminators: terminators) else { throw invalid() }
            return field.present ? field.bytes[...] : nil
        }
        let lower = try bound([UInt8(ascii: ",")])
        guard i < s.endIndex, s[i] == UInt8(ascii: ",") else { throw invalid() }
        i += 1
        let upper = try bound([UInt8(ascii: "]"), UInt8(ascii: ")")])
        guard i < s.endIndex else { throw invalid() }
        if s[i] == UInt8(ascii: "]") { flags |= upperInclusive }
        i += 1
        if lower == nil { flags = (flags & ~lowerInclusive) | lowerInfinite }
        if upper == nil { flags = (flags & ~upperInclusive) | upperInfinite }
        return (PostgresRawRange(flags: flags, lower: lower, upper: upper), i)
    }

    static func subtype(of type: PostgresDataType, context: PostgresDecodingContext, swiftType: Any.Type) throws(PostgresCodingError) -> PostgresDataType {
        if case .range(let subtype)? = context.registry.kind(of: type) { return subtype }
        throw PostgresCodingError(.typeMismatch, type: type, swiftType: swiftType)
    }

    func decode<B: PostgresDecodable>(_: B.Type, subtype: PostgresDataType, format: PostgresFormat,
                                      context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresRange<B> {
        if isEmpty { return .empty }
        let l = try lower.map { (b) throws(PostgresCodingError) in try B.decode(from: b, type: subtype, format: format, context: context) }
        let u = try upper.map { (b) throws(PostgresCodingError) in try B.decode(from: b, type: subtype, format: format, context: context) }
        return PostgresRange(lower: l, upper: u, lowerInclusive: flags & Self.lowerInclusive != 0,
                             upperInclusive: flags & Self.upperInclusive != 0)
    }
}

extension PostgresRange: PostgresDecodable where Bound: PostgresDecodable {
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresRange<Bound> {
        let subtype = try PostgresRawRange.subtype(of: type, context: context, swiftType: Self.self)
        let raw: PostgresRawRange
        if format == .binary {
            raw = try PostgresRawRange.parseBinary(bytes, type: type, swiftType: Self.self)
        } else {
            let (r, end) = try PostgresRawRange.parseText(bytes, type: type, swiftType: Self.self)
            guard bytes[end...].allSatisfy(PostgresCodecSupport.isSpace) else {
                throw PostgresCodingError(.invalidData("junk after range"), type: type, swiftType: Self.self)
            }
            raw = r
        }
        return try raw.decode(Bound.self, subtype: subtype, format: format, context: context)
    }
}

extension PostgresRange: PostgresEncodable where Bound: PostgresEncodable {
    /// The built-in range over `Bound`'s type (int4range, int8range, numrange, tsrange, tstzrange,
    /// daterange), or a registered one.
    public static var postgresDataType: PostgresDataType {
        PostgresTypeRegistry.shared.rangeType(of: Bound.postgresDataType) ?? .unspecified
    }
    public static var postgresFormat: PostgresFormat { .binary }

    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        if isEmpty {
            buffer.append(PostgresRawRange.empty)
            return
        }
        var flags: UInt8 = 0
        if lower == nil { flags |= PostgresRawRange.lowerInfinite } else if lowerInclusive { flags |= PostgresRawRange.lowerInclusive }
        if upper == nil { flags |= PostgresRawRange.upperInfinite } else if upperInclusive { flags |= PostgresRawRange.upperInclusive }
        buffer.append(flags)
        for b in [lower, upper] {
            if let b { try buffer.appendLengthPrefixed { (out: inout [UInt8]) throws(PostgresCodingError) in try b.encode(into: &out, context: context) } }
        }
    }
}

extension PostgresMultirange: PostgresDecodable where Bound: PostgresDecodable {
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresMultirange<Bound> {
        guard case .multirange(let rangeType)? = context.registry.kind(of: type) else {
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: Self.self)
        }
        var ranges: [PostgresRange<Bound>] = []
        if format == .binary {
            var r = PostgresBinaryReader(bytes, type: type, swiftType: Self.self)
            let count = try r.readInteger(Int32.self, "range count")
            guard count >= 0, Int(count) <= r.remaining / 4 else { throw r.invalid("invalid range count \(count)") }
            for _ in 0..<count {
                guard let rb = try r.readLengthPrefixed("range") else { throw r.invalid("NULL range") }
                ranges.append(try PostgresRange<Bound>.decode(from: rb, type: rangeType, format: .binary, context: context))
            }
            try r.expectEnd("multirange")
        } else {
            let s = bytes
            var i = s.startIndex
            func invalid() -> PostgresCodingError { PostgresCodingError(.invalidData("malformed multirange literal"), type: type, swiftType: Self.self) }
            while i < s.endIndex, PostgresCodecSupport.isSpace(s[i]) { i += 1 }
            guard i < s.endIndex, s[i] == UInt8(ascii: "{") else { throw invalid() }
            i += 1
            let subtype = try PostgresRawRange.subtype(of: rangeType, context: context, swiftType: Self.self)
            while i < s.endIndex, s[i] != UInt8(ascii: "}") {
                let (raw, end) = try PostgresRawRange.parseText(s[i...], type: rangeType, swiftType: Self.self)
                ranges.append(try raw.decode(Bound.self, subtype: subtype, format: .text, context: context))
                i = end
                while i < s.endIndex, PostgresCodecSupport.isSpace(s[i]) { i += 1 }
                if i < s.endIndex, s[i] == UInt8(ascii: ",") { i += 1 }
            }
            guard i < s.endIndex else { throw invalid() }
        }
        return PostgresMultirange(ranges)
    }
}

extension PostgresMultirange: PostgresEncodable where Bound: PostgresEncodable {
    public static var postgresDataType: PostgresDataType {
        PostgresTypeRegistry.shared.multirangeType(of: PostgresRange<Bound>.postgresDataType) ?? .unspecified
    }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(Int32(ranges.count))
        for r in ranges {
            try buffer.appendLengthPrefixed { (out: inout [UInt8]) throws(PostgresCodingError) in try r.encode(into: &out, context: context) }
        }
    }
}
