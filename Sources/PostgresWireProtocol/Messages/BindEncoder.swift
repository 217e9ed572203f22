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
        out.append(FrontendMessageType.bind)
        let lengthOffset = out.count
        out.appendInt32(0)
        if repeated {
            out.append(contentsOf: head)
        } else {
            Self.appendNames(portal, statement, to: &out)
        }
        if let parameterFormats {
            Self.appendFormats(parameterFormats, to: &out)
        } else {
            switch parameters.uniformFormatCode {
            case .some(nil):
                out.appendInt16(0)
            case .some(let code?):
                out.appendInt16(1)
                out.appendInt16(code)
            case nil:
                out.appendInt16(Int16(truncatingIfNeeded: parameters.slots.count))
                for slot in parameters.slots { out.appendInt16(slot.format) }
            }
        }
        out.appendInt16(Int16(truncatingIfNeeded: parameters.slots.count))
        parameters.bytes.withUnsafeBufferPointer { bytes in
            for slot in parameters.slots {
                out.appendInt32(slot.length)
                if slot.length > 0 {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[Int(slot.offset)..<Int(slot.offset + slot.length)]))
                }
            }
        }
        if repeated {
            out.append(contentsOf: tail)
        } else {
            Self.appendFormats(resultFormats, to: &out)
        }
        out.setInt32(Int32(truncatingIfNeeded: out.count - lengthOffset), at: lengthOffset)
    }

    @inline(__always)
    private static func appendNames(_ portal: String, _ statement: String, to out: inout [UInt8]) {
        if portal.isEmpty { out.append(0) } else { out.appendCString(portal) }
        if statement.isEmpty { out.append(0) } else { out.appendCString(statement) }
    }

    @inline(__always)
    private static func appendFormats(_ formats: [Int16], to out: inout [UInt8]) {
        out.appendInt16(Int16(truncatingIfNeeded: formats.count))
        for f in formats { out.appendInt16(f) }
    }
}
