/// A SQLSTATE code: five characters, the first two its class. Every code PostgreSQL defines is a
/// named constant (`SQLState.uniqueViolation`, generated from PostgreSQL's errcodes.txt by
/// scripts/generate-sqlstate), and a value is usable as a `catch` pattern:
///
///     catch SQLState.uniqueViolation { … }
///     catch let error as PostgresError where error.sqlState?.class == .integrityConstraintViolation { … }
public struct SQLState: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ code: String) { self.rawValue = code }
    public init(stringLiteral value: String) { self.rawValue = value }
    init(unchecked code: String) { self.rawValue = code }

    /// The code whose condition name is `name` (`"unique_violation"`), nil if PostgreSQL defines none.
    public init?(conditionName name: String) {
        guard let code = Self.codesByName[name] else { return nil }
        self.rawValue = code
    }

    public var description: String { rawValue }

    /// The condition name PostgreSQL gives the code (`"unique_violation"` for 23505, as PL/pgSQL's
    /// `EXCEPTION WHEN unique_violation` spells it), nil for a code it does not define.
    public var conditionName: String? { Self.conditionNames[rawValue] }

    /// The class code (the first two characters: "23").
    public var errorClass: String { String(rawValue.prefix(2)) }

    /// The class (`.integrityConstraintViolation` for 23505); a class PostgreSQL does not define
    /// gets its code as name and title, and the category `.database`.
    public var `class`: Class { Class(code: errorClass) }

    /// The PEP 249 category of the code's class, as psycopg maps them.
    public var category: ErrorCategory { self.class.category }

    private static let codesByName: [String: String] = {
        var codes: [String: String] = [:]
        for (code, name) in conditionNames where codes[name] == nil || code < codes[name]! { codes[name] = code }
        return codes
    }()

    /// A SQLSTATE class: the codes sharing their first two characters.
    public struct Class: Hashable, Sendable, CustomStringConvertible {
        /// "23".
        public let code: String
        /// The condition name of the class's generic code ("integrity_constraint_violation").
        public let name: String
        /// The section title in PostgreSQL's documentation ("Integrity Constraint Violation").
        public let title: String
        /// The PEP 249 category of every code of the class.
        public let category: ErrorCategory

        init(code: String, name: String, title: String, category: ErrorCategory) {
            self.code = code
            self.name = name
            self.title = title
            self.category = category
        }

        /// The class of that code (two characters); one PostgreSQL does not define has the code as
        /// name and title and the category `.database`.
        public init(code: String) {
            self = Self.byCode[code] ?? Class(code: code, name: code, title: code, category: .database)
        }

        /// The class's generic code ("23000").
        public var genericCode: SQLState { SQLState(unchecked: code + "000") }

        public var description: String { "\(code) \(name)" }

        private static let byCode: [String: Class] = Dictionary(uniqueKeysWithValues: all.map { ($0.code, $0) })
    }
}

/// PEP 249's exception classes, as a category carried by every `PostgresError`.
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
        self = SQLState(rawValue: sqlState).category
    }
}
