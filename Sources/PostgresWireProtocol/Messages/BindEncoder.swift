/// The parameter values of a Bind message, back to back in one buffer, with one slot per
/// parameter saying where its bytes are (length -1 for NULL), its type OID and its format code.
/// Two heap buffers whatever the number of parameters; the driver's `PostgresBindings` appends
/// its encoded values straight into it. Public, with `@inlinable` accessors, so that a client
/// module appends slots without a call into this one.
public struct BindParameters: Sendable {
    public struct Slot: Sendable {
        public var offset: Int32
        public var length: Int32
        public var typeOID: UInt32
        public var format: Int16

        @inlinable @inline(__always)
        public init(offset: Int, length: Int, typeOID: UInt32, format: Int16) {
            self.offset = Int32(truncatingIfNeeded: offset)
            self.length = Int32(truncatingIfNeeded: length)
            self.typeOID = typeOID
            self.format = format
        }
    }

    /// Encoded values back to back.
    public var bytes: [UInt8] = []
    public var slots: [Slot] = []

    @inlinable
    public init() {}

    /// The values of a `Bind` value (type OIDs unspecified, format codes left to the message's list).
    public init(_ values: [[UInt8]?]) {
        slots.reserveCapacity(values.count)
        for value in values {
            if let value {
                slots.append(Slot(offset: bytes.count, length: value.count, typeOID: 0, format: 0))
                bytes.append(contentsOf: value)
            } else {
                slots.append(Slot(offset: bytes.count, length: -1, typeOID: 0, format: 0))
            }
        }
    }

    @inlinable
    public var count: Int { slots.count }

    /// The format code list a Bind message needs: none when every parameter is text, one when
    /// every parameter is binary, else one per parameter (nil: that case).
    public var uniformFormatCode: Int16?? {
        var allText = true
        var allBinary = true
        for slot in slots {
            if slot.format == 0 { allBinary = false } else { allText = false }
        }
        if allText { return .some(nil) }
        if allBinary { return .some(1) }
        return nil
    }
}

/// The one Bind encoder: used for `FrontendMessage.bind` values and by the driver, which writes a
/// whole pipeline's Bind messages into one buffer straight from its bindings (no per-parameter
/// arrays). The part before the parameter format codes (portal and statement names) and the part
/// after the values (result format codes) depend only on the statement: when a Bind repeats the
/// previous one's portal, statement and result formats, as in a pipeline or `executeMany`, both
/// are copied from a cache filled at the first repetition (a single Bind allocates nothing here).
public struct BindEncoder: Sendable {
    private var portal = ""
    private var statement: String?
    private var resultFormats: [Int16] = []
    /// Whether `head` and `tail` hold the current statement's parts.
    private var cached = false
    /// Portal and statement names.
    private var head: [UInt8] = []
    /// Result format codes.
    private var tail: [UInt8] = []

    public init() {}

    /// Result format codes as a Bind sends them: one for every column when they agree, else one each.
    public static func collapsedFormatCodes(_ formats: [Int16]) -> [Int16] {
        if let first = formats.first, formats.allSatisfy({ $0 == first }) { return [first] }
        return formats
    }

    /// Appends a Bind whose parameter format codes are derived from `parameters`: none when all
    /// are text, one when all are binary, else one per parameter. `resultFormats` are sent as given.
    public mutating func encode(portal: String = "", statement: String, parameters: BindParameters,
                                resultFormats: [Int16], into out: inout [UInt8]) {
        encode(portal: portal, statement: statement, parameterFormats: nil, parameters: parameters,
               resultFormats: resultFormats, into: &out)
    }

    /// Appends `bind` as given (its format code lists unchanged).
    public mutating func encode(_ bind: Bind, into out: inout [UInt8]) {
        encode(portal: bind.portal, statement: bind.statement, parameterFormats: bind.parameterFormats,
               parameters: BindParameters(bind.parameters), resultFormats: bind.resultFormats, into: &out)
    }

    private mutating func encode(portal: String, statement: String, parameterFormats: [Int16]?, parameters: BindParameters,
                                 resultFormats: [Int16], into out: inout [UInt8]) {
        let repeated = self.statement == statement && self.portal == portal && self.resultFormats == resultFormats
        if repeated && !cached {
            head.removeAll(keepingCapacity: true)
            Self.appendNames(portal, statement, to: &head)
            tail.removeAll(keepingCapacity: true)
            Self.appendFormats(resultFormats, to: &tail)
            cached = true
        } else if !repeated {
            self.statement = statement
            self.portal = portal
            self.resultFormats = resultFormats
            cached = false
        }
        // A Bind of modest size whose parameter formats follow from its values (every Bind the
        // driver sends) is written through a pointer into a stack buffer and appended at once,
        // instead of one checked append per byte.
        if parameterFormats == nil {
            var size = 5 + 2 + 2
            size += repeated ? head.count + tail.count : portal.utf8.count + statement.utf8.count + 2 + 2 + 2 * resultFormats.count
            switch parameters.uniformFormatCode {
            case .some(nil): break
            case .some: size += 2
            case nil: size += 2 * parameters.slots.count
            }
            for slot in parameters.slots { size += 4 + max(Int(slot.length), 0) }
            if size <= 1024 {
                withUnsafeTemporaryAllocation(byteCount: size, alignment: 1) { buffer in
                    var sink = PointerSink(base: buffer.baseAddress!)
                    write(parameterFormats: nil, parameters: parameters, resultFormats: resultFormats, repeated: repeated, into: &sink)
                    out.append(contentsOf: UnsafeRawBufferPointer(start: buffer.baseAddress!, count: sink.count))
                }
                return
            }
        }
        write(parameterFormats: parameterFormats, parameters: parameters, resultFormats: resultFormats, repeated: repeated, into: &out)
    }

