import COpenSSL
import Foundation

/// A TLS session (OpenSSL) over a connected TCP socket.
///
/// The socket is switched to non-blocking mode and every OpenSSL call that wants to read or write
/// waits in `poll`, so deadlines hold during the handshake and afterwards. `read(into:)` decrypts
/// straight into the caller's buffer (the frame decoder's), so a TLS connection copies no more per
/// message than a plaintext one. Writes go through a socket BIO that sends with MSG_NOSIGNAL.
public final class TLSTransport: Transport, @unchecked Sendable {
    private let socket: SocketTransport
    private var ssl: OpaquePointer?
    /// The socket BIO (owned by `ssl`) while it holds output back: during the handshake, and from
    /// its end to the first write, so that the client's last flight (Finished) leaves in one send
    /// with the first message after it (the startup packet).
    private var holdingBIO: OpaquePointer?
    /// Set by `prepareForClose`: writes stay held for `close()`, which sends them with close_notify.
    private var closing = false
    private var context: OpaquePointer?
    /// The socket BIO method (MSG_NOSIGNAL sends), made once for the process: BIO objects only
    /// read it, so every connection's BIO shares it.
    nonisolated(unsafe) private static let bioMethod: OpaquePointer? = pgwire_bio_method_new()
    public let peerDescription: String

    /// The negotiated protocol, e.g. "TLSv1.3".
    public private(set) var protocolVersion = ""
    /// The negotiated cipher suite, e.g. "TLS_AES_256_GCM_SHA384".
    public private(set) var cipher = ""
    /// The ALPN protocol the server selected, if any.
    public private(set) var alpnProtocol: String?
    /// The group of the key exchange, e.g. "secp256r1" (OpenSSL's name), nil before the handshake.
    public var keyExchangeGroup: String? {
        guard let ssl, protocolVersion != "" else { return nil }
        let group = pgwire_SSL_get_negotiated_group(ssl)
        guard group != 0 else { return nil }
        return SSL_group_to_name(ssl, group).map { String(cString: $0) }
    }
    /// The server certificate (DER).
    public private(set) var peerCertificate: [UInt8]?
    /// The tls-server-end-point channel binding data (RFC 5929): the hash of the server certificate,
    /// nil when its signature algorithm names no single hash.
    public private(set) var serverEndPointHash: [UInt8]?

    private init(socket: SocketTransport, context: OpaquePointer) {
        self.socket = socket
        self.context = context
        self.peerDescription = socket.peerDescription
    }

    deinit { close() }

    /// The underlying socket's descriptor (to poll it).
    var fileDescriptor: Int32 { socket.fileDescriptor }

    /// Whether OpenSSL holds received bytes (decrypted or not) that a read would see without the
    /// socket becoming readable.
    var hasBufferedBytes: Bool { ssl.map { SSL_pending($0) > 0 || SSL_has_pending($0) == 1 } ?? false }

    /// Runs the TLS handshake on `socket` (whose ownership passes to the result, also on failure:
    /// the socket is closed when the handshake fails) and checks the server certificate as
    /// `settings` ask (chain, then host name for verify-full).
    static func handshake(socket: SocketTransport, settings: TLSSettings, deadline: Deadline?) throws(PostgresError) -> TLSTransport {
        let context: OpaquePointer
        do throws(PostgresError) {
            context = try TLSContextBuilder.makeContext(settings, peer: socket.peerDescription)
        } catch {
            socket.close()
            throw error
        }
        let transport = TLSTransport(socket: socket, context: context)
        do throws(PostgresError) {
            try transport.start(settings: settings, deadline: deadline)
            return transport
        } catch {
            transport.close()
            throw error
        }
    }

