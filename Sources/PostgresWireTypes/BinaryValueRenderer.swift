import Foundation

/// The per-call state of `PostgresTextRenderer.render`: one binary value printed as the server's
/// text output function would for these settings.
struct BinaryValueRenderer {
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
