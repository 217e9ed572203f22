import Foundation
import PostgresWireProtocol

/// The error every DB-API, async and pool call throws: a PEP 249 category, the SQLSTATE and every
/// field the server sent (through `serverError`), and the driver's own error underneath.
///
///     do { try cursor.execute("INSERT …") }
///     catch SQLState.uniqueViolation { … }                 // by SQLSTATE
///     catch DatabaseError.integrityError { … }             // by PEP 249 class
///     catch let error as DatabaseError where error.category == .operational { … }
public struct DatabaseError: Error, Sendable, CustomStringConvertible {
    public let category: ErrorCategory
    public let message: String
    /// The driver error this one wraps (nil for errors raised by the DB-API layer itself).
    public let underlying: PostgresError?
    /// A value that could not be encoded or decoded.
    public let codingError: PostgresCodingError?

    public init(_ category: ErrorCategory, _ message: String, underlying: PostgresError? = nil, codingError: PostgresCodingError? = nil) {
        self.category = category
        self.message = message
        self.underlying = underlying
        self.codingError = codingError
    }

    /// Wraps a driver error, deriving its category.
    public init(_ error: PostgresError) {
        let category: ErrorCategory
        switch error {
        case .server(let e): category = ErrorCategory(sqlState: e.sqlState)
        case .connectionRejected(_, let e):
            // A refused session is an operational failure, whatever the class (psycopg: OperationalError).
            category = e.sqlState.hasPrefix("0A") ? .notSupported : .operational
        case .configuration: category = .programming
        case .connectionFailed, .timeout, .authentication: category = .operational
        case .connectionClosed(let m): category = m == "connection is closed" ? .interface : .operational
        case .protocolViolation: category = .interface
        case .invalidUsage: category = .programming
        }
        self.init(category, error.message, underlying: error)
    }

    /// Any error as a `DatabaseError` (coding errors are data errors; others are interface errors).
    public static func wrap(_ error: any Error) -> DatabaseError {
        switch error {
        case let e as DatabaseError: return e
        case let e as PostgresError: return DatabaseError(e)
        case let e as PostgresCodingError: return DatabaseError(.data, e.description, codingError: e)
        default: return DatabaseError(.interface, String(describing: error))
        }
    }

    /// The server's ErrorResponse with all its fields (detail, hint, constraint, position…).
    public var serverError: ServerError? { underlying?.serverError }
    /// The SQLSTATE, when the server reported the error.
    public var sqlState: SQLState? { underlying?.sqlState.map(SQLState.init(rawValue:)) }
    public var detail: String? { serverError?.detail }
    public var hint: String? { serverError?.hint }
    public var constraintName: String? { serverError?.constraintName }

    /// The full message: the wrapped driver error's `description` (the same text whichever API
    /// reported the failure, and what `pgwire` prints), or the DB-API layer's own message. The PEP 249
    /// class is `category` (`category.pep249Name`), not part of the text.
    public var description: String {
        if let underlying { return underlying.description }
        return message
    }

    static func interface(_ message: String) -> DatabaseError { DatabaseError(.interface, message) }
    static func programming(_ message: String) -> DatabaseError { DatabaseError(.programming, message) }
}

/// `catch ErrorCategory.integrity` matches a `DatabaseError` (or a `PostgresError`) of that category.
public func ~= (pattern: ErrorCategory, error: any Error) -> Bool {
    switch error {
    case let e as DatabaseError: return e.category == pattern
    case let e as PostgresError: return DatabaseError(e).category == pattern
    default: return false
    }
}

/// `catch SQLState.uniqueViolation` (or `catch SQLState("23505")`) matches an error with that SQLSTATE.
public func ~= (pattern: SQLState, error: any Error) -> Bool {
    switch error {
    case let e as DatabaseError: return e.sqlState == pattern
    case let e as PostgresError: return e.sqlState == pattern.rawValue
    default: return false
    }
}

/// Runs `body`, turning every error into a `DatabaseError`.
@inline(__always) @discardableResult
func asDatabaseError<T>(_ body: () throws -> T) throws(DatabaseError) -> T {
    do { return try body() } catch { throw DatabaseError.wrap(error) }
}

/// The same patterns for typed throws (`throws(DatabaseError)`).
public func ~= (pattern: ErrorCategory, error: DatabaseError) -> Bool { error.category == pattern }
public func ~= (pattern: SQLState, error: DatabaseError) -> Bool { error.sqlState == pattern }

/// A `catch` pattern for a PEP 249 category: `catch DatabaseError.integrityError { … }`.
public struct ErrorCategoryPattern: Sendable {
    public let category: ErrorCategory
    public init(_ category: ErrorCategory) { self.category = category }
}

public func ~= (pattern: ErrorCategoryPattern, error: DatabaseError) -> Bool { error.category == pattern.category }
public func ~= (pattern: ErrorCategoryPattern, error: any Error) -> Bool { pattern.category ~= error }

extension DatabaseError {
    public static let interfaceError = ErrorCategoryPattern(.interface)
    public static let databaseError = ErrorCategoryPattern(.database)
    public static let dataError = ErrorCategoryPattern(.data)
    public static let operationalError = ErrorCategoryPattern(.operational)
    public static let integrityError = ErrorCategoryPattern(.integrity)
    public static let internalError = ErrorCategoryPattern(.internal)
    public static let programmingError = ErrorCategoryPattern(.programming)
    public static let notSupportedError = ErrorCategoryPattern(.notSupported)
}

extension DatabaseError: LocalizedError {
    public var errorDescription: String? { description }
}
