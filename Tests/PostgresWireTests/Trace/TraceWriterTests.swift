import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// A trace file is complete when `close()` returns, and its failed writes are reported.
@Suite struct TraceWriterTests {
    private func temporaryTracePath() -> String {
        NSTemporaryDirectory() + "pgwire-tracewriter-\(getpid())-\(UUID().uuidString.prefix(8))"
    }

    @Test func traceIsInTheFileWhenConnectionCloseReturns() throws {
        let path = temporaryTracePath()
        defer { unlink(path) }
        let writer = try PQTraceWriter(path: path, timestamps: false)
        let connection = try Connection.connect(try TestServer.shared().dsn(), tracer: writer)
        try connection.simpleQuery("SELECT 1")
        connection.close()
        // No waiting: the background flush must not be needed.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("F\t13\tQuery\t \"SELECT 1\""), "\(text)")
        #expect(text.hasSuffix("F\t4\tTerminate\n"), "\(text)")
        try writer.close()
    }

    @Test func traceFileConvenienceIsCompleteAfterClose() throws {
        let path = temporaryTracePath()
        defer { unlink(path) }
        let connection = try Connection.connect(try TestServer.shared().dsn(), traceFile: path, timestamps: false)
        connection.close()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasSuffix("F\t4\tTerminate\n"), "\(text)")
    }

    @Test func failedTraceWritesAreReported() throws {
        let writer = try PQTraceWriter(path: "/dev/full", timestamps: false)
        let connection = try Connection.connect(try TestServer.shared().dsn(), tracer: writer)
        try connection.simpleQuery("SELECT 1")
        connection.close()
        #expect(writer.output.writeError?.code == ENOSPC)
        do {
            try writer.close()
            Issue.record("close() did not report the failed write")
        } catch {
            #expect(error.description == "could not write trace file \"/dev/full\": No space left on device")
        }
    }

    @Test func writeErrorHandlerIsCalledOnce() throws {
        let output = try TraceOutput(path: "/dev/full", flushInterval: nil)
        let calls = Calls()
        output.writeErrorHandler = { _ in calls.add() }
        output.write(Array("a line\n".utf8))
        output.flush()
        output.write(Array("another\n".utf8))
        output.flush()
        output.close()
        #expect(calls.count == 1)
        #expect(output.writeError?.code == ENOSPC)
    }
}

private final class Calls: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add() { lock.withLock { value += 1 } }
    var count: Int { lock.withLock { value } }
}
