// A fake PostgreSQL server that speaks TLS (OpenSSL's server side), for what the real test cluster
// cannot show: other certificates (IP SAN, wildcard, CN only, expired), PostgreSQL 17's direct TLS with
// ALPN, a server limited to TLS 1.2, and a server that offers SCRAM without channel binding.
//
// Each accepted connection: (unless `direct`) read an SSLRequest and answer 'S'; TLS handshake; read
// the StartupMessage; then either AuthenticationOk + ParameterStatus + BackendKeyData + ReadyForQuery
// (and answer every Query with one row: the TLS version, or the first value of `rows`), or
// AuthenticationSASL offering only SCRAM-SHA-256. What each handshake saw (SNI, ALPN) is recorded.

import COpenSSL
import Foundation
import PostgresWire
import PostgresWireProtocol

public final class FakeTLSServer: @unchecked Sendable {
    public struct Options: Sendable {
        public var certificateFile: String
        public var keyFile: String
        /// Start TLS right away (PostgreSQL 17's direct TLS) instead of after an SSLRequest.
        public var direct = false
        /// Select ALPN "postgresql" when the client offers it.
        public var selectALPN = true
        /// Refuse TLS 1.3.
        public var maximumTLS12 = false
        /// After the startup packet, offer SASL with SCRAM-SHA-256 only (then wait for the client to give up).
        public var offerSCRAMWithoutChannelBinding = false

        public init(certificateFile: String, keyFile: String) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    /// What one connection's handshake showed.
    public struct Handshake: Sendable {
        public var serverName: String?
        public var selectedALPN: String?
        public var protocolVersion: String?
        /// Set when the handshake failed (e.g. the client rejected the certificate).
        public var error: String?
        /// The first 8 bytes: the SSLRequest, or the start of a TLS ClientHello in direct mode.
        public var firstBytes: [UInt8]
    }

    public let port: Int
    public let options: Options
    private let listenFD: Int32
    private let context: OpaquePointer
    private let lock = NSLock()
    private var stopped = false
    private var _handshakes: [Handshake] = []
    private let acceptDone = DispatchSemaphore(value: 0)
    /// The ALPN list to select from, kept alive for the callback.
    private let alpnBox: UnsafeMutablePointer<Bool>

    public init(_ options: Options) throws {
        self.options = options
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw FakeServerError("SSL_CTX_new failed") }
        self.context = context
        alpnBox = .allocate(capacity: 1)
        alpnBox.initialize(to: options.selectALPN)
        guard SSL_CTX_use_certificate_chain_file(context, options.certificateFile) == 1,
              SSL_CTX_use_PrivateKey_file(context, options.keyFile, SSL_FILETYPE_PEM) == 1 else {
            SSL_CTX_free(context)
            throw FakeServerError("could not load \(options.certificateFile) / \(options.keyFile)")
        }
        if options.maximumTLS12 { _ = pgwire_SSL_CTX_set_max_proto_version(context, pgwire_TLS1_2_VERSION()) }
        SSL_CTX_set_alpn_select_cb(context, { ssl, out, outLength, input, inputLength, arg in
            guard let input, let out, let outLength, let arg else { return 3 }  // SSL_TLSEXT_ERR_NOACK
            if !arg.assumingMemoryBound(to: Bool.self).pointee { return 3 }
            var index = 0
            while index < Int(inputLength) {
                let length = Int(input[index])
                let name = String(decoding: UnsafeBufferPointer(start: input + index + 1, count: length), as: UTF8.self)
                if name == "postgresql" {
                    out.pointee = input + index + 1
                    outLength.pointee = UInt8(length)
                    return 0  // SSL_TLSEXT_ERR_OK
                }
                index += 1 + length
            }
            return 3
        }, alpnBox)

