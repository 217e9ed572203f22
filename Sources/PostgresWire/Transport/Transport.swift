import Foundation

/// A point in time after which an I/O operation gives up (connect_timeout).
public struct Deadline: Sendable {
    public let uptimeNanoseconds: UInt64

    public init(secondsFromNow seconds: Double) {
        uptimeNanoseconds = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, seconds) * 1e9)
    }

    /// Milliseconds left, at least 0 (for poll).
    var remainingMilliseconds: Int32 {
        let now = DispatchTime.now().uptimeNanoseconds
        if now >= uptimeNanoseconds { return 0 }
        return Int32(clamping: (uptimeNanoseconds - now + 999_999) / 1_000_000)
    }
}

/// The byte pipe under a connection: a TCP or Unix-domain socket, optionally wrapped in TLS.
/// Reads and writes move whole buffers; framing is the protocol core's business.
public protocol Transport: AnyObject {
    /// Reads what is available (at least one byte, blocking until then). Returns 0 at end of stream.
    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) throws(PostgresError) -> Int
    /// Writes every byte.
    func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) throws(PostgresError)
    /// Writes every byte like `write(_:deadline:)`; whenever the connection cannot take more and
    /// the server has sent something, calls `drain` (which reads it) before waiting again. A large
    /// pipeline needs this: a server blocked on sending its results stops reading, and a client
    /// blocked on sending would then wait forever (libpq reads while it flushes for this reason).
    func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?, whileBlocked drain: () throws(PostgresError) -> Void) throws(PostgresError)
    func close()
    /// Told before the last write (Terminate) that `close()` follows: a transport may keep what is
    /// written from then on and send it with its own closing bytes (TLS: close_notify, one send).
    func prepareForClose()
    /// A description for error messages, e.g. `server at "127.0.0.1", port 5432`.
    var peerDescription: String { get }
}

extension Transport {
    /// For a transport that cannot tell when it would block: a plain write.
    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?,
                      whileBlocked drain: () throws(PostgresError) -> Void) throws(PostgresError) {
        try write(bytes, deadline: deadline)
    }

    public func prepareForClose() {}
}
