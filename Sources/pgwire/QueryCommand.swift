import ArgumentParser
import Foundation
import PostgresWire

/// `pgwire query`: run SQL like `psql -X -c` and print the results in one of psql's formats.
struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Run SQL (simple query protocol) and print the results like psql.",
        discussion: """
            Without --dsn, connection settings come from the PG* environment variables, ~/.pgpass and \
            libpq's defaults, as with psql. Exit status: 0 on success, 1 when the server reports an \
            SQL error, 2 when connecting or authenticating fails.
            """
    )

    @OptionGroup var target: ConnectionArguments

    @Option(name: .long, help: "Output format: aligned (psql's default), csv (psql --csv) or unaligned (psql -A).")
    var format: String = "aligned"

    @Option(name: .long, help: ArgumentHelp("Write every protocol message of the session to FILE, in libpq's PQtrace format.", valueName: "FILE"))
    var trace: String?

    @Flag(name: .long, help: "Use the extended protocol and request every result column in binary format (where the type has a binary codec), then render it as the server's text output would be. The output is the same as without --binary.")
    var binary = false

    @Option(name: .customLong("param"), help: "A value for $1, $2, … (repeatable), sent as a text-format parameter with the extended protocol.")
    var params: [String] = []

    @Argument(parsing: .allUnrecognized, help: "The SQL to run; several statements separated by semicolons are allowed.")
    var sqlArguments: [String] = []

    /// The SQL text (it may begin with "-", as a comment does).
    var sql: String { sqlArguments.joined(separator: " ") }

    func validate() throws {
        try rejectUnknownOptions(sqlArguments, of: Self.self)
        guard sqlArguments.count == 1 else {
            throw ValidationError(sqlArguments.isEmpty ? "Missing expected argument '<sql>'" : "Expected one SQL argument, got \(sqlArguments.count): \(sqlArguments.joined(separator: " "))")
        }
        guard OutputFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be one of: aligned, csv, unaligned")
        }
    }

    func run() throws {
        // How much of one statement's output is held in memory before the rest spills to a
        // temporary file (bytes; for tests of the spilling and for machines short of memory).
        if let limit = ProcessInfo.processInfo.environment["PGWIRE_RESULT_MEMORY_LIMIT"].flatMap({ Int($0) }), limit >= 0 {
            SpoolBuffer.memoryLimit = limit
        }
        let stdout = OutputBuffer(fd: 1)
        let stderr = OutputBuffer(fd: 2)
        // Failed writes of the output or the trace are reported as psql does (exit status 1).
        let exitCode = finishOutput(execute(stdout: stdout, stderr: stderr), stdout: stdout, stderr: stderr)
        if exitCode != 0 { throw ExitCode(exitCode) }
    }

    func execute(stdout: OutputBuffer, stderr: OutputBuffer) -> Int32 {
        let connection: Connection
        let tracer: PQTraceWriter?
        do {
            tracer = try trace.map { path throws(PostgresError) in try TraceFiles.shared.open(path) }
        } catch {
            stderr.write("pgwire: error: \(error.message)\n")
            return 2
        }
        defer { tracer?.output.close() }
        // One statement per process: the unnamed statement only, so a run through PgBouncer in
        // transaction mode never meets (or binds to) another client's named statement.
        var options = ConnectionOptions(statementCacheMode: .unnamed)
        if binary {
            options.binaryResultTypes = { @Sendable (type: PostgresDataType) -> Bool in PostgresTextRenderer.supportsBinary(type) }
        } else {
            options.binaryResultTypes = BinaryResultTypes.none
        }
        options.logger = target.logger()
        do {
            connection = try Connection.connect(target.conninfo(), options: options, tracer: tracer)
        } catch {
            stderr.write("pgwire: error: \(describeConnectError(error))\n")
            return 2
        }
        defer { connection.close() }
        // Ctrl-C cancels the running query, as in psql (the query then fails with 57014).
        let interrupt = Interrupts.shared.cancelOnInterrupt(connection)
        defer { interrupt.release() }
        let query = sql
        connection.noticeHandler = { notice in
            let text = formatDiagnostic(notice, query: query, includeSQLState: false, isError: false)
            writeStderr(text)
        }

        let printer: ResultPrinter
        switch OutputFormat(rawValue: format)! {
        case .csv: printer = CSVPrinter(out: stdout)
        case .unaligned: printer = UnalignedPrinter(out: stdout)
        case .aligned: printer = AlignedPrinter(out: stdout)
        }
        do {
            if binary || !params.isEmpty {
                try runExtended(connection, printer: printer, stdout: stdout)
                return 0
            }
            try runSimple(connection, sql, printer: printer, stdout: stdout)
        } catch let error as PostgresError {
            Interrupts.shared.settle()  // "Cancel request sent" comes first
            stdout.flush()
            if case .server(let serverError) = error {
                stderr.write(formatDiagnostic(serverError, query: sql, includeSQLState: true, isError: true))
                if connection.isClosed {
                    // The server ended the session (FATAL): psql reports the lost connection and exits 2.
                    stderr.write("server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.\nconnection to server was lost\n")
                    return 2
                }
                return 1
            }
            stderr.write("pgwire: error: \(error.message)\n")
            // A query the driver refused to send (e.g. a wrong parameter count) is an SQL error;
            // a connection lost mid-query is psql's exit status 2.
            if case .invalidUsage = error { return 1 }
            return 2
        } catch {
            stderr.write("pgwire: error: \(error)\n")
            return 1
        }
        return 0
    }


    /// The simple-protocol path: the whole string in one Query message, as psql -c sends it.
    /// Each COPY … FROM STDIN of the string reads standard input as psql does.
    private func runSimple(_ connection: Connection, _ sql: String, printer: ResultPrinter, stdout: OutputBuffer) throws {
        var hadRows = false
        var copiedOut = false
        let copyIn = { (response: CopyResponse, writer: CopyInWriter) throws in
            try StandardInput.shared.copy(to: writer, binary: response.overallFormat != 0)
        }
        try connection.simpleQuery(sql, copyIn: copyIn) { event in
            switch event {
            case .columns(let columns):
                hadRows = true
                printer.begin(columns: columns)
            case .row(let row):
                printer.row(row)
            case .commandComplete(let complete):
                // psql prints no status line after COPY … TO STDOUT.
                if !copiedOut { try printer.end(tag: complete.tag, hadRows: hadRows) }
                hadRows = false
                copiedOut = false
            case .emptyQuery:
                break
            case .copyOut:
                copiedOut = true
            case .copyData(let data):
                stdout.write(bytes: data)
            }
        }
    }

    /// The extended-protocol path (--binary, --param): each statement of the string is parsed,
    /// bound and executed in turn; binary columns are rendered back to the server's text form.
    private func runExtended(_ connection: Connection, printer: ResultPrinter, stdout: OutputBuffer) throws {
        func currentSettings() throws -> PostgresSessionSettings {
            // extra_float_digits and bytea_output change text output but are not reported by the server.
            let shown = try connection.simpleQuery("SELECT current_setting('extra_float_digits'), current_setting('bytea_output')")
            let row = shown.first?.rows.first
            return PostgresSessionSettings(parameters: connection.parameters, extraFloatDigits: Int(row?[0] ?? "1") ?? 1,
                                           byteaOutput: row?[1] ?? "hex")
        }
        var settings = binary ? try currentSettings() : PostgresSessionSettings(parameters: connection.parameters)
        let statements = params.isEmpty ? SQLStatements.split(sql) : [sql]
        for statement in statements {
            if params.isEmpty && SQLStatements.isCopy(statement) {
                // COPY streams CopyData, which the extended path does not print: send it as psql would.
                try runSimple(connection, statement, printer: printer, stdout: stdout)
                continue
            }
            var bindings = PostgresBindings()
            for p in params { bindings.appendText(p) }
            var begun = false
            let outcome = try connection.query(PostgresQuery(unsafeSQL: statement, bindings: bindings)) { row in
                if !begun {
                    printer.begin(columns: row.columns)
                    begun = true
                }
                let values = try row.textValues(settings: settings)
                printer.row(values)
            }
            if !begun, let columns = outcome.columns { printer.begin(columns: columns) }
            try printer.end(tag: outcome.commandTag, hadRows: outcome.columns != nil)
            // SET, RESET and DISCARD change the settings that rendering follows.
            if binary && ["SET", "RESET", "DISCARD ALL"].contains(outcome.commandTag) { settings = try currentSettings() }
        }
    }

}

