/// Driver settings that have no libpq connection-string keyword.
public struct ConnectionOptions: Sendable {
    public enum StatementCacheMode: Sendable {
        /// Prepared statements are named and reused across executions (the fast default).
        case named
        /// Only the unnamed statement is used, re-parsed on each execution: safe behind PgBouncer
        /// in transaction mode, where consecutive transactions may reach different server sessions.
        case unnamed
    }

    /// How many prepared statements each connection keeps (least recently used are closed); 0 disables the cache.
    public var statementCacheCapacity: Int
    public var statementCacheMode: StatementCacheMode
    /// Which result column types are requested in binary format; others come as text.
    public var binaryResultTypes: @Sendable (PostgresDataType) -> Bool

    public init(statementCacheCapacity: Int = 256, statementCacheMode: StatementCacheMode = .named,
                binaryResultTypes: @escaping @Sendable (PostgresDataType) -> Bool = BinaryResultTypes.builtIn) {
        self.statementCacheCapacity = max(0, statementCacheCapacity)
        self.statementCacheMode = statementCacheMode
        self.binaryResultTypes = binaryResultTypes
    }
}

public enum BinaryResultTypes {
    /// The built-in types whose binary form the driver decodes.
    public static let builtInOIDs: Set<UInt32> = [
        16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 650, 700, 701, 829, 869, 1042, 1043, 1082, 1083, 1114, 1184,
        1186, 1266, 1700, 2950, 3802,
        1000, 1001, 1002, 1003, 1005, 1007, 1009, 1014, 1015, 1016, 1021, 1022, 1028, 1040, 1041, 651, 1115,
        1182, 1183, 1185, 1187, 1231, 1270, 2951, 199, 3807,
    ]

    @Sendable public static func builtIn(_ type: PostgresDataType) -> Bool { builtInOIDs.contains(type.rawValue) }
    @Sendable public static func none(_ type: PostgresDataType) -> Bool { false }
}
