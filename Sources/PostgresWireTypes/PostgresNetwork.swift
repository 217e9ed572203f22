import Foundation

/// A PostgreSQL `inet` or `cidr` value: an IPv4 or IPv6 address with a prefix length.
/// `description` is the server's text output (inet_out / cidr_out).
public struct PostgresInet: Sendable, Hashable, CustomStringConvertible, LosslessStringConvertible {
    /// 4 bytes (IPv4) or 16 bytes (IPv6), network order.
    public var address: [UInt8]
    /// The netmask length in bits (0...32 or 0...128).
    public var prefixLength: UInt8
    /// Whether this is a `cidr` (prints /n always; no bits set right of the mask).
    public var isCIDR: Bool

    public var isIPv6: Bool { address.count == 16 }
    public var maxPrefixLength: UInt8 { isIPv6 ? 128 : 32 }

    public init(address: [UInt8], prefixLength: UInt8? = nil, isCIDR: Bool = false) {
        self.address = address
        self.prefixLength = prefixLength ?? (address.count == 16 ? 128 : 32)
        self.isCIDR = isCIDR
    }

    /// Parses "a.b.c.d[/n]" or an IPv6 address "[/n]".
    public init?(_ string: String) { self.init(string, isCIDR: false) }

    public init?(_ string: String, isCIDR: Bool) {
        let parts = string.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let host = String(parts[0])
        var bytes: [UInt8]
        if host.contains(":") {
            bytes = [UInt8](repeating: 0, count: 16)
            guard inet_pton(AF_INET6, host, &bytes) == 1 else { return nil }
        } else {
            let octets = host.split(separator: ".", omittingEmptySubsequences: false)
            guard octets.count == 4 else { return nil }
            bytes = []
            for o in octets {
                guard let v = UInt8(o) else { return nil }
                bytes.append(v)
            }
        }
        var bits = UInt8(bytes.count * 8)
        if parts.count == 2 {
            guard let b = UInt8(parts[1]), b <= bits else { return nil }
            bits = b
        }
        self.init(address: bytes, prefixLength: bits, isCIDR: isCIDR)
    }

    public var description: String {
        var s = isIPv6 ? Self.formatIPv6(address) : address.map(String.init).joined(separator: ".")
        if isCIDR || prefixLength != maxPrefixLength { s += "/\(prefixLength)" }
        return s
    }

    /// PostgreSQL's inet_net_ntop_ipv6: the longest run (first if tied) of two or more zero
    /// groups becomes "::"; IPv4-mapped and IPv4-compatible addresses end in dotted decimal.
    static func formatIPv6(_ src: [UInt8]) -> String {
        var words = [Int](repeating: 0, count: 8)
        for i in 0..<16 { words[i / 2] |= Int(src[i]) << ((1 - i % 2) * 8) }
        var best = (base: -1, len: 0), cur = (base: -1, len: 0)
        for i in 0..<8 {
            if words[i] == 0 {
                if cur.base == -1 { cur = (i, 1) } else { cur.len += 1 }
            } else if cur.base != -1 {
                if best.base == -1 || cur.len > best.len { best = cur }
                cur.base = -1
            }
        }
        if cur.base != -1, best.base == -1 || cur.len > best.len { best = cur }
        if best.base != -1, best.len < 2 { best.base = -1 }
        var out = ""
        var i = 0
        while i < 8 {
            if best.base != -1, i >= best.base, i < best.base + best.len {
                if i == best.base { out += ":" }
                i += 1
                continue
            }
            if i != 0 { out += ":" }
            if i == 6, best.base == 0, best.len == 6 || (best.len == 7 && words[7] != 1) || (best.len == 5 && words[5] == 0xffff) {
                out += src[12..<16].map(String.init).joined(separator: ".")
                return out
            }
            out += String(words[i], radix: 16)
            i += 1
        }
        if best.base != -1, best.base + best.len == 8 { out += ":" }
        return out
    }

