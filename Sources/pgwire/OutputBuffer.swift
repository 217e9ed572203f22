import ArgumentParser
import Foundation
import PostgresWire

/// Buffered, checked writes to a file descriptor: one write(2) per 64 KiB, not per line.
///
/// Every write is checked. The first failure (e.g. ENOSPC on a full disk, EBADF on a closed
/// descriptor) is remembered and everything written after it is dropped, so a command keeps
/// draining the server's results with bounded memory and reports the failure at the end with the
/// OS's message, as psql does ("could not print result table: No space left on device", exit 1).
final class OutputBuffer {
    private var bytes: [UInt8] = []
    let fd: Int32
    /// psql's words for a failed write of query output; COPY data gets "could not write COPY data".
    private let what: String
    /// Whether COPY data (`write(bytes:)`) went into the buffer since the last flush.
    private var holdsCopyData = false
    /// The first failed write: errno and what was being written.
    private(set) var failure: (code: Int32, what: String)?

    init(fd: Int32, what: String = "could not print result table") {
        self.fd = fd
        self.what = what
        bytes.reserveCapacity(64 * 1024)
    }

    func write(_ string: String) {
        guard failure == nil else { return }
        bytes.append(contentsOf: string.utf8)
        if bytes.count >= 64 * 1024 { flush() }
    }

    /// COPY data (a failed write of it is reported as "could not write COPY data").
    func write<C: Collection>(bytes more: C) where C.Element == UInt8 {
        guard failure == nil else { return }
        bytes.append(contentsOf: more)
        holdsCopyData = true
        if bytes.count >= 64 * 1024 { flush() }
    }

    /// Result text already encoded as UTF-8 (a failed write of it is reported with `what`).
    func write<C: Collection>(text more: C) where C.Element == UInt8 {
        guard failure == nil else { return }
        bytes.append(contentsOf: more)
        if bytes.count >= 64 * 1024 { flush() }
    }

    /// Writes what is buffered; returns false once a write has failed.
    @discardableResult
    func flush() -> Bool {
        defer {
            bytes.removeAll(keepingCapacity: true)
            holdsCopyData = false
        }
        guard failure == nil else { return false }
        if let code = writeAll(fd, bytes) {
            failure = (code, holdsCopyData ? "could not write COPY data" : what)
            return false
        }
        return true
    }

    /// psql's report of the failed write, e.g. "could not write COPY data: No space left on device".
    var failureMessage: String? {
        failure.map { "\($0.what): \(String(cString: strerror($0.code)))" }
    }

    /// Flushes; if a write failed, prints the report to stderr and throws exit status 1.
    func finish() throws(ExitCode) {
        flush()
        if let message = failureMessage {
            writeStderr(message + "\n")
            throw ExitCode(1)
        }
    }
}

/// Writes all of `bytes` to `fd` (retrying on EINTR and short writes); returns errno on failure.
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
    bytes.withUnsafeBytes { raw -> Int32? in
        guard let base = raw.baseAddress else { return nil }
        var offset = 0
        while offset < raw.count {
            let n = write(fd, base + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return nil
    }
}

/// Writes a message to standard error. A failure is ignored: there is nowhere left to report it
/// (unlike FileHandle.write, which traps on Linux when the write fails).
func writeStderr(_ text: String) {
    _ = writeAll(2, Array(text.utf8))
}

/// Trace files opened by `pgwire query --trace` and the like: their write errors are reported
/// when the command ends (`CommandOutcome.finish`).
final class TraceFiles: @unchecked Sendable {
    static let shared = TraceFiles()
    private let lock = NSLock()
    private var outputs: [TraceOutput] = []

    /// Opens a trace file whose write errors fail the command.
    func open(_ path: String) throws(PostgresError) -> PQTraceWriter {
        let writer = try PQTraceWriter(path: path)
        lock.withLock { outputs.append(writer.output) }
        return writer
    }

    /// Flushes every trace file now (Ctrl-C's immediate exit).
    func flushAll() {
        for output in lock.withLock({ outputs }) { output.flush() }
    }

    /// The report of every trace file whose writes failed.
    var failures: [String] {
        lock.withLock { outputs }.compactMap { $0.writeError?.description }
    }
}

/// The end of a command that prints query output: flushes standard output and stderr, reports a
/// failed write of the output or of a trace file (psql's wording, the OS's message) and turns
/// success into exit status 1 when one failed.
func finishOutput(_ exitCode: Int32, stdout: OutputBuffer, stderr: OutputBuffer) -> Int32 {
    stdout.flush()
    var failed = false
    if let message = stdout.failureMessage {
        stderr.write(message + "\n")
        failed = true
    }
    for message in TraceFiles.shared.failures {
        stderr.write("pgwire: error: \(message)\n")
        failed = true
    }
    stderr.flush()
    return failed && exitCode == 0 ? 1 : exitCode
}
