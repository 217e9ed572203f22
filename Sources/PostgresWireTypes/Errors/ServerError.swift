import Foundation
import PostgresWireProtocol

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

extension ServerError: LocalizedError {
    public var errorDescription: String? { description }
}
