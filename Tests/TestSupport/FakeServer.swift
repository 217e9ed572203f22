// A deliberately scriptable (and usually broken) PostgreSQL server for fault-injection tests.
//
// `FakeServer` listens on 127.0.0.1 with a kernel-chosen free port. Every accepted connection runs
// the script on its own Thread with a `FakeClientConnection`, which can read the startup packet and
// later frontend messages, write raw bytes or encoded `BackendMessage`s, sleep, and close. The socket
// is closed when the script returns (or throws). Everything is bounded: reads give up after a
// deadline, so a misbehaving client never leaves a thread stuck forever.

import Foundation
import PostgresWire
import PostgresWireProtocol

public struct FakeServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public final class FakeServer: @unchecked Sendable {
    public typealias Script = @Sendable (FakeClientConnection) throws -> Void

    public let port: Int
    private let listenFD: Int32
    private let script: Script
    private let lock = NSLock()
    private var stopped = false
    private var _acceptedCount = 0
    private var _scriptErrors: [String] = []
    private let acceptThreadDone = DispatchSemaphore(value: 0)

    /// Starts listening and accepting; `script` runs once per accepted connection.
    public init(_ script: @escaping Script) throws {
        self.script = script
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
            let message = String(cString: strerror(errno))
            close(fd)
            throw FakeServerError("bind/listen: \(message)")
        }
        var actual = sockaddr_in()
        var actualLength = length
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) } }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.listenFD = fd
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "FakeServer.accept:\(port)"
        thread.start()
    }

    deinit { stop() }

    /// How many connections were accepted so far.
    public var acceptedCount: Int { lock.withLock { _acceptedCount } }

    /// Errors thrown by scripts (for diagnosing a failing test).
    public var scriptErrors: [String] { lock.withLock { _scriptErrors } }

    /// Stops accepting (idempotent). Connections in progress finish on their own threads.
    public func stop() {
        let wasStopped = lock.withLock { () -> Bool in
            let was = stopped
            stopped = true
            return was
        }
        if !wasStopped {
            _ = acceptThreadDone.wait(timeout: .now() + 2)
            close(listenFD)
        }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func acceptLoop() {
        defer { acceptThreadDone.signal() }
        while !isStopped {
            var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 50)
            if ready <= 0 { continue }
            let client = Platform.accept(listenFD, nil, nil)
            if client < 0 { continue }
            lock.withLock { _acceptedCount += 1 }
            let connection = FakeClientConnection(fd: client)
            let script = self.script
            let thread = Thread { [weak self] in
                do {
                    try script(connection)
                } catch {
                    self?.lock.withLock { self?._scriptErrors.append(String(describing: error)) }
                }
                connection.close()
            }
            thread.name = "FakeServer.client:\(port)"
            thread.start()
        }
    }
}

/// The server's end of one accepted connection.
public final class FakeClientConnection: @unchecked Sendable {
    private var fd: Int32
    private var decoder = FrontendMessageDecoder()
    private let lock = NSLock()

    init(fd: Int32) {
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close() }

    /// How the next 'p' message is decoded (set it before reading a SASL response).
    public var authenticationResponseKind: FrontendMessage.AuthenticationResponseKind {
        get { decoder.authenticationResponse }
        set { decoder.authenticationResponse = newValue }
    }

    /// Reads the next frontend message, waiting at most `timeout` seconds. Throws at end of stream.
    public func readMessage(timeout: Double = 10) throws -> FrontendMessage {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let message = try decoder.next() { return message }
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            let n = try readSome(into: &buffer, deadline: deadline)
            if n == 0 { throw FakeServerError("client closed the connection") }
            decoder.append(buffer[0..<n])
        }
    }

    /// Reads the StartupMessage (answering an SSLRequest/GSSENCRequest with 'N' first).
    @discardableResult
    public func readStartup(timeout: Double = 10) throws -> StartupMessage {
        while true {
            let message = try readMessage(timeout: timeout)
            switch message {
            case .startup(let startup): return startup
            case .sslRequest, .gssEncRequest: write([UInt8(ascii: "N")])
            default: throw FakeServerError("expected a startup packet, got \(message.name)")
            }
        }
    }

    /// Writes raw bytes (errors such as a closed peer are ignored: a fake server may be rude).
    public func write(_ bytes: [UInt8]) {
        guard fd >= 0 else { return }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Platform.send(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if n > 0 {
                offset += n
            } else if n < 0 && (errno == EINTR || errno == EAGAIN) {
                continue
            } else {
                return
            }
        }
    }

    public func send(_ messages: BackendMessage...) {
        send(messages)
    }

    public func send(_ messages: [BackendMessage]) {
        var out: [UInt8] = []
        for message in messages { message.encode(into: &out) }
        write(out)
    }

    /// AuthenticationOk, a few ParameterStatus, BackendKeyData and ReadyForQuery(idle).
    public func completeTrustStartup() {
        send(
            .authentication(.ok),
            .parameterStatus(ParameterStatus(name: "server_version", value: "15.0 (fake)")),
            .parameterStatus(ParameterStatus(name: "client_encoding", value: "UTF8")),
            .parameterStatus(ParameterStatus(name: "TimeZone", value: "UTC")),
            .backendKeyData(BackendKeyData(processID: 4242, secretKey: 1234)),
            .readyForQuery(.idle))
    }

    /// Waits until the client closes its end (or `timeout` passes), discarding what it sends.
    /// Returns true when the client closed.
    @discardableResult
    public func waitForClientClose(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            guard let n = try? readSome(into: &buffer, deadline: deadline) else { return false }
            if n == 0 { return true }
        }
    }

    public func sleep(_ seconds: Double) {
        Thread.sleep(forTimeInterval: seconds)
    }

    public func close() {
        lock.withLock {
            if fd >= 0 {
                Platform.close(fd)
                fd = -1
            }
        }
    }

    private func readSome(into buffer: inout [UInt8], deadline: Date) throws -> Int {
        guard fd >= 0 else { throw FakeServerError("connection closed") }
        while true {
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { throw FakeServerError("timed out waiting for the client") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(remaining * 1000 + 1, 60_000)))
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { throw FakeServerError("poll: \(String(cString: strerror(errno)))") }
            if ready == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n >= 0 { return n }
            if errno == EINTR || errno == EAGAIN { continue }
            if errno == ECONNRESET { return 0 }
            throw FakeServerError("recv: \(String(cString: strerror(errno)))")
        }
    }
}

