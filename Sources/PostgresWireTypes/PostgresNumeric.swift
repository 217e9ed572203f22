import Foundation

/// A PostgreSQL `numeric` exactly as the server stores it: base-10000 digits, the weight of the
/// first one, the display scale, and the sign (or NaN / ±Infinity). Lossless for every value the
/// server can hold (up to 131072 digits before the point and 16383 after).
///
/// `description` is PostgreSQL's own text output (numeric_out) and `init?(_ string:)` parses what
/// numeric_in accepts. Equality compares the representation: `1.0` and `1.00` differ (their
/// display scales do), as they print differently.
public struct PostgresNumeric: Sendable, Hashable, CustomStringConvertible, LosslessStringConvertible {
    public enum Sign: UInt16, Sendable {
        case positive = 0x0000
        case negative = 0x4000
        case nan = 0xC000
        case infinity = 0xD000
        case negativeInfinity = 0xF000
    }

    public var sign: Sign
    /// The power of 10000 of `digits[0]`.
    public var weight: Int16
    /// Digits shown after the decimal point (dscale).
    public var displayScale: Int16
    /// Base-10000 digits (each 0...9999), most significant first, without leading or trailing zero digits.
    public var digits: [Int16]

    public init(sign: Sign, weight: Int16, displayScale: Int16, digits: [Int16]) {
        self.sign = sign
        self.weight = weight
        self.displayScale = displayScale
        self.digits = digits
    }

    public static let nan = PostgresNumeric(sign: .nan, weight: 0, displayScale: 0, digits: [])
    public static let infinity = PostgresNumeric(sign: .infinity, weight: 0, displayScale: 0, digits: [])
    public static let negativeInfinity = PostgresNumeric(sign: .negativeInfinity, weight: 0, displayScale: 0, digits: [])
    public static let zero = PostgresNumeric(sign: .positive, weight: 0, displayScale: 0, digits: [])

    public var isNaN: Bool { sign == .nan }
    public var isInfinite: Bool { sign == .infinity || sign == .negativeInfinity }
    public var isFinite: Bool { sign == .positive || sign == .negative }
    public var isZero: Bool { isFinite && digits.allSatisfy { $0 == 0 } }

    // MARK: Text

