/// Bounds-checked big-endian reads over one message body.
///
/// Every read checks the remaining length first and throws `ProtocolError.malformed` on a short
/// body, so hostile input can never read out of bounds or make us allocate more than it sent.
package struct ByteReader {
    package let bytes: ArraySlice<UInt8>
    package private(set) var index: Int
    let messageName: String

    package init(_ bytes: ArraySlice<UInt8>, message: String) {
        self.bytes = bytes
        self.index = bytes.startIndex
        self.messageName = message
    }

    package var remaining: Int { bytes.endIndex - index }
    package var isAtEnd: Bool { index >= bytes.endIndex }

    func fail(_ reason: String) -> ProtocolError {
        .malformed(message: messageName, reason: reason)
    }

    @inline(__always)
    mutating func need(_ count: Int, _ what: String) throws(ProtocolError) {
        if count < 0 || remaining < count {
            throw fail("\(what) needs \(count) bytes but only \(remaining) remain")
        }
    }

    package mutating func readUInt8(_ what: String = "byte") throws(ProtocolError) -> UInt8 {
        try need(1, what)
        defer { index += 1 }
        return bytes[index]
    }

    package mutating func readInt16(_ what: String = "Int16") throws(ProtocolError) -> Int16 {
        Int16(bitPattern: try readUInt16(what))
    }

    package mutating func readUInt16(_ what: String = "Int16") throws(ProtocolError) -> UInt16 {
        try need(2, what)
        defer { index += 2 }
        return UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
    }

    package mutating func readInt32(_ what: String = "Int32") throws(ProtocolError) -> Int32 {
        Int32(bitPattern: try readUInt32(what))
    }

    package mutating func readUInt32(_ what: String = "Int32") throws(ProtocolError) -> UInt32 {
        try need(4, what)
        defer { index += 4 }
        return UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16
            | UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3])
    }

    /// A count field (Int16 or Int32) that must be non-negative and plausible for the bytes left:
    /// each counted element occupies at least `minimumElementSize` bytes.
    package mutating func readCount16(_ what: String, minimumElementSize: Int) throws(ProtocolError) -> Int {
        let count = Int(try readInt16(what))
        try checkCount(count, what, minimumElementSize)
        return count
    }

    package mutating func readCount32(_ what: String, minimumElementSize: Int) throws(ProtocolError) -> Int {
        let count = Int(try readInt32(what))
        try checkCount(count, what, minimumElementSize)
        return count
    }

    func checkCount(_ count: Int, _ what: String, _ minimumElementSize: Int) throws(ProtocolError) {
        if count < 0 { throw fail("negative \(what) \(count)") }
        if count * minimumElementSize > remaining {
            throw fail("\(what) \(count) does not fit in the \(remaining) remaining bytes")
        }
    }

    package mutating func readBytes(_ count: Int, _ what: String = "bytes") throws(ProtocolError) -> ArraySlice<UInt8> {
        try need(count, what)
        defer { index += count }
        return bytes[index..<(index + count)]
    }

    package mutating func readRest() -> ArraySlice<UInt8> {
        defer { index = bytes.endIndex }
        return bytes[index...]
    }

    /// A NUL-terminated string; the terminator must be present.
    package mutating func readCString(_ what: String = "string") throws(ProtocolError) -> String {
        guard let end = bytes[index...].firstIndex(of: 0) else {
            throw fail("\(what) is not NUL-terminated")
        }
        defer { index = end + 1 }
        return String(decoding: bytes[index..<end], as: UTF8.self)
    }

    /// Length-prefixed value as used by DataRow, Bind and FunctionCallResponse: -1 is NULL.
    package mutating func readNullableBytes32(_ what: String) throws(ProtocolError) -> ArraySlice<UInt8>? {
        let length = Int(try readInt32("\(what) length"))
        if length == -1 { return nil }
        if length < 0 { throw fail("\(what) has invalid length \(length)") }
        return try readBytes(length, what)
    }

    package func expectEnd() throws(ProtocolError) {
        if !isAtEnd { throw fail("\(remaining) unexpected trailing bytes") }
    }
}
