import Foundation

/// A value could not be encoded or decoded; `column` is filled in by the row API. What a codec
/// (`PostgresEncodable`/`PostgresDecodable`) throws; the row, cursor and connection APIs throw it as
/// `PostgresError.coding(_:)` (category `.data`).
public struct PostgresCodingError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Reason: Sendable, Equatable {
        /// NULL where the Swift type is not optional.
        case unexpectedNull
        /// The column's PostgreSQL type cannot become this Swift type.
        case typeMismatch
        /// The value does not fit the Swift type (e.g. int8 into Int16).
        case overflow
        /// The bytes are not a valid value of the type.
        case invalidData(String)
        /// The row has no column of that name or index.
        case missingColumn
    }

    public var reason: Reason
    public var type: PostgresDataType
    public var swiftType: String
    public var column: String?

    public init(_ reason: Reason, type: PostgresDataType, swiftType: Any.Type, column: String? = nil) {
        self.reason = reason
        self.type = type
        self.swiftType = String(describing: swiftType)
        self.column = column
    }

    public var description: String {
        let where_ = column.map { "column \"\($0)\"" } ?? "value"
        switch reason {
        case .unexpectedNull: return "\(where_) is NULL but \(swiftType) is not optional"
        case .typeMismatch: return "\(where_) of type \(type) cannot be decoded as \(swiftType)"
        case .overflow: return "\(where_) of type \(type) does not fit in \(swiftType)"
        case .invalidData(let why): return "\(where_) of type \(type) is invalid for \(swiftType): \(why)"
        case .missingColumn: return "\(column.map { "column \"\($0)\"" } ?? "column") does not exist in the row"
        }
    }
}

extension PostgresCodingError: LocalizedError {
    public var errorDescription: String? { description }
}
