import ArgumentParser
import Foundation
import PostgresWire

/// `pgwire copy-in`: feed a file (or stdin) to `COPY … FROM STDIN`, like psql's \copy … from.
struct CopyInCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy-in",
        abstract: "Run a COPY … FROM STDIN statement with data from a file or standard input.",
        discussion: """
            Prints the COPY tag (\"COPY n\") like psql. Exit status as `pgwire query`. Ctrl-C ends \
            the COPY as psql does (the server reports 57014, exit status 1). On a terminal, stderr \
            shows the lines and bytes sent so far.
            """
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
        let stdout = OutputBuffer(fd: 1)
        let interrupt = Interrupts.shared.cancelOnInterrupt(connection)
        defer { interrupt.release() }
        let progress = ProgressLine(label: "copy-in", rowWord: "lines")
        do {
            let rows = try connection.copyIn(sql) { writer in
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    // Ctrl-C ends the data (psql sends CopyFail "canceled by user"; the server reports 57014).
                    guard waitReadableOrInterrupted(fd) else { throw PostgresError.copyAborted("canceled by user") }
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw PostgresError.copyAborted("could not read COPY data: \(String(cString: strerror(errno)))")
                    }
                    if n == 0 { break }
                    try writer.write(buffer[0..<n])
                    progress.add(rows: progress.isEnabled ? buffer.withUnsafeBytes { countNewlines(UnsafeRawBufferPointer(rebasing: $0[0..<n])) } : 0, bytes: n)
                }
            }
            progress.finish()
            stdout.write("COPY \(rows)\n")
        } catch {
            progress.finish()
            throw reportQueryError(error, query: sql, connection: connection)
        }
        try stdout.finish()
    }
}

/// `pgwire copy-out`: write what `COPY … TO STDOUT` produces to a file or standard output.
struct CopyOutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy-out",
        abstract: "Run a COPY … TO STDOUT statement and write its data to a file or standard output.",
        discussion: """
            A failed write (e.g. a full disk) is reported as psql reports it (\"could not write COPY \
            data: No space left on device\", exit status 1) and cancels the COPY. Ctrl-C cancels \
            the COPY as psql does (57014, exit status 1). On a terminal, stderr shows the rows and \
            bytes received so far.
            """
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
        let out = OutputBuffer(fd: fd, what: "could not write COPY data")
        let stdout = OutputBuffer(fd: 1)
        let interrupt = Interrupts.shared.cancelOnInterrupt(connection)
        defer { interrupt.release() }
        let progress = ProgressLine(label: "copy-out")
        var rows = 0
        do {
            rows = try connection.copyOut(sql) { chunk in
                out.write(bytes: chunk)
                progress.add(rows: 1, bytes: chunk.count)
                if out.failure != nil {
                    // psql reads the rest of the data and drops it; a CancelRequest spares the
                    // server (and us) that work. The data still in flight is drained and dropped.
                    try? connection.cancel()
                    throw CopyOutWriteFailed()
                }
            }
            progress.finish()
        } catch is CopyOutWriteFailed {
            progress.finish()
        } catch {
            progress.finish()
            out.flush()
            if file != nil { close(fd) }
            throw reportQueryError(error, query: sql, connection: connection)
        }
        out.flush()
        if file != nil && close(fd) != 0 && out.failure == nil {
            // A file system may report a failed write only when the file is closed.
            writeStderr("could not write COPY data: \(String(cString: strerror(errno)))\n")
            throw ExitCode(1)
        }
        try out.finish()
        if file != nil { stdout.write("COPY \(rows)\n") }
        try stdout.finish()
    }
}

/// Thrown from the copy-out body once a write failed (the failure itself is in the OutputBuffer).
private struct CopyOutWriteFailed: Error {}

/// Prints a query's error like `pgwire query` and returns the exit code to throw.
func reportQueryError(_ error: Error, query: String, connection: Connection) -> ExitCode {
    reportQueryError(error, query: query, connectionLost: connection.isClosed)
}

/// Prints an error of a command that runs SQL, as `pgwire query` does: a server error with its
/// SQLSTATE (exit status 1, or 2 when the server ended the session), a refused call (1), a lost
/// connection (2).
func reportQueryError(_ error: Error, query: String, connectionLost: Bool) -> ExitCode {
    Interrupts.shared.settle()
    if let error = error as? PostgresError {
        if let serverError = error.serverError, case .server = error {
            writeStderr(formatDiagnostic(serverError, query: query, includeSQLState: true, isError: true))
            return ExitCode(connectionLost ? 2 : 1)
        }
        writeStderr("pgwire: error: \(error.message)\n")
        if case .invalidUsage = error { return ExitCode(1) }
        return ExitCode(2)
    }
    writeStderr("pgwire: error: \(error)\n")
    return ExitCode(1)
}
