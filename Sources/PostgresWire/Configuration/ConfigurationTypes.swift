// Value types shared by the connection-parameter code: SSL and related modes, and the error type.

/// libpq's `sslmode`.
public enum SSLMode: String, Sendable, CaseIterable {
    case disable
    case allow
    case prefer
    case require
    case verifyCA = "verify-ca"
    case verifyFull = "verify-full"
}

/// libpq's `sslnegotiation` (PostgreSQL 17): how TLS starts on a TCP connection.
public enum SSLNegotiation: String, Sendable, CaseIterable {
    /// An SSLRequest first, then the TLS handshake if the server answers 'S' (every server version).
    case postgres
    /// The TLS handshake right away, with ALPN "postgresql" (PostgreSQL 17 and later servers).
    case direct
}

/// libpq's `channel_binding`.
public enum ChannelBinding: String, Sendable, CaseIterable {
    case disable
    case prefer
    case require
}

/// libpq's `target_session_attrs`.
public enum TargetSessionAttributes: String, Sendable, CaseIterable {
    case any
    case readWrite = "read-write"
    case readOnly = "read-only"
    case primary
    case standby
    case preferStandby = "prefer-standby"
}

/// libpq 16's `load_balance_hosts`.
public enum LoadBalanceHosts: String, Sendable, CaseIterable {
    /// Hosts (and the addresses of each host name) are tried in the order given.
    case disable
    /// Hosts, and the addresses of each host name, are tried in a random order, drawn anew for
    /// each connection attempt.
    case random
}

