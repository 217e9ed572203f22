import PostgresWireProtocol

/// What a statement needs to be executed without asking the server again.
struct PreparedStatementInfo: Sendable {
    /// Server-side name; "" for the unnamed statement.
    var name: String
    var parameterTypes: [UInt32]
    /// Result columns with the format codes we request; nil when the statement returns no rows.
    var columns: ResultColumns?
    var resultFormats: [Int16]
}

/// Per-connection LRU cache of named prepared statements, keyed by SQL and declared parameter types.
struct StatementCache: Sendable {
    let capacity: Int
    private var entries: [String: (info: PreparedStatementInfo, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0
    private var nextID = 0

    init(capacity: Int) { self.capacity = capacity }

    var isEnabled: Bool { capacity > 0 }
    var count: Int { entries.count }

    static func key(sql: String, types: [PostgresDataType]) -> String {
        var key = sql
        key.append("\u{0}")
        for t in types { key.append(String(t.rawValue)); key.append(",") }
        return key
    }

    mutating func lookup(_ key: String) -> PreparedStatementInfo? {
        guard let entry = entries[key] else { return nil }
        clock += 1
        entries[key] = (entry.info, clock)
        return entry.info
    }

    mutating func makeName() -> String {
        nextID += 1
        return "pgw_\(nextID)"
    }

    /// Inserts and returns the names of statements evicted to make room (to be closed on the server).
    mutating func insert(_ key: String, _ info: PreparedStatementInfo) -> [String] {
        var evicted: [String] = []
        while entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            entries[oldest.key] = nil
            evicted.append(oldest.value.info.name)
        }
        clock += 1
        entries[key] = (info, clock)
        return evicted
    }

    mutating func remove(_ key: String) -> PreparedStatementInfo? {
        entries.removeValue(forKey: key)?.info
    }

    mutating func removeAll() { entries.removeAll() }
}
