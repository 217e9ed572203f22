import Foundation
import PostgresWireProtocol

extension Connection {
    /// Reads while idle until `wakeUpFileDescriptor` becomes readable: notifications, notices and
    /// parameter changes are dispatched as they arrive (notifications to `notificationHandler`).
    ///
    /// Messages the decoder (or TLS) already buffered are dispatched first; then the thread sleeps in
    /// `poll` on both the socket and the wake-up descriptor, with no timeout. `lock` is only held
    /// while reading and dispatching, never while sleeping, so other calls are not held up. The
    /// wake-up descriptor is not drained here. Throws when the connection is closed or breaks.
    func waitForAsynchronousMessages(wakeUpFileDescriptor wake: Int32) throws(PostgresError) {
        var socketReadable = true  // look once before sleeping
        while true {
            let fd = try dispatchAvailableAsynchronousMessages(socketReadable: socketReadable)
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR || errno == EAGAIN {
                    socketReadable = false
                    continue
                }
                throw .connectionLost("poll failed: \(String(cString: strerror(errno)))")
            }
            if fds[1].revents != 0 { return }
            socketReadable = fds[0].revents != 0
        }
    }

    /// Dispatches every complete message already buffered and, when the socket is readable (or TLS
    /// holds bytes), what one non-blocking read brings. Returns the descriptor to poll.
    func dispatchAvailableAsynchronousMessages(socketReadable: Bool) throws(PostgresError) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        try checkUsable()
        guard let fd = transport.pollableFileDescriptor else {
            throw .invalidUsage("this connection's transport cannot be polled")
        }
        var mayRead = socketReadable
        while true {
            let message: BackendMessage?
            do throws(ProtocolError) {
                message = try decoder.next(tracer: tracer)
            } catch {
                throw fail(.protocolViolation(error))
            }
            if let message {
                _ = try handleAsynchronousMessage(message)
                continue
            }
            guard mayRead || transport.hasBufferedBytes else { return fd }
            mayRead = false
            let n: Int
            do throws(PostgresError) {
                // A zero deadline: poll(0) before recv, so this never blocks.
                n = try decoder.framer.readInto { buffer throws(PostgresError) in
                    try transport.read(into: buffer, deadline: Deadline(secondsFromNow: 0))
                }
            } catch {
                if case .timeout = error { return fd }
                throw fail(error)
            }
            if n == 0 {
                throw fail(.connectionLost("server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request."))
            }
            // More waiting on the socket? The (level-triggered) poll says so right away.
        }
    }
}

extension Transport {
    /// The socket descriptor to poll for readability.
    var pollableFileDescriptor: Int32? {
        if let socket = self as? SocketTransport { return socket.fileDescriptor >= 0 ? socket.fileDescriptor : nil }
        if let tls = self as? TLSTransport { return tls.fileDescriptor >= 0 ? tls.fileDescriptor : nil }
        return nil
    }

    /// Whether the transport holds received bytes a read returns without the socket being readable.
    var hasBufferedBytes: Bool { (self as? TLSTransport)?.hasBufferedBytes ?? false }
}
