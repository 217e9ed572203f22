import ArgumentParser
import Foundation
import Logging
import PostgresWire

/// The connection options every subcommand takes, as psql names them.
struct ConnectionArguments: ParsableArguments {
    @Option(name: .long, help: "Connection string: a postgresql:// URI or key=value pairs.")
    var dsn: String = ""

    @Option(name: [.customShort("h"), .long], help: "Database server host or socket directory.")
    var host: String?

    @Option(name: [.customShort("p"), .long], help: "Database server port.")
    var port: String?

    @Option(name: [.customShort("U"), .long], help: "Database user name.")
    var username: String?

    @Option(name: [.customShort("d"), .long], help: "Database name.")
    var dbname: String?

    @Option(name: .long, help: ArgumentHelp(
        "Log the driver's events to stderr from this level up: trace, debug (each statement), info, notice, warning, error, critical. Default: no log.",
        valueName: "level"))
    var logLevel: LogLevel?

    enum LogLevel: String, ExpressibleByArgument, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    /// The driver's logger for `--log-level` (swift-log's stream handler on stderr), nil without it.
    func logger() -> Logger? {
        guard let logLevel, let level = Logger.Level(rawValue: logLevel.rawValue) else { return nil }
        var logger = Logger(label: "pgwire") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = level
        return logger
    }

    /// The conninfo string: --dsn, then -h/-p/-U/-d (which win, as in psql), and pgwire as the
    /// fallback application_name.
    func conninfo() -> String {
        // A URI cannot be followed by key=value pairs.
        if dsn.hasPrefix("postgres://") || dsn.hasPrefix("postgresql://") { return dsn }
        var parts = dsn.isEmpty ? [] : [dsn]
        func add(_ key: String, _ value: String?) {
            guard let value else { return }
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            parts.append("\(key)='\(escaped)'")
        }
        add("host", host)
        add("port", port)
        add("user", username)
        add("dbname", dbname)
        if !dsn.contains("application_name") { parts.append("fallback_application_name=pgwire") }
        return parts.joined(separator: " ")
    }

    /// Connects, or prints psql's style of error and exits 2.
    func connect(options: ConnectionOptions = ConnectionOptions()) throws -> Connection {
        var options = options
        if options.logger == nil { options.logger = logger() }
        do {
            return try Connection.connect(conninfo(), options: options)
        } catch {
            FileHandle.standardError.write(Data("pgwire: error: \(describeConnectError(error))\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// The library's own text for the error (`PostgresError.description`: for a refused connection the
/// server's address, severity, SQLSTATE and message), so that the CLI and the API read the same.
func describeConnectError(_ error: PostgresError) -> String {
    error.description
}
