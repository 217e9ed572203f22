import Foundation

/// The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it (SASL in the
/// startup phase). The server must prove it knows the password: a missing or wrong server
/// signature fails the exchange.
public struct SCRAMClient: Sendable {
    /// Channel binding as negotiated by the driver (SCRAM-SHA-256-PLUS uses tls-server-end-point).
    public enum ChannelBinding: Sendable, Equatable {
        /// The client does not support channel binding ("n,,").
        case unsupported
        /// The client supports it but the server did not offer a -PLUS mechanism ("y,,").
        case supportedButNotUsed
        /// tls-server-end-point with the hash of the server certificate ("p=tls-server-end-point,,").
        case tlsServerEndPoint(certificateHash: [UInt8])
    }

    /// Servers may choose the iteration count; more than this would let a hostile server stall us.
    public static let maximumIterations = 10_000_000

    public var mechanism: String {
        if case .tlsServerEndPoint = channelBinding { return "SCRAM-SHA-256-PLUS" }
        return "SCRAM-SHA-256"
    }

    let password: [UInt8]
    let channelBinding: ChannelBinding
    let clientNonce: String
    private var clientFirstBare = ""
    private var expectedServerSignature: [UInt8]?

    public init(password: String, channelBinding: ChannelBinding = .unsupported, nonce: String? = nil) {
        self.password = Array(Self.saslPrep(password).utf8)
        self.channelBinding = channelBinding
        self.clientNonce = nonce ?? Data(Crypto.randomBytes(18)).base64EncodedString()
    }

    var gs2Header: String {
        switch channelBinding {
        case .unsupported: return "n,,"
        case .supportedButNotUsed: return "y,,"
        case .tlsServerEndPoint: return "p=tls-server-end-point,,"
        }
    }

    /// The SASLInitialResponse payload. PostgreSQL takes the user from the startup packet, so n= is empty.
    public mutating func clientFirstMessage() -> [UInt8] {
        clientFirstBare = "n=,r=\(clientNonce)"
        return Array((gs2Header + clientFirstBare).utf8)
    }

    /// Reads server-first-message and returns client-final-message.
    public mutating func clientFinalMessage(serverFirst: some Collection<UInt8>) throws(AuthenticationError) -> [UInt8] {
        let serverFirstText = String(decoding: serverFirst, as: UTF8.self)
        var nonce: String?, salt: [UInt8]?, iterations: Int?
        for attribute in serverFirstText.split(separator: ",", omittingEmptySubsequences: false) {
            guard attribute.count >= 2, attribute.dropFirst().first == "=" else {
                throw .invalidServerMessage("SCRAM server-first-message has a malformed attribute")
            }
            let value = String(attribute.dropFirst(2))
            switch attribute.first {
            case "r": nonce = value
            case "s":
                guard let data = Data(base64Encoded: value), !data.isEmpty else {
                    throw .invalidServerMessage("SCRAM salt is not valid base64")
                }
                salt = Array(data)
            case "i": iterations = Int(value)
            case "m": throw .invalidServerMessage("SCRAM server requires an unsupported extension")
            case "e": throw .invalidServerMessage("SCRAM server error: \(value)")
            default: break
            }
        }
        guard let nonce, let salt, let iterations else {
            throw .invalidServerMessage("SCRAM server-first-message lacks a nonce, salt or iteration count")
        }
        guard nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else {
            throw .invalidServerMessage("SCRAM server nonce does not extend the client nonce")
        }
        guard iterations > 0, iterations <= Self.maximumIterations else {
            throw .invalidServerMessage("SCRAM iteration count \(iterations) is out of range (1...\(Self.maximumIterations))")
        }

        var bindingInput = Array(gs2Header.utf8)
        if case .tlsServerEndPoint(let hash) = channelBinding { bindingInput += hash }
        let clientFinalWithoutProof = "c=\(Data(bindingInput).base64EncodedString()),r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirstText),\(clientFinalWithoutProof)".utf8)

        let saltedPassword = SaltedPasswordCache.shared.saltedPassword(password: password, salt: salt, iterations: iterations)
        let clientKey = Crypto.hmacSHA256(key: saltedPassword, data: Array("Client Key".utf8))
        let storedKey = Crypto.sha256(clientKey)
        let clientSignature = Crypto.hmacSHA256(key: storedKey, data: authMessage)
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        let serverKey = Crypto.hmacSHA256(key: saltedPassword, data: Array("Server Key".utf8))
        expectedServerSignature = Crypto.hmacSHA256(key: serverKey, data: authMessage)

