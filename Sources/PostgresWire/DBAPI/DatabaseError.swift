import Foundation
import PostgresWireProtocol

/// PEP 249's exception classes, as a category carried by every `DatabaseError`.
public enum ErrorCategory: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// A problem with the driver or its use (closed cursor or connection, broken protocol).
    case interface
    /// A database error with no more specific category (an unmapped SQLSTATE class).
    case database
    /// A problem with the data (division by zero, value out of range, invalid text representation…).
    case data
    /// A problem with the database's operation, not necessarily the caller's fault (lost connection,
    /// serialization failure, deadlock, query canceled, out of resources, authentication).
    case operational
    /// Relational integrity (unique, foreign key, not null, check constraints).
    case integrity
    /// The database's internal state (invalid transaction or cursor state, internal error).
    case `internal`
    /// A programming error (syntax error, unknown table or column, wrong number of parameters).
    case programming
    /// A method or feature the database does not support.
    case notSupported

    /// The PEP 249 exception class name ("IntegrityError").
    public var pep249Name: String {
        switch self {
        case .interface: return "InterfaceError"
        case .database: return "DatabaseError"
        case .data: return "DataError"
        case .operational: return "OperationalError"
        case .integrity: return "IntegrityError"
        case .internal: return "InternalError"
        case .programming: return "ProgrammingError"
        case .notSupported: return "NotSupportedError"
        }
    }

    public var description: String { pep249Name }

    /// The category of a SQLSTATE, by class (its first two characters), as psycopg maps them.
    public init(sqlState: String) {
        switch String(sqlState.prefix(2)) {
        case "08", "27", "28", "2F", "38", "39", "3B", "40", "53", "54", "55", "57", "58", "F0", "HV": self = .operational
        case "0A": self = .notSupported
        case "20", "21", "26", "34", "3D", "3F", "42", "44", "P0": self = .programming
        case "22": self = .data
        case "23": self = .integrity
        case "24", "25", "2B", "2D", "XX": self = .internal
        default: self = .database
        }
    }
}

/// A SQLSTATE code, usable as a `catch` pattern: `catch SQLState.uniqueViolation { … }`.
public struct SQLState: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ code: String) { self.rawValue = code }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }
    /// The SQLSTATE class (first two characters).
    public var errorClass: String { String(rawValue.prefix(2)) }
    public var category: ErrorCategory { ErrorCategory(sqlState: rawValue) }

    public static let uniqueViolation: SQLState = "23505"
    public static let foreignKeyViolation: SQLState = "23503"
    public static let notNullViolation: SQLState = "23502"
    public static let checkViolation: SQLState = "23514"
    public static let undefinedTable: SQLState = "42P01"
    public static let undefinedColumn: SQLState = "42703"
    public static let syntaxError: SQLState = "42601"
    public static let divisionByZero: SQLState = "22012"
    public static let serializationFailure: SQLState = "40001"
    public static let deadlockDetected: SQLState = "40P01"
    public static let queryCanceled: SQLState = "57014"
    public static let adminShutdown: SQLState = "57P01"
    public static let inFailedSQLTransaction: SQLState = "25P02"
    public static let featureNotSupported: SQLState = "0A000"
}

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
