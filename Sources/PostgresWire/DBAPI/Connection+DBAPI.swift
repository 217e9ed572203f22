import Foundation
import PostgresWireProtocol

/// A transaction isolation level (`BEGIN ISOLATION LEVEL …`).
public enum IsolationLevel: String, Sendable, CaseIterable {
    case readUncommitted = "READ UNCOMMITTED"
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// Characteristics of the transactions the DB-API opens (nil: the server's default).
public struct TransactionCharacteristics: Sendable, Equatable {
    public var isolationLevel: IsolationLevel?
    public var readOnly: Bool?
    public var deferrable: Bool?

    public init(isolationLevel: IsolationLevel? = nil, readOnly: Bool? = nil, deferrable: Bool? = nil) {
        self.isolationLevel = isolationLevel
        self.readOnly = readOnly
        self.deferrable = deferrable
    }

    /// The BEGIN statement that opens such a transaction.
    public var beginStatement: String {
        var sql = "BEGIN"
        var modes: [String] = []
        if let isolationLevel { modes.append("ISOLATION LEVEL \(isolationLevel.rawValue)") }
        if let readOnly { modes.append(readOnly ? "READ ONLY" : "READ WRITE") }
        if let deferrable { modes.append(deferrable ? "DEFERRABLE" : "NOT DEFERRABLE") }
        if !modes.isEmpty { sql += " " + modes.joined(separator: ", ") }
        return sql
    }
}

/// DB-API state stored in `Connection` (guarded by its `stateLock`).
struct DBAPIState {
    var autocommit = false
    var characteristics = TransactionCharacteristics()
    /// Bumped when the pool resets the connection: cursors of an older generation are closed.
    var cursorGeneration = 0
    var savepointCounter = 0
    var cursorCounter = 0
}

extension Connection {
    // MARK: Opening

    /// Opens a connection from parsed parameters (libpq keywords: host, port, user, password,
    /// dbname, sslmode, connect_timeout, application_name…), the DB-API's `connect(**kwargs)`.
    public static func connect(parameters: [String: String], options: ConnectionOptions = ConnectionOptions()) throws -> Connection {
        let conninfo = parameters.sorted { $0.key < $1.key }.map { key, value in
            var quoted = "'"
            for c in value {
                if c == "'" || c == "\\" { quoted.append("\\") }
                quoted.append(c)
            }
            return "\(key)=\(quoted)'"
        }.joined(separator: " ")
        return try asDatabaseError { try Connection.connect(conninfo, options: options) }
    }

    /// DB-API `connect(dsn)`: like `connect(_:)` but failures are `DatabaseError`s. An empty string
    /// (the default) takes everything from the PG* environment variables, ~/.pgpass and libpq's defaults.
    public static func open(_ dsn: String = "", options: ConnectionOptions = ConnectionOptions()) throws -> Connection {
        try asDatabaseError { try Connection.connect(dsn, options: options) }
    }

    // MARK: DB-API state

    /// PEP 249 autocommit. When false (the default) the first statement a cursor runs opens a
    /// transaction that lasts until `commit()` or `rollback()`; when true each statement commits
    /// on its own. Only cursors follow it: `query`/`simpleQuery` always run statements as given.
    /// Changing it inside a transaction is a programming error.
    public var autocommit: Bool {
        get { stateLock.withLock { dbapi.autocommit } }
        set { try? setAutocommit(newValue) }
    }

    /// Sets `autocommit`, throwing when a transaction is open.
    public func setAutocommit(_ value: Bool) throws {
        try checkOpen()
        if transactionStatus != .idle && value != autocommit {
            throw PostgresError.invalidUsage("autocommit cannot be changed inside a transaction; commit or roll back first")
        }
        stateLock.withLock { dbapi.autocommit = value }
    }

    /// Isolation level, read-only and deferrable flags of the transactions the DB-API opens.
    public var transactionCharacteristics: TransactionCharacteristics {
        get { stateLock.withLock { dbapi.characteristics } }
        set { stateLock.withLock { dbapi.characteristics = newValue } }
    }

    /// Isolation level of the transactions the DB-API opens (nil: server default).
    public var isolationLevel: IsolationLevel? {
        get { transactionCharacteristics.isolationLevel }
        set { transactionCharacteristics.isolationLevel = newValue }
    }

    /// Whether the transactions the DB-API opens are READ ONLY (nil: server default).
    public var readOnly: Bool? {
        get { transactionCharacteristics.readOnly }
        set { transactionCharacteristics.readOnly = newValue }
    }

    /// Whether the transactions the DB-API opens are DEFERRABLE (nil: server default).
    public var deferrable: Bool? {
        get { transactionCharacteristics.deferrable }
        set { transactionCharacteristics.deferrable = newValue }
    }

    /// Server parameters (server_version, TimeZone…), kept current.
    public var serverParameters: [String: String] { parameters }

    /// The backend's process ID (nil if the server sent no BackendKeyData).
    public var backendPID: Int32? { backendKeyData?.processID }

    // MARK: Cursors and transactions