/// The server side of SCRAM-SHA-256 for a fake server, with a switch to send a wrong signature.
public struct FakeSCRAMServer: Sendable {
    public let password: String
    public let salt: [UInt8]
    public let iterations: Int
    public let serverNonceSuffix: String

    public init(password: String, salt: [UInt8] = Array("fake-salt-1234".utf8), iterations: Int = 4096,
                serverNonceSuffix: String = "fakeServerNonce0123456789") {
        self.password = password
        self.salt = salt
        self.iterations = iterations
        self.serverNonceSuffix = serverNonceSuffix
    }

    public struct Exchange: Sendable {
        /// The client's proof was right for `password`.
        public var clientProofValid: Bool
        /// The base64 server signature the correct server would send.
        public var serverSignature: String
    }

    /// Runs the exchange on `client` right after the StartupMessage: AuthenticationSASL,
    /// SASLContinue, then SASLFinal with the correct signature, or a corrupted one when
    /// `corruptSignature` is set. Returns what it learned.
    @discardableResult
    public func run(on client: FakeClientConnection, corruptSignature: Bool) throws -> Exchange {
        client.send(.authentication(.sasl(mechanisms: ["SCRAM-SHA-256"])))
        client.authenticationResponseKind = .saslInitial
        guard case .saslInitialResponse(let initial) = try client.readMessage() else {
            throw FakeServerError("expected SASLInitialResponse")
        }
        guard initial.mechanism == "SCRAM-SHA-256", let firstBytes = initial.data else {
            throw FakeServerError("unexpected SASL mechanism \(initial.mechanism)")
        }
        let clientFirst = String(decoding: firstBytes, as: UTF8.self)
        // gs2-header "n,," or "y,,", then client-first-message-bare.
        let parts = clientFirst.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw FakeServerError("malformed client-first-message \(clientFirst)") }
        let gs2Header = "\(parts[0]),\(parts[1]),"
        let clientFirstBare = String(parts[2])
        guard let nonceAttribute = clientFirstBare.split(separator: ",").first(where: { $0.hasPrefix("r=") }) else {
            throw FakeServerError("client-first-message lacks a nonce")
        }
        let nonce = String(nonceAttribute.dropFirst(2)) + serverNonceSuffix
        let serverFirst = "r=\(nonce),s=\(Data(salt).base64EncodedString()),i=\(iterations)"
        client.send(.authentication(.saslContinue(Array(serverFirst.utf8)[...])))

        client.authenticationResponseKind = .sasl
        guard case .saslResponse(let finalBytes) = try client.readMessage() else {
            throw FakeServerError("expected SASLResponse")
        }
        let clientFinal = String(decoding: finalBytes, as: UTF8.self)
        guard let proofRange = clientFinal.range(of: ",p=") else { throw FakeServerError("client-final-message lacks a proof") }
        let clientFinalWithoutProof = String(clientFinal[..<proofRange.lowerBound])
        let proof = Array(Data(base64Encoded: String(clientFinal[proofRange.upperBound...])) ?? Data())
        let expectedBinding = "c=\(Data(gs2Header.utf8).base64EncodedString()),r=\(nonce)"

        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(clientFinalWithoutProof)".utf8)
        let saltedPassword = Crypto.pbkdf2SHA256(password: Array(password.utf8), salt: salt, iterations: iterations)
        let clientKey = Crypto.hmacSHA256(key: saltedPassword, data: Array("Client Key".utf8))
        let storedKey = Crypto.sha256(clientKey)
        let clientSignature = Crypto.hmacSHA256(key: storedKey, data: authMessage)
        let recoveredClientKey = proof.count == clientSignature.count ? zip(proof, clientSignature).map { $0 ^ $1 } : []
        let clientProofValid = clientFinalWithoutProof == expectedBinding && Crypto.sha256(recoveredClientKey) == storedKey

        let serverKey = Crypto.hmacSHA256(key: saltedPassword, data: Array("Server Key".utf8))
        var signature = Crypto.hmacSHA256(key: serverKey, data: authMessage)
        let correct = Data(signature).base64EncodedString()
        if corruptSignature { signature[0] ^= 0xff }
        client.send(.authentication(.saslFinal(Array("v=\(Data(signature).base64EncodedString())".utf8)[...])))
        return Exchange(clientProofValid: clientProofValid, serverSignature: correct)
    }
}
