import Foundation

/// The session settings that change how the server prints values.
public struct PostgresSessionSettings: Sendable, Hashable {
    public enum DateStyle: String, Sendable { case iso = "ISO", sql = "SQL", postgres = "Postgres", german = "German" }
    public enum DateOrder: String, Sendable { case mdy = "MDY", dmy = "DMY", ymd = "YMD" }
    public enum IntervalStyle: String, Sendable {
        case postgres
        case postgresVerbose = "postgres_verbose"
        case sqlStandard = "sql_standard"
        case iso8601 = "iso_8601"
    }
    public enum ByteaOutput: String, Sendable { case hex, escape }

    public var dateStyle: DateStyle
    public var dateOrder: DateOrder
    public var intervalStyle: IntervalStyle
    /// The TimeZone setting: a zoneinfo name ("Europe/Paris") or POSIX string ("<+05>-05").
    public var timeZone: String
    /// extra_float_digits: > 0 prints the shortest exact form (the default, 1), ≤ 0 prints
    /// 15 + n (float8) or 6 + n (float4) significant digits.
    public var extraFloatDigits: Int
    public var byteaOutput: ByteaOutput

    /// Settings from their GUC spellings: DateStyle "ISO, MDY", IntervalStyle "postgres", …
    public init(dateStyle: String = "ISO, MDY", intervalStyle: String = "postgres", timeZone: String = "UTC",
                extraFloatDigits: Int = 1, byteaOutput: String = "hex") {
        (self.dateStyle, self.dateOrder) = Self.parseDateStyle(dateStyle)
        self.intervalStyle = IntervalStyle(rawValue: intervalStyle.lowercased()) ?? .postgres
        self.timeZone = timeZone
        self.extraFloatDigits = extraFloatDigits
        self.byteaOutput = ByteaOutput(rawValue: byteaOutput.lowercased()) ?? .hex
    }

    /// Settings from the server's reported parameters (`connection.parameters`: DateStyle,
    /// IntervalStyle, TimeZone). extra_float_digits and bytea_output are not reported by the
    /// server: pass them if the session changed them (`SHOW extra_float_digits`).
    public init(parameters: [String: String], extraFloatDigits: Int = 1, byteaOutput: String = "hex") {
        self.init(dateStyle: parameters["DateStyle"] ?? "ISO, MDY", intervalStyle: parameters["IntervalStyle"] ?? "postgres",
                  timeZone: parameters["TimeZone"] ?? "UTC", extraFloatDigits: extraFloatDigits, byteaOutput: byteaOutput)
    }

    public static let `default` = PostgresSessionSettings()

    /// The DateStyle GUC: output style and field order, "German" implying DMY unless given.
    static func parseDateStyle(_ value: String) -> (DateStyle, DateOrder) {
        var style = DateStyle.iso
        var order: DateOrder?
        var germanDefault = false
        for raw in value.split(whereSeparator: { $0 == "," || $0 == " " }) {
            switch raw.lowercased() {
            case "iso": style = .iso
            case "sql": style = .sql
            case "postgres": style = .postgres
            case "german": style = .german; germanDefault = true
            case "ymd": order = .ymd
            case "dmy", "euro", "european": order = .dmy
            case "mdy", "us", "noneuro", "noneuropean": order = .mdy
            default: break
            }
        }
        return (style, order ?? (germanDefault ? .dmy : .mdy))
    }

    /// The DateStyle as the server reports it ("ISO, MDY").
    public var dateStyleString: String { "\(dateStyle.rawValue), \(dateOrder.rawValue)" }

    /// The resolved time zone (UTC if the name is unknown).
    var zone: PostgresTimeZone { PostgresTimeZone.named(timeZone) ?? .utc }
}

