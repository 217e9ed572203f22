import Foundation
import PostgresWire
import PostgresWireProtocol

/// A transparent TCP proxy between PostgreSQL clients and a server that traces every message in
/// both directions in libpq's PQtrace format (`pgwire trace`).
///
/// Each accepted client gets its own upstream connection and two threads, one per direction: what
/// one read returns is written on with one write, whatever message boundaries it contains, after a
/// copy went through the frame decoder to produce the trace (a partial message waits in the decoder,
/// never in the relay). Only the client's first, untyped packets are looked at before they are
/// forwarded: an SSLRequest or GSSENCRequest is answered 'N' by the proxy itself (never forwarded),
/// so the session continues in clear text and stays readable.
///
/// The authentication exchange is traced with secrets redacted. Traffic that cannot be framed
/// (garbage, an impossible length) is reported in the trace and that client's connection closed;
/// the proxy goes on serving the others.
public final class TraceProxy: @unchecked Sendable {
    public enum Upstream: Sendable, Equatable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        /// A Unix-domain socket file (`<directory>/.s.PGSQL.<port>`).
        case unixSocket(path: String)

        /// `HOST:PORT`, `[IPv6]:PORT`, or `/socket/directory:PORT` for a Unix-domain socket.
        public init(parsing text: String) throws(PostgresError) {
            let (host, port) = try TraceProxy.splitHostPort(text, what: "--upstream")
            if host.hasPrefix("/") {
                self = .unixSocket(path: host + "/.s.PGSQL.\(port)")
            } else {
                self = .tcp(host: host, port: port)
            }
        }