    /// The message itself, into an array or through a pointer (one generic body for both).
    @inline(__always)
    private func write<Sink: BindSink>(parameterFormats: [Int16]?, parameters: BindParameters, resultFormats: [Int16],
                                       repeated: Bool, into out: inout Sink) {
        let start = out.count
        out.put(FrontendMessageType.bind)
        out.putUInt32(0)
        if repeated {
            head.withUnsafeBytes { out.put($0) }
        } else {
            Self.appendNames(portal, statement ?? "", to: &out)
        }
        if let parameterFormats {
            Self.appendFormats(parameterFormats, to: &out)
        } else {
            switch parameters.uniformFormatCode {
            case .some(nil):
                out.putUInt16(0)
            case .some(let code?):
                out.putUInt16(1)
                out.putUInt16(UInt16(bitPattern: code))
            case nil:
                out.putUInt16(UInt16(truncatingIfNeeded: parameters.slots.count))
                for slot in parameters.slots { out.putUInt16(UInt16(bitPattern: slot.format)) }
            }
        }
        out.putUInt16(UInt16(truncatingIfNeeded: parameters.slots.count))
        parameters.bytes.withUnsafeBytes { bytes in
            for slot in parameters.slots {
                out.putUInt32(UInt32(bitPattern: slot.length))
                if slot.length > 0 {
                    out.put(UnsafeRawBufferPointer(rebasing: bytes[Int(slot.offset)..<Int(slot.offset + slot.length)]))
                }
            }
        }
        if repeated {
            tail.withUnsafeBytes { out.put($0) }
        } else {
            Self.appendFormats(resultFormats, to: &out)
        }
        out.setUInt32(UInt32(truncatingIfNeeded: out.count - start - 1), at: start + 1)
    }

    @inline(__always)
    private static func appendNames<Sink: BindSink>(_ portal: String, _ statement: String, to out: inout Sink) {
        var portal = portal, statement = statement
        portal.withUTF8 { out.put(UnsafeRawBufferPointer($0)) }
        out.put(0)
        statement.withUTF8 { out.put(UnsafeRawBufferPointer($0)) }
        out.put(0)
    }

    @inline(__always)
    private static func appendFormats<Sink: BindSink>(_ formats: [Int16], to out: inout Sink) {
        out.putUInt16(UInt16(truncatingIfNeeded: formats.count))
        for f in formats { out.putUInt16(UInt16(bitPattern: f)) }
    }
}

/// Where `BindEncoder` writes: a growable array, or memory sized beforehand.
private protocol BindSink {
    var count: Int { get }
    mutating func put(_ byte: UInt8)
    mutating func put(_ bytes: UnsafeRawBufferPointer)
    mutating func setUInt32(_ value: UInt32, at offset: Int)
}

extension BindSink {
    @inline(__always)
    mutating func putUInt16(_ value: UInt16) {
        put(UInt8(truncatingIfNeeded: value >> 8))
        put(UInt8(truncatingIfNeeded: value))
    }

    @inline(__always)
    mutating func putUInt32(_ value: UInt32) {
        putUInt16(UInt16(truncatingIfNeeded: value >> 16))
        putUInt16(UInt16(truncatingIfNeeded: value))
    }
}

extension Array: BindSink where Element == UInt8 {
    @inline(__always)
    mutating func put(_ byte: UInt8) { append(byte) }
    @inline(__always)
    mutating func put(_ bytes: UnsafeRawBufferPointer) { append(contentsOf: bytes) }
    @inline(__always)
    mutating func setUInt32(_ value: UInt32, at offset: Int) { setInt32(Int32(bitPattern: value), at: offset) }
}

/// Unchecked writes into memory the caller sized for the whole message.
private struct PointerSink: BindSink {
    let base: UnsafeMutableRawPointer
    var count = 0

    @inline(__always)
    mutating func put(_ byte: UInt8) {
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        if let source = bytes.baseAddress { (base + count).copyMemory(from: source, byteCount: bytes.count) }
        count += bytes.count
    }

    @inline(__always)
    mutating func setUInt32(_ value: UInt32, at offset: Int) {
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }
}
