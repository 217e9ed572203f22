import ArgumentParser
import Foundation
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
