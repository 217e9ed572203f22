import Foundation
import PostgresWireProtocol

/// A `MessageTracer` that writes each message in libpq's PQtrace format (see `PQTraceFormatter`).
///
/// One writer traces one session (it remembers the authentication state that tells how to read
/// the client's 'p' messages); several writers may share one `TraceOutput`, each with its own
/// connection number as line prefix. Thread-safe.
///
///     let trace = try PQTraceWriter(path: "/tmp/session.trace", timestamps: false)
///     let connection = try Connection.connect("host=localhost dbname=app", tracer: trace)
///     …
///     connection.close()   // flushes the trace
///     try trace.close()    // closes the file; throws if a write failed (e.g. a full disk)
public final class PQTraceWriter: MessageTracer, @unchecked Sendable {
    public let output: TraceOutput
    private let lock = NSLock()
    private var formatter: PQTraceFormatter
    private var scratch: [UInt8] = []

    /// Traces into `output`; `connectionNumber` (if any) starts every line, followed by a tab.
    public init(output: TraceOutput, timestamps: Bool = true, connectionNumber: Int? = nil,
                copyData: PQTraceFormatter.CopyDataStyle = .libpq, regress: Bool = false) {
        self.output = output
        let prefix = connectionNumber.map { Array("\($0)\t".utf8) } ?? []
        formatter = PQTraceFormatter(options: .init(timestamps: timestamps, regress: regress, copyData: copyData, linePrefix: prefix))
    }

    /// Traces into a new file at `path` (replacing an existing one).
    public convenience init(path: String, timestamps: Bool = true, copyData: PQTraceFormatter.CopyDataStyle = .libpq) throws(PostgresError) {
        self.init(output: try TraceOutput(path: path), timestamps: timestamps, copyData: copyData)
    }

    public func trace(_ direction: TraceDirection, bytes: ArraySlice<UInt8>) {
        let record: [UInt8] = lock.withLock {
            scratch.removeAll(keepingCapacity: true)
            formatter.format(direction, bytes, into: &scratch)
            return scratch
        }
        output.write(record)
    }

    /// The one-byte answer to an SSLRequest or GSSENCRequest.
    public func traceEncryptionResponse(_ byte: UInt8, gss: Bool) {
        let record: [UInt8] = lock.withLock {
            scratch.removeAll(keepingCapacity: true)
            formatter.formatEncryptionResponse(byte, gss: gss, into: &scratch)
            return scratch
        }
        output.write(record)
    }

    /// A `#` line: an event that is not a message (see `PQTraceFormatter.formatComment`).
    public func comment(_ text: String) {
        let record: [UInt8] = lock.withLock {
            scratch.removeAll(keepingCapacity: true)
            formatter.formatComment(text, into: &scratch)
            return scratch
        }
        output.write(record)
    }

    /// Writes buffered lines now (`Connection.close()` calls it, so the trace is complete when
    /// `close()` returns). A failed write is kept in `output.writeError`.
    public func flush() { output.flush() }

    /// Writes buffered lines, closes the output (the file, for `init(path:)`) and throws the first
    /// write that failed, if any, e.g. `could not write trace file "/x": No space left on device`.
    /// Lines traced afterwards are dropped.
    public func close() throws(TraceOutput.WriteError) {
        output.close()
        if let error = output.writeError { throw error }
    }
}
