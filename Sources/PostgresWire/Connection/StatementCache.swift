import PostgresWireProtocol

/// What a statement needs to be executed without asking the server again.
///
/// A class, so that each query that uses a cached statement retains one object instead of
/// copying four fields. Its fields are set only while the statement is being prepared, under the
/// connection's lock, before it is shared with the cache or other queries of the batch.
final class PreparedStatementInfo: @unchecked Sendable {
    /// Server-side name; "" for the unnamed statement.
    let name: String
    var parameterTypes: [UInt32] = []
    /// Result columns with the format codes we request; nil when the statement returns no rows.
    var columns: ResultColumns?
    /// The result format codes as Bind sends them (one for every column when they agree).
    var resultFormats: [Int16] = []

    init(name: String) { self.name = name }
}

/// What a prepared statement is cached under: its SQL text and the parameter types it was
/// prepared with. Up to four types are held inline, so a key costs no allocation of its own (the
/// SQL string is shared with the query).
struct StatementKey: Hashable, Sendable {
    let sql: String
    let count: Int
    let inline: SIMD4<UInt32>
    let overflow: [UInt32]?

    init(sql: String, bindings: PostgresBindings) {
        self.sql = sql
        count = bindings.values.count
        var inline = SIMD4<UInt32>()
        var overflow: [UInt32] = []
        var i = 0
        for slot in bindings.values.slots {
            if i < 4 { inline[i] = slot.typeOID } else { overflow.append(slot.typeOID) }
            i += 1
        }
        self.inline = inline
        self.overflow = overflow.isEmpty ? nil : overflow
    }
}

/// Per-connection LRU cache of named prepared statements, keyed by SQL and declared parameter types.
struct StatementCache: Sendable {
    let capacity: Int
    private var entries: [StatementKey: (info: PreparedStatementInfo, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0
    private var nextID = 0
    /// The entry found last: a statement run again is found by comparing keys (for the same
    /// SQL string, a pointer comparison), not by hashing its text. Cleared by every change to
    /// the set of entries, which is what would invalidate the index.
    private var lastFound: (key: StatementKey, index: Dictionary<StatementKey, (info: PreparedStatementInfo, lastUse: UInt64)>.Index)?

    init(capacity: Int) { self.capacity = capacity }

    var isEnabled: Bool { capacity > 0 }
    var count: Int { entries.count }

    /// The cached statement for `key`, marked as used now (one hash lookup, none for the
    /// statement found last).
    mutating func lookup(_ key: StatementKey) -> PreparedStatementInfo? {
        let index: Dictionary<StatementKey, (info: PreparedStatementInfo, lastUse: UInt64)>.Index
        if let lastFound, lastFound.key == key {
            index = lastFound.index
        } else {
            guard let found = entries.index(forKey: key) else { return nil }
            index = found
            lastFound = (key, found)
        }
        clock += 1
        entries.values[index].lastUse = clock
        return entries.values[index].info
    }

    mutating func makeName() -> String {
        nextID += 1
        return "pgw_\(nextID)"
    }

    /// Inserts and returns the names of statements evicted to make room (to be closed on the server).
    mutating func insert(_ key: StatementKey, _ info: PreparedStatementInfo) -> [String] {
        var evicted: [String] = []
        while entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            lastFound = nil
            entries[oldest.key] = nil
            evicted.append(oldest.value.info.name)
        }
        clock += 1
        lastFound = nil
        entries[key] = (info, clock)
        return evicted
    }

    mutating func remove(_ key: StatementKey) -> PreparedStatementInfo? {
        lastFound = nil
        return entries.removeValue(forKey: key)?.info
    }

    mutating func removeAll() {
        lastFound = nil
        entries.removeAll()
    }
}
