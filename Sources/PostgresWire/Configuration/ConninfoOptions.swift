// The connection options libpq 15 knows (fe-connect.c's PQconninfoOptions), in libpq's order, then
// the few this driver adds (libpq 16/17's sslnegotiation and load_balance_hosts, statement_cache_size).

struct ConninfoOption: Sendable {
    /// The keyword used in connection strings.
    let keyword: String
    /// Environment variable consulted when the option is not given.
    let environmentVariable: String?
    /// libpq's compiled-in default, applied when neither the string nor the environment sets it.
    let compiledDefault: String?
    /// Value must never be shown (libpq's dispchar "*").
    let isSecret: Bool
}

enum ConninfoOptions {
    static let all: [ConninfoOption] = [
        .init(keyword: "service", environmentVariable: "PGSERVICE", compiledDefault: nil, isSecret: false),
        .init(keyword: "user", environmentVariable: "PGUSER", compiledDefault: nil, isSecret: false),
        .init(keyword: "password", environmentVariable: "PGPASSWORD", compiledDefault: nil, isSecret: true),
        .init(keyword: "passfile", environmentVariable: "PGPASSFILE", compiledDefault: nil, isSecret: false),
        .init(keyword: "channel_binding", environmentVariable: "PGCHANNELBINDING", compiledDefault: "prefer", isSecret: false),
        .init(keyword: "connect_timeout", environmentVariable: "PGCONNECT_TIMEOUT", compiledDefault: nil, isSecret: false),
        .init(keyword: "dbname", environmentVariable: "PGDATABASE", compiledDefault: nil, isSecret: false),
        .init(keyword: "host", environmentVariable: "PGHOST", compiledDefault: nil, isSecret: false),
        .init(keyword: "hostaddr", environmentVariable: "PGHOSTADDR", compiledDefault: nil, isSecret: false),
        .init(keyword: "port", environmentVariable: "PGPORT", compiledDefault: "5432", isSecret: false),
        .init(keyword: "client_encoding", environmentVariable: "PGCLIENTENCODING", compiledDefault: nil, isSecret: false),
        .init(keyword: "options", environmentVariable: "PGOPTIONS", compiledDefault: "", isSecret: false),
        .init(keyword: "application_name", environmentVariable: "PGAPPNAME", compiledDefault: nil, isSecret: false),
        .init(keyword: "fallback_application_name", environmentVariable: nil, compiledDefault: nil, isSecret: false),
        .init(keyword: "keepalives", environmentVariable: nil, compiledDefault: nil, isSecret: false),
        .init(keyword: "keepalives_idle", environmentVariable: nil, compiledDefault: nil, isSecret: false),
        .init(keyword: "keepalives_interval", environmentVariable: nil, compiledDefault: nil, isSecret: false),
        .init(keyword: "keepalives_count", environmentVariable: nil, compiledDefault: nil, isSecret: false),
        .init(keyword: "tcp_user_timeout", environmentVariable: nil, compiledDefault: nil, isSecret: false),
        .init(keyword: "sslmode", environmentVariable: "PGSSLMODE", compiledDefault: "prefer", isSecret: false),
        // libpq 17's (not in libpq 15): accepted here so direct TLS can be asked for.
        .init(keyword: "sslnegotiation", environmentVariable: "PGSSLNEGOTIATION", compiledDefault: "postgres", isSecret: false),
        .init(keyword: "sslcompression", environmentVariable: "PGSSLCOMPRESSION", compiledDefault: "0", isSecret: false),
        .init(keyword: "sslcert", environmentVariable: "PGSSLCERT", compiledDefault: nil, isSecret: false),
        .init(keyword: "sslkey", environmentVariable: "PGSSLKEY", compiledDefault: nil, isSecret: false),
        .init(keyword: "sslpassword", environmentVariable: nil, compiledDefault: nil, isSecret: true),
        .init(keyword: "sslrootcert", environmentVariable: "PGSSLROOTCERT", compiledDefault: nil, isSecret: false),
        .init(keyword: "sslcrl", environmentVariable: "PGSSLCRL", compiledDefault: nil, isSecret: false),
        .init(keyword: "sslcrldir", environmentVariable: "PGSSLCRLDIR", compiledDefault: nil, isSecret: false),
        .init(keyword: "sslsni", environmentVariable: "PGSSLSNI", compiledDefault: "1", isSecret: false),
        .init(keyword: "requirepeer", environmentVariable: "PGREQUIREPEER", compiledDefault: nil, isSecret: false),
        .init(keyword: "ssl_min_protocol_version", environmentVariable: "PGSSLMINPROTOCOLVERSION", compiledDefault: "TLSv1.2", isSecret: false),
        .init(keyword: "ssl_max_protocol_version", environmentVariable: "PGSSLMAXPROTOCOLVERSION", compiledDefault: nil, isSecret: false),
        .init(keyword: "gssencmode", environmentVariable: "PGGSSENCMODE", compiledDefault: "prefer", isSecret: false),
        .init(keyword: "krbsrvname", environmentVariable: "PGKRBSRVNAME", compiledDefault: "postgres", isSecret: false),
        .init(keyword: "gsslib", environmentVariable: "PGGSSLIB", compiledDefault: nil, isSecret: false),
        .init(keyword: "replication", environmentVariable: nil, compiledDefault: nil, isSecret: false),
        .init(keyword: "target_session_attrs", environmentVariable: "PGTARGETSESSIONATTRS", compiledDefault: "any", isSecret: false),
        // libpq 16's (not in libpq 15); no compiled-in default so resolved strings stay as libpq 15 shows them.
        .init(keyword: "load_balance_hosts", environmentVariable: "PGLOADBALANCEHOSTS", compiledDefault: nil, isSecret: false),
        // Not libpq's: asyncpg's name for the prepared-statement cache size (0 = unnamed statements only).
        .init(keyword: "statement_cache_size", environmentVariable: nil, compiledDefault: nil, isSecret: false),
    ]

    static let keywords: Set<String> = Set(all.map(\.keyword))

    static let secretKeywords: Set<String> = Set(all.filter(\.isSecret).map(\.keyword))

    static func isKnown(_ keyword: String) -> Bool { keywords.contains(keyword) }

    /// Position in libpq's table, for stable output order.
    static let order: [String: Int] = Dictionary(uniqueKeysWithValues: all.enumerated().map { ($1.keyword, $0) })
}
