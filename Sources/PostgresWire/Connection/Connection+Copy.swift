import Foundation
import PostgresWireProtocol

/// Writes the data of a COPY … FROM STDIN. Data is buffered and sent in CopyData messages of
/// up to 64 KiB, so memory stays bounded however much is copied.
public final class CopyInWriter {
    private let connection: Connection
    fileprivate var pending: [UInt8] = []
    fileprivate var finished = false
    static let chunkSize = 64 * 1024

    init(connection: Connection) {
        self.connection = connection
        pending.reserveCapacity(Self.chunkSize + 1024)
    }

    /// Raw bytes in the format the COPY statement names (text, csv or binary).
    public func write<C: Collection>(_ bytes: C) throws(PostgresError) where C.Element == UInt8 {
        pending.append(contentsOf: bytes)
        if pending.count >= Self.chunkSize { try sendPending() }
    }

    public func write(_ text: String) throws(PostgresError) {
        try write(text.utf8)
    }

    /// One row in COPY's default text format: tab-separated, `\N` for NULL, and backslash,
    /// tab, newline and carriage return escaped.
    public func writeRow(_ values: [String?]) throws(PostgresError) {
        CopyText.appendRow(values, to: &pending)
        if pending.count >= Self.chunkSize { try sendPending() }
    }

    /// Sends what is still buffered (before CopyDone).
    func finish() throws(PostgresError) { try sendPending() }

    fileprivate func sendPending() throws(PostgresError) {
        guard !pending.isEmpty else { return }
        connection.send(.copyData(pending[...]))
        pending.removeAll(keepingCapacity: true)
        try connection.flush()
    }
}

/// Thrown by a `copyIn` body to end the COPY with CopyFail carrying `message`, as psql does on
/// Ctrl-C (`canceled by user`): `copyIn` then throws the server's error, SQLSTATE 57014
/// `COPY from stdin failed: <message>`, instead of this one.
public struct CopyInAbort: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

extension Connection {
    /// Runs `COPY … FROM STDIN` and lets `body` write the data. Returns the number of rows the
    /// server copied. If `body` throws, CopyFail is sent with the error's description and the
    /// error is rethrown (for `CopyInAbort`, the server's error is thrown); if the server rejects
    /// the data, its error is thrown. Either way the
    /// connection stays usable.
    @discardableResult
    public func copyIn(_ sql: String, _ body: (CopyInWriter) throws -> Void) throws -> Int {
        try lock.withLock {
            try checkUsable()
            return try observed(operation: "COPY", query: Observation.recordedText(sql)) { try copyInLocked(sql, body) }
        }
    }

    private func copyInLocked(_ sql: String, _ body: (CopyInWriter) throws -> Void) throws -> Int {
        do {
            let timer = armQueryTimeout()
            defer { timer?.cancel() }
            send(.query(sql))
            try flush()
            var machine = SimpleQueryStateMachine()
            var serverError: ServerError?
            var bodyError: Error?
            var rows = 0
            var sawCopyIn = false
            while true {
                let message = try receive()
                let event: SimpleQueryStateMachine.Event
                do throws(ProtocolError) { event = try machine.receive(message) } catch { throw fail(.protocolViolation(error)) }
                switch event {
                case .copyIn:
                    sawCopyIn = true
                    let writer = CopyInWriter(connection: self)
                    do {
                        try body(writer)
                        try writer.sendPending()
                        send(.copyDone)
                    } catch let error as PostgresError where isClosed {
                        throw error
                    } catch let abort as CopyInAbort {
                        // The server's error ("COPY from stdin failed: …", 57014) is what is thrown.
                        send(.copyFail(message: abort.message))
                    } catch {
                        bodyError = error
                        send(.copyFail(message: "COPY aborted by the client: \(error)"))
                    }
                    try flush()
                case .copyOut:
                    // Not what the caller expects: drain it and report.
                    bodyError = PostgresError.invalidUsage("copyIn was given a COPY … TO STDOUT statement; use copyOut")
                case .copyBoth:
                    send(.copyDone)
                    try flush()
                    bodyError = PostgresError.invalidUsage("COPY BOTH (streaming replication) is not supported by this driver")
                case .commandComplete(let c):
                    rows = rows.checkedAdding(c.rowCount ?? 0) ?? .max  // the server's number: saturate, never trap
                case .error(let f):
                    serverError = ServerError(fields: f)
                case .ready(let status):
                    stateLock.withLock { _transactionStatus = status }
                    if let bodyError { throw bodyError }
                    if let serverError { throw PostgresError.server(serverError) }
                    if !sawCopyIn { throw PostgresError.invalidUsage("the statement did not start COPY FROM STDIN") }
                    return rows
                default:
                    break
                }
            }
        }
    }

