import Foundation
import Logging
import PostgresWireProtocol

/// How one connection attempt secures its socket.
enum TransportEncryption: Sendable, Equatable {
    /// Plaintext: no SSLRequest.
    case none
    /// SSLRequest, then TLS if the server answers 'S' (plaintext after 'N' where sslmode allows).
    case sslRequest
    /// TLS right away with ALPN "postgresql" (sslnegotiation=direct, PostgreSQL 17).
    case direct
}

extension Connection {
    /// Why an attempt failed, for libpq's retry rules.
    struct AttemptFailure: Error {
        var error: PostgresError
        /// The TLS handshake (or the certificate checks after it) failed.
        var handshakeFailed = false
        /// The failure came after TLS was established.
        var usedTLS = false
    }

    /// The first way to try a host, by sslmode and sslnegotiation. TLS is never used over
    /// Unix-domain sockets (libpq ignores sslmode there).
    static func initialEncryption(_ configuration: ConnectionConfiguration, host: ConnectionConfiguration.Host) -> TransportEncryption {
        if host.isUnixSocket { return .none }
        switch configuration.sslMode {
        case .disable, .allow: return .none
        case .prefer, .require, .verifyCA, .verifyFull:
            return configuration.sslNegotiation == .direct ? .direct : .sslRequest
        }
    }

    /// libpq's second attempt on the same host: `allow` tries TLS after the server refused a
    /// plaintext session; `prefer` tries plaintext after the TLS handshake failed or the server
    /// refused the session over TLS. No other mode ever retries, and nothing retries twice.
    static func retryEncryption(after failure: AttemptFailure, attempted: TransportEncryption,
                                configuration: ConnectionConfiguration, host: ConnectionConfiguration.Host) -> TransportEncryption? {
        if host.isUnixSocket { return nil }
        let rejected: Bool
        if case .connectionRejected = failure.error { rejected = true } else { rejected = false }
        switch (configuration.sslMode, attempted) {
        case (.allow, .none):
            return rejected ? .sslRequest : nil
        case (.prefer, .sslRequest):
            return failure.handshakeFailed || (failure.usedTLS && rejected) ? TransportEncryption.none : nil
        default:
            return nil
        }
    }

    /// Connects to one host and runs startup and authentication, negotiating TLS as sslmode,
    /// sslnegotiation and the other ssl* parameters say; `deadline` (connect_timeout) bounds all of it.
    static func establish(configuration: ConnectionConfiguration, host: ConnectionConfiguration.Host, deadline: Deadline?,
                          logger: Logger, tracer: (any MessageTracer)?) throws(PostgresError) -> EstablishedSession {
        var encryption = initialEncryption(configuration, host: host)
        var retried = false
        while true {
            do throws(AttemptFailure) {
                return try attempt(encryption, configuration: configuration, host: host, deadline: deadline, logger: logger, tracer: tracer)
            } catch {
                if !retried, let next = retryEncryption(after: error, attempted: encryption, configuration: configuration, host: host) {
                    logger.debug("retrying with other encryption", metadata: [
                        "sslmode": "\(configuration.sslMode.rawValue)", "next": "\(next)", "error": "\(error.error.message)",
                    ])
                    encryption = next
                    retried = true
                    continue
                }
                throw error.error
            }
        }
    }