        public var description: String {
            switch self {
            case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unixSocket(let path): return path
            }
        }
    }

    public struct Configuration: Sendable {
        public var listenHost: String
        /// 0 picks a free port (see `listeningPort`).
        public var listenPort: Int
        public var upstream: Upstream
        /// Print libpq's timestamp column (false = PQTRACE_SUPPRESS_TIMESTAMPS).
        public var timestamps: Bool
        /// Start every line with the connection number and a tab.
        public var prefixConnections: Bool
        public var copyData: PQTraceFormatter.CopyDataStyle
        /// Seconds allowed for connecting to the server.
        public var upstreamConnectTimeout: Double

        public init(listenHost: String = "127.0.0.1", listenPort: Int, upstream: Upstream, timestamps: Bool = true,
                    prefixConnections: Bool = false, copyData: PQTraceFormatter.CopyDataStyle = .libpq,
                    upstreamConnectTimeout: Double = 10) {
            self.listenHost = listenHost
            self.listenPort = listenPort
            self.upstream = upstream
            self.timestamps = timestamps
            self.prefixConnections = prefixConnections
            self.copyData = copyData
            self.upstreamConnectTimeout = upstreamConnectTimeout
        }
    }

    public let configuration: Configuration
    public let output: TraceOutput
    /// The address actually listened on, e.g. `127.0.0.1:54321`.
    public let listeningAddress: String
    public let listeningPort: Int

    private let listenFD: Int32
    private let lock = NSLock()
    private var stopped = false
    private var nextConnectionNumber = 1
    private var activeSessions = 0

    /// Binds and listens right away (so the port is known before `run()`).
    public init(configuration: Configuration, output: TraceOutput) throws(PostgresError) {
        self.configuration = configuration
        self.output = output
        (listenFD, listeningAddress, listeningPort) = try Self.listen(host: configuration.listenHost, port: configuration.listenPort)
    }

    deinit {
        if listenFD >= 0 { _ = Platform.close(listenFD) }
    }

    /// Accepts clients until `stop()`; each one is served on its own thread.
    public func run() {
        var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
        while !lock.withLock({ stopped }) {
            pfd.revents = 0
            let ready = poll(&pfd, 1, 200)
            if ready <= 0 { continue }
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Platform.accept(listenFD, $0, &length) }
            }
            if client < 0 {
                if errno == EMFILE || errno == ENFILE {
                    // Out of descriptors: give the running sessions a moment rather than spinning.
                    usleep(50_000)
                }
                continue
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let peer = Self.describe(&address, length)
            let number: Int = lock.withLock {
                defer { nextConnectionNumber += 1 }
                activeSessions += 1
                return nextConnectionNumber
            }
            let session = ProxySession(proxy: self, number: number, client: client, peer: peer)
            let thread = Thread {
                session.run()
                self.lock.withLock { self.activeSessions -= 1 }
            }
            thread.stackSize = 512 * 1024
            thread.start()
        }
    }

    /// Stops accepting; sessions already running finish on their own.
    public func stop() {
        lock.withLock { stopped = true }
    }

    /// Sessions being served right now.
    public var activeSessionCount: Int { lock.withLock { activeSessions } }

    // MARK: Sockets

    static func splitHostPort(_ text: String, what: String) throws(PostgresError) -> (String, Int) {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .invalidUsage("\(what): expected [HOST]:PORT, got \"\(text)\"") }
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            throw .invalidUsage("\(what): expected HOST:PORT, got \"\(text)\"")
        }
        if host.isEmpty { host = "127.0.0.1" }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw .invalidUsage("\(what): invalid port \"\(portText)\"")
        }
        return (String(host), port)
    }

    private static func listen(host: String, port: Int) throws(PostgresError) -> (Int32, String, Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Platform.socketStream
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0 else {
            throw .connectionFailed("could not resolve listen address \"\(host)\": \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        var lastError = "no addresses"
        var cursor = result
        while let info = cursor {
            cursor = info.pointee.ai_next
            let fd = Platform.socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol, closeOnExec: true)
            if fd < 0 {
                lastError = String(cString: strerror(errno))
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 || Platform.listen(fd, 128) != 0 {
                lastError = String(cString: strerror(errno))
                _ = Platform.close(fd)
                continue
            }
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            let description = describe(&address, length)
            let actualPort = Int(description.split(separator: ":").last.flatMap { Int($0) } ?? port)
            return (fd, description, actualPort)
        }
        throw .connectionFailed("could not listen on \(host):\(port): \(lastError)")
    }

    /// `host:port` (or `[v6]:port`) of a socket address.
    static func describe(_ address: inout sockaddr_storage, _ length: socklen_t) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard status == 0 else { return "?" }
        func text(_ chars: [CChar]) -> String {
            String(decoding: chars.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        let h = text(host)
        let s = text(service)
        return h.contains(":") ? "[\(h)]:\(s)" : "\(h):\(s)"
    }

    fileprivate func connectUpstream() throws(PostgresError) -> SocketTransport {
        let deadline = Deadline(secondsFromNow: configuration.upstreamConnectTimeout)
        switch configuration.upstream {
        case .tcp(let host, let port):
            return try SocketTransport.connectTCP(host: host, hostaddr: nil, port: port, deadline: deadline)
        case .unixSocket(let path):
            return try SocketTransport.connectUnix(path: path, deadline: deadline)
        }
    }
}

/// One client, its upstream connection, and the two relay loops between them.
///
/// Each direction has its own thread doing blocking reads and writes: read what arrived, trace it,
/// write it on in one piece. Tracing happens before forwarding, so a message's line is always in
/// the output before any answer to it can be read (the two directions never swap lines). With one
/// thread per direction a write that blocks never stops the other direction, so the proxy cannot
/// deadlock a client and a server that are both busy sending (a large COPY meeting a flood of
/// notices). The formatter is shared, under a lock, because the server's authentication requests
/// decide how the client's next 'p' message is read.
private final class ProxySession: @unchecked Sendable {
    let proxy: TraceProxy
    let number: Int
    let client: Int32
    let peer: String
    private var server: Int32 = -1

    private let lock = NSLock()
    private var formatter: PQTraceFormatter
    private var records: [UInt8] = []
    private var endReason: String?

    /// Frames the client's bytes: the untyped startup packets first, typed messages after.
    private var frontend = FrontendMessageDecoder().framer
    private var backend = BackendMessageDecoder(awaitingAuthentication: true).framer
    /// While true, the client's bytes are forwarded frame by frame (the proxy answers some itself).
    private var interceptingStartup = true
    private var startupForwarded = false
    private var clientBytes = 0
    private var serverBytes = 0
    /// How long a client may keep its side open after the server closed the connection.
    static let clientGracePeriod: DispatchTimeInterval = .seconds(10)

    init(proxy: TraceProxy, number: Int, client: Int32, peer: String) {
        self.proxy = proxy
        self.number = number
        self.client = client
        self.peer = peer
        let prefix = proxy.configuration.prefixConnections ? Array("\(number)\t".utf8) : []
        formatter = PQTraceFormatter(options: .init(timestamps: proxy.configuration.timestamps,
                                                     copyData: proxy.configuration.copyData, linePrefix: prefix))
    }

    /// Appends a `#` line and hands everything pending to the output (caller holds `lock`).
    private func commentLocked(_ text: String) {
        formatter.formatComment(text, into: &records)
        publishLocked()
    }

    private func publishLocked() {
        if !records.isEmpty {
            proxy.output.write(records)
            records.removeAll(keepingCapacity: true)
        }
    }

    /// Records why the session ends (the first reason wins) and wakes both relay threads.
    private func finish(_ reason: String, comment: String? = nil) {
        lock.withLock {
            if let comment { commentLocked(comment) }
            if endReason == nil { endReason = reason }
        }
        shutdown(client, Int32(SHUT_RDWR))
        if server >= 0 { shutdown(server, Int32(SHUT_RDWR)) }
    }

    func run() {
        defer { _ = Platform.close(client) }
        var one: Int32 = 1
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let upstream: SocketTransport
        do {
            upstream = try proxy.connectUpstream()
        } catch {
            lock.withLock {
                commentLocked("connection \(number) from \(peer): could not connect to upstream \(proxy.configuration.upstream): \(error.message)")
            }
            refuse(because: "pgwire trace could not connect to the server at \(proxy.configuration.upstream): \(error.message)")
            return
        }
        defer { upstream.close() }
        server = upstream.fileDescriptor
        lock.withLock { commentLocked("connection \(number) from \(peer) to \(proxy.configuration.upstream)") }

        let serverDone = DispatchSemaphore(value: 0)
        let clientDone = DispatchSemaphore(value: 0)
        let backward = Thread { [self] in
            relayFromServer()
            // The server has closed: a client that neither closes nor sends anything any more
            // (PostgreSQL would not read it) gets a grace period, then its side is shut too.
            if clientDone.wait(timeout: .now() + Self.clientGracePeriod) == .timedOut {
                shutdown(client, Int32(SHUT_RDWR))
            }
            serverDone.signal()
        }
        backward.stackSize = 256 * 1024
        backward.start()
        relayFromClient()
        clientDone.signal()
        serverDone.wait()
        lock.withLock {
            commentLocked("connection \(number) closed (\(endReason ?? "both sides closed")): \(clientBytes) bytes from the client, \(serverBytes) from the server")
        }
    }

    /// Tells a client the session cannot start, in the protocol's own terms: encryption requests
    /// are declined first, then the StartupMessage is answered with a FATAL ErrorResponse.
    private func refuse(because message: String) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var framer = FrontendMessageDecoder().framer
        var buffer = [UInt8](repeating: 0, count: 1024)
        reading: while true {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            framer.append(buffer[0..<n])
            while true {
                guard let frame = try? framer.nextFrame() else { break reading }
                guard frame.bytes.count >= 8 else { break }
                let code = Self.int32(frame.bytes, at: 4)
                guard code == StartupCode.sslRequest || code == StartupCode.gssEncRequest else { break reading }
                guard sendAll([UInt8(ascii: "N")][...], to: client) else { return }
            }
        }
        var response: [UInt8] = []
        ErrorResponseBuilder.fatal(code: "08006", message: message, into: &response)
        _ = sendAll(response[...], to: client)
    }

    // MARK: Client → server

    private func relayFromClient() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var outgoing: [UInt8] = []
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n == 0 {
                // The client is done sending; the server sees end-of-file after the last byte.
                shutdown(server, Int32(SHUT_WR))
                return
            }
            if n < 0 {
                if errno == EINTR { continue }
                finish("client connection error", comment: lock.withLock { endReason } == nil
                    ? "connection \(number): receiving from the client failed: \(String(cString: strerror(errno)))" : nil)
                return
            }
            let chunk = buffer[0..<n]
            outgoing.removeAll(keepingCapacity: true)
            var answer: [UInt8] = []
            var intercepted = false
            let failure: String? = lock.withLock {
                clientBytes += n
                let failure: String?
                if interceptingStartup {
                    intercepted = true
                    failure = interceptStartup(chunk, forward: &outgoing, answer: &answer)
                } else {
                    frontend.append(chunk)
                    failure = traceFramesLocked(&frontend, direction: .frontend)
                }
                publishLocked()
                return failure
            }
            if let failure {
                finish("malformed client traffic", comment: "malformed frontend traffic from connection \(number): \(failure); closing the connection")
                return
            }
            if !answer.isEmpty && !sendAll(answer[...], to: client) {
                finish("client went away")
                return
            }
            // Once past the startup packets, what was read is written on as it is: one write per read.
            let toSend = intercepted ? outgoing[...] : chunk
            if !toSend.isEmpty && !sendAll(toSend, to: server) {
                finish("server went away")
                return
            }
        }
    }

    /// Looks at the client's first packets (caller holds `lock`): SSLRequest/GSSENCRequest are
    /// answered 'N' here, everything else goes to `forward`. Leaves interception once the
    /// StartupMessage (or CancelRequest) has gone on and no partial message is pending.
    private func interceptStartup(_ chunk: ArraySlice<UInt8>, forward: inout [UInt8], answer: inout [UInt8]) -> String? {
        frontend.append(chunk)
        while true {
            let frame: Frame?
            do throws(ProtocolError) {
                frame = try frontend.nextFrame()
            } catch {
                return error.description
            }
            guard let frame else { break }
            formatter.format(.frontend, frame.bytes, into: &records)
            guard frame.type == nil, frame.bytes.count >= 8 else {
                forward.append(contentsOf: frame.bytes)
                continue
            }
            let code = Self.int32(frame.bytes, at: 4)
            switch code {
            case StartupCode.sslRequest, StartupCode.gssEncRequest:
                let gss = code == StartupCode.gssEncRequest
                answer.append(UInt8(ascii: "N"))
                formatter.formatEncryptionResponse(UInt8(ascii: "N"), gss: gss, into: &records)
                formatter.formatComment(gss ? "GSSENCRequest answered 'N' by the proxy: the session continues unencrypted"
                                            : "SSLRequest answered 'N' by the proxy: the session continues without TLS so it can be traced",
                                        into: &records)
            case StartupCode.cancelRequest:
                forward.append(contentsOf: frame.bytes)
                startupForwarded = true
            default:
                // A StartupMessage (or a version the server will refuse itself): typed messages follow.
                forward.append(contentsOf: frame.bytes)
                frontend.expectsUntypedMessage = false
                startupForwarded = true
            }
        }
        if startupForwarded && frontend.bufferedByteCount == 0 {
            interceptingStartup = false
        }
        return nil
    }

    // MARK: Server → client

    private func relayFromServer() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(server, $0.baseAddress, $0.count, 0) }
            if n == 0 {
                shutdown(client, Int32(SHUT_WR))
                return
            }
            if n < 0 {
                if errno == EINTR { continue }
                finish("server connection error", comment: lock.withLock { endReason } == nil
                    ? "connection \(number): receiving from the server failed: \(String(cString: strerror(errno)))" : nil)
                return
            }
            let chunk = buffer[0..<n]
            let failure: String? = lock.withLock {
                serverBytes += n
                backend.append(chunk)
                let failure = traceFramesLocked(&backend, direction: .backend)
                publishLocked()
                return failure
            }
            if let failure {
                finish("malformed server traffic", comment: "malformed backend traffic on connection \(number): \(failure); closing the connection")
                return
            }
            if !sendAll(chunk, to: client) {
                finish("client went away")
                return
            }
        }
    }

    // MARK: Helpers

    private func traceFramesLocked(_ framer: inout FrameDecoder, direction: TraceDirection) -> String? {
        while true {
            do throws(ProtocolError) {
                guard let frame = try framer.nextFrame() else { return nil }
                formatter.format(direction, frame.bytes, into: &records)
            } catch {
                return error.description
            }
        }
    }

    /// Blocking write of every byte; false when the peer is gone.
    private func sendAll(_ bytes: ArraySlice<UInt8>, to fd: Int32) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Platform.send(fd, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return false
                }
            }
            return true
        }
    }

    static func int32(_ bytes: ArraySlice<UInt8>, at offset: Int) -> Int32 {
        let i = bytes.startIndex + offset
        return Int32(bitPattern: UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3]))
    }
}

/// Builds the ErrorResponse the proxy sends a client it cannot serve.
private enum ErrorResponseBuilder {
    static func fatal(code: String, message: String, into out: inout [UInt8]) {
        var body: [UInt8] = []
        for (field, value) in [("S", "FATAL"), ("V", "FATAL"), ("C", code), ("M", message)] {
            body.append(field.utf8.first!)
            body.append(contentsOf: value.utf8)
            body.append(0)
        }
        body.append(0)
        out.append(UInt8(ascii: "E"))
        let length = UInt32(body.count + 4)
        out.append(contentsOf: [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)])
        out.append(contentsOf: body)
    }
}