    /// A new cursor. With a `name`, a server-side cursor (DECLARE … CURSOR / FETCH): rows are fetched
    /// `itersize` at a time so results larger than memory can be read; `withHold` keeps it usable
    /// after commit (and in autocommit mode).
    public func cursor(name: String? = nil, withHold: Bool = false) throws -> Cursor {
        try checkOpen()
        return Cursor(connection: self, name: name, withHold: withHold)
    }

    /// Commits the current transaction (nothing to do when none is open).
    public func commit() throws {
        try checkOpen()
        guard transactionStatus != .idle else { return }
        try asDatabaseError { try simpleQuery("COMMIT") }
    }

    /// Rolls the current transaction back (nothing to do when none is open).
    public func rollback() throws {
        try checkOpen()
        guard transactionStatus != .idle else { return }
        try asDatabaseError { try simpleQuery("ROLLBACK") }
    }

    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws (and
    /// rethrows). Inside a transaction already open (an outer block, or one the DB-API opened) it
    /// uses a savepoint instead, so blocks nest. `characteristics` apply to an outermost block.
    @discardableResult
    public func transaction<T>(_ characteristics: TransactionCharacteristics? = nil, _ body: (Connection) throws -> T) throws -> T {
        let savepoint = try beginTransactionBlock(characteristics)
        let result: T
        do {
            result = try body(self)
        } catch {
            try? endTransactionBlock(savepoint: savepoint, bodyThrew: true)
            throw error
        }
        try endTransactionBlock(savepoint: savepoint, bodyThrew: false)
        return result
    }

    /// BEGIN (returns nil) or SAVEPOINT (returns its name) for a transaction block.
    func beginTransactionBlock(_ characteristics: TransactionCharacteristics?) throws -> String? {
        try checkOpen()
        let (savepoint, begin): (String?, String) = stateLock.withLock {
            if _transactionStatus == .idle {
                return (nil, (characteristics ?? dbapi.characteristics).beginStatement)
            }
            dbapi.savepointCounter += 1
            let name = "pgwire_sp_\(dbapi.savepointCounter)"
            return (name, "SAVEPOINT \(name)")
        }
        try asDatabaseError { try simpleQuery(begin) }
        return savepoint
    }

    /// Ends the block `beginTransactionBlock` opened (`savepoint` nil: BEGIN), for
    /// `Connection.transaction` and `AsyncConnection.transaction` alike. After its body threw: rolls
    /// back (errors ignored: the body's error is the one to report). After it returned: commits, or,
    /// when the body swallowed a failed statement, rolls back and says so (a COMMIT would silently
    /// roll back).
    func endTransactionBlock(savepoint: String?, bodyThrew: Bool) throws {
        let rollback = savepoint.map { "ROLLBACK TO SAVEPOINT \($0); RELEASE SAVEPOINT \($0)" } ?? "ROLLBACK"
        if bodyThrew {
            if !isClosed { _ = try? simpleQuery(rollback) }
            return
        }
        if transactionStatus == .failed {
            _ = try? simpleQuery(rollback)
            throw PostgresError.transactionRolledBack("the transaction block was rolled back: a statement in it failed")
        }
        try asDatabaseError { try simpleQuery(savepoint.map { "RELEASE SAVEPOINT \($0)" } ?? "COMMIT") }
    }

    /// Opens the DB-API's implicit transaction when autocommit is off and none is open.
    func beginImplicitTransactionIfNeeded() throws {
        let begin: String? = stateLock.withLock {
            guard !dbapi.autocommit, _transactionStatus == .idle else { return nil }
            return dbapi.characteristics.beginStatement
        }
        if let begin { try asDatabaseError { try simpleQuery(begin) } }
    }

    func checkOpen() throws {
        if let error = unusableError { throw error }
    }


    var cursorGeneration: Int { stateLock.withLock { dbapi.cursorGeneration } }

    func nextCursorName() -> String { stateLock.withLock { dbapi.cursorCounter += 1; return "pgwire_cur_\(dbapi.cursorCounter)" } }

    /// Closes every cursor opened so far (they throw an interface error if used again).
    public func closeAllCursors() {
        stateLock.withLock { dbapi.cursorGeneration += 1 }
    }

    /// Puts the connection back into a fresh state for reuse (what a pool does on release):
    /// rolls back an open transaction, closes cursors, optionally runs DISCARD ALL, and restores
    /// autocommit and transaction characteristics to their defaults.
    public func resetSession(discardAll: Bool = false) throws {
        try checkOpen()
        closeAllCursors()
        if transactionStatus != .idle { try asDatabaseError { try simpleQuery("ROLLBACK") } }
        if discardAll { try asDatabaseError { try simpleQuery("DISCARD ALL") } }
        resetSessionState()
    }

    /// The client-side part of `resetSession` (no I/O): cursors closed, autocommit and
    /// transaction characteristics back to their defaults.
    func resetSessionState() {
        closeAllCursors()
        stateLock.withLock {
            let generation = dbapi.cursorGeneration
            let counter = dbapi.cursorCounter
            dbapi = DBAPIState()
            dbapi.cursorGeneration = generation
            dbapi.cursorCounter = counter
        }
    }
}
