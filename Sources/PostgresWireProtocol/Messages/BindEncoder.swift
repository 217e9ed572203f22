/// The parameter values of a Bind message in one heap buffer: per parameter, a record of its
/// type OID (4 bytes), its format code (2 bytes), then the value exactly as Bind sends it (length,
/// -1 for NULL, and the bytes; all big-endian). One allocation whatever the number of parameters,
/// and a Bind copies each value with its length in one piece. The driver's `PostgresBindings`
/// encodes its values straight into it. Public, with `@inlinable` accessors, so that a client
/// module appends values without a call into this one.
public struct BindParameters: Sendable {
    /// One parameter as read from its record.
    public struct Slot: Sendable, Equatable {
        /// Where the value's bytes start in `bytes`.
        public var offset: Int
        /// -1 for NULL.
        public var length: Int32
        public var typeOID: UInt32
        public var format: Int16

        @inlinable @inline(__always)
        public init(offset: Int, length: Int32, typeOID: UInt32, format: Int16) {
            self.offset = offset
            self.length = length
            self.typeOID = typeOID
            self.format = format
        }
    }

    /// The size of a record's header: type OID, format code and length.
    @inlinable public static var headerSize: Int { 10 }

    /// The records, back to back.
    @usableFromInline var records: [UInt8] = []
    /// The number of parameters.
    @usableFromInline var parameterCount = 0
    /// The number of parameters whose format code is not text (0).
    @usableFromInline var nonTextCount = 0

    /// The records, back to back.
    @inlinable public var bytes: [UInt8] { records }
    /// The number of parameters.
    @inlinable public var count: Int { parameterCount }

    @inlinable
    public init() {}

    /// The values of a `Bind` value (type OIDs unspecified, format codes `formats[i]`, else text).
    public init(_ values: [[UInt8]?], formats: [Int16] = []) {
        for (i, value) in values.enumerated() {
            append(value, typeOID: 0, format: i < formats.count ? formats[i] : 0)
        }
    }

    /// Appends a value given as bytes (nil: NULL).
    public mutating func append(_ value: [UInt8]?, typeOID: UInt32, format: Int16) {
        guard let value else { return appendNull(typeOID: typeOID, format: format) }
        let start = beginValue(typeOID: typeOID, format: format)
        records.append(contentsOf: value)
        endValue(at: start)
    }

    /// Appends NULL.
    @inlinable
    public mutating func appendNull(typeOID: UInt32, format: Int16) {
        writeHeader(typeOID: typeOID, format: format, length: -1)
        parameterCount += 1
        if format != 0 { nonTextCount += 1 }
    }

    /// Starts a value: its header, with the length left to `endValue(at:)`. The value's bytes are
    /// then appended to `bytes` (through `withValueBytes`). Returns where the record starts.
    @inlinable
    public mutating func beginValue(typeOID: UInt32, format: Int16) -> Int {
        // The first value reserves room for a few small ones: one allocation for most queries.
        if records.capacity == 0 { records.reserveCapacity(64) }
        let start = records.count
        writeHeader(typeOID: typeOID, format: format, length: 0)
        return start
    }

    /// Appends the bytes of the value begun last, through `body`, which may throw (then the
    /// value is removed, as if never begun).
    @inlinable
    public mutating func withValueBytes<E: Error>(startedAt start: Int, _ body: (inout [UInt8]) throws(E) -> Void) throws(E) {
        do {
            try body(&records)
        } catch {
            records.removeSubrange(start...)
            throw error
        }
        endValue(at: start)
    }

    /// Ends the value whose record starts at `start`: sets its length.
    @inlinable
    public mutating func endValue(at start: Int) {
        let length = UInt32(truncatingIfNeeded: records.count - start - Self.headerSize)
        let format = records.withUnsafeMutableBytes { record in
            record.storeBytes(of: length.bigEndian, toByteOffset: start + 6, as: UInt32.self)
            return record.loadUnaligned(fromByteOffset: start + 4, as: UInt16.self)
        }
        parameterCount += 1
        if format != 0 { nonTextCount += 1 }
    }

    /// Appends a record's header in one piece: type OID, format code, length (big-endian).
    @inlinable @inline(__always)
    mutating func writeHeader(typeOID: UInt32, format: Int16, length: Int32) {
        let l = UInt32(bitPattern: length)
        let high = UInt64(typeOID) << 32 | UInt64(UInt16(bitPattern: format)) << 16 | UInt64(l >> 16)
        let low = UInt16(truncatingIfNeeded: l)
        // (UInt64, UInt16) is 10 contiguous bytes.
        withUnsafeBytes(of: (high.bigEndian, low.bigEndian)) { records.append(contentsOf: $0) }
    }

    /// The parameters in order, read from their records (no array built).
    @inlinable
    public var slots: Slots { Slots(bytes: records) }

    /// The parameter at `index` (a walk over the records before it).
    public func slot(at index: Int) -> Slot {
        precondition(index >= 0 && index < count, "parameter index out of range")
        var iterator = slots.makeIterator()
        for _ in 0..<index { _ = iterator.next() }
        return iterator.next()!
    }

    /// The bytes of the records' values as Bind sends them (each value's length and bytes):
    /// everything but the type OIDs and format codes.
    @inlinable
    public var encodedValuesSize: Int { records.count - 6 * parameterCount }

    public struct Slots: Sequence, Sendable {
        @usableFromInline let bytes: [UInt8]
        @inlinable init(bytes: [UInt8]) { self.bytes = bytes }

        @inlinable
        public func makeIterator() -> Iterator { Iterator(bytes: bytes) }

        public struct Iterator: IteratorProtocol {
            @usableFromInline let bytes: [UInt8]
            @usableFromInline var position = 0
            @inlinable init(bytes: [UInt8]) { self.bytes = bytes }

            @inlinable
            public mutating func next() -> Slot? {
                guard position + BindParameters.headerSize <= bytes.count else { return nil }
                let p = position
                let slot = bytes.withUnsafeBytes { raw in
                    Slot(offset: p + BindParameters.headerSize,
                         length: Int32(bigEndian: raw.loadUnaligned(fromByteOffset: p + 6, as: Int32.self)),
                         typeOID: UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: p, as: UInt32.self)),
                         format: Int16(bigEndian: raw.loadUnaligned(fromByteOffset: p + 4, as: Int16.self)))
                }
                position = slot.offset + Swift.max(Int(slot.length), 0)
                return slot
            }
        }
    }

    /// The format code list a Bind message needs: none when every parameter is text, one when
    /// every parameter is binary, else one per parameter (nil: that case).
    public var uniformFormatCode: Int16?? {
        if nonTextCount == 0 { return .some(nil) }
        if nonTextCount == parameterCount { return .some(1) }
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
            case nil: size += 2 * parameters.count
            }
            size += parameters.encodedValuesSize
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
                out.putUInt16(UInt16(truncatingIfNeeded: parameters.count))
                for slot in parameters.slots { out.putUInt16(UInt16(bitPattern: slot.format)) }
            }
        }
        out.putUInt16(UInt16(truncatingIfNeeded: parameters.count))
        // Each record's value (length and bytes) is copied as it is, in one piece.
        parameters.bytes.withUnsafeBytes { bytes in
            var position = 0
            while position < bytes.count {
                let length = Int(Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: position + 6, as: Int32.self)))
                let end = position + BindParameters.headerSize + max(length, 0)
                out.put(UnsafeRawBufferPointer(rebasing: bytes[(position + 6)..<end]))
                position = end
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
