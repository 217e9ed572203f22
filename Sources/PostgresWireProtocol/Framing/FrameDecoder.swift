import Foundation

/// One framed message: its type byte (nil for the untyped startup-phase packets) and its body.
public struct Frame: Sendable, Equatable {
    public var type: UInt8?
    public var body: ArraySlice<UInt8>
    /// The whole message as received: type byte (if any), length and body.
    public var bytes: ArraySlice<UInt8>
}

/// Splits a byte stream into messages, however the bytes were chunked by the network.
///
/// It owns one growable buffer that a transport can read straight into (`readInto`), frames as
/// many messages as the buffer holds, and compacts in place. Bodies are handed out as slices of
/// that buffer, so no message is copied; a consumer that keeps a slice past the next read makes
/// the buffer copy itself once (copy-on-write), never corrupts it.
public struct FrameDecoder: Sendable {
    /// The server's own limit for a message is 1 GiB; so is ours by default.
    public static let defaultMaximumMessageSize = 1 << 30
    /// The server refuses startup packets over 10,000 bytes (MAX_STARTUP_PACKET_LENGTH).
    public static let maximumStartupPacketSize = 10_000

    /// libpq's sanity limit for a message that is never legitimately long (the declared length,
    /// which counts its own four bytes): anything but the types in `longMessageTypes`.
    public static let maximumShortMessageSize = 30_000
    /// libpq's limit for an authentication request or NegotiateProtocolVersion during startup.
    public static let maximumAuthenticationMessageSize = 2_000
    /// The server messages that may be long (libpq's VALID_LONG_MESSAGE_TYPE: RowDescription,
    /// DataRow, CopyData, FunctionCallResponse, ErrorResponse, NoticeResponse,
    /// NotificationResponse), plus ParameterDescription, which for a statement with up to 65,535
    /// parameters legitimately reaches 256 kB.
    public static let longBackendMessageTypes: Set<UInt8> = [
        UInt8(ascii: "T"), UInt8(ascii: "D"), UInt8(ascii: "d"), UInt8(ascii: "V"),
        UInt8(ascii: "E"), UInt8(ascii: "N"), UInt8(ascii: "A"), UInt8(ascii: "t"),
    ]

    /// The largest body accepted for a long message type (every type when `longMessageTypes` is nil).
    public var maximumMessageSize: Int
    /// Whether the next message is an untyped startup-phase packet (frontend direction only).
    public var expectsUntypedMessage: Bool
    /// Server direction, before AuthenticationOk: the server may only send authentication requests,
    /// NegotiateProtocolVersion and ErrorResponse, all small, so no message may declare more than
    /// `maximumShortMessageSize` bytes, and an authentication request or NegotiateProtocolVersion
    /// no more than `maximumAuthenticationMessageSize` (libpq's rules). A declared length beyond
    /// them is rejected from the header alone, so a hostile server cannot make the client wait for
    /// (or allocate) a body it will never send. Cleared by itself once AuthenticationOk is framed.
    public var awaitingAuthentication: Bool
    /// Type bytes accepted in this direction (a 256-bit set); anything else is rejected as soon
    /// as its header arrives.
    let knownTypes: TypeSet
    /// Types that may exceed `maximumShortMessageSize` (a 256-bit set); nil: no short-type rule.
    let longTypes: TypeSet?

    /// A set of type bytes held inline as 256 bits: a membership test is a shift, with no array
    /// to index or retain.
    struct TypeSet: Sendable {
        private var words = SIMD4<UInt64>()
        init(_ types: Set<UInt8>) {
            for t in types { words[Int(t >> 6)] |= 1 << UInt64(t & 63) }
        }
        @inline(__always)
        func contains(_ type: UInt8) -> Bool { words[Int(type >> 6)] >> UInt64(type & 63) & 1 != 0 }
    }

    private var storage: [UInt8]
    private var readIndex = 0
    private var writeIndex = 0

    /// `longMessageTypes`: the types allowed to exceed `maximumShortMessageSize` (nil: every type,
    /// as for the client's messages, whose limits the server enforces itself).
    public init(knownTypes: Set<UInt8>, longMessageTypes: Set<UInt8>? = nil, expectsUntypedMessage: Bool = false,
                awaitingAuthentication: Bool = false,
                maximumMessageSize: Int = FrameDecoder.defaultMaximumMessageSize, initialCapacity: Int = 64 * 1024) {
        self.knownTypes = TypeSet(knownTypes)
        self.longTypes = longMessageTypes.map(TypeSet.init)
        self.expectsUntypedMessage = expectsUntypedMessage
        self.awaitingAuthentication = awaitingAuthentication
        self.maximumMessageSize = maximumMessageSize
        self.storage = Self.uninitializedBuffer(max(initialCapacity, 16))
    }

