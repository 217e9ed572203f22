import Foundation

/// A connected POSIX stream socket (TCP or Unix-domain). Blocking I/O; `poll` enforces deadlines.
public final class SocketTransport: Transport, @unchecked Sendable {
    private var fd: Int32
    public let peerDescription: String

    init(fd: Int32, peerDescription: String) {
        self.fd = fd
        self.peerDescription = peerDescription
    }

    deinit { close() }

    public var fileDescriptor: Int32 { fd }

    /// libpq's keepalives, keepalives_idle, keepalives_interval and keepalives_count (seconds;
    /// nil leaves the system default). Keepalives are on unless `enabled` is false.
    public func configureKeepalives(enabled: Bool, idle: Int?, interval: Int?, count: Int?) {
        var on: Int32 = enabled ? 1 : 0
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, socklen_t(MemoryLayout<Int32>.size))
        guard enabled else { return }
        func set(_ option: Int32, _ value: Int?) {
            guard var v = value.map({ Int32(clamping: $0) }), v > 0 else { return }
            setsockopt(fd, Int32(IPPROTO_TCP), option, &v, socklen_t(MemoryLayout<Int32>.size))
        }
        set(Platform.tcpKeepIdle, idle)
        set(TCP_KEEPINTVL, interval)
        set(TCP_KEEPCNT, count)
    }

    /// The socket's current value of an integer option (for tests and diagnostics).
    public func socketOption(level: Int32, name: Int32) -> Int32? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, level, name, &value, &length) == 0 ? value : nil
    }

    /// The numeric addresses `host` resolves to for a TCP connection to `port`, in getaddrinfo's
    /// order, without duplicates (libpq tries each one as its own connection attempt).
    public static func resolveTCP(host: String, port: Int) throws(PostgresError) -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Platform.socketStream
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        if status != 0 {
            let reason = String(cString: gai_strerror(status))
            throw .connectionFailed("could not translate host name \"\(host)\" to address: \(reason)")
        }
        defer { freeaddrinfo(result) }
        var addresses: [String] = []
        var cursor = result
        while let info = cursor {
            cursor = info.pointee.ai_next
            let address = numericAddress(info.pointee.ai_addr, info.pointee.ai_addrlen)
            if address != "?" && !addresses.contains(address) { addresses.append(address) }
        }
        if addresses.isEmpty {
            throw .connectionFailed("could not translate host name \"\(host)\" to address: no addresses")
        }
        return addresses
    }

    /// Connects to a TCP endpoint: every address the name resolves to (IPv6 and IPv4) is tried in order.
    public static func connectTCP(host: String, hostaddr: String?, port: Int, deadline: Deadline?) throws(PostgresError) -> SocketTransport {
        let target = hostaddr ?? host
        let description = hostaddr != nil && hostaddr != host
            ? "server at \"\(host)\" (\(target)), port \(port)" : "server at \"\(host)\", port \(port)"
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Platform.socketStream
        hints.ai_protocol = Int32(IPPROTO_TCP)
        if hostaddr != nil { hints.ai_flags = AI_NUMERICHOST }
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(target, String(port), &hints, &result)
        if status != 0 {
            let reason = String(cString: gai_strerror(status))
            throw .connectionFailed("could not translate host name \"\(target)\" to address: \(reason)")
        }
        defer { freeaddrinfo(result) }
        var lastError = "no addresses"
        var lastDescription = description
        var cursor = result
        while let info = cursor {
            cursor = info.pointee.ai_next
            let address = numericAddress(info.pointee.ai_addr, info.pointee.ai_addrlen)
            lastDescription = address == host ? "server at \"\(host)\", port \(port)"
                : "server at \"\(host)\" (\(address)), port \(port)"
            let fd = Platform.socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd < 0 {
                lastError = String(cString: strerror(errno))
                continue
            }
            do throws(PostgresError) {
                try connect(fd: fd, address: info.pointee.ai_addr, length: info.pointee.ai_addrlen, deadline: deadline)
            } catch {
                Platform.close(fd)
                if case .timeout = error { throw .timeout("connection to \(lastDescription) failed: timeout expired") }
                lastError = error.message
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
            return SocketTransport(fd: fd, peerDescription: lastDescription)
        }
        throw .connectionFailed("connection to \(lastDescription) failed: \(lastError)\n\tIs the server running on that host and accepting TCP/IP connections?")
    }

    /// Connects to a Unix-domain socket file (`<dir>/.s.PGSQL.<port>`).
    public static func connectUnix(path: String, deadline: Deadline?) throws(PostgresError) -> SocketTransport {
        let description = "server on socket \"\(path)\""
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else {
            throw .connectionFailed("Unix-domain socket path \"\(path)\" is too long (maximum \(capacity - 1) bytes)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let fd = Platform.socket(AF_UNIX, Platform.socketStream, 0)
        if fd < 0 { throw .connectionFailed("could not create socket: \(String(cString: strerror(errno)))") }
        do throws(PostgresError) {
            try withUnsafePointer(to: &address) { pointer throws(PostgresError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(PostgresError) in
                    try connect(fd: fd, address: sa, length: socklen_t(MemoryLayout<sockaddr_un>.size), deadline: deadline)
                }
            }
        } catch {
            Platform.close(fd)
            if case .timeout = error { throw .timeout("connection to \(description) failed: timeout expired") }
            throw .connectionFailed("connection to \(description) failed: \(error.message)\n\tIs the server running locally and accepting connections on that socket?")
        }
        return SocketTransport(fd: fd, peerDescription: description)
    }

    /// A non-blocking connect bounded by the deadline, then back to blocking mode.
    private static func connect(fd: Int32, address: UnsafePointer<sockaddr>, length: socklen_t, deadline: Deadline?) throws(PostgresError) {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var result: Int32
        repeat { result = Platform.connect(fd, address, length) } while result < 0 && errno == EINTR
        if result < 0 {
            guard errno == EINPROGRESS else { throw .connectionFailed(String(cString: strerror(errno))) }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            while true {
                let timeout = deadline?.remainingMilliseconds ?? -1
                let ready = poll(&pfd, 1, timeout)
                if ready < 0 && errno == EINTR { continue }
                if ready < 0 { throw .connectionFailed(String(cString: strerror(errno))) }
                if ready == 0 { throw .timeout("timeout expired") }
                break
            }
            var soError: Int32 = 0
            var soLength = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &soLength)
            if soError != 0 { throw .connectionFailed(String(cString: strerror(soError))) }
        }
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
    }

    private static func numericAddress(_ address: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t) -> String {
        guard let address else { return "?" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        if getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
            let end = host.firstIndex(of: 0) ?? host.endIndex
            return String(decoding: host[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return "?"
    }

    /// Waits until the socket is readable/writable or the deadline passes.
    private func wait(for events: Int32, deadline: Deadline?) throws(PostgresError) {
        guard let deadline else { return }
        var pfd = pollfd(fd: fd, events: Int16(events), revents: 0)
        while true {
            let ready = poll(&pfd, 1, deadline.remainingMilliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { throw .connectionLost("poll failed: \(String(cString: strerror(errno)))") }
            if ready == 0 { throw .timeout("timeout expired") }
            return
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) throws(PostgresError) -> Int {
        guard fd >= 0 else { throw .connectionClosed("connection is closed") }
        while true {
            try wait(for: Int32(POLLIN), deadline: deadline)
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            if errno == EINTR || errno == EAGAIN { continue }
            throw .connectionLost("could not receive data from server: \(String(cString: strerror(errno)))")
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) throws(PostgresError) {
        try write(bytes, deadline: deadline, draining: false) {}
    }

    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?,
                      whileBlocked drain: () throws(PostgresError) -> Void) throws(PostgresError) {
        try write(bytes, deadline: deadline, draining: true, drain: drain)
    }

    /// Sends without blocking; when the socket is full, waits until it can take more (or, when
    /// `draining`, until the server sent something, which `drain` then reads).
    private func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?, draining: Bool,
                       drain: () throws(PostgresError) -> Void) throws(PostgresError) {
        guard fd >= 0 else { throw .connectionClosed("connection is closed") }
        var offset = 0
        while offset < bytes.count {
            let n = Platform.sendNonBlocking(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if try Self.waitForWritable(fd: fd, deadline: deadline, orReadable: draining) { try drain() }
            } else {
                throw .connectionLost("could not send data to server: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Waits until `fd` can take more bytes or (`orReadable`) has bytes to read; true when it has
    /// bytes to read (the caller drains them, then writes again).
    static func waitForWritable(fd: Int32, deadline: Deadline?, orReadable: Bool = true) throws(PostgresError) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(orReadable ? POLLOUT | POLLIN : POLLOUT), revents: 0)
        while true {
            let ready = Platform.poll(&pfd, 1, deadline?.remainingMilliseconds ?? -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { throw .connectionLost("poll failed: \(String(cString: strerror(errno)))") }
            if ready == 0 { throw .timeout("timeout expired") }
            return orReadable && pfd.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0
        }
    }

    public func close() {
        if fd >= 0 {
            Platform.close(fd)
            fd = -1
        }
    }
}