        return Array("\(clientFinalWithoutProof),p=\(Data(proof).base64EncodedString())".utf8)
    }

    /// Verifies server-final-message: the server's signature must match ours.
    public func verifyServerFinal(_ serverFinal: some Collection<UInt8>) throws(AuthenticationError) {
        guard let expected = expectedServerSignature else {
            throw .invalidServerMessage("SCRAM server-final-message arrived before server-first-message")
        }
        let text = String(decoding: serverFinal, as: UTF8.self)
        for attribute in text.split(separator: ",") {
            if attribute.hasPrefix("e=") {
                throw .invalidServerMessage("SCRAM server error: \(attribute.dropFirst(2))")
            }
            if attribute.hasPrefix("v=") {
                guard let signature = Data(base64Encoded: String(attribute.dropFirst(2))) else {
                    throw .invalidServerMessage("SCRAM server signature is not valid base64")
                }
                // Constant-time comparison: the signature is a secret-derived value.
                var difference: UInt8 = signature.count == expected.count ? 0 : 1
                for (a, b) in zip(signature, expected) { difference |= a ^ b }
                if difference != 0 { throw .serverSignatureMismatch }
                return
            }
        }
        throw .invalidServerMessage("SCRAM server-final-message lacks the server signature")
    }

    /// SASLprep (RFC 4013) as far as Foundation provides it: NFKC normalisation and mapping of
    /// non-ASCII spaces; like libpq, a password that cannot be prepared is used as it is.
    static func saslPrep(_ password: String) -> String {
        if password.utf8.allSatisfy({ $0 < 0x80 }) { return password }
        var scalars = String.UnicodeScalarView()
        for scalar in password.unicodeScalars {
            switch scalar.value {
            case 0x00AD, 0x034F, 0x1806, 0x180B...0x180D, 0x200B...0x200D, 0x2060, 0xFE00...0xFE0F, 0xFEFF:
                continue  // "commonly mapped to nothing"
            case 0x00A0, 0x1680, 0x2000...0x200A, 0x202F, 0x205F, 0x3000:
                scalars.append(" ")
            default:
                scalars.append(scalar)
            }
        }
        return String(scalars).precomposedStringWithCompatibilityMapping
    }
}

/// A failure of authentication detected by the client.
public enum AuthenticationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server asked for a method we do not implement (GSSAPI, SSPI, Kerberos, SCM credentials).
    case unsupportedMethod(String)
    /// The server asked for a password and none was configured.
    case passwordRequired
    /// A SASL exchange where the server offers no mechanism we support.
    case noSupportedSASLMechanism([String])
    /// The server's SASL/SCRAM messages were malformed or out of order.
    case invalidServerMessage(String)
    /// The server could not prove that it knows the password.
    case serverSignatureMismatch
    /// channel_binding=require, but channel binding could not be used.
    case channelBindingRequired(String)

    public var description: String {
        switch self {
        case .unsupportedMethod(let method): return "authentication method \(method) is not supported"
        case .passwordRequired: return "fe_sendauth: no password supplied"
        case .noSupportedSASLMechanism(let offered):
            return "none of the server's SASL authentication mechanisms are supported (offered: \(offered.joined(separator: ", ")))"
        case .invalidServerMessage(let reason): return "invalid SCRAM exchange: \(reason)"
        case .serverSignatureMismatch: return "incorrect server signature: the server could not prove that it knows the password"
        case .channelBindingRequired(let reason): return "channel binding required, but \(reason)"
        }
    }
}

/// SCRAM's salted password (PBKDF2, `iterations` rounds of HMAC-SHA-256: almost all of a SCRAM
/// connect's client CPU) for the last few (password, salt, iteration count) triples, process-wide,
/// so that a pool or a reconnect against the same role does not derive it again. The server sends
/// the same salt and count to every login of a role until its password changes.
///
/// Bounded (`capacity` entries, oldest evicted first). Entries are keyed by a SHA-256 digest of
/// the triple, never by the password itself, and nothing here is ever logged.
final class SaltedPasswordCache: @unchecked Sendable {
    static let shared = SaltedPasswordCache(capacity: 16)

    private let lock = NSLock()
    private let capacity: Int
    private var entries: [(key: [UInt8], value: [UInt8])] = []

    init(capacity: Int) { self.capacity = capacity }

    /// Entries held (tests).
    var count: Int { lock.withLock { entries.count } }

    func saltedPassword(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        var material: [UInt8] = []
        material.reserveCapacity(16 + password.count + salt.count)
        material.appendUInt32(UInt32(truncatingIfNeeded: password.count))
        material.append(contentsOf: password)
        material.appendUInt32(UInt32(truncatingIfNeeded: salt.count))
        material.append(contentsOf: salt)
        material.appendUInt32(UInt32(truncatingIfNeeded: iterations))
        let key = Crypto.sha256(material)
        for i in material.indices { material[i] = 0 }
        if let hit = lock.withLock({ entries.first(where: { $0.key == key })?.value }) { return hit }
        let value = Crypto.pbkdf2SHA256(password: password, salt: salt, iterations: iterations)
        lock.withLock {
            if entries.count >= capacity { entries.removeFirst() }
            entries.append((key, value))
        }
        return value
    }
}