/// Prints binary-format values exactly as the server's text output functions would for the
/// session's settings: `pgwire query --binary` renders through this and must match psql byte for
/// byte. Types it cannot print (money, the reg* types, tsvector, xml…) report false from
/// `supportsBinary` and should be requested in text format.
public enum PostgresTextRenderer {
    /// Whether `render` can print this type's binary form (arrays, ranges and multiranges when
    /// their element type can; enums and textual types the registry knows; user types registered
    /// with a renderer). Anonymous `record` is not included: its fields may be of any type (even
    /// one without binary output), so request it as text.
    public static func supportsBinary(_ type: PostgresDataType, registry: PostgresTypeRegistry = .shared) -> Bool {
        supports(type, registry: registry, depth: 0)
    }

    private static let builtinRenderable: Set<UInt32> = [
        16, 17, 18, 19, 20, 21, 22, 23, 25, 26, 27, 28, 29, 30, 114, 600, 601, 602, 603, 604, 628, 650, 700, 701, 705, 718,
        774, 829, 869, 1042, 1043, 1082, 1083, 1114, 1184, 1186, 1266, 1560, 1562, 1700, 1790, 2950, 3220, 3802, 4072, 5069,
    ]

    private static func supports(_ type: PostgresDataType, registry: PostgresTypeRegistry, depth: Int) -> Bool {
        guard depth < 8, let entry = registry.entry(for: type), entry.binary else { return false }
        switch entry.kind {
        case .base: return builtinRenderable.contains(type.rawValue) || entry.render != nil
        case .array(let element): return supports(element, registry: registry, depth: depth + 1)
        case .range(let subtype): return supports(subtype, registry: registry, depth: depth + 1)
        case .multirange(let range): return supports(range, registry: registry, depth: depth + 1)
        case .enumeration, .textual: return true
        case .composite: return type != .record
        }
    }

    /// The server's text output for a binary value of `type` (non-NULL).
    public static func render(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, typeModifier: Int32 = -1,
                              settings: PostgresSessionSettings, registry: PostgresTypeRegistry = .shared) throws(PostgresCodingError) -> String {
        var r = Renderer(settings: settings, registry: registry)
        return try r.render(bytes, type: type, depth: 0)
    }

    /// float8out: shortest round-trip digits (extra_float_digits > 0) or %.{15+n}g.
    public static func formatFloat8(_ d: Double, extraFloatDigits: Int = 1) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        if extraFloatDigits > 0 { return PostgresFloatFormat.shortest(d.description, fixedExponentLimit: 15) }
        return PostgresFloatFormat.printfG(d, precision: max(1, 15 + extraFloatDigits))
    }

    /// float4out: shortest round-trip digits (extra_float_digits > 0) or %.{6+n}g.
    public static func formatFloat4(_ f: Float, extraFloatDigits: Int = 1) -> String {
        if f.isNaN { return "NaN" }
        if f.isInfinite { return f < 0 ? "-Infinity" : "Infinity" }
        if extraFloatDigits > 0 { return PostgresFloatFormat.shortest(f.description, fixedExponentLimit: 6) }
        return PostgresFloatFormat.printfG(Double(f), precision: max(1, 6 + extraFloatDigits))
    }

    // MARK: Quoting rules of the container output functions

    /// array_out: quote empty strings, "NULL" in any case, and values containing `"`, `\`, braces,
    /// the delimiter or whitespace; backslash-escape `"` and `\`.
    static func arrayElement(_ value: String, delimiter: UInt8) -> String {
        let bytes = Array(value.utf8)
        var needQuote = bytes.isEmpty || value.uppercased() == "NULL"
        for c in bytes where !needQuote {
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c == UInt8(ascii: "{") || c == UInt8(ascii: "}") || c == delimiter
                || c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C {
                needQuote = true
            }
        }
        guard needQuote else { return value }
        return quoted(bytes, doubleQuotes: false)
    }

    /// record_out / range_bound_escape: quote empty values and values containing `"`, `\`, the
    /// given specials or whitespace; double `"` and `\`.
    static func compositeElement(_ value: String, specials: [UInt8]) -> String {
        let bytes = Array(value.utf8)
        var needQuote = bytes.isEmpty
        for c in bytes where !needQuote {
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || specials.contains(c) || PostgresCodecSupport.isSpace(c) {
                needQuote = true
            }
        }
        guard needQuote else { return value }
        return quoted(bytes, doubleQuotes: true)
    }

    private static func quoted(_ bytes: [UInt8], doubleQuotes: Bool) -> String {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(bytes.count + 4)
        for c in bytes {
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { out.append(doubleQuotes ? c : UInt8(ascii: "\\")) }
            out.append(c)
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }
}

