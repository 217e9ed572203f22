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
    /// The server's version as server_version_num (150018): output details that changed between
    /// releases follow it ("char" escapes from 15, shortest floats from 12). Default: current.
    public var serverVersionNumber: Int = 150_000

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
        if let version = parameters["server_version"].flatMap(Self.versionNumber) { serverVersionNumber = version }
    }

    /// "15.18 (Debian 15.18-0+deb12u1)" → 150018, "9.6.24" → 90624, "17beta1" → 170000, as libpq
    /// reads server_version (`sscanf("%d.%d.%d")`). The text is the server's: anything it cannot
    /// hold (no leading ASCII digit, a component or result beyond Int32) gives nil, never a trap.
    static func versionNumber(_ text: String) -> Int? {
        var numbers: [Int] = []
        var utf8 = Substring(text).utf8[...]
        while numbers.count < 3 {
            let digits = utf8.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            guard !digits.isEmpty, let value = Int32(String(decoding: digits, as: UTF8.self)) else { break }
            numbers.append(Int(value))
            utf8 = utf8.dropFirst(digits.count)
            guard utf8.first == UInt8(ascii: ".") else { break }
            utf8 = utf8.dropFirst()
        }
        guard let major = numbers.first else { return nil }
        // Each component fits in Int32, so this arithmetic cannot overflow Int (64-bit).
        let version: Int
        if numbers.count >= 3 {
            version = (major * 100 + numbers[1]) * 100 + numbers[2]
        } else if numbers.count == 2 {
            version = major >= 10 ? major * 10_000 + numbers[1] : (major * 100 + numbers[1]) * 100
        } else {
            version = major * 10_000
        }
        return Int32(exactly: version).map(Int.init)
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
        if builtinRenderable.contains(type.rawValue) { return true }
        guard depth < 8, let entry = registry.entry(for: type) else { return false }
        switch entry.kind {
        case .base: return entry.binary && entry.render != nil
        case .array(let element): return supports(element, registry: registry, depth: depth + 1)
        case .range(let subtype): return supports(subtype, registry: registry, depth: depth + 1)
        case .multirange(let range): return supports(range, registry: registry, depth: depth + 1)
        case .enumeration, .textual: return entry.binary
        case .composite: return entry.binary && type != .record
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
        formatFloat8(d, extraFloatDigits: extraFloatDigits, shortest: extraFloatDigits > 0)
    }

    static func formatFloat8(_ d: Double, extraFloatDigits: Int, shortest: Bool) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        if shortest { return PostgresFloatFormat.shortest(PostgresFloatFormat.ryuDigits(d), fixedExponentLimit: 15) }
        // The server's range for extra_float_digits is -15...3 (and the value may come from it).
        return PostgresFloatFormat.printfG(d, precision: max(1, 15 + min(max(extraFloatDigits, -15), 3)))
    }

    /// float4out: shortest round-trip digits (extra_float_digits > 0) or %.{6+n}g.
    public static func formatFloat4(_ f: Float, extraFloatDigits: Int = 1) -> String {
        formatFloat4(f, extraFloatDigits: extraFloatDigits, shortest: extraFloatDigits > 0)
    }

    static func formatFloat4(_ f: Float, extraFloatDigits: Int, shortest: Bool) -> String {
        if f.isNaN { return "NaN" }
        if f.isInfinite { return f < 0 ? "-Infinity" : "Infinity" }
        if shortest { return PostgresFloatFormat.shortest(PostgresFloatFormat.ryuDigits(f), fixedExponentLimit: 6) }
        return PostgresFloatFormat.printfG(Double(f), precision: max(1, 6 + min(max(extraFloatDigits, -15), 3)))
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

    /// Before 12, a positive extra_float_digits meant %g with more digits, not the shortest form.
    var shortestFloats: Bool { settings.extraFloatDigits > 0 && settings.serverVersionNumber >= 120_000 }

    func float8(_ bits: UInt64) -> String {
        PostgresTextRenderer.formatFloat8(Double(bitPattern: bits), extraFloatDigits: settings.extraFloatDigits, shortest: shortestFloats)
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
            if c >= 0x80 {
                // Before 15, charout printed the byte itself.
                if settings.serverVersionNumber < 150_000 { return String(decoding: [c], as: UTF8.self) }
                return "\\" + String(c >> 6) + String((c >> 3) & 7) + String(c & 7)
            }
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
        case 700: return PostgresTextRenderer.formatFloat4(Float(bitPattern: try exact(UInt32.self, bytes, type)),
                                                           extraFloatDigits: settings.extraFloatDigits, shortest: shortestFloats)
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

    /// Swift's `description` is the shortest string that reads back as the value, like the Ryu
    /// algorithm the server uses; but the server's Ryu never picks a boundary of the rounding
    /// interval (the midpoints to the neighbouring floats), which ties-to-even reading would accept
    /// for an even mantissa: 1e23 prints as 9.999999999999999e+22. Detect that case and redo it.
    static func ryuDigits(_ d: Double) -> String {
        let description = d.description
        guard d.isFinite, d.exponent >= 53, d.significandBitPattern & 1 == 0 else { return description }
        let m = (UInt64(1) << 52) | d.significandBitPattern
        let e = Int(d.exponent) - 52  // d = m * 2^e, e >= 1
        let isBound = { (text: String) in isMidpoint(text, mantissa: m, exponent: e, powerOfTwo: d.significandBitPattern == 0, maxPow5: 23) }
        guard isBound(description) else { return description }
        return alternative(d, description, maxDigits: 17) { Double($0) == d && !isBound($0) }
    }

    static func ryuDigits(_ f: Float) -> String {
        let description = f.description
        guard f.isFinite, f.exponent >= 24, f.significandBitPattern & 1 == 0 else { return description }
        let m = (UInt64(1) << 23) | UInt64(f.significandBitPattern)
        let e = Int(f.exponent) - 23
        let isBound = { (text: String) in isMidpoint(text, mantissa: m, exponent: e, powerOfTwo: f.significandBitPattern == 0, maxPow5: 10) }
        guard isBound(description) else { return description }
        return alternative(Double(f), description, maxDigits: 9) { Float($0) == f && !isBound($0) }
    }

    /// Whether the decimal `text` is exactly the midpoint between m·2^e (e ≥ 1) and a neighbour.
    private static func isMidpoint(_ text: String, mantissa m: UInt64, exponent e: Int, powerOfTwo: Bool, maxPow5: Int) -> Bool {
        guard let parts = decimalParts(text) else { return false }
        if equals(parts, odd: 2 * m + 1, twoExponent: e - 1, maxPow5: maxPow5) { return true }
        // Below a power of two the neighbour is half as far.
        return powerOfTwo ? equals(parts, odd: 4 * m - 1, twoExponent: e - 2, maxPow5: maxPow5)
                          : equals(parts, odd: 2 * m - 1, twoExponent: e - 1, maxPow5: maxPow5)
    }

    /// digits·10^k == odd·2^t, exactly (t ≥ 0, small k).
    private static func equals(_ parts: (UInt64, Int), odd: UInt64, twoExponent t: Int, maxPow5: Int) -> Bool {
        let (digits, k) = parts
        guard t >= 0, k >= 0, k <= maxPow5 else { return false }
        var p5: UInt64 = 1
        for _ in 0..<k { p5 *= 5 }
        guard odd % p5 == 0 else { return false }
        let q = odd / p5  // digits·2^k == q·2^t
        if t >= k {
            let shift = t - k
            guard shift < 64, q.leadingZeroBitCount > shift else { return false }
            return digits == q << shift
        }
        let shift = k - t
        guard shift < 64, digits.leadingZeroBitCount > shift else { return false }
        return digits << shift == q
    }

    /// The integer digits and power of ten of a decimal string ("9.5e+22" → (95, 21)).
    private static func decimalParts(_ text: String) -> (UInt64, Int)? {
        var s = Substring(text)
        if s.first == "-" { s = s.dropFirst() }
        var exponent = 0
        if let i = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let x = Int(s[s.index(after: i)...]) else { return nil }
            exponent = x
            s = s[..<i]
        }
        var digits: UInt64 = 0
        var seenPoint = false
        for c in s.utf8 {
            if c == UInt8(ascii: ".") { seenPoint = true; continue }
            let (m, o1) = digits.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 48))
            guard !o1, !o2 else { return nil }
            digits = a
            if seenPoint { exponent -= 1 }
        }
        while digits != 0, digits % 10 == 0 { digits /= 10; exponent += 1 }
        return (digits, exponent)
    }

    /// The shortest correctly rounded representation (at more digits than `description`) that
    /// `accept`s, as %e text.
    private static func alternative(_ value: Double, _ description: String, maxDigits: Int, accept: (String) -> Bool) -> String {
        let start = max(1, (decimalParts(description).map { String($0.0).count }) ?? 1)
        for length in start...maxDigits {
            let candidate = String(format: "%.*e", length - 1, value)
            if accept(candidate) { return candidate }
        }
        return String(format: "%.*e", maxDigits - 1, value)
    }

    /// C's %.{precision}g.
    static func printfG(_ d: Double, precision: Int) -> String {
        String(format: "%.*g", precision, d)
    }
}