    /// Bytes received but not yet framed.
    public var bufferedByteCount: Int { writeIndex - readIndex }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let n = bytes.count
        reserveWritableSpace(n)
        storage.withUnsafeMutableBufferPointer { buffer in
            _ = UnsafeMutableBufferPointer(rebasing: buffer[writeIndex..<(writeIndex + n)]).initialize(from: bytes)
        }
        writeIndex += n
    }

    /// Lets a transport read directly into the buffer; `body` returns the number of bytes it wrote.
    public mutating func readInto(minimumSpace: Int = 16 * 1024, _ body: (UnsafeMutableRawBufferPointer) throws -> Int) rethrows -> Int {
        reserveWritableSpace(minimumSpace)
        let start = writeIndex
        let n = try storage.withUnsafeMutableBytes { raw in
            try body(UnsafeMutableRawBufferPointer(rebasing: raw[start...]))
        }
        precondition(n >= 0 && n <= storage.count - start)
        writeIndex += n
        return n
    }

    private mutating func reserveWritableSpace(_ needed: Int) {
        if storage.count - writeIndex >= needed { return }
        let unread = writeIndex - readIndex
        if readIndex > 0 && storage.count - unread >= needed && unread <= storage.count / 2 {
            // Compact in place (a memmove of the unread tail, usually a partial message).
            let from = readIndex
            storage.withUnsafeMutableBytes { raw in
                if unread > 0 { memmove(raw.baseAddress!, raw.baseAddress! + from, unread) }
            }
        } else {
            var capacity = storage.count
            while capacity - unread < needed { capacity *= 2 }
            var grown = Self.uninitializedBuffer(capacity)
            grown.withUnsafeMutableBytes { dst in
                storage.withUnsafeBytes { src in
                    if unread > 0 { dst.baseAddress!.copyMemory(from: src.baseAddress! + readIndex, byteCount: unread) }
                }
            }
            storage = grown
        }
        readIndex = 0
        writeIndex = unread
    }

    /// A buffer whose bytes are only ever read after being written (no zero-filling).
    private static func uninitializedBuffer(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// The next complete message, or nil when more bytes are needed.
    public mutating func nextFrame() throws(ProtocolError) -> Frame? {
        if expectsUntypedMessage {
            let available = writeIndex - readIndex
            if available < 4 { return nil }
            let length = Int(readInt32(at: readIndex))
            if length < 8 { throw .invalidLength(type: nil, length: length) }
            if length > Self.maximumStartupPacketSize {
                throw .messageTooLarge(type: nil, length: length, limit: Self.maximumStartupPacketSize)
            }
            if available < length { return nil }
            let body = storage[(readIndex + 4)..<(readIndex + length)]
            let whole = storage[readIndex..<(readIndex + length)]
            readIndex += length
            return Frame(type: nil, body: body, bytes: whole)
        }
        guard let header = try nextFrameHeader() else { return nil }
        return Frame(type: header.type, body: body(of: header), bytes: bytes(of: header))
    }

    /// Where a framed message lies in the decoder's buffer, for reading it in place (no slice,
    /// so no reference count traffic, until the reader asks for one). Valid until the next
    /// `append` or `readInto`: read the body before reading more bytes.
    public struct FrameHeader: Sendable {
        public let type: UInt8
        /// The body's start in the buffer; the message's type byte and length precede it.
        public let bodyStart: Int
        public let bodyEnd: Int
        public var bodyCount: Int { bodyEnd - bodyStart }
    }

    /// The next complete typed message, located in place (see `FrameHeader`), or nil when more
    /// bytes are needed. The same checks as `nextFrame()`.
    @inline(__always)
    public mutating func nextFrameHeader() throws(ProtocolError) -> FrameHeader? {
        let available = writeIndex - readIndex
        if available < 5 {
            if available >= 1, !knownTypes.contains(storage[readIndex]) { throw .unknownMessageType(storage[readIndex]) }
            return nil
        }
        let type = storage[readIndex]
        if !knownTypes.contains(type) { throw .unknownMessageType(type) }
        let length = Int(readInt32(at: readIndex + 1))
        if length < 4 { throw .invalidLength(type: type, length: length) }
        try checkDeclaredLength(length, of: type)
        if available < length + 1 { return nil }
        if awaitingAuthentication && type == UInt8(ascii: "R") && length == 8
            && storage[readIndex + 5] | storage[readIndex + 6] | storage[readIndex + 7] | storage[readIndex + 8] == 0 {
            awaitingAuthentication = false   // AuthenticationOk: the rest of startup follows the general rules
        }
        let header = FrameHeader(type: type, bodyStart: readIndex + 5, bodyEnd: readIndex + 1 + length)
        readIndex += 1 + length
        if readIndex == writeIndex {
            // Everything is framed: the next read starts at the front (the bytes stay until then).
            readIndex = 0
            writeIndex = 0
        }
        return header
    }

    /// The body of a message located by `nextFrameHeader()`, as a slice of the buffer.
    @inline(__always)
    public func body(of header: FrameHeader) -> ArraySlice<UInt8> { storage[header.bodyStart..<header.bodyEnd] }

    /// Calls `body` with the bytes of the body of a message located by `nextFrameHeader()`.
    @inline(__always)
    public func withBytes<R>(of header: FrameHeader, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[header.bodyStart..<header.bodyEnd])) }
    }

    /// The whole message (type byte, length, body) located by `nextFrameHeader()`.
    @inline(__always)
    public func bytes(of header: FrameHeader) -> ArraySlice<UInt8> { storage[(header.bodyStart - 5)..<header.bodyEnd] }

    /// The body's byte at `offset`; the caller checked `offset < header.bodyCount`.
    @inline(__always)
    public func byte(_ offset: Int, of header: FrameHeader) -> UInt8 { storage[header.bodyStart + offset] }

    /// libpq's sanity rules for a declared length (`length` counts its own four bytes), applied
    /// before anything waits for or allocates the body.
    @inline(__always)
    private func checkDeclaredLength(_ length: Int, of type: UInt8) throws(ProtocolError) {
        if awaitingAuthentication {
            let limit: Int
            switch type {
            case UInt8(ascii: "R"), UInt8(ascii: "v"):
                if length < 8 { throw .invalidLength(type: type, length: length) }
                limit = Self.maximumAuthenticationMessageSize
            case UInt8(ascii: "E"):
                if length < 8 { throw .invalidLength(type: type, length: length) }
                limit = Self.maximumShortMessageSize
            default:
                limit = Self.maximumShortMessageSize
            }
            if length > limit { throw .messageTooLarge(type: type, length: length, limit: limit) }
        } else if length > Self.maximumShortMessageSize, let longTypes, !longTypes.contains(type) {
            throw .messageTooLarge(type: type, length: length, limit: Self.maximumShortMessageSize)
        }
        if length - 4 > maximumMessageSize {
            throw .messageTooLarge(type: type, length: length, limit: maximumMessageSize)
        }
    }

    @inline(__always)
    private func readInt32(at i: Int) -> Int32 {
        Int32(bitPattern: UInt32(storage[i]) << 24 | UInt32(storage[i + 1]) << 16 | UInt32(storage[i + 2]) << 8 | UInt32(storage[i + 3]))
    }
}

