import Foundation
import PostgresWireProtocol

/// The one error every throwing API of PostgresWire throws (`Connection`, the DB-API's `Cursor`,
/// `AsyncConnection`, the pools, COPY, row decoding). Messages never contain a password.
///
/// Each case is one condition; `category` is its PEP 249 class, `sqlState` the server's code when
/// the server reported it, `serverError` every field the server sent. `DatabaseError` is this type.
///
///     do { try cursor.execute("INSERT …") }
///     catch SQLState.uniqueViolation { … }                 // by SQLSTATE
///     catch DatabaseError.integrityError { … }             // by PEP 249 class
///     catch let error as PostgresError where error.category == .operational { … }
public enum PostgresError: Error, Sendable, CustomStringConvertible {
    /// The connection string, environment or pass file is invalid (programming).
    case configuration(ConfigurationError)
    /// The server could not be reached (DNS, refused, no socket file…) (operational).
    case connectionFailed(String)
    /// connect_timeout, a pool's acquire timeout or another deadline expired (operational).
    case timeout(String)
    /// The server answered with an ErrorResponse (category from its SQLSTATE class).
    case server(ServerError)
    /// The server refused the session during startup or authentication (an ErrorResponse, usually
    /// FATAL) (operational).
    case connectionRejected(peer: String, ServerError)
    /// Authentication failed on the client's side (unsupported method, no password, bad server
    /// proof) (operational).
    case authentication(AuthenticationError)
    /// The server sent something the protocol does not allow; the connection is now unusable (interface).
    case protocolViolation(ProtocolError)
    /// The connection (or the cursor, pool or stream using it) was closed by its owner: `close()`
    /// was called (interface).
    case connectionClosed(String)
    /// The connection broke: the server closed it, a read or write failed, TLS failed. Later calls
    /// on it fail fast with this case (operational).
    case connectionLost(String)
    /// Query `index` (0-based) of a pipeline was not run because query `failedIndex` of the same
    /// Sync group failed first (operational, as psycopg's PipelineAborted).
    case pipelineAborted(index: Int, failedIndex: Int?)
    /// The API was used in a way that cannot work (wrong number of parameters, a statement of the
    /// wrong kind, a second operation during a stream); nothing was sent (programming).
    case invalidUsage(String)
    /// A value could not be encoded or decoded: type mismatch, NULL, overflow, invalid bytes, no
    /// such column; the payload names the column, the PostgreSQL type and the Swift type (data).
    case coding(PostgresCodingError)
    /// Thrown by a `copyIn` body to end the COPY with CopyFail carrying the message, as psql does on
    /// Ctrl-C (`canceled by user`): `copyIn` then throws the server's error (SQLSTATE 57014,
    /// `COPY from stdin failed: <message>`) (operational).
    case copyAborted(String)
    /// A `transaction { }` block whose statement failed (and whose error the block caught) was
    /// rolled back (internal).
    case transactionRolledBack(String)

    /// The PEP 249 category.
    public var category: ErrorCategory {
        switch self {
        case .server(let e): return ErrorCategory(sqlState: e.sqlState)
        case .connectionRejected(_, let e):
            // A refused session is an operational failure, whatever the class (psycopg: OperationalError).
            return e.sqlState.hasPrefix("0A") ? .notSupported : .operational
        case .configuration, .invalidUsage: return .programming
        case .connectionFailed, .timeout, .authentication, .connectionLost, .pipelineAborted, .copyAborted: return .operational
        case .connectionClosed, .protocolViolation: return .interface
        case .coding: return .data
        case .transactionRolledBack: return .internal
        }
    }

    /// The message without severity or SQLSTATE (the server's `M` field for a server error).
    public var message: String {
        switch self {
        case .configuration(let e): return e.description
        case .connectionFailed(let m), .timeout(let m), .connectionClosed(let m), .connectionLost(let m),
             .invalidUsage(let m), .copyAborted(let m), .transactionRolledBack(let m):
            return m
        case .server(let e): return e.message
        case .connectionRejected(let peer, let e):
            return "connection to \(peer) failed: \(e.localizedSeverity ?? e.severity):  \(e.sqlState): \(e.message)"
        case .authentication(let e): return e.description
        case .protocolViolation(let e): return "protocol violation: \(e.description)"
        case .pipelineAborted(let index, let failed):
            let cause = failed.map { "query \($0 + 1)" } ?? "an earlier query"
            return "query \(index + 1) of the pipeline was skipped because \(cause) in its Sync group failed"
        case .coding(let e): return e.description
        }
    }