/// Standard input as the data of COPY … FROM STDIN, read the way psql reads it: in text and CSV
/// formats line by line up to a line that is exactly `\.` (which is sent too, and ends the data)
/// or the end of input, so that the next COPY of the same string reads on from there; in binary
/// format everything up to the end of input.
final class StandardInput {
    nonisolated(unsafe) static let shared = StandardInput(fd: 0)

    private let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    static let readSize = 64 * 1024

    init(fd: Int32) { self.fd = fd }

    struct ReadError: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads more input into the buffer; false at the end of input.
    private func fill() throws -> Bool {
        if atEnd { return false }
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: Self.readSize))
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress! + old, Self.readSize) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                let reason = String(cString: strerror(errno))
                buffer.removeSubrange(old...)
                throw ReadError(description: "could not read COPY data from standard input: \(reason)")
            }
            buffer.removeSubrange((old + n)...)
            if n == 0 { atEnd = true }
            return n > 0
        }
    }

    func copy(to writer: CopyInWriter, binary: Bool) throws {
        if binary {
            while true {
                if start < buffer.count {
                    try writer.write(buffer[start...])
                    start = buffer.count
                }
                if try !fill() { return }
            }
        }
        var atLineBegin = true
        while true {
            if let newline = buffer[start...].firstIndex(of: 10) {
                let line = buffer[start...newline]
                try writer.write(line)
                start = newline + 1
                if atLineBegin && (line.elementsEqual([92, 46, 10]) || line.elementsEqual([92, 46, 13, 10])) { return }
                atLineBegin = true
                continue
            }
            // No complete line buffered: pass on a long partial line (keeping 3 bytes, so that an
            // end marker at a line start is never split), then read more.
            if buffer.count - start > Self.readSize {
                let end = buffer.count - 3
                try writer.write(buffer[start..<end])
                start = end
                atLineBegin = false
            }
            if try !fill() {
                if start < buffer.count {
                    try writer.write(buffer[start...])
                    start = buffer.count
                }
                return
            }
        }
    }
}
