/// A violation of the wire protocol detected while framing or decoding a message.
///
/// Every malformed input maps to one of these cases; the decoder never traps or reads out of bounds.
public enum ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The length field announces more than the configured maximum message size.
    case messageTooLarge(type: UInt8?, length: Int, limit: Int)
    /// The length field is smaller than the minimum (4) or otherwise impossible for this message.
    case invalidLength(type: UInt8?, length: Int)
    /// A message type byte that the protocol does not define for this direction.
    case unknownMessageType(UInt8)
    /// The message body does not match its format (short read, bad count, missing terminator, leftover bytes…).
    case malformed(message: String, reason: String)
    /// A well-formed message that is not allowed in the current state of the conversation.
    case unexpectedMessage(message: String, state: String)

    public var description: String {
        switch self {
        case let .messageTooLarge(type, length, limit):
            if type != nil && (limit == FrameDecoder.maximumShortMessageSize || limit == FrameDecoder.maximumAuthenticationMessageSize) {
                // libpq's sanity limits: no such message is ever this long, the stream is not PostgreSQL's.
                return "\(Self.name(type)) message of \(length) bytes exceeds the limit of \(limit) bytes for this message type (lost synchronization with server?)"
            }
            return "\(Self.name(type)) message of \(length) bytes exceeds the maximum message size of \(limit) bytes"
        case let .invalidLength(type, length):
            return "\(Self.name(type)) message has an invalid length \(length)"
        case let .unknownMessageType(byte):
            return "unknown message type \(Self.describeByte(byte))"
        case let .malformed(message, reason):
            return "malformed \(message) message: \(reason)"
        case let .unexpectedMessage(message, state):
            return "unexpected \(message) message while \(state)"
        }
    }

    static func name(_ type: UInt8?) -> String {
        guard let type else { return "startup" }
        return describeByte(type)
    }

    static func describeByte(_ byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7f { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "0x" + String(byte, radix: 16)
    }
}