    private static func attempt(_ encryption: TransportEncryption, configuration: ConnectionConfiguration,
                                host: ConnectionConfiguration.Host, deadline: Deadline?, logger: Logger,
                                tracer: (any MessageTracer)?) throws(AttemptFailure) -> EstablishedSession {
        let transport: Transport
        do throws(PostgresError) {
            transport = try openTransport(host, deadline: deadline)
        } catch {
            throw AttemptFailure(error: error)
        }
        if !host.isUnixSocket, let socket = transport as? SocketTransport {
            socket.configureKeepalives(enabled: configuration.keepalives, idle: configuration.keepalivesIdle,
                                       interval: configuration.keepalivesInterval, count: configuration.keepalivesCount)
        }
        var secured: Transport = transport
        var tls: TLSTransport?
        if encryption != .none, let socket = transport as? SocketTransport {
            let settings = TLSSettings(configuration: configuration, host: host, direct: encryption == .direct)
            var startTLS = true
            if encryption == .sslRequest {
                do throws(PostgresError) {
                    startTLS = try requestSSL(socket: socket, sslMode: configuration.sslMode, deadline: deadline)
                } catch {
                    socket.close()
                    throw AttemptFailure(error: error)
                }
            }
            if startTLS {
                do throws(PostgresError) {
                    let session = try TLSTransport.handshake(socket: socket, settings: settings, deadline: deadline)
                    tls = session
                    secured = session
                } catch {
                    var failure = AttemptFailure(error: error)
                    if case .timeout = error {} else { failure.handshakeFailed = true }
                    throw failure
                }
                logger.debug("TLS established", metadata: [
                    "peer": "\(socket.peerDescription)", "protocol": "\(tls!.protocolVersion)", "cipher": "\(tls!.cipher)",
                ])
            }
        }
        var binding = SCRAMClient.ChannelBinding.unsupported
        if configuration.channelBinding != .disable, let hash = tls?.serverEndPointHash {
            binding = .tlsServerEndPoint(certificateHash: hash)
        }
        do throws(PostgresError) {
            return try startSession(configuration: configuration, host: host, transport: secured, channelBinding: binding,
                                    deadline: deadline, logger: logger, tracer: tracer)
        } catch {
            throw AttemptFailure(error: error, usedTLS: tls != nil)
        }
    }

    /// Sends SSLRequest and reads the one-byte answer. Returns true to start TLS ('S'), false to go
    /// on in plaintext ('N', where sslmode allows it); throws for everything else.
    static func requestSSL(socket: SocketTransport, sslMode: SSLMode, deadline: Deadline?) throws(PostgresError) -> Bool {
        let peer = socket.peerDescription
        func failure(_ message: String) -> PostgresError { .connectionFailed("connection to \(peer) failed: \(message)") }
        func timeoutAware(_ error: PostgresError) -> PostgresError {
            if case .timeout = error { return .timeout("connection to \(peer) failed: timeout expired") }
            return failure(error.message)
        }
        do throws(PostgresError) {
            try socket.writeAll(FrontendMessage.sslRequest.encoded, deadline: deadline)
        } catch {
            throw timeoutAware(error)
        }
        var answer: UInt8 = 0
        let n: Int
        do throws(PostgresError) {
            n = try withUnsafeMutableBytes(of: &answer) { (buffer) throws(PostgresError) -> Int in
                try socket.read(into: buffer, deadline: deadline)
            }
        } catch {
            throw timeoutAware(error)
        }
        if n == 0 {
            throw failure("server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.")
        }
        switch answer {
        case UInt8(ascii: "S"):
            // Anything already sent after 'S' arrived unencrypted: a man in the middle could have
            // injected it (CVE-2021-23222), so refuse it.
            var peek: UInt8 = 0
            if recv(socket.fileDescriptor, &peek, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0 {
                throw failure("received unencrypted data after SSL response")
            }
            return true
        case UInt8(ascii: "N"):
            if sslMode == .require || sslMode == .verifyCA || sslMode == .verifyFull {
                throw failure("server does not support SSL, but SSL was required")
            }
            return false
        case UInt8(ascii: "E"):
            // The server failed (e.g. too many connections) before it could answer.
            var decoder = BackendMessageDecoder(awaitingAuthentication: true)
            decoder.append([answer])
            let message: BackendMessage
            do throws(PostgresError) {
                message = try readMessage(transport: socket, decoder: &decoder, deadline: deadline, tracer: nil) { $0 }
            } catch {
                throw timeoutAware(error)
            }
            if case .errorResponse(let fields) = message {
                throw .connectionRejected(peer: peer, ServerError(fields: fields))
            }
            throw failure("received invalid response to SSL negotiation: E")
        default:
            let shown = (32..<127).contains(answer) ? String(UnicodeScalar(answer)) : "\\x" + String(answer, radix: 16)
            throw failure("received invalid response to SSL negotiation: \(shown)")
        }
    }
}