private struct Renderer {
    let settings: PostgresSessionSettings
    let registry: PostgresTypeRegistry
    var zoneCache: PostgresTimeZone?

    init(settings: PostgresSessionSettings, registry: PostgresTypeRegistry) {
        self.settings = settings
        self.registry = registry
    }

    func unsupported(_ type: PostgresDataType) -> PostgresCodingError {
        PostgresCodingError(.invalidData("no binary text renderer for this type"), type: type, swiftType: String.self)
    }

    func reader(_ bytes: ArraySlice<UInt8>, _ type: PostgresDataType) -> PostgresBinaryReader {
        PostgresBinaryReader(bytes, type: type, swiftType: String.self)
    }

    func exact<T: FixedWidthInteger>(_: T.Type, _ bytes: ArraySlice<UInt8>, _ type: PostgresDataType) throws(PostgresCodingError) -> T {
        try PostgresBinaryReader.exact(T.self, bytes, type: type, swiftType: String.self)
    }

    func text(_ bytes: ArraySlice<UInt8>, _ type: PostgresDataType) throws(PostgresCodingError) -> String {
        try PostgresCodecSupport.strictString(bytes, type: type, swiftType: String.self)
    }

    func float8(_ bits: UInt64) -> String {
        PostgresTextRenderer.formatFloat8(Double(bitPattern: bits), extraFloatDigits: settings.extraFloatDigits)
    }

    mutating func zone() -> PostgresTimeZone {
        if let zoneCache { return zoneCache }
        let z = settings.zone
        zoneCache = z
        return z
    }