    /// Runs `COPY … TO STDOUT` and hands each CopyData chunk (one row in text and CSV formats) to
    /// `body` as it arrives. Returns the number of rows copied. The chunk refers to the read
    /// buffer: copy it to keep it.
    @discardableResult
    public func copyOut(_ sql: String, _ body: (ArraySlice<UInt8>) throws -> Void) throws -> Int {
        try copyOut(sql, beforeRead: nil, body)
    }

    /// `copyOut(_:_:)` calling `beforeRead` whenever it is about to wait for more bytes.
    func copyOut(_ sql: String, beforeRead: (() -> Void)?, _ body: (ArraySlice<UInt8>) throws -> Void) throws -> Int {
        var rows = 0
        var sawCopyOut = false
        try simpleQuery(sql, beforeRead: beforeRead) { event in
            switch event {
            case .copyOut: sawCopyOut = true
            case .copyData(let data): try body(data)
            case .commandComplete(let c): rows = rows.checkedAdding(c.rowCount ?? 0) ?? .max  // saturate, never trap
            default: break
            }
        }
        if !sawCopyOut { throw PostgresError.invalidUsage("the statement did not start COPY TO STDOUT") }
        return rows
    }

    /// `COPY … TO STDOUT` in the default text format, each row decoded to its fields (nil for NULL).
    @discardableResult
    public func copyOutRows(_ sql: String, _ body: ([String?]) throws -> Void) throws -> Int {
        try copyOut(sql) { line in try body(CopyText.decodeRow(line)) }
    }

    /// Waits up to `timeout` seconds (nil: forever) for notifications (LISTEN/NOTIFY) while no
    /// query runs, delivering them to `notificationHandler`. Returns when at least one arrived
    /// or the time is up.
    public func waitForNotifications(timeout: Double?) throws(PostgresError) {
        lock.lock()
        defer { lock.unlock() }
        try checkUsable()
        let deadline = timeout.map { Deadline(secondsFromNow: $0) }
        try waitForAsynchronousMessages(until: deadline)
    }
}

/// COPY's text format.
public enum CopyText {
    /// Splits one line (with or without its newline) into fields, undoing COPY's escapes.
    public static func decodeRow(_ line: ArraySlice<UInt8>) -> [String?] {
        var fields: [String?] = []
        var current: [UInt8] = []
        var end = line.endIndex
        if end > line.startIndex && line[end - 1] == 10 { end -= 1 }
        var i = line.startIndex
        var isNull = false
        while i < end {
            let b = line[i]
            if b == 9 {
                fields.append(isNull ? nil : String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
                isNull = false
                i += 1
                continue
            }
            if b == 92 && i + 1 < end {
                let n = line[i + 1]
                i += 2
                switch n {
                case UInt8(ascii: "N"): isNull = true
                case UInt8(ascii: "t"): current.append(9)
                case UInt8(ascii: "n"): current.append(10)
                case UInt8(ascii: "r"): current.append(13)
                case UInt8(ascii: "b"): current.append(8)
                case UInt8(ascii: "f"): current.append(12)
                case UInt8(ascii: "v"): current.append(11)
                default: current.append(n)
                }
                continue
            }
            current.append(b)
            i += 1
        }
        fields.append(isNull ? nil : String(decoding: current, as: UTF8.self))
        return fields
    }
}