/// Frames and decodes what a server sends.
public struct BackendMessageDecoder: Sendable {
    public var framer: FrameDecoder

    /// `awaitingAuthentication`: true for a decoder that starts reading right after the
    /// StartupMessage (or SSLRequest), where libpq's stricter startup limits apply until AuthenticationOk.
    public init(awaitingAuthentication: Bool = false, maximumMessageSize: Int = FrameDecoder.defaultMaximumMessageSize) {
        framer = FrameDecoder(knownTypes: BackendMessageType.all, longMessageTypes: FrameDecoder.longBackendMessageTypes,
                              awaitingAuthentication: awaitingAuthentication, maximumMessageSize: maximumMessageSize)
    }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 { framer.append(bytes) }

    public mutating func next(tracer: (any MessageTracer)? = nil) throws(ProtocolError) -> BackendMessage? {
        guard let frame = try framer.nextFrame() else { return nil }
        tracer?.trace(.backend, bytes: frame.bytes)
        return try BackendMessage.decode(type: frame.type!, body: frame.body)
    }
}

/// Frames and decodes what a client sends, starting with the untyped startup packet.
public struct FrontendMessageDecoder: Sendable {
    public var framer: FrameDecoder
    /// How the next 'p' message is to be read; set from the server's authentication request.
    public var authenticationResponse: FrontendMessage.AuthenticationResponseKind = .password

    static let knownTypes: Set<UInt8> = {
        typealias T = FrontendMessageType
        return [T.bind, T.close, T.copyData, T.copyDone, T.copyFail, T.describe, T.execute, T.flush,
                T.functionCall, T.authenticationResponse, T.parse, T.query, T.sync, T.terminate]
    }()

    public init(maximumMessageSize: Int = FrameDecoder.defaultMaximumMessageSize) {
        framer = FrameDecoder(knownTypes: Self.knownTypes, expectsUntypedMessage: true, maximumMessageSize: maximumMessageSize)
    }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 { framer.append(bytes) }

    public mutating func next() throws(ProtocolError) -> FrontendMessage? {
        guard let frame = try framer.nextFrame() else { return nil }
        guard let type = frame.type else {
            let message = try FrontendMessage.decodeStartupPacket(body: frame.body)
            // After an SSLRequest or GSSENCRequest the client sends another untyped packet;
            // after a StartupMessage, typed messages follow.
            switch message {
            case .startup: framer.expectsUntypedMessage = false
            default: break
            }
            return message
        }
        return try FrontendMessage.decode(type: type, body: frame.body, authenticationResponse: authenticationResponse)
    }
}