    /// numeric_out.
    public var description: String {
        switch sign {
        case .nan: return "NaN"
        case .infinity: return "Infinity"
        case .negativeInfinity: return "-Infinity"
        case .positive, .negative: break
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count * 4 + Int(max(displayScale, 0)) + 4)
        if sign == .negative { out.append(UInt8(ascii: "-")) }
        let ndigits = digits.count
        var d = 0
        if weight < 0 {
            d = Int(weight) + 1
            out.append(UInt8(ascii: "0"))
        } else {
            while d <= Int(weight) {
                let dig = d < ndigits ? Int(digits[d]) : 0
                var putit = d > 0
                for divisor in [1000, 100, 10] {
                    let q = (dig / divisor) % 10
                    putit = putit || q > 0
                    if putit { out.append(UInt8(48 + q)) }
                }
                out.append(UInt8(48 + dig % 10))
                d += 1
            }
        }
        let dscale = Int(displayScale)
        if dscale > 0 {
            out.append(UInt8(ascii: "."))
            var written = 0
            while written < dscale {
                let dig = d >= 0 && d < ndigits ? Int(digits[d]) : 0
                for divisor in [1000, 100, 10, 1] where written < dscale {
                    out.append(UInt8(48 + (dig / divisor) % 10))
                    written += 1
                }
                d += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses numeric_in's syntax: optional sign, digits with an optional point, an optional
    /// exponent, surrounding whitespace; or NaN, Infinity, inf (any case, signed).
    public init?(_ string: String) {
        let trimmed = string.trimmingCharacters(in: .whitespacesAndNewlines)
        switch trimmed.lowercased() {
        case "nan": self = .nan; return
        case "infinity", "+infinity", "inf", "+inf": self = .infinity; return
        case "-infinity", "-inf": self = .negativeInfinity; return
        default: break
        }
        var chars = Array(trimmed.utf8)[...]
        var negative = false
        if let c = chars.first, c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
            negative = c == UInt8(ascii: "-")
            chars = chars.dropFirst()
        }
        var decimalDigits: [UInt8] = []
        var dweight = -1
        var dscale = 0
        var seenPoint = false
        var seenDigit = false
        while let c = chars.first {
            if c >= 48 && c <= 57 {
                decimalDigits.append(c - 48)
                seenDigit = true
                if seenPoint { dscale += 1 } else { dweight += 1 }
            } else if c == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
            } else {
                break
            }
            chars = chars.dropFirst()
        }
        guard seenDigit else { return nil }
        if let c = chars.first, c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            chars = chars.dropFirst()
            var expNegative = false
            if let s = chars.first, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") {
                expNegative = s == UInt8(ascii: "-")
                chars = chars.dropFirst()
            }
            guard !chars.isEmpty, chars.count <= 9, chars.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            var exponent = chars.reduce(0) { $0 * 10 + Int($1 - 48) }
            chars = chars.dropLast(chars.count)
            if expNegative { exponent = -exponent }
            guard abs(exponent) <= 1_000_000 else { return nil }
            dweight += exponent
            dscale = max(0, dscale - exponent)
        }
        guard chars.isEmpty else { return nil }
        guard let value = Self.fromDecimalDigits(decimalDigits, dweight: dweight, dscale: dscale, negative: negative) else { return nil }
        self = value
    }

    /// Builds a numeric from decimal digits whose first has power of ten `dweight` (set_var_from_str).
    static func fromDecimalDigits(_ decimalDigits: [UInt8], dweight: Int, dscale: Int, negative: Bool) -> PostgresNumeric? {
        let ddigits = decimalDigits.count
        let weight = dweight >= 0 ? (dweight + 1 + 3) / 4 - 1 : -((-dweight - 1) / 4 + 1)
        let offset = (weight + 1) * 4 - (dweight + 1)
        let ndigits = (ddigits + offset + 3) / 4
        var groups = [Int16](repeating: 0, count: ndigits)
        for (i, d) in decimalDigits.enumerated() {
            let pos = i + offset
            groups[pos / 4] += Int16(d) * [1000, 100, 10, 1][pos % 4]
        }
        // Strip leading and trailing zero digits (make_result).
        var w = weight
        var start = 0
        while start < groups.count, groups[start] == 0 { start += 1; w -= 1 }
        var end = groups.count
        while end > start, groups[end - 1] == 0 { end -= 1 }
        let stripped = Array(groups[start..<end])
        guard dscale <= Int(Int16.max), w >= Int(Int16.min), w <= Int(Int16.max) else { return nil }
        if stripped.isEmpty {
            return PostgresNumeric(sign: .positive, weight: 0, displayScale: Int16(dscale), digits: [])
        }
        return PostgresNumeric(sign: negative ? .negative : .positive, weight: Int16(w), displayScale: Int16(dscale), digits: stripped)
    }

    // MARK: Conversions

    public init<T: BinaryInteger>(_ value: T) {
        self.init(String(value))!
    }

    /// The exact value of a Decimal (its exponent gives the display scale); NaN becomes NaN.
    public init(_ decimal: Decimal) {
        if decimal.isNaN { self = .nan; return }
        let significand = decimal.significand.magnitude.description
        let digits = significand.utf8.map { $0 - 48 }
        let exponent = Int(decimal.exponent)
        let value = Self.fromDecimalDigits(digits, dweight: digits.count - 1 + exponent, dscale: max(0, -exponent),
                                           negative: decimal.isSignMinus && !decimal.isZero)
        self = value ?? .nan
    }

    /// The significant decimal digits (no leading or trailing zeros) and the power of ten of the last.
    var decimalSignificand: (digits: [UInt8], exponent: Int) {
        var out: [UInt8] = []
        out.reserveCapacity(digits.count * 4)
        for g in digits {
            let v = Int(g)
            out.append(contentsOf: [UInt8(v / 1000), UInt8(v / 100 % 10), UInt8(v / 10 % 10), UInt8(v % 10)])
        }
        var exponent = (Int(weight) - digits.count + 1) * 4
        while let last = out.last, last == 0 { out.removeLast(); exponent += 1 }
        let leading = out.prefix { $0 == 0 }.count
        out.removeFirst(leading)
        if out.isEmpty { exponent = 0 }
        return (out, exponent)
    }

    /// The value as a Foundation Decimal, or nil for NaN, ±Infinity, more than 38 significant
    /// digits, or a magnitude out of Decimal's range (nothing is rounded).
    public var decimalValue: Decimal? {
        guard isFinite else { return nil }
        var (digits, exponent) = decimalSignificand
        if digits.isEmpty { return Decimal(0) }
        while exponent > 127, digits.count < 38 { digits.append(0); exponent -= 1 }
        guard digits.count <= 38, exponent >= -128, exponent <= 127,
              let significand = Decimal(string: String(decoding: digits.map { $0 + 48 }, as: UTF8.self)) else { return nil }
        return Decimal(sign: sign == .negative ? .minus : .plus, exponent: exponent, significand: significand)
    }

    /// The nearest Double (NaN and ±Infinity map to theirs).
    public var doubleValue: Double {
        switch sign {
        case .nan: return .nan
        case .infinity: return .infinity
        case .negativeInfinity: return -.infinity
        default: return Double(description) ?? .nan
        }
    }

    // MARK: Binary

    func encodeBinary(into buffer: inout [UInt8]) {
        buffer.appendBigEndian(Int16(truncatingIfNeeded: digits.count))
        buffer.appendBigEndian(weight)
        buffer.appendBigEndian(sign.rawValue)
        buffer.appendBigEndian(displayScale)
        for d in digits { buffer.appendBigEndian(d) }
    }

    static func decodeBinary(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> PostgresNumeric {
        var r = PostgresBinaryReader(bytes, type: type, swiftType: swiftType)
        let ndigits = try r.readInteger(Int16.self, "ndigits")
        let weight = try r.readInteger(Int16.self, "weight")
        let rawSign = try r.readInteger(UInt16.self, "sign")
        let dscale = try r.readInteger(Int16.self, "dscale")
        guard ndigits >= 0 else { throw r.invalid("negative digit count") }
        guard let sign = Sign(rawValue: rawSign) else { throw r.invalid("invalid sign 0x\(String(rawSign, radix: 16))") }
        guard dscale >= 0 else { throw r.invalid("invalid display scale \(dscale)") }
        var digits: [Int16] = []
        digits.reserveCapacity(Int(ndigits))
        for _ in 0..<ndigits {
            let d = try r.readInteger(Int16.self, "digit")
            guard d >= 0, d < 10000 else { throw r.invalid("invalid digit \(d)") }
            digits.append(d)
        }
        try r.expectEnd()
        return PostgresNumeric(sign: sign, weight: weight, displayScale: dscale, digits: digits)
    }

    static func decodeAny(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                          swiftType: Any.Type) throws(PostgresCodingError) -> PostgresNumeric {
        switch (type, format) {
        case (.numeric, .binary): return try decodeBinary(bytes, type: type, swiftType: swiftType)
        case (.numeric, .text), (.unknown, .text), (.int2, .text), (.int4, .text), (.int8, .text):
            guard let n = PostgresNumeric(String(decoding: bytes, as: UTF8.self)) else {
                throw PostgresCodingError(.invalidData("not a numeric"), type: type, swiftType: swiftType)
            }
            return n
        case (.int2, .binary), (.int4, .binary), (.int8, .binary):
            return PostgresNumeric(try PostgresIntegerCodec.decode(Int64.self, from: bytes, type: type, format: format, allowChar: false))
        default:
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: swiftType)
        }
    }
}

extension PostgresNumeric: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .numeric }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        encodeBinary(into: &buffer)
    }
    /// Reads numeric and integer columns.
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresNumeric {
        try decodeAny(bytes, type: type, format: format, swiftType: PostgresNumeric.self)
    }
}

extension Decimal: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .numeric }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        PostgresNumeric(self).encodeBinary(into: &buffer)
    }
    /// Reads numeric and integer columns; NaN, ±Infinity and values Decimal cannot hold exactly
    /// (more than 38 significant digits, magnitude out of range) are `.overflow`.
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Decimal {
        let n = try PostgresNumeric.decodeAny(bytes, type: type, format: format, swiftType: Decimal.self)
        guard let d = n.decimalValue else { throw PostgresCodingError(.overflow, type: type, swiftType: Decimal.self) }
        return d
    }
}