    mutating func render(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, depth: Int) throws(PostgresCodingError) -> String {
        guard depth < 16 else { throw unsupported(type) }
        switch type.rawValue {
        case 16:
            switch try exact(UInt8.self, bytes, type) {
            case 0: return "f"
            case 1: return "t"
            case let b: throw reader(bytes, type).invalid("bool byte \(b)")
            }
        case 17: return bytea(bytes)
        case 18:
            let c = try exact(UInt8.self, bytes, type)
            if c == 0 { return "" }
            if c >= 0x80 { return "\\" + String(c >> 6) + String((c >> 3) & 7) + String(c & 7) }
            return String(UnicodeScalar(c))
        case 20: return String(try exact(Int64.self, bytes, type))
        case 21: return String(try exact(Int16.self, bytes, type))
        case 23: return String(try exact(Int32.self, bytes, type))
        case 26, 28, 29: return String(try exact(UInt32.self, bytes, type))
        case 5069: return String(try exact(UInt64.self, bytes, type))
        case 22, 30:
            let raw = try PostgresRawArray.parseBinary(bytes, type: type, swiftType: String.self)
            var parts: [String] = []
            for e in raw.elements {
                guard let e else { throw reader(bytes, type).invalid("NULL in a vector") }
                parts.append(try render(e, type: raw.elementType, depth: depth + 1))
            }
            return parts.joined(separator: " ")
        case 25, 19, 1042, 1043, 705, 114, 1790: return try text(bytes, type)
        case 3802, 4072:
            guard bytes.first == 1 else { throw reader(bytes, type).invalid("unsupported version") }
            return try text(bytes.dropFirst(), type)
        case 700: return PostgresTextRenderer.formatFloat4(Float(bitPattern: try exact(UInt32.self, bytes, type)), extraFloatDigits: settings.extraFloatDigits)
        case 701: return float8(try exact(UInt64.self, bytes, type))
        case 1700: return try PostgresNumeric.decodeBinary(bytes, type: type, swiftType: String.self).description
        case 2950:
            guard bytes.count == 16 else { throw reader(bytes, type).invalid("uuid needs 16 bytes") }
            var out: [UInt8] = []
            for (i, b) in bytes.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
                out.append(PostgresCodecSupport.hexDigits[Int(b >> 4)])
                out.append(PostgresCodecSupport.hexDigits[Int(b & 15)])
            }
            return String(decoding: out, as: UTF8.self)
        case 1082: return PostgresDateTimeFormat.date(PostgresDate(daysSince2000: try exact(Int32.self, bytes, type)), style: settings)
        case 1083: return PostgresDateTimeFormat.time(try exact(Int64.self, bytes, type))
        case 1266:
            var r = reader(bytes, type)
            let us = try r.readInteger(Int64.self, "time")
            let zone = try r.readInteger(Int32.self, "zone")
            try r.expectEnd()
            return PostgresDateTimeFormat.time(us) + PostgresDateTimeFormat.zoneOffset(westSeconds: Int(zone))
        case 1114: return PostgresDateTimeFormat.timestamp(try exact(Int64.self, bytes, type), zone: nil, style: settings)
        case 1184: return PostgresDateTimeFormat.timestamp(try exact(Int64.self, bytes, type), zone: zone(), style: settings)
        case 1186:
            let iv = try PostgresInterval.decode(from: bytes, type: type, format: .binary, context: .default)
            return PostgresDateTimeFormat.interval(iv, style: settings.intervalStyle)
        case 650, 869: return try PostgresInet.decodeBinary(bytes, type: type, swiftType: String.self).description
        case 829, 774:
            guard bytes.count == (type.rawValue == 829 ? 6 : 8) else { throw reader(bytes, type).invalid("wrong length") }
            return PostgresMacAddress(bytes: Array(bytes)).description
        case 27:
            var r = reader(bytes, type)
            let block = try r.readInteger(UInt32.self, "block")
            let offset = try r.readInteger(UInt16.self, "offset")
            try r.expectEnd()
            return "(\(block),\(offset))"
        case 3220:
            let v = try exact(UInt64.self, bytes, type)
            return String(v >> 32, radix: 16, uppercase: true) + "/" + String(v & 0xFFFF_FFFF, radix: 16, uppercase: true)
        case 1560, 1562:
            var r = reader(bytes, type)
            let bitCount = try r.readInteger(Int32.self, "bit length")
            guard bitCount >= 0, (Int(bitCount) + 7) / 8 == r.remaining else { throw r.invalid("bit length mismatch") }
            var out: [UInt8] = []
            out.reserveCapacity(Int(bitCount))
            for i in 0..<Int(bitCount) {
                let byte = bytes[bytes.startIndex + 4 + i / 8]
                out.append(byte & (0x80 >> UInt8(i % 8)) != 0 ? UInt8(ascii: "1") : UInt8(ascii: "0"))
            }
            return String(decoding: out, as: UTF8.self)
        case 600, 601, 602, 603, 604, 628, 718:
            return try geometric(bytes, type: type)
        default:
            break
        }
        guard let entry = registry.entry(for: type) else { throw unsupported(type) }
        switch entry.kind {
        case .array:
            return try array(bytes, type: type, depth: depth)
        case .range:
            return try range(bytes, type: type, depth: depth)
        case .multirange(let rangeType):
            var r = reader(bytes, type)
            let count = try r.readInteger(Int32.self, "range count")
            guard count >= 0, Int(count) <= r.remaining / 4 else { throw r.invalid("invalid range count") }
            var parts: [String] = []
            for _ in 0..<count {
                guard let rb = try r.readLengthPrefixed("range") else { throw r.invalid("NULL range") }
                parts.append(try range(rb, type: rangeType, depth: depth + 1))
            }
            try r.expectEnd()
            return "{" + parts.joined(separator: ",") + "}"
        case .enumeration, .textual:
            return try text(bytes, type)
        case .composite:
            let record = try PostgresRecord.parseBinary(bytes, type: type, swiftType: String.self)
            var out = "("
            for (i, f) in record.fields.enumerated() {
                if i > 0 { out += "," }
                guard let b = f.bytes else { continue }
                let s = try render(b[...], type: f.type, depth: depth + 1)
                out += PostgresTextRenderer.compositeElement(s, specials: [UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: ",")])
            }
            return out + ")"
        case .base:
            guard let render = entry.render else { throw unsupported(type) }
            do {
                return try render(bytes, settings)
            } catch let e as PostgresCodingError {
                throw e
            } catch {
                throw PostgresCodingError(.invalidData("\(error)"), type: type, swiftType: String.self)
            }
        }
    }

    func bytea(_ bytes: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        switch settings.byteaOutput {
        case .hex:
            out.reserveCapacity(2 + bytes.count * 2)
            out.append(UInt8(ascii: "\\"))
            out.append(UInt8(ascii: "x"))
            for b in bytes {
                out.append(PostgresCodecSupport.hexDigits[Int(b >> 4)])
                out.append(PostgresCodecSupport.hexDigits[Int(b & 15)])
            }
        case .escape:
            for b in bytes {
                if b == UInt8(ascii: "\\") {
                    out.append(b)
                    out.append(b)
                } else if b < 0x20 || b > 0x7e {
                    out.append(UInt8(ascii: "\\"))
                    out.append(48 + (b >> 6))
                    out.append(48 + ((b >> 3) & 7))
                    out.append(48 + (b & 7))
                } else {
                    out.append(b)
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func geometric(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws(PostgresCodingError) -> String {
        var r = reader(bytes, type)
        func f() throws(PostgresCodingError) -> String { float8(try r.readInteger(UInt64.self, "coordinate")) }
        func point() throws(PostgresCodingError) -> String { "(" + (try f()) + "," + (try f()) + ")" }
        func points(_ n: Int) throws(PostgresCodingError) -> String {
            var parts: [String] = []
            for _ in 0..<n { parts.append(try point()) }
            return parts.joined(separator: ",")
        }
        let out: String
        switch type.rawValue {
        case 600: out = try point()
        case 601: out = "[" + (try points(2)) + "]"
        case 603: out = try points(2)
        case 628: out = "{" + (try f()) + "," + (try f()) + "," + (try f()) + "}"
        case 718: out = "<" + (try point()) + "," + (try f()) + ">"
        case 602:
            let closed = try r.readUInt8("closed")
            let n = try r.readInteger(Int32.self, "points")
            guard n >= 0, Int(n) <= r.remaining / 16 else { throw r.invalid("invalid point count") }
            let body = try points(Int(n))
            out = closed != 0 ? "(" + body + ")" : "[" + body + "]"
        default:
            let n = try r.readInteger(Int32.self, "points")
            guard n >= 0, Int(n) <= r.remaining / 16 else { throw r.invalid("invalid point count") }
            out = "(" + (try points(Int(n))) + ")"
        }
        try r.expectEnd()
        return out
    }

    mutating func array(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, depth: Int) throws(PostgresCodingError) -> String {
        let raw = try PostgresRawArray.parseBinary(bytes, type: type, swiftType: String.self)
        if raw.dimensions.isEmpty { return "{}" }
        let delimiter = raw.elementType == PostgresDataType(603) ? UInt8(ascii: ";") : UInt8(ascii: ",")
        var texts: [String] = []
        texts.reserveCapacity(raw.elements.count)
        for e in raw.elements {
            if let e {
                texts.append(PostgresTextRenderer.arrayElement(try render(e, type: raw.elementType, depth: depth + 1), delimiter: delimiter))
            } else {
                texts.append("NULL")
            }
        }
        var out = ""
        if raw.dimensions.contains(where: { $0.lowerBound != 1 }) {
            for d in raw.dimensions { out += "[\(d.lowerBound):\(d.lowerBound + d.length - 1)]" }
            out += "="
        }
        let delim = String(UnicodeScalar(delimiter))
        var index = 0
        func level(_ dim: Int) {
            out += "{"
            for i in 0..<raw.dimensions[dim].length {
                if i > 0 { out += delim }
                if dim == raw.dimensions.count - 1 {
                    out += texts[index]
                    index += 1
                } else {
                    level(dim + 1)
                }
            }
            out += "}"
        }
        level(0)
        return out
    }

    mutating func range(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, depth: Int) throws(PostgresCodingError) -> String {
        guard case .range(let subtype)? = registry.kind(of: type) else { throw unsupported(type) }
        let raw = try PostgresRawRange.parseBinary(bytes, type: type, swiftType: String.self)
        if raw.isEmpty { return "empty" }
        let specials: [UInt8] = [UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ",")]
        var out = raw.flags & PostgresRawRange.lowerInclusive != 0 ? "[" : "("
        if let l = raw.lower { out += PostgresTextRenderer.compositeElement(try render(l, type: subtype, depth: depth + 1), specials: specials) }
        out += ","
        if let u = raw.upper { out += PostgresTextRenderer.compositeElement(try render(u, type: subtype, depth: depth + 1), specials: specials) }
        out += raw.flags & PostgresRawRange.upperInclusive != 0 ? "]" : ")"
        return out
    }
}

/// Float formatting as PostgreSQL's float4out/float8out produce it.
enum PostgresFloatFormat {
    /// Reformats Swift's shortest round-trip `description` (same digits as the server's Ryu) in
    /// PostgreSQL's layout: fixed notation for decimal exponents -4 ..< limit, else d.ddde±XX.
    static func shortest(_ swiftDescription: String, fixedExponentLimit: Int) -> String {
        var s = Substring(swiftDescription)
        var negative = false
        if s.first == "-" { negative = true; s = s.dropFirst() }
        var exponent = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(s[s.index(after: e)...]) ?? 0
            s = s[..<e]
        }
        var digits: [UInt8] = []
        var intDigits = 0
        var seenPoint = false
        for c in s.utf8 {
            if c == UInt8(ascii: ".") { seenPoint = true; continue }
            digits.append(c - 48)
            if !seenPoint { intDigits += 1 }
        }
        var e10 = intDigits - 1 + exponent
        while let first = digits.first, first == 0 { digits.removeFirst(); e10 -= 1 }
        while let last = digits.last, last == 0 { digits.removeLast() }
        let sign = negative ? "-" : ""
        if digits.isEmpty { return sign + "0" }
        let ds = String(decoding: digits.map { $0 + 48 }, as: UTF8.self)
        if e10 >= -4 && e10 < fixedExponentLimit {
            if e10 < 0 {
                return sign + "0." + String(repeating: "0", count: -e10 - 1) + ds
            }
            if digits.count <= e10 + 1 {
                return sign + ds + String(repeating: "0", count: e10 + 1 - digits.count)
            }
            let split = ds.index(ds.startIndex, offsetBy: e10 + 1)
            return sign + ds[..<split] + "." + ds[split...]
        }
        var out = sign + String(ds.first!)
        if digits.count > 1 { out += "." + ds.dropFirst() }
        out += e10 < 0 ? "e-" : "e+"
        let magnitude = abs(e10)
        out += magnitude < 10 ? "0\(magnitude)" : "\(magnitude)"
        return out
    }

    /// C's %.{precision}g.
    static func printfG(_ d: Double, precision: Int) -> String {
        String(format: "%.*g", precision, d)
    }
}