    private func start(settings: TLSSettings, deadline: Deadline?) throws(PostgresError) {
        let peer = peerDescription
        func failure(_ message: String) -> PostgresError { .connectionFailed("connection to \(peer) failed: \(message)") }
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { throw failure("could not establish SSL connection: \(TLSErrors.describe(ERR_get_error()))") }
        self.ssl = ssl
        guard let method = Self.bioMethod else { throw failure("could not create SSL BIO method") }
        guard let bio = pgwire_bio_new_socket(method, socket.fileDescriptor) else { throw failure("could not create SSL BIO") }
        SSL_set_bio(ssl, bio, bio)
        // Each flight is sent when the handshake waits for the server (sendHeldHandshakeOutput); the last
        // one goes out with the first write (or read, or close).
        if pgwire_bio_hold(bio) == 1 { holdingBIO = bio }

        if let serverName = settings.serverName {
            guard pgwire_SSL_set_tlsext_host_name(ssl, serverName) == 1 else {
                throw failure("could not set SSL Server Name Indication (SNI): \(TLSErrors.describe(ERR_get_error()))")
            }
        }
        let fd = socket.fileDescriptor
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)

        while true {
            ERR_clear_error()
            let rc = SSL_connect(ssl)
            let savedErrno = errno
            if rc == 1 { break }
            let error = SSL_get_error(ssl, rc)
            switch error {
            case SSL_ERROR_WANT_READ:
                try sendHeldHandshakeOutput(deadline: deadline)
                try waitForHandshake(events: POLLIN, deadline: deadline)
            case SSL_ERROR_WANT_WRITE:
                try sendHeldHandshakeOutput(deadline: deadline)
                try waitForHandshake(events: POLLOUT, deadline: deadline)
            case SSL_ERROR_SYSCALL:
                let code = ERR_get_error()
                if code != 0 { throw failure("SSL error: \(TLSErrors.describe(code))") }
                if rc == -1 && savedErrno != 0 {
                    throw failure("SSL SYSCALL error: \(String(cString: strerror(savedErrno)))")
                }
                throw failure("SSL SYSCALL error: EOF detected")
            case SSL_ERROR_SSL:
                let code = ERR_get_error()
                var message = "SSL error: \(TLSErrors.describe(code))"
                let verifyResult = SSL_get_verify_result(ssl)
                if verifyResult != X509_V_OK, let reason = X509_verify_cert_error_string(verifyResult) {
                    message += ": \(String(cString: reason))"
                }
                if pgwire_is_protocol_version_error(code) != 0 {
                    let low = settings.minimumProtocolVersion ?? "TLSv1"
                    let high = settings.maximumProtocolVersion ?? "TLSv1.3"
                    message += "\nThis may indicate that the server does not support any SSL protocol version between \(low) and \(high)."
                }
                throw failure(message)
            default:
                throw failure("unrecognized SSL error code: \(error)")
            }
        }

