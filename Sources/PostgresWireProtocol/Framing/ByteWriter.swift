/// Big-endian appends into a growable byte buffer, used by every message encoder.
extension Array where Element == UInt8 {
    @inline(__always)
    package mutating func appendInt16(_ value: Int16) { appendUInt16(UInt16(bitPattern: value)) }

    @inline(__always)
    package mutating func appendUInt16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    @inline(__always)
    package mutating func appendInt32(_ value: Int32) { appendUInt32(UInt32(bitPattern: value)) }

    @inline(__always)
    package mutating func appendUInt32(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    package mutating func appendCString(_ string: String) {
        append(contentsOf: string.utf8)
        append(0)
    }

    /// Overwrites a big-endian Int32 at `offset` (used to back-fill message lengths).
    @inline(__always)
    package mutating func setInt32(_ value: Int32, at offset: Int) {
        let v = UInt32(bitPattern: value)
        self[offset] = UInt8(truncatingIfNeeded: v >> 24)
        self[offset + 1] = UInt8(truncatingIfNeeded: v >> 16)
        self[offset + 2] = UInt8(truncatingIfNeeded: v >> 8)
        self[offset + 3] = UInt8(truncatingIfNeeded: v)
    }

    /// Appends a typed message: type byte, length placeholder, body, then back-fills the length.
    @inline(__always)
    package mutating func appendMessage(_ type: UInt8, _ body: (inout [UInt8]) -> Void) {
        append(type)
        let lengthOffset = count
        appendInt32(0)
        body(&self)
        setInt32(Int32(truncatingIfNeeded: count - lengthOffset), at: lengthOffset)
    }
}
