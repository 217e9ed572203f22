/// Bounds-checked big-endian reads over one value's bytes; every failure is a `PostgresCodingError`
/// (`invalidData`), so malformed input never traps.
struct PostgresBinaryReader {
    let bytes: ArraySlice<UInt8>
    private(set) var index: Int
    let type: PostgresDataType
    let swiftType: Any.Type

    init(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) {
        self.bytes = bytes
        self.index = bytes.startIndex
        self.type = type
        self.swiftType = swiftType
    }

    var remaining: Int { bytes.endIndex - index }
    var isAtEnd: Bool { index >= bytes.endIndex }

    func invalid(_ why: String) -> PostgresCodingError {
        PostgresCodingError(.invalidData(why), type: type, swiftType: swiftType)
    }

    mutating func need(_ count: Int, _ what: String) throws(PostgresCodingError) {
        if count < 0 || remaining < count {
            throw invalid("\(what) needs \(count) bytes but only \(remaining) remain")
        }
    }

    mutating func readInteger<T: FixedWidthInteger>(_: T.Type = T.self, _ what: String = "value") throws(PostgresCodingError) -> T {
        let size = MemoryLayout<T>.size
        try need(size, what)
        var value: T = 0
        for i in 0..<size { value = value << 8 | T(truncatingIfNeeded: bytes[index + i]) }
        index += size
        return value
    }

    mutating func readUInt8(_ what: String = "byte") throws(PostgresCodingError) -> UInt8 {
        try need(1, what)
        defer { index += 1 }
        return bytes[index]
    }

    mutating func readBytes(_ count: Int, _ what: String = "bytes") throws(PostgresCodingError) -> ArraySlice<UInt8> {
        try need(count, what)
        defer { index += count }
        return bytes[index..<(index + count)]
    }

    /// An Int32 length followed by that many bytes; -1 means NULL.
    mutating func readLengthPrefixed(_ what: String) throws(PostgresCodingError) -> ArraySlice<UInt8>? {
        let length = try readInteger(Int32.self, "\(what) length")
        if length == -1 { return nil }
        if length < 0 { throw invalid("negative \(what) length \(length)") }
        return try readBytes(Int(length), what)
    }

    func expectEnd(_ what: String = "value") throws(PostgresCodingError) {
        if !isAtEnd { throw invalid("\(remaining) unexpected trailing bytes after \(what)") }
    }

    /// Reads exactly one fixed-size integer that must be the whole value.
    static func exact<T: FixedWidthInteger>(_: T.Type, _ bytes: ArraySlice<UInt8>, type: PostgresDataType,
                                             swiftType: Any.Type) throws(PostgresCodingError) -> T {
        if bytes.count != MemoryLayout<T>.size {
            throw PostgresCodingError(.invalidData("expected \(MemoryLayout<T>.size) bytes, got \(bytes.count)"),
                                      type: type, swiftType: swiftType)
        }
        var value: T = 0
        for b in bytes { value = value << 8 | T(truncatingIfNeeded: b) }
        return value
    }
}

extension Array where Element == UInt8 {
    /// Appends a big-endian integer of any width.
    @inline(__always)
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        var v = value.bigEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }

    /// Appends an Int32 length placeholder, runs `body`, then back-fills the length of what it wrote.
    mutating func appendLengthPrefixed(_ body: (inout [UInt8]) throws(PostgresCodingError) -> Void) throws(PostgresCodingError) {
        let start = count
        appendBigEndian(Int32(0))
        try body(&self)
        let length = UInt32(truncatingIfNeeded: count - start - 4)
        self[start] = UInt8(truncatingIfNeeded: length >> 24)
        self[start + 1] = UInt8(truncatingIfNeeded: length >> 16)
        self[start + 2] = UInt8(truncatingIfNeeded: length >> 8)
        self[start + 3] = UInt8(truncatingIfNeeded: length)
    }
}

/// Helpers shared by the codecs.
enum PostgresCodecSupport {
    /// Reads one field of a range or record literal (range_in / record_in quoting): up to an
    /// unquoted terminator, with `"…"` quoting (`""` inside quotes is a quote) and backslash
    /// escapes. Returns the unescaped bytes and whether any character was present (an empty
    /// field is NULL / an infinite bound); nil for a dangling backslash or an unclosed quote.
    static func readQuotedField(_ s: ArraySlice<UInt8>, _ i: inout Int, terminators: [UInt8]) -> (bytes: [UInt8], present: Bool)? {
        var out: [UInt8] = []
        var inQuotes = false
        var present = false
        while i < s.endIndex {
            let c = s[i]
            if !inQuotes, terminators.contains(c) { break }
            present = true
            if c == UInt8(ascii: "\\") {
                guard i + 1 < s.endIndex else { return nil }
                out.append(s[i + 1])
                i += 2
            } else if c == UInt8(ascii: "\"") {
                if inQuotes, i + 1 < s.endIndex, s[i + 1] == UInt8(ascii: "\"") {
                    out.append(c)
                    i += 2
                } else {
                    inQuotes.toggle()
                    i += 1
                }
            } else {
                out.append(c)
                i += 1
            }
        }
        return inQuotes ? nil : (out, present)
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func string(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Strict UTF-8 decode (invalid sequences are an error, not U+FFFD).
    static func strictString(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> String {
        // Plain ASCII (the common case) is valid UTF-8 as it is; only other text needs validating.
        let ascii: String? = bytes.withUnsafeBufferPointer { buffer in
            var high: UInt8 = 0
            for b in buffer { high |= b }
            return high < 0x80 ? String(decoding: buffer, as: UTF8.self) : nil
        }
        if let ascii { return ascii }
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        throw PostgresCodingError(.invalidData("not valid UTF-8"), type: type, swiftType: swiftType)
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C
    }

    /// Zero-padded decimal of a non-negative number (pg_ultostr_zeropad).
    static func zeroPad<T: BinaryInteger>(_ value: T, _ width: Int) -> String {
        let s = String(value)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
