import Logging
import PostgresWireProtocol

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
    /// Which result column types are requested in binary format; others come as text. The
    /// default asks `PostgresTypeRegistry.shared`, so registering a codec for a type of your own
    /// makes its columns arrive in binary.
    public var binaryResultTypes: @Sendable (PostgresDataType) -> Bool

    /// The largest server message accepted once the session is established; a larger one breaks
    /// the connection with `ProtocolError.messageTooLarge` before anything is allocated for it.
    /// 1 GiB by default, the server's own limit. It bounds the message types that may be long
    /// (DataRow, CopyData, RowDescription, ErrorResponse…); the others never exceed libpq's
    /// 30,000-byte sanity limit, and startup messages have their own smaller limits
    /// (`FrameDecoder.awaitingAuthentication`).
    public var maximumMessageSize: Int

    /// Where the driver logs (swift-log), nil by default: no output. Metadata keys and levels are
    /// listed in the README ("Observability"): `info` stays quiet in steady state, `debug` shows
    /// each statement, notices are logged at their severity. An explicit `logger:` argument of
    /// `Connection.connect` wins over this one.
    public var logger: Logger?

    public init(statementCacheCapacity: Int = 256, statementCacheMode: StatementCacheMode = .named,
                binaryResultTypes: @escaping @Sendable (PostgresDataType) -> Bool = BinaryResultTypes.registered,
                maximumMessageSize: Int = FrameDecoder.defaultMaximumMessageSize) {
        self.maximumMessageSize = max(1024, maximumMessageSize)
        self.statementCacheCapacity = max(0, statementCacheCapacity)
        self.statementCacheMode = statementCacheMode
        self.binaryResultTypes = binaryResultTypes
    }
}

public enum BinaryResultTypes {
    /// Types with a binary decoder in the shared registry (the built-ins plus user registrations).
    @Sendable public static func registered(_ type: PostgresDataType) -> Bool {
        PostgresTypeRegistry.shared.hasBinaryDecoder(for: type)
    }
    @Sendable public static func none(_ type: PostgresDataType) -> Bool { false }
}
