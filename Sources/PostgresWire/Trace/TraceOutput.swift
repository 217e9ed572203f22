import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A buffered, thread-safe destination for trace text shared by any number of writers.
///
/// Writers append whole records (one message's lines) under a lock, so records from concurrent
/// connections never interleave mid-line. The bytes reach the file descriptor when the buffer
/// holds 64 KiB, on `flush()`/`close()`, and otherwise from a background thread a fraction of a
/// second later (`flushInterval`), so a live trace keeps up without one write(2) per message.
public final class TraceOutput: @unchecked Sendable {
    /// Guards `buffer`, `closed`, `fd` and `flusherStarted`; signalled when lines arrive.
    private let condition = NSCondition()
    /// Held while bytes go to the descriptor, so flushes reach the file in the order they took the buffer.
    private let writeLock = NSLock()
    private var buffer: [UInt8] = []
    private var fd: Int32
    private let ownsDescriptor: Bool
    private var closed = false
    private var flusherStarted = false
    private let flushThreshold = 64 * 1024

    /// How long buffered lines may wait before the background flush (nil: only explicit or full-buffer flushes).
    public let flushInterval: Double?

    /// Creates (or, with `truncate: false`, appends to) the file at `path`.
    public convenience init(path: String, truncate: Bool = true, flushInterval: Double? = 0.1) throws(PostgresError) {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else {
            throw PostgresError.invalidUsage("could not open trace file \"\(path)\": \(String(cString: strerror(errno)))")
        }
        self.init(fileDescriptor: fd, closeWhenDone: true, flushInterval: flushInterval)
    }

    /// Writes to an open descriptor (e.g. 1 for standard output); `closeWhenDone` closes it in `close()`.
    public init(fileDescriptor: Int32, closeWhenDone: Bool = false, flushInterval: Double? = 0.1) {
        self.fd = fileDescriptor
        self.ownsDescriptor = closeWhenDone
        self.flushInterval = flushInterval
        buffer.reserveCapacity(flushThreshold)
    }

    deinit {
        flush()
        if ownsDescriptor && fd >= 0 { _ = Glibc.close(fd) }
    }

    /// Appends one record (complete lines).
    public func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        condition.lock()
        if closed {
            condition.unlock()
            return
        }
        buffer.append(contentsOf: bytes)
        let full = buffer.count >= flushThreshold
        var startFlusher = false
        if flushInterval != nil && !flusherStarted {
            flusherStarted = true
            startFlusher = true
        }
        condition.signal()
        condition.unlock()
        if full { flush() }
        if startFlusher { startBackgroundFlusher() }
    }

    /// Writes everything buffered so far.
    public func flush() {
        writeLock.lock()
        defer { writeLock.unlock() }
        condition.lock()
        let pending = buffer
        buffer.removeAll(keepingCapacity: true)
        let descriptor = fd
        condition.unlock()
        guard !pending.isEmpty, descriptor >= 0 else { return }
        pending.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }

    /// Flushes and stops accepting lines; closes the descriptor if this object owns it.
    public func close() {
        flush()
        writeLock.lock()
        defer { writeLock.unlock() }
        condition.lock()
        closed = true
        let descriptor = fd
        fd = -1
        condition.broadcast()
        condition.unlock()
        if ownsDescriptor && descriptor >= 0 { _ = Glibc.close(descriptor) }
    }

    /// One thread per output: waits for lines, lets them gather for `flushInterval`, writes them.
    private func startBackgroundFlusher() {
        let interval = flushInterval ?? 0.1
        let thread = Thread { [weak self] in
            while true {
                guard let output = self else { return }
                output.condition.lock()
                if output.buffer.isEmpty && !output.closed {
                    // A timed wait: between waits the thread holds no reference, so a released output ends it.
                    _ = output.condition.wait(until: Date(timeIntervalSinceNow: 1))
                }
                let done = output.closed
                let idle = output.buffer.isEmpty
                output.condition.unlock()
                if done { return }
                if idle { continue }
                Thread.sleep(forTimeInterval: interval)
                output.flush()
            }
        }
        thread.stackSize = 128 * 1024
        thread.start()
    }
}