    /// The full message, as `pgwire` prints it: for a server error its severity, SQLSTATE, message,
    /// DETAIL and HINT; for a refused connection also the server's address (`connection to server at
    /// "127.0.0.1", port 5432 failed: FATAL:  28P01: password authentication failed for user "alice"`).
    /// `localizedDescription` is the same text.
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
    public var sqlState: SQLState? { serverError.map { SQLState(rawValue: $0.sqlState) } }

    /// The value that could not be encoded or decoded.
    public var codingError: PostgresCodingError? {
        if case .coding(let e) = self { return e }
        return nil
    }

    /// Whether this is the error reported for a query skipped by `pipeline`.
    public var isPipelineAborted: Bool {
        if case .pipelineAborted = self { return true }
        return false
    }

    /// Whether the connection broke (as opposed to being closed by its owner).
    public var isConnectionLost: Bool {
        if case .connectionLost = self { return true }
        return false
    }

    public var detail: String? { serverError?.detail }
    public var hint: String? { serverError?.hint }
    public var constraintName: String? { serverError?.constraintName }

    /// The same error (kept for code written when `DatabaseError` wrapped a `PostgresError`).
    public init(_ error: PostgresError) { self = error }

    /// Any error as a `PostgresError`: itself, a coding error as `.coding`, anything else as
    /// `.invalidUsage` with its description.
    public static func wrap(_ error: any Error) -> PostgresError {
        switch error {
        case let e as PostgresError: return e
        case let e as PostgresCodingError: return .coding(e)
        case let e as ConfigurationError: return .configuration(e)
        default: return .invalidUsage(String(describing: error))
        }
    }
}

/// The DB-API's name for the one error type (PEP 249's `DatabaseError`); the PEP 249 class is
/// `category`.
public typealias DatabaseError = PostgresError

// `error.localizedDescription` is the full message (Foundation's default for a Swift error is "The
// operation could not be completed").
extension PostgresError: LocalizedError {
    public var errorDescription: String? { description }
}

/// `catch ErrorCategory.integrity` matches a `PostgresError` of that category.
public func ~= (pattern: ErrorCategory, error: any Error) -> Bool {
    (error as? PostgresError)?.category == pattern
}

/// `catch SQLState.uniqueViolation` (or `catch SQLState("23505")`) matches an error with that SQLSTATE.
public func ~= (pattern: SQLState, error: any Error) -> Bool {
    (error as? PostgresError)?.sqlState == pattern
}

/// The same patterns for typed throws (`throws(PostgresError)`).
public func ~= (pattern: ErrorCategory, error: PostgresError) -> Bool { error.category == pattern }
public func ~= (pattern: SQLState, error: PostgresError) -> Bool { error.sqlState == pattern }

/// A `catch` pattern for a PEP 249 category: `catch DatabaseError.integrityError { … }`.
public struct ErrorCategoryPattern: Sendable {
    public let category: ErrorCategory
    public init(_ category: ErrorCategory) { self.category = category }
}

public func ~= (pattern: ErrorCategoryPattern, error: PostgresError) -> Bool { error.category == pattern.category }
public func ~= (pattern: ErrorCategoryPattern, error: any Error) -> Bool { pattern.category ~= error }

extension PostgresError {
    public static let interfaceError = ErrorCategoryPattern(.interface)
    public static let databaseError = ErrorCategoryPattern(.database)
    public static let dataError = ErrorCategoryPattern(.data)
    public static let operationalError = ErrorCategoryPattern(.operational)
    public static let integrityError = ErrorCategoryPattern(.integrity)
    public static let internalError = ErrorCategoryPattern(.internal)
    public static let programmingError = ErrorCategoryPattern(.programming)
    public static let notSupportedError = ErrorCategoryPattern(.notSupported)
}
