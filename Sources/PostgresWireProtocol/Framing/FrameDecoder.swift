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

    public var maximumMessageSize: Int
    /// Whether the next message is an untyped startup-phase packet (frontend direction only).
    public var expectsUntypedMessage: Bool
    /// Type bytes accepted in this direction (a 256-entry table); anything else is rejected as soon
    /// as its header arrives.
    let knownTypes: [Bool]

    private var storage: [UInt8]
    private var readIndex = 0
    private var writeIndex = 0

    public init(knownTypes: Set<UInt8>, expectsUntypedMessage: Bool = false,
                maximumMessageSize: Int = FrameDecoder.defaultMaximumMessageSize, initialCapacity: Int = 64 * 1024) {
        var table = [Bool](repeating: false, count: 256)
        for t in knownTypes { table[Int(t)] = true }
        self.knownTypes = table
        self.expectsUntypedMessage = expectsUntypedMessage
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
        let available = writeIndex - readIndex
        if expectsUntypedMessage {
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
        if available < 1 { return nil }
        let type = storage[readIndex]
        if !knownTypes[Int(type)] { throw .unknownMessageType(type) }
        if available < 5 { return nil }
        let length = Int(readInt32(at: readIndex + 1))
        if length < 4 { throw .invalidLength(type: type, length: length) }
        if length - 4 > maximumMessageSize {
            throw .messageTooLarge(type: type, length: length, limit: maximumMessageSize)
        }
        if available < length + 1 { return nil }
        let body = storage[(readIndex + 5)..<(readIndex + 1 + length)]
        let whole = storage[readIndex..<(readIndex + 1 + length)]
        readIndex += 1 + length
        if readIndex == writeIndex {
            readIndex = 0
            writeIndex = 0
        }
        return Frame(type: type, body: body, bytes: whole)
    }

    @inline(__always)
    private func readInt32(at i: Int) -> Int32 {
        Int32(bitPattern: UInt32(storage[i]) << 24 | UInt32(storage[i + 1]) << 16 | UInt32(storage[i + 2]) << 8 | UInt32(storage[i + 3]))
    }
}

/// Frames and decodes what a server sends.
public struct BackendMessageDecoder: Sendable {
    public var framer: FrameDecoder

    public init(maximumMessageSize: Int = FrameDecoder.defaultMaximumMessageSize) {
        framer = FrameDecoder(knownTypes: BackendMessageType.all, maximumMessageSize: maximumMessageSize)
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
