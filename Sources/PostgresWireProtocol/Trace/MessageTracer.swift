/// Which way a traced message travelled.
public enum TraceDirection: Sendable {
    /// Client to server ('F' in libpq's PQtrace output).
    case frontend
    /// Server to client ('B').
    case backend
}

/// Receives every message of a session as raw bytes, in order, as it is sent or received.
///
/// `bytes` is one complete message: type byte (absent for startup-phase packets), the Int32
/// length, and the body. Implementations must not keep `bytes` beyond the call without copying.
public protocol MessageTracer: Sendable {
    func trace(_ direction: TraceDirection, bytes: ArraySlice<UInt8>)
    /// Writes out whatever the tracer buffers; a connection calls it when it closes, so the trace
    /// is complete when `close()` returns. The default does nothing.
    func flush()
}

extension MessageTracer {
    public func flush() {}
}
