import Foundation

/// A buffered, thread-safe destination for trace text shared by any number of writers.
///
/// Writers append whole records (one message's lines) under a lock, so records from concurrent
/// connections never interleave mid-line. The bytes reach the file descriptor when the buffer
/// holds 64 KiB, on `flush()`/`close()`, and otherwise from a background thread a fraction of a
/// second later (`flushInterval`), so a live trace keeps up without one write(2) per message.
///
/// Writes are checked: the first failure (a full disk, a closed descriptor) is kept in
/// `writeError`, reported once to `writeErrorHandler`, and later lines are dropped.
/// `PQTraceWriter.close()` throws it.
public final class TraceOutput: @unchecked Sendable {
    /// A failed write of the trace, with the OS's message.
    public struct WriteError: Error, Sendable, CustomStringConvertible {
        /// Where the trace went: `trace file "PATH"` or `trace output (file descriptor N)`.
        public let destination: String
        /// errno of the failed write(2).
        public let code: Int32
        public var description: String { "could not write \(destination): \(String(cString: strerror(code)))" }
    }

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
    private let destination: String
    private var _writeError: WriteError?
    private var _writeErrorHandler: (@Sendable (WriteError) -> Void)?

    /// The first failed write, if any (later lines were dropped).
    public var writeError: WriteError? {
        condition.lock()
        defer { condition.unlock() }
        return _writeError
    }

    /// Called once, on the thread that wrote, when a write fails (e.g. to stop a program whose
    /// trace can no longer be kept).
    public var writeErrorHandler: (@Sendable (WriteError) -> Void)? {
        get {
            condition.lock()
            defer { condition.unlock() }
            return _writeErrorHandler
        }
        set {
            condition.lock()
            _writeErrorHandler = newValue
            condition.unlock()
        }
    }

    /// How long buffered lines may wait before the background flush (nil: only explicit or full-buffer flushes).
    public let flushInterval: Double?

    /// Creates (or, with `truncate: false`, appends to) the file at `path`.
    public convenience init(path: String, truncate: Bool = true, flushInterval: Double? = 0.1) throws(PostgresError) {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else {
            throw PostgresError.invalidUsage("could not open trace file \"\(path)\": \(String(cString: strerror(errno)))")
        }
        self.init(fileDescriptor: fd, closeWhenDone: true, flushInterval: flushInterval, destination: "trace file \"\(path)\"")
    }

    /// Writes to an open descriptor (e.g. 1 for standard output); `closeWhenDone` closes it in `close()`.
    public convenience init(fileDescriptor: Int32, closeWhenDone: Bool = false, flushInterval: Double? = 0.1) {
        self.init(fileDescriptor: fileDescriptor, closeWhenDone: closeWhenDone, flushInterval: flushInterval,
                  destination: "trace output (file descriptor \(fileDescriptor))")
    }

    private init(fileDescriptor: Int32, closeWhenDone: Bool, flushInterval: Double?, destination: String) {
        self.destination = destination
        self.fd = fileDescriptor
        self.ownsDescriptor = closeWhenDone
        self.flushInterval = flushInterval
        buffer.reserveCapacity(flushThreshold)
    }

    deinit {
        flush()
        if ownsDescriptor && fd >= 0 { _ = Platform.close(fd) }
    }

    /// Appends one record (complete lines).
    public func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        condition.lock()
        if closed || _writeError != nil {
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

    /// Writes everything buffered so far, synchronously. A failed write is kept in `writeError`.
    public func flush() {
        writeLock.lock()
        let failure = writePending()
        writeLock.unlock()
        // Outside the locks: the handler may do anything with this output.
        if let (handler, error) = failure { handler(error) }
    }

    /// Writes the buffer (callers hold `writeLock`); returns the handler to call for a first failure.
    private func writePending() -> (@Sendable (WriteError) -> Void, WriteError)? {
        condition.lock()
        let pending = buffer
        buffer.removeAll(keepingCapacity: true)
        let descriptor = fd
        condition.unlock()
        guard !pending.isEmpty, descriptor >= 0 else { return nil }
        let failedCode: Int32? = pending.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return nil }
            var offset = 0
            while offset < raw.count {
                let n = Platform.write(descriptor, base + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += n
            }
            return nil
        }
        guard let failedCode else { return nil }
        condition.lock()
        defer { condition.unlock() }
        guard _writeError == nil else { return nil }
        let error = WriteError(destination: destination, code: failedCode)
        _writeError = error
        buffer.removeAll()
        return _writeErrorHandler.map { ($0, error) }
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
        if ownsDescriptor && descriptor >= 0 && Platform.close(descriptor) != 0 && errno != EINTR {
            // Some file systems report a failed write only here.
            let code = errno
            condition.lock()
            if _writeError == nil { _writeError = WriteError(destination: destination, code: code) }
            condition.unlock()
        }
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
