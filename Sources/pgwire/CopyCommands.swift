import ArgumentParser
import Foundation
import PostgresWire

/// `pgwire copy-in`: feed a file (or stdin) to `COPY … FROM STDIN`, like psql's \copy … from.
struct CopyInCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy-in",
        abstract: "Run a COPY … FROM STDIN statement with data from a file or standard input.",
        discussion: "Prints the COPY tag (\"COPY n\") like psql. Exit status as `pgwire query`."
    )

    @OptionGroup var target: ConnectionArguments

    @Option(name: .long, help: "Read the data from FILE instead of standard input.")
    var file: String?

    @Argument(help: "The COPY statement, e.g. \"COPY t FROM STDIN (FORMAT csv)\".")
    var sql: String

    func run() throws {
        let connection = try target.connect()
        defer { connection.close() }
        let fd: Int32 = try file.map { path in
            let fd = open(path, O_RDONLY)
            if fd < 0 { throw ValidationError("cannot open \(path): \(String(cString: strerror(errno)))") }
            return fd
        } ?? 0
        defer { if file != nil { close(fd) } }
        do {
            let rows = try connection.copyIn(sql) { writer in
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw ValidationError("read failed: \(String(cString: strerror(errno)))")
                    }
                    if n == 0 { break }
                    try writer.write(buffer[0..<n])
                }
            }
            print("COPY \(rows)")
        } catch {
            throw reportQueryError(error, query: sql, connection: connection)
        }
    }
}

/// `pgwire copy-out`: write what `COPY … TO STDOUT` produces to a file or standard output.
struct CopyOutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy-out",
        abstract: "Run a COPY … TO STDOUT statement and write its data to a file or standard output."
    )

    @OptionGroup var target: ConnectionArguments

    @Option(name: .long, help: "Write the data to FILE instead of standard output (then print \"COPY n\").")
    var file: String?

    @Argument(help: "The COPY statement, e.g. \"COPY t TO STDOUT (FORMAT csv, HEADER)\".")
    var sql: String

    func run() throws {
        let connection = try target.connect()
        defer { connection.close() }
        let fd: Int32 = try file.map { path in
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            if fd < 0 { throw ValidationError("cannot open \(path): \(String(cString: strerror(errno)))") }
            return fd
        } ?? 1
        let out = OutputBuffer(fd: fd)
        do {
            let rows = try connection.copyOut(sql) { chunk in out.write(bytes: chunk) }
            out.flush()
            if file != nil {
                close(fd)
                print("COPY \(rows)")
            }
        } catch {
            out.flush()
            throw reportQueryError(error, query: sql, connection: connection)
        }
    }
}

/// Prints a query's error like `pgwire query` and returns the exit code to throw.
func reportQueryError(_ error: Error, query: String, connection: Connection) -> ExitCode {
    let stderr = FileHandle.standardError
    if let error = error as? PostgresError {
        if let serverError = error.serverError, case .server = error {
            stderr.write(Data(formatDiagnostic(serverError, query: query, includeSQLState: true, isError: true).utf8))
            return ExitCode(connection.isClosed ? 2 : 1)
        }
        stderr.write(Data("pgwire: error: \(error.message)\n".utf8))
        if case .invalidUsage = error { return ExitCode(1) }
        return ExitCode(2)
    }
    stderr.write(Data("pgwire: error: \(error)\n".utf8))
    return ExitCode(1)
}
