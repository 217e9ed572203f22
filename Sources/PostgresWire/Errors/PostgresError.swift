import Foundation
import PostgresWireProtocol

/// Every failure the driver reports. Messages never contain a password.
public enum PostgresError: Error, Sendable, CustomStringConvertible {
    /// The connection string, environment or pass file is invalid.
    case configuration(ConfigurationError)
    /// The server could not be reached (DNS, refused, no socket file…).
    case connectionFailed(String)
    /// connect_timeout (or another deadline) expired.
    case timeout(String)
    /// The server answered with an ErrorResponse to a query.
    case server(ServerError)
    /// The server refused the session during startup or authentication (an ErrorResponse, usually FATAL).
    case connectionRejected(peer: String, ServerError)
    /// Authentication failed on the client's side (unsupported method, no password, bad server proof).
    case authentication(AuthenticationError)
    /// The server sent something the protocol does not allow; the connection is now unusable.
    case protocolViolation(ProtocolError)
    /// The connection was closed or broke; later calls on it fail fast with this.
    case connectionClosed(String)
    /// The API was used in a way that cannot work (e.g. wrong number of parameters); nothing was sent.
    case invalidUsage(String)

    public var message: String {
        switch self {
        case .configuration(let e): return e.description
        case .connectionFailed(let m), .timeout(let m), .connectionClosed(let m), .invalidUsage(let m): return m
        case .server(let e): return e.message
        case .connectionRejected(let peer, let e):
            return "connection to \(peer) failed: \(e.localizedSeverity ?? e.severity):  \(e.sqlState): \(e.message)"
        case .authentication(let e): return e.description
        case .protocolViolation(let e): return "protocol violation: \(e.description)"
        }
    }

    /// The full message, as `pgwire` prints it: for a server error its severity, SQLSTATE, message,
    /// DETAIL and HINT; for a refused connection also the server's address (`connection to server at
    /// "127.0.0.1", port 5432 failed: FATAL:  28P01: password authentication failed for user "alice"`).
    /// `localizedDescription` is the same text, and so is a `DatabaseError`'s that wraps this error.
    public var description: String {
        switch self {
        case .server(let e): return e.description
        case .connectionRejected(let peer, let e):
            return "connection to \(peer) failed: \(e.description)"
        default: return message
        }
    }

    /// The server's ErrorResponse, when the server reported the error.
    public var serverError: ServerError? {
        switch self {
        case .server(let e), .connectionRejected(_, let e): return e
        default: return nil
        }
    }

    /// The SQLSTATE code when the server reported the error.
    public var sqlState: String? {
        switch self {
        case .server(let e), .connectionRejected(_, let e): return e.sqlState
        default: return nil
        }
    }
}

/// A server ErrorResponse (or NoticeResponse), with every field the protocol defines.
public struct ServerError: Error, Sendable, Equatable, CustomStringConvertible {
    public let fields: DiagnosticFields

    public init(fields: DiagnosticFields) { self.fields = fields }

    private func field(_ code: Character) -> String? { fields[code.asciiValue!] }

    /// ERROR, FATAL, PANIC (errors); WARNING, NOTICE, DEBUG, INFO, LOG (notices); never localised.
    public var severity: String { field("V") ?? field("S") ?? "ERROR" }
    public var localizedSeverity: String? { field("S") }
    public var sqlState: String { field("C") ?? "XX000" }
    public var message: String { field("M") ?? "" }
    public var detail: String? { field("D") }
    public var hint: String? { field("H") }
    /// 1-based character position in the query string.
    public var position: Int? { field("P").flatMap { Int($0) } }
    public var internalPosition: Int? { field("p").flatMap { Int($0) } }
    public var internalQuery: String? { field("q") }
    public var `where`: String? { field("W") }
    public var schemaName: String? { field("s") }
    public var tableName: String? { field("t") }
    public var columnName: String? { field("c") }
    public var dataTypeName: String? { field("d") }
    public var constraintName: String? { field("n") }
    public var file: String? { field("F") }
    public var line: Int? { field("L").flatMap { Int($0) } }
    public var routine: String? { field("R") }

    /// "ERROR:  42P01: relation "x" does not exist", like psql's verbose form without LOCATION.
    public var description: String {
        var text = "\(localizedSeverity ?? severity):  \(sqlState): \(message)"
        if let detail { text += "\nDETAIL:  \(detail)" }
        if let hint { text += "\nHINT:  \(hint)" }
        return text
    }
}

typealias ServerNotice = ServerError

// `error.localizedDescription` is the full message (Foundation's default for a Swift error is "The
// operation could not be completed").
extension PostgresError: LocalizedError {
    public var errorDescription: String? { description }
}

extension ServerError: LocalizedError {
    public var errorDescription: String? { description }
}