        let fd = Platform.socket(AF_INET, Platform.socketStream, 0)
        guard fd >= 0 else { throw FakeServerError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw FakeServerError("bind/listen: \(String(cString: strerror(errno)))")
        }
        var actual = sockaddr_in()
        var actualLength = length
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) } }
        port = Int(UInt16(bigEndian: actual.sin_port))
        listenFD = fd
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "FakeTLSServer.accept:\(port)"
        thread.start()
    }

    deinit {
        stop()
        SSL_CTX_free(context)
        alpnBox.deallocate()
    }

    public var handshakes: [Handshake] { lock.withLock { _handshakes } }

    public func stop() {
        let wasStopped = lock.withLock { () -> Bool in
            defer { stopped = true }
            return stopped
        }
        if !wasStopped {
            _ = acceptDone.wait(timeout: .now() + 2)
            close(listenFD)
        }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func acceptLoop() {
        defer { acceptDone.signal() }
        while !isStopped {
            var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 50) <= 0 { continue }
            let client = Platform.accept(listenFD, nil, nil)
            if client < 0 { continue }
            let thread = Thread { [self] in
                serve(client)
                close(client)
            }
            thread.name = "FakeTLSServer.client:\(port)"
            thread.start()
        }
    }

    /// Runs one connection; its handshake record is published as soon as the handshake is over.
    private func serve(_ fd: Int32) {
        let (record, ssl, method) = handshake(fd)
        lock.withLock { _handshakes.append(record) }
        guard let ssl, let method else { return }
        session(ssl)
        SSL_free(ssl)
        BIO_meth_free(method)
    }

    private func handshake(_ fd: Int32) -> (Handshake, OpaquePointer?, OpaquePointer?) {
        var record = Handshake(serverName: nil, selectedALPN: nil, protocolVersion: nil, error: nil, firstBytes: [])
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // The first 8 bytes: peeked in direct mode (they belong to the ClientHello), read otherwise.
        var first = [UInt8](repeating: 0, count: 8)
        var got = 0
        while got < 8 {
            let n = first.withUnsafeMutableBytes { raw in
                recv(fd, raw.baseAddress! + (options.direct ? 0 : got), 8 - (options.direct ? 0 : got), options.direct ? Int32(MSG_PEEK) : 0)
            }
            if n <= 0 {
                record.error = "client closed before sending 8 bytes"
                return (record, nil, nil)
            }
            got = options.direct ? n : got + n
            if options.direct && n < 8 { usleep(10_000) }
        }
        record.firstBytes = first
        if !options.direct {
            guard first == FrontendMessage.sslRequest.encoded else {
                record.error = "expected SSLRequest, got \(first)"
                return (record, nil, nil)
            }
            _ = [UInt8(ascii: "S")].withUnsafeBytes { Platform.send(fd, $0.baseAddress, 1) }
        }
        guard let ssl = SSL_new(context) else {
            record.error = "SSL_new failed"
            return (record, nil, nil)
        }
        guard let method = pgwire_bio_method_new(), let bio = pgwire_bio_new_socket(method, fd) else {
            SSL_free(ssl)
            record.error = "BIO"
            return (record, nil, nil)
        }
        SSL_set_bio(ssl, bio, bio)
        ERR_clear_error()
        if SSL_accept(ssl) != 1 {
            let code = ERR_get_error()
            record.error = code == 0 ? "handshake failed" : (ERR_reason_error_string(code).map { String(cString: $0) } ?? "SSL error \(code)")
            SSL_free(ssl)
            BIO_meth_free(method)
            return (record, nil, nil)
        }
        record.serverName = SSL_get_servername(ssl, 0).map { String(cString: $0) }  // TLSEXT_NAMETYPE_host_name
        record.protocolVersion = SSL_get_version(ssl).map { String(cString: $0) }
        var alpn: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpn, &alpnLength)
        if let alpn, alpnLength > 0 {
            record.selectedALPN = String(decoding: UnsafeBufferPointer(start: alpn, count: Int(alpnLength)), as: UTF8.self)
        }
        return (record, ssl, method)
    }

    /// After the handshake: the startup packet, then one row per Query until Terminate.
    private func session(_ ssl: OpaquePointer) {
        let version = SSL_get_version(ssl).map { String(cString: $0) } ?? "?"
        var decoder = FrontendMessageDecoder()
        func next() -> FrontendMessage? {
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                if let message = try? decoder.next() { return message }
                let n = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
                if n <= 0 { return nil }
                decoder.append(buffer[0..<Int(n)])
            }
        }
        func send(_ messages: [BackendMessage]) {
            var out: [UInt8] = []
            for message in messages { message.encode(into: &out) }
            var offset = 0
            while offset < out.count {
                let n = out.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + offset, Int32($0.count - offset)) }
                if n <= 0 { return }
                offset += Int(n)
            }
        }
        guard case .startup? = next() else { return }
        if options.offerSCRAMWithoutChannelBinding {
            send([.authentication(.sasl(mechanisms: ["SCRAM-SHA-256"]))])
            _ = next()
            return
        }
        send([
            .authentication(.ok),
            .parameterStatus(ParameterStatus(name: "server_version", value: "17.0 (fake TLS)")),
            .parameterStatus(ParameterStatus(name: "client_encoding", value: "UTF8")),
            .parameterStatus(ParameterStatus(name: "DateStyle", value: "ISO, MDY")),
            .parameterStatus(ParameterStatus(name: "TimeZone", value: "UTC")),
            .parameterStatus(ParameterStatus(name: "integer_datetimes", value: "on")),
            .parameterStatus(ParameterStatus(name: "standard_conforming_strings", value: "on")),
            .backendKeyData(BackendKeyData(processID: 4242, secretKey: 1234)),
            .readyForQuery(.idle),
        ])
        while let message = next() {
            switch message {
            case .query:
                send([
                    .rowDescription(RowDescription(fields: [RowDescription.Field(name: "tls", dataTypeOID: 25, dataTypeSize: -1)])),
                    .dataRow(DataRow(values: [Array(version.utf8)])),
                    .commandComplete(CommandComplete(tag: "SELECT 1")),
                    .readyForQuery(.idle),
                ])
            case .terminate:
                _ = SSL_shutdown(ssl)
                return
            default:
                continue
            }
        }
    }
}