    func encodeBinary(into buffer: inout [UInt8]) {
        buffer.append(isIPv6 ? 3 : 2)
        buffer.append(prefixLength)
        buffer.append(isCIDR ? 1 : 0)
        buffer.append(UInt8(address.count))
        buffer.append(contentsOf: address)
    }

    static func decodeBinary(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> PostgresInet {
        var r = PostgresBinaryReader(bytes, type: type, swiftType: swiftType)
        let family = try r.readUInt8("family")
        let bits = try r.readUInt8("bits")
        _ = try r.readUInt8("is_cidr")
        let count = try r.readUInt8("address length")
        guard (family == 2 && count == 4) || (family == 3 && count == 16) else { throw r.invalid("invalid address family \(family)/\(count)") }
        guard bits <= count * 8 else { throw r.invalid("invalid prefix length \(bits)") }
        let address = Array(try r.readBytes(Int(count), "address"))
        try r.expectEnd()
        return PostgresInet(address: address, prefixLength: bits, isCIDR: type == .cidr)
    }
}

extension PostgresInet: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .inet }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        guard address.count == 4 || address.count == 16, prefixLength <= maxPrefixLength else {
            throw PostgresCodingError(.invalidData("address must be 4 or 16 bytes"), type: .inet, swiftType: Self.self)
        }
        encodeBinary(into: &buffer)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresInet {
        switch (type, format) {
        case (.inet, .binary), (.cidr, .binary): return try decodeBinary(bytes, type: type, swiftType: Self.self)
        case (.inet, .text), (.cidr, .text), (.unknown, .text):
            guard let v = PostgresInet(String(decoding: bytes, as: UTF8.self), isCIDR: type == .cidr) else {
                throw PostgresCodingError(.invalidData("not an inet value"), type: type, swiftType: Self.self)
            }
            return v
        default: throw PostgresCodingError(.typeMismatch, type: type, swiftType: Self.self)
        }
    }
}

/// A PostgreSQL `macaddr` (6 bytes) or `macaddr8` (8 bytes).
public struct PostgresMacAddress: Sendable, Hashable, CustomStringConvertible, LosslessStringConvertible {
    public var bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses "08:00:2b:01:02:03" (also '-' or '.' separated and bare hex forms).
    public init?(_ string: String) {
        // ASCII only: Character.isHexDigit also accepts fullwidth forms ('０'), which radix parsing rejects.
        let hex = string.utf8.compactMap { PostgresCodecSupport.hexValue($0) }
        guard hex.count == 12 || hex.count == 16 else { return nil }
        var out: [UInt8] = []
        var it = hex.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(a << 4 | b) }
        bytes = out
    }

    /// "08:00:2b:01:02:03".
    public var description: String {
        bytes.map { b in
            let h = PostgresCodecSupport.hexDigits
            return String(decoding: [h[Int(b >> 4)], h[Int(b & 15)]], as: UTF8.self)
        }.joined(separator: ":")
    }
}

extension PostgresMacAddress: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .macaddr }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        guard bytes.count == 6 else {
            throw PostgresCodingError(.invalidData("macaddr needs 6 bytes (send an 8-byte address as text to macaddr8)"),
                                      type: .macaddr, swiftType: Self.self)
        }
        buffer.append(contentsOf: bytes)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresMacAddress {
        switch (type, format) {
        case (.macaddr, .binary), (.macaddr8, .binary):
            guard bytes.count == (type == .macaddr ? 6 : 8) else {
                throw PostgresCodingError(.invalidData("wrong length \(bytes.count)"), type: type, swiftType: Self.self)
            }
            return PostgresMacAddress(bytes: Array(bytes))
        case (.macaddr, .text), (.macaddr8, .text), (.unknown, .text):
            guard let v = PostgresMacAddress(String(decoding: bytes, as: UTF8.self)) else {
                throw PostgresCodingError(.invalidData("not a MAC address"), type: type, swiftType: Self.self)
            }
            return v
        default: throw PostgresCodingError(.typeMismatch, type: type, swiftType: Self.self)
        }
    }
}
