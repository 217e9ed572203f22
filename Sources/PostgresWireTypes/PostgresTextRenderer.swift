import Foundation

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
        var r = BinaryValueRenderer(settings: settings, registry: registry)
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