        protocolVersion = SSL_get_version(ssl).map { String(cString: $0) } ?? ""
        cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)).map { String(cString: $0) } ?? ""
        var alpnData: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpnData, &alpnLength)
        if let alpnData, alpnLength > 0 {
            alpnProtocol = String(decoding: UnsafeBufferPointer(start: alpnData, count: Int(alpnLength)), as: UTF8.self)
        }
        if let alpnProtocol, alpnProtocol != TLSSettings.alpnProtocol {
            throw failure("SSL connection was established with unexpected ALPN protocol \"\(alpnProtocol)\"")
        }
        if settings.requireALPN && alpnProtocol == nil {
            throw failure("direct SSL connection was established without ALPN protocol negotiation extension")
        }

        guard let certificate = SSL_get1_peer_certificate(ssl) else {
            throw failure("server certificate could not be obtained: \(TLSErrors.describe(ERR_get_error()))")
        }
        defer { X509_free(certificate) }
        peerCertificate = TLSCertificate.der(certificate)
        serverEndPointHash = TLSCertificate.serverEndPointHash(certificate)
        if let expectedHost = settings.verifyHostName {
            if let problem = HostNameVerification.check(certificate: certificate, host: expectedHost) {
                throw failure(problem)
            }
        }
    }

    /// Sends the flight the handshake wrote (it keeps holding what it writes next).
    private func sendHeldHandshakeOutput(deadline: Deadline?) throws(PostgresError) {
        guard let bio = holdingBIO else { return }
        while true {
            switch pgwire_bio_release(bio, 1) {
            case 1: return
            case 0: try waitForHandshake(events: POLLOUT, deadline: deadline)
            default:
                throw .connectionFailed("connection to \(peerDescription) failed: SSL SYSCALL error: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Sends whatever is still held and stops holding (after the handshake: before the first
    /// read and at the end of the first write).
    private func releaseHeldOutput(deadline: Deadline?) throws(PostgresError) {
        guard let bio = holdingBIO else { return }
        while true {
            switch pgwire_bio_release(bio, 0) {
            case 1:
                holdingBIO = nil
                return
            case 0: try poll(events: POLLOUT, deadline: deadline)
            default:
                throw .connectionLost("could not send data to server: \(String(cString: strerror(errno)))")
            }
        }
    }

    private func waitForHandshake(events: Int32, deadline: Deadline?) throws(PostgresError) {
        do throws(PostgresError) {
            try poll(events: events, deadline: deadline)
        } catch {
            if case .timeout = error { throw .timeout("connection to \(peerDescription) failed: timeout expired") }
            throw .connectionFailed("connection to \(peerDescription) failed: \(error.message)")
        }
    }

    /// Waits until the socket is ready for `events` (nil deadline: as long as it takes).
    private func poll(events: Int32, deadline: Deadline?) throws(PostgresError) {
        var pfd = pollfd(fd: socket.fileDescriptor, events: Int16(events), revents: 0)
        while true {
            let ready = Platform.poll(&pfd, 1, deadline?.remainingMilliseconds ?? -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { throw .connectionLost("poll failed: \(String(cString: strerror(errno)))") }
            if ready == 0 { throw .timeout("timeout expired") }
            return
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) throws(PostgresError) -> Int {
        guard let ssl else { throw .connectionClosed("connection is closed") }
        if holdingBIO != nil { try releaseHeldOutput(deadline: deadline) }
        let count = Int32(clamping: buffer.count)
        while true {
            ERR_clear_error()
            let n = SSL_read(ssl, buffer.baseAddress, count)
            let savedErrno = errno
            if n > 0 { return Int(n) }
            let error = SSL_get_error(ssl, n)
            switch error {
            case SSL_ERROR_WANT_READ: try poll(events: POLLIN, deadline: deadline)
            case SSL_ERROR_WANT_WRITE: try poll(events: POLLOUT, deadline: deadline)
            case SSL_ERROR_ZERO_RETURN: return 0
            case SSL_ERROR_SYSCALL:
                let code = ERR_get_error()
                if code != 0 { throw .connectionLost("SSL error: \(TLSErrors.describe(code))") }
                if n < 0 && savedErrno != 0 {
                    throw .connectionLost("could not receive data from server: \(String(cString: strerror(savedErrno)))")
                }
                return 0
            case SSL_ERROR_SSL:
                throw .connectionLost("SSL error: \(TLSErrors.describe(ERR_get_error()))")
            default:
                throw .connectionLost("unrecognized SSL error code: \(error)")
            }
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) throws(PostgresError) {
        try write(bytes, deadline: deadline, draining: false) {}
    }

    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?,
                      whileBlocked drain: () throws(PostgresError) -> Void) throws(PostgresError) {
        try write(bytes, deadline: deadline, draining: true, drain: drain)
    }

    /// The socket is non-blocking: SSL_write asks to wait (WANT_WRITE) when it cannot take more,
    /// and is then called again with the same bytes. While it waits, what the server sent is
    /// drained when `draining` (SSL_read between the attempts, as libpq does).
    private func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?, draining: Bool,
                       drain: () throws(PostgresError) -> Void) throws(PostgresError) {
        guard let ssl else { throw .connectionClosed("connection is closed") }
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let chunk = Int32(clamping: bytes.count - offset)
            let n = SSL_write(ssl, bytes.baseAddress! + offset, chunk)
            let savedErrno = errno
            if n > 0 {
                offset += Int(n)
                continue
            }
            let error = SSL_get_error(ssl, n)
            switch error {
            case SSL_ERROR_WANT_WRITE:
                if draining {
                    if try SocketTransport.waitForWritable(fd: socket.fileDescriptor, deadline: deadline) { try drain() }
                } else {
                    try poll(events: POLLOUT, deadline: deadline)
                }
            case SSL_ERROR_WANT_READ: try poll(events: POLLIN, deadline: deadline)
            case SSL_ERROR_SYSCALL:
                let code = ERR_get_error()
                if code != 0 { throw .connectionLost("could not send data to server: SSL error: \(TLSErrors.describe(code))") }
                let reason = savedErrno != 0 ? String(cString: strerror(savedErrno)) : "EOF detected"
                throw .connectionLost("could not send data to server: \(reason)")
            case SSL_ERROR_ZERO_RETURN:
                throw .connectionLost("could not send data to server: SSL connection has been closed unexpectedly")
            default:
                throw .connectionLost("could not send data to server: SSL error: \(TLSErrors.describe(ERR_get_error()))")
            }
        }
        if holdingBIO != nil && !closing { try releaseHeldOutput(deadline: deadline) }
    }

    /// Holds the last write (Terminate) so that it leaves in one send with close_notify.
    public func prepareForClose() {
        guard let ssl, protocolVersion != "" else { return }
        if holdingBIO == nil, let bio = SSL_get_wbio(ssl), pgwire_bio_hold(bio) == 1 { holdingBIO = bio }
        closing = holdingBIO != nil
    }

    /// Sends close_notify (without waiting for the server's) and closes the socket.
    public func close() {
        if let ssl {
            // What is still held (an alert after a failed handshake, the last flight when nothing
            // was written): one non-blocking try.
            if !closing, let bio = holdingBIO {
                _ = pgwire_bio_release(bio, 0)
                holdingBIO = nil
            }
            ERR_clear_error()
            if protocolVersion != "" { _ = SSL_shutdown(ssl) }
            // After prepareForClose: Terminate and close_notify, in one send (blocking like the
            // write it replaces).
            if holdingBIO != nil { try? releaseHeldOutput(deadline: nil) }
            holdingBIO = nil
            SSL_free(ssl)
            self.ssl = nil
            ERR_clear_error()
        }
        if let context {
            SSL_CTX_free(context)
            self.context = nil
        }
        socket.close()
    }
}

/// OpenSSL's error queue as text.
enum TLSErrors {
    /// libpq's SSLerrmessage: the reason string, or the code when OpenSSL has none.
    static func describe(_ code: UInt) -> String {
        if code == 0 { return "no SSL error reported" }
        if let reason = ERR_reason_error_string(code) { return String(cString: reason) }
        return "SSL error code \(code)"
    }
}

/// Facts taken from an X509 certificate.
enum TLSCertificate {
    static func der(_ certificate: OpaquePointer) -> [UInt8]? {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(certificate, &out)
        guard length > 0, let out else { return nil }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// tls-server-end-point (RFC 5929 section 4.1), computed like libpq.
    static func serverEndPointHash(_ certificate: OpaquePointer) -> [UInt8]? {
        guard let digest = pgwire_server_end_point_digest(certificate) else { return nil }
        var hash = [UInt8](repeating: 0, count: Int(pgwire_EVP_MAX_MD_SIZE()))
        var length: UInt32 = 0
        guard X509_digest(certificate, digest, &hash, &length) == 1 else { return nil }
        return Array(hash[0..<Int(length)])
    }
}
