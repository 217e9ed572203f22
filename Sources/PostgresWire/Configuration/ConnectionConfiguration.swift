// Connection parameters resolved the way libpq does it: connection string (key=value or URI), then
// service file, environment variables, compiled-in defaults and derived values (fe-connect.c's
// conninfo_add_defaults and connectOptions2).

import Foundation

public struct ConnectionConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Where to connect.
    public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        /// Full socket path, `<dir>/.s.PGSQL.<port>`. A leading `@` names a Linux abstract socket.
        case unixSocket(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port):
                return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unixSocket(let path):
                return path
            }
        }
    }

    /// One entry of the (possibly comma-separated) host list.
    public struct Host: Sendable, Equatable, CustomStringConvertible {
        /// The host name as given (a name, an address or a socket directory); for the default
        /// host, the socket directory. Empty when only `hostaddr` was given for this entry.
        public var host: String
        /// The numeric address to connect to instead of resolving `host`.
        public var hostaddr: String?
        public var port: Int
        public var endpoint: Endpoint

        public init(host: String, hostaddr: String? = nil, port: Int, endpoint: Endpoint) {
            self.host = host
            self.hostaddr = hostaddr
            self.port = port
            self.endpoint = endpoint
        }

        public var isUnixSocket: Bool {
            if case .unixSocket = endpoint { return true }
            return false
        }

        public var description: String {
            if let hostaddr, !host.isEmpty, host != hostaddr { return "\(host) (\(hostaddr)) \(endpoint)" }
            return endpoint.description
        }
    }

    /// Resolved hosts, in the order to try them; at least one.
    public var hosts: [Host]
    public var user: String
    /// Never shown by `description`, `debugDescription` or any error. nil when not given or empty:
    /// look it up with `passwordFromPassFile(for:)` at connect time.
    public var password: String?
    public var database: String
    public var applicationName: String?
    public var fallbackApplicationName: String?
    /// Command-line options for the server (`options` / PGOPTIONS); nil when empty.
    public var options: String?
    /// Seconds; nil means no timeout. As libpq: 1 becomes 2, zero or negative means none.
    public var connectTimeout: Double?
    /// The password file to consult (given `passfile`/PGPASSFILE, else `<home>/.pgpass`).
    public var passfile: String?
    public var sslMode: SSLMode
    /// `sslnegotiation` (libpq 17): SSLRequest first (`postgres`, the default) or direct TLS.
    public var sslNegotiation: SSLNegotiation
    public var sslCert: String?
    public var sslKey: String?
    public var sslRootCert: String?
    public var sslCRL: String?
    public var sslCRLDir: String?
    /// Passphrase for the client key. Never shown.
    public var sslPassword: String?
    /// Send SNI (libpq: `sslsni` starting with "1"; default on).
    public var sslSNI: Bool
    /// `sslcompression` starting with "1".
    public var sslCompression: Bool
    /// e.g. "TLSv1.2" (the default); nil or empty = no bound.
    public var sslMinProtocolVersion: String?
    public var sslMaxProtocolVersion: String?
    public var requirePeer: String?
    public var channelBinding: ChannelBinding
    /// "disable" or "prefer" (GSSAPI encryption is not supported, so "require" is rejected).
    public var gssEncMode: String
    public var krbsrvname: String?
    public var gsslib: String?
    public var service: String?
    public var targetSessionAttributes: TargetSessionAttributes
    /// `load_balance_hosts` (libpq 16): try the hosts in order (`disable`, the default) or in a
    /// random order drawn per connection attempt.
    public var loadBalanceHosts: LoadBalanceHosts
    /// `statement_cache_size` (asyncpg's keyword): when given, overrides
    /// `ConnectionOptions.statementCacheCapacity`; 0 = only the unnamed statement is used (for
    /// PgBouncer in transaction mode). nil when not given.
    public var statementCacheSize: Int?
    /// TCP keepalives on (default) or off.
    public var keepalives: Bool
    public var keepalivesIdle: Int?
    public var keepalivesInterval: Int?
    public var keepalivesCount: Int?
    /// Milliseconds.
    public var tcpUserTimeout: Int?
    /// `replication` as given ("true", "database", ...), nil when not set.
    public var replication: String?
    /// Sent in the startup packet; default "UTF8"; "auto" resolved from the locale.
    public var clientEncoding: String
    /// Every option as finally resolved, keyed by libpq's keyword; `password` and `sslpassword`
    /// are left out.
    public var raw: [String: String]

    /// The directory for which a socket connection counts as "localhost" in the password file.
    var defaultSocketDirectory: String
    /// Where `~/.postgresql/` (default TLS root certificate, CRL, client certificate and key) is;
    /// nil = the effective user's home directory, looked up at connect time.
    var homeDirectory: String? = nil

    /// The application name to send: `application_name` if non-empty, else
    /// `fallback_application_name` if non-empty.
    public var effectiveApplicationName: String? {
        if let applicationName, !applicationName.isEmpty { return applicationName }
        if let fallbackApplicationName, !fallbackApplicationName.isEmpty { return fallbackApplicationName }
        return nil
    }

    // MARK: - Parsing

    /// Parses only the options written in `conninfo` (like libpq's PQconninfoParse): no service
    /// file, environment or defaults. `requiressl` and the URI's `ssl=true` come out as `sslmode`.
    public static func parseOptions(_ conninfo: String) throws(ConfigurationError) -> [String: String] {
        try ConninfoParser.parse(conninfo)
    }

    /// Resolves a connection string as PQconnectdb would (without connecting).
    /// - Parameters:
    ///   - conninfo: a URI or `key=value` connection string; empty: only the environment, the
    ///     service and pass files, and libpq's defaults.
    ///   - environment: where PGHOST etc. are read.
    ///   - osUser: the default user name; nil = the effective user's name (getpwuid(geteuid())).
    ///   - homeDirectory: for `.pgpass`, `.pg_service.conf` and `~/.postgresql/`; nil = `HOME`
    ///     from `environment` when set and not empty, else the effective user's home
    ///     (getpwuid), as libpq 15 does.
    public static func parse(
        _ conninfo: String = "",
        environment: [String: String] = LocalSystem.libpqEnvironment(),
        osUser: String? = nil,
        homeDirectory: String? = nil
    ) throws(ConfigurationError) -> ConnectionConfiguration {
        // libpq 15 takes the home directory from $HOME, and from the password database only
        // when HOME is unset or empty; the user name always comes from the password database.
        let homeFromEnvironment = homeDirectory ?? environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
        let system: Result<(name: String, home: String), ConfigurationError>? =
            (osUser == nil || homeFromEnvironment == nil) ? LocalSystem.effectiveUser() : nil
        let home = homeFromEnvironment ?? (try? system?.get().home)
        let defaultUser = osUser ?? (try? system?.get().name)

        // The same inputs give the same configuration: a program that connects again and again
        // with one string (a pool, a benchmark) resolves it once. Everything parse reads is in
        // the key (the string, the environment, the user and home found, the default socket
        // directory); a service file is read again each time (not memoised).
        let memoKey = ParseMemo.Key(conninfo: conninfo, environment: environment, user: defaultUser, home: home,
                                    socketDirectory: LocalSystem.defaultSocketDirectory)
        if let cached = ParseMemo.shared.lookup(memoKey) { return cached }

        var opts = try ConninfoParser.parse(conninfo)
        let usesService = opts["service"] != nil || environment["PGSERVICE"] != nil
        try ServiceFile.apply(to: &opts, environment: environment, homeDirectory: home)

        // conninfo_add_defaults
        var sslModeDefaulted = false
        for option in ConninfoOptions.all where opts[option.keyword] == nil {
            if let variable = option.environmentVariable, let value = environment[variable] {
                opts[option.keyword] = value
                continue
            }
            if option.keyword == "sslmode", let requireSSL = environment["PGREQUIRESSL"],
                requireSSL.utf8.first == UInt8(ascii: "1")
            {
                opts["sslmode"] = "require"
                continue
            }
            if let compiled = option.compiledDefault {
                if option.keyword == "sslmode" { sslModeDefaulted = true }
                opts[option.keyword] = compiled
                continue
            }
            if option.keyword == "user", let defaultUser {
                opts["user"] = defaultUser
            }
        }
        // libpq 16: sslrootcert=system makes verify-full the default sslmode.
        if sslModeDefaulted && opts["sslrootcert"] == "system" { opts["sslmode"] = "verify-full" }

        let configuration = try resolve(opts, environment: environment, defaultUser: defaultUser, system: system, home: home,
                                        socketDirectory: memoKey.socketDirectory)
        if !usesService { ParseMemo.shared.store(memoKey, configuration) }
        return configuration
    }

    /// The configuration parsed last, with what it was parsed from.
    final class ParseMemo: @unchecked Sendable {
        static let shared = ParseMemo()

        struct Key: Equatable {
            let conninfo: String
            let environment: [String: String]
            let user: String?
            let home: String?
            let socketDirectory: String
        }

        private let lock = NSLock()
        private var last: (key: Key, configuration: ConnectionConfiguration)?

        func lookup(_ key: Key) -> ConnectionConfiguration? {
            lock.withLock { last.flatMap { $0.key == key ? $0.configuration : nil } }
        }

        func store(_ key: Key, _ configuration: ConnectionConfiguration) {
            lock.withLock { last = (key, configuration) }
        }
    }

    /// connectOptions2 and the checks libpq makes while connecting.
    private static func resolve(
        _ opts: [String: String], environment: [String: String], defaultUser: String?,
        system: Result<(name: String, home: String), ConfigurationError>?, home: String?, socketDirectory: String
    ) throws(ConfigurationError) -> ConnectionConfiguration {
        func nonEmpty(_ key: String) -> String? {
            guard let v = opts[key], !v.isEmpty else { return nil }
            return v
        }
        func splitList(_ s: String) -> [String] {
            s.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }

        // Hosts.
        let hostaddrList = nonEmpty("hostaddr").map(splitList)
        let hostList = nonEmpty("host").map(splitList)
        let count = hostaddrList?.count ?? hostList?.count ?? 1
        if let hostList, hostList.count != count {
            throw ConfigurationError("could not match \(hostList.count) host names to \(count) hostaddr values")
        }
        var portStrings = [String](repeating: "", count: count)
        if let portList = nonEmpty("port").map(splitList) {
            if portList.count == 1 {
                portStrings = [String](repeating: portList[0], count: count)
            } else if portList.count == count {
                portStrings = portList
            } else {
                throw ConfigurationError("could not match \(portList.count) port numbers to \(count) hosts")
            }
        }

        // User and database.
        var user = opts["user"] ?? ""
        if user.isEmpty {
            if let defaultUser {
                user = defaultUser
            } else if case .failure(let error)? = system {
                throw error
            } else {
                throw ConfigurationError("local user with ID \(geteuid()) does not exist")
            }
        }
        let database = nonEmpty("dbname") ?? user

        // Enumerated options.
        let channelBinding = try enumValue(opts["channel_binding"] ?? "prefer", option: "channel_binding", as: ChannelBinding.self)
        let sslMode = try enumValue(opts["sslmode"] ?? "prefer", option: "sslmode", as: SSLMode.self)
        let sslNegotiation = try enumValue(opts["sslnegotiation"] ?? "postgres", option: "sslnegotiation", as: SSLNegotiation.self)
        if sslNegotiation == .direct && ![.require, .verifyCA, .verifyFull].contains(sslMode) {
            throw ConfigurationError("weak sslmode \"\(sslMode.rawValue)\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")")
        }
        if opts["sslrootcert"] == "system" && sslMode != .verifyFull {
            throw ConfigurationError("weak sslmode \"\(sslMode.rawValue)\" may not be used with sslrootcert=system (use \"verify-full\")")
        }
        let minVersion = opts["ssl_min_protocol_version"]
        let maxVersion = opts["ssl_max_protocol_version"]
        for (name, value) in [("ssl_min_protocol_version", minVersion), ("ssl_max_protocol_version", maxVersion)] {
            if let value, !isValidTLSVersion(value) {
                throw ConfigurationError("invalid \(name) value: \"\(value)\"")
            }
        }
        if !isValidTLSRange(min: minVersion, max: maxVersion) {
            throw ConfigurationError("invalid SSL protocol version range")
        }
        let gssEncMode = opts["gssencmode"] ?? "prefer"
        guard ["disable", "prefer", "require"].contains(gssEncMode) else {
            throw ConfigurationError("invalid gssencmode value: \"\(gssEncMode)\"")
        }
        if gssEncMode == "require" {
            throw ConfigurationError("gssencmode value \"require\" invalid when GSSAPI support is not compiled in")
        }
        let targetSessionAttributes = try enumValue(
            opts["target_session_attrs"] ?? "any", option: "target_session_attrs", as: TargetSessionAttributes.self)

        let loadBalanceHosts = try enumValue(
            opts["load_balance_hosts"] ?? "disable", option: "load_balance_hosts", as: LoadBalanceHosts.self)
        var statementCacheSize: Int? = nil
        if let text = nonEmpty("statement_cache_size") {
            guard let size = Int(text), size >= 0 else {
                throw ConfigurationError("invalid statement_cache_size value: \"\(text)\"")
            }
            statementCacheSize = size
        }

        var clientEncoding = nonEmpty("client_encoding") ?? "UTF8"
        if clientEncoding == "auto" {
            clientEncoding = LocalSystem.encodingFromLocale(environment: environment)
        }

        // Hosts, now with their ports.
        var hosts: [Host] = []
        for i in 0..<count {
            let hostaddr = hostaddrList.map { $0[i] }.flatMap { $0.isEmpty ? nil : $0 }
            var hostName = hostList.map { $0[i] } ?? ""
            let portText = portStrings[i]
            var port = 5432
            if !portText.isEmpty {
                port = try LibpqNumber.parseInt(portText, option: "port")
                guard (1...65535).contains(port) else {
                    throw ConfigurationError("invalid port number: \"\(portText)\"")
                }
            }
            let endpoint: Endpoint
            if let hostaddr {
                if let problem = LocalSystem.numericAddressError(hostaddr) {
                    throw ConfigurationError("could not parse network address \"\(hostaddr)\": \(problem)")
                }
                endpoint = .tcp(host: hostaddr, port: port)
            } else if !hostName.isEmpty {
                endpoint = isUnixSocketPath(hostName)
                    ? .unixSocket(path: socketPath(directory: hostName, port: port)) : .tcp(host: hostName, port: port)
            } else {
                hostName = socketDirectory
                endpoint = .unixSocket(path: socketPath(directory: socketDirectory, port: port))
            }
            if case .unixSocket(let path) = endpoint, path.utf8.count >= 108 {
                throw ConfigurationError("Unix-domain socket path \"\(path)\" is too long (maximum 107 bytes)")
            }
            hosts.append(Host(host: hostName, hostaddr: hostaddr, port: port, endpoint: endpoint))
        }

        // Timeouts and keepalives.
        var connectTimeout: Double? = nil
        if let text = opts["connect_timeout"] {
            let seconds = try LibpqNumber.parseInt(text, option: "connect_timeout")
            if seconds > 0 { connectTimeout = Double(max(seconds, 2)) }
        }
        var keepalives = true
        if let text = opts["keepalives"] {
            guard let on = LibpqNumber.parseKeepalives(text) else {
                throw ConfigurationError("keepalives parameter must be an integer")
            }
            keepalives = on
        }
        func optionalInt(_ key: String) throws(ConfigurationError) -> Int? {
            guard let text = opts[key] else { return nil }
            return try LibpqNumber.parseInt(text, option: key)
        }
        let keepalivesIdle = try optionalInt("keepalives_idle")
        let keepalivesInterval = try optionalInt("keepalives_interval")
        let keepalivesCount = try optionalInt("keepalives_count")
        let tcpUserTimeout = try optionalInt("tcp_user_timeout")

        let passfile = nonEmpty("passfile") ?? home.map { $0 + "/.pgpass" }

        // raw: everything resolved, secrets left out.
        var raw = opts
        for secret in ConninfoOptions.secretKeywords { raw[secret] = nil }
        raw["user"] = user
        raw["dbname"] = database
        raw["client_encoding"] = clientEncoding
        if let passfile { raw["passfile"] = passfile }
        if hostList == nil && hostaddrList == nil { raw["host"] = socketDirectory }

        return ConnectionConfiguration(
            hosts: hosts,
            user: user,
            password: nonEmpty("password"),
            database: database,
            applicationName: opts["application_name"],
            fallbackApplicationName: opts["fallback_application_name"],
            options: nonEmpty("options"),
            connectTimeout: connectTimeout,
            passfile: passfile,
            sslMode: sslMode,
            sslNegotiation: sslNegotiation,
            sslCert: opts["sslcert"],
            sslKey: opts["sslkey"],
            sslRootCert: opts["sslrootcert"],
            sslCRL: opts["sslcrl"],
            sslCRLDir: opts["sslcrldir"],
            sslPassword: opts["sslpassword"],
            sslSNI: (opts["sslsni"] ?? "1").utf8.first == UInt8(ascii: "1"),
            sslCompression: (opts["sslcompression"] ?? "0").utf8.first == UInt8(ascii: "1"),
            sslMinProtocolVersion: minVersion,
            sslMaxProtocolVersion: maxVersion,
            requirePeer: opts["requirepeer"],
            channelBinding: channelBinding,
            gssEncMode: gssEncMode,
            krbsrvname: opts["krbsrvname"],
            gsslib: opts["gsslib"],
            service: opts["service"],
            targetSessionAttributes: targetSessionAttributes,
            loadBalanceHosts: loadBalanceHosts,
            statementCacheSize: statementCacheSize,
            keepalives: keepalives,
            keepalivesIdle: keepalivesIdle,
            keepalivesInterval: keepalivesInterval,
            keepalivesCount: keepalivesCount,
            tcpUserTimeout: tcpUserTimeout,
            replication: opts["replication"],
            clientEncoding: clientEncoding,
            raw: raw,
            defaultSocketDirectory: socketDirectory,
            homeDirectory: home
        )
    }

    private static func enumValue<E: RawRepresentable>(
        _ value: String, option: String, as: E.Type
    ) throws(ConfigurationError) -> E where E.RawValue == String {
        guard let result = E(rawValue: value) else {
            throw ConfigurationError("invalid \(option) value: \"\(value)\"")
        }
        return result
    }

    /// libpq's is_unixsock_path: an absolute path, or `@` for an abstract socket.
    static func isUnixSocketPath(_ host: String) -> Bool {
        host.hasPrefix("/") || host.hasPrefix("@")
    }

    static func socketPath(directory: String, port: Int) -> String {
        "\(directory)/.s.PGSQL.\(port)"
    }

    private static let tlsVersions = ["tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"]

    static func isValidTLSVersion(_ version: String) -> Bool {
        version.isEmpty || tlsVersions.contains(version.lowercased())
    }

    static func isValidTLSRange(min: String?, max: String?) -> Bool {
        guard let min, let max, !min.isEmpty, !max.isEmpty else { return true }
        let lo = min.lowercased(), hi = max.lowercased()
        if lo == "tlsv1" { return true }
        if hi == "tlsv1" { return false }
        return lo <= hi
    }

    // MARK: - Password file

    /// libpq's passwordFromFile: the password for `host` from the password file, or nil. Call at
    /// connect time when `password` is nil. `warn` receives libpq's warnings about an unsafe or
    /// non-regular file (which is then ignored).
    public func passwordFromPassFile(for host: Host, warn: (String) -> Void = { _ in }) -> String? {
        guard let passfile, !passfile.isEmpty else { return nil }
        var hostname = host.host.isEmpty ? (host.hostaddr ?? "") : host.host
        if hostname.isEmpty {
            hostname = "localhost"
        } else if Self.isUnixSocketPath(hostname) && hostname == defaultSocketDirectory {
            // 'localhost' matches the default socket directory.
            hostname = "localhost"
        }
        return PassFile.lookup(
            path: passfile, hostname: hostname, port: String(host.port), database: database, user: user, warn: warn)
    }

    // MARK: - Display

    /// A connection string with every resolved option; the password and SSL key passphrase show as
    /// `********`.
    public var description: String {
        var entries = raw.filter { !ConninfoOptions.secretKeywords.contains($0.key) }
        if password != nil { entries["password"] = "********" }
        if sslPassword != nil { entries["sslpassword"] = "********" }
        let order = ConninfoOptions.order
        return entries
            .sorted { (order[$0.key] ?? Int.max, $0.key) < (order[$1.key] ?? Int.max, $1.key) }
            .map { "\($0.key)=\(Self.quoted($0.value))" }
            .joined(separator: " ")
    }

    public var debugDescription: String {
        "ConnectionConfiguration(\(description); hosts: \(hosts.map(\.description).joined(separator: ", ")))"
    }

    /// Quotes a value for a key=value connection string when needed.
    static func quoted(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.utf8.contains { ConninfoParser.isCSpace($0) || $0 == UInt8(ascii: "'") || $0 == UInt8(ascii: "\\") }
        guard needsQuotes else { return value }
        var out = "'"
        for ch in value {
            if ch == "'" || ch == "\\" { out.append("\\") }
            out.append(ch)
        }
        return out + "'"
    }
}
