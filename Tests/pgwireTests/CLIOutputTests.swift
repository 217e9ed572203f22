// Output that must not be lost without a word (failed writes), Ctrl-C in every command that runs
// SQL, and the CLI's option handling, each compared with psql where psql has the same case.

import Foundation
import PostgresWire
import Testing
import TestSupport

/// `'text'` for /bin/sh.
private func shellQuote(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Runs `executable arguments > target` through /bin/sh (e.g. target /dev/full: every write fails with ENOSPC).
private func runRedirected(_ executable: String, _ arguments: [String], stdoutTo target: String,
                           environment: [String: String]) throws -> ProcessResult {
    let command = ([executable] + arguments).map(shellQuote).joined(separator: " ") + " > " + shellQuote(target)
    return try runProcess("/bin/sh", ["-c", command], environment: environment, timeout: 120)
}

private func psqlPath(_ server: TestServer) -> String {
    let candidate = server.binDirectory + "/psql"
    return access(candidate, X_OK) == 0 ? candidate : "/usr/bin/psql"
}

/// The first value of a one-row query, through the driver.
private func scalar(_ sql: String) throws -> String? {
    let connection = try Connection.connect(try CLIFixture.server().dsn())
    defer { connection.close() }
    return try connection.simpleQuery(sql).first?.rows.first?[0]
}

/// How many backends run with `application_name` (and, if given, in that state, with a last
/// statement like `query`).
private func backends(_ applicationName: String, state: String? = nil, query: String? = nil) -> Int {
    var condition = state.map { " AND state = '\($0)'" } ?? ""
    if let query { condition += " AND query LIKE '\(query)'" }
    let count = try? scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = '\(applicationName)'\(condition)")
    return count.flatMap { Int($0) } ?? -1
}

/// Waits up to `seconds` for `condition`.
@discardableResult
private func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.1)
    }
    return condition()
}

/// Runs `pgwire arguments`, and sends SIGINT once `ready` holds (then, with `twice`, again 1 s
/// later). Returns the result and the seconds from the first SIGINT to the exit.
private func runInterrupted(_ arguments: [String], environment: [String: String], twice: Bool = false,
                            ready: @escaping @Sendable () -> Bool) throws -> (ProcessResult, Double) {
    let sent = SentTime()
    let result = try runProcess(try PgwireBinary.path(), arguments, environment: environment, timeout: 60) { pid in
        Thread.detachNewThread {
            guard waitFor(20, ready) else { return }
            sent.mark()
            kill(pid, SIGINT)
            if twice {
                Thread.sleep(forTimeInterval: 1)
                kill(pid, SIGINT)
            }
        }
    }
    return (result, sent.secondsSince())
}

private final class SentTime: @unchecked Sendable {
    private let lock = NSLock()
    private var date: Date?
    func mark() { lock.withLock { date = Date() } }
    func secondsSince() -> Double { lock.withLock { date.map { Date().timeIntervalSince($0) } ?? .infinity } }
}

@Suite("pgwire: failed writes are reported, Ctrl-C cancels, options", .serialized)
struct CLIOutputTests {
    // MARK: Failed writes (psql: "could not write COPY data: …", "could not print result table: …", exit 1)

    @Test func copyOutToAFullDeviceFailsLikePsql() throws {
        let server = try CLIFixture.server()
        let env = server.environment()
        let sql = "COPY (SELECT g FROM generate_series(1, 100000) g) TO STDOUT"
        let psql = try runRedirected(psqlPath(server), ["-X", "-c", sql], stdoutTo: "/dev/full", environment: env)
        let stdout = try runRedirected(try PgwireBinary.path(), ["copy-out", sql], stdoutTo: "/dev/full", environment: env)
        #expect(psql.status == 1)
        #expect(stdout.status == psql.status, "\(stdout)")
        #expect(stdout.stderr == "could not write COPY data: No space left on device\n", "\(stdout)")
        #expect(psql.stderr == stdout.stderr)

        let file = try runPgwire(["copy-out", "--file", "/dev/full", sql], environment: env)
        #expect(file.status == 1, "\(file)")
        #expect(file.stderr == "could not write COPY data: No space left on device\n", "\(file)")
        #expect(!file.stdout.contains("COPY"), "no success tag after a failed write: \(file)")
    }

    @Test("query output to a full device, every format", arguments: [[], ["--format", "csv"], ["--format", "unaligned"]])
    func queryOutputToAFullDevice(_ format: [String]) throws {
        let server = try CLIFixture.server()
        let env = server.environment()
        let psqlFlags = format.isEmpty ? [] : (format[1] == "csv" ? ["--csv"] : ["-A"])
        for sql in ["SELECT 1", "SELECT g FROM generate_series(1, 100000) g"] {
            let psql = try runRedirected(psqlPath(server), ["-X"] + psqlFlags + ["-c", sql], stdoutTo: "/dev/full", environment: env)
            let ours = try runRedirected(try PgwireBinary.path(), ["query"] + format + [sql], stdoutTo: "/dev/full", environment: env)
            #expect(psql.status == 1)
            #expect(ours.status == psql.status, "\(sql): \(ours)")
            #expect(ours.stderr == "could not print result table: No space left on device\n", "\(sql): \(ours)")
            #expect(ours.stderr == psql.stderr)
        }
        // COPY … TO STDOUT through `pgwire query`.
        let copy = "COPY (SELECT 1) TO STDOUT"
        let psqlCopy = try runRedirected(psqlPath(server), ["-X", "-c", copy], stdoutTo: "/dev/full", environment: env)
        let ourCopy = try runRedirected(try PgwireBinary.path(), ["query"] + format + [copy], stdoutTo: "/dev/full", environment: env)
        #expect(ourCopy.status == psqlCopy.status, "\(ourCopy)")
        #expect(ourCopy.stderr == psqlCopy.stderr, "\(ourCopy)\n--- psql ---\n\(psqlCopy)")
    }

    @Test func listenOutputToAFullDevice() throws {
        let server = try CLIFixture.server()
        let env = server.environment()
        let sender = Thread {
            _ = waitFor(20) { backends("cli_listen_full", query: "LISTEN%") == 1 }
            _ = try? runPsql(server, ["-c", "NOTIFY cli_full_channel, 'x'"], environment: env)
        }
        sender.start()
        let result = try runRedirected(try PgwireBinary.path(),
                                       ["listen", "--dsn", "application_name=cli_listen_full", "--count", "1", "--timeout", "30", "cli_full_channel"],
                                       stdoutTo: "/dev/full", environment: env)
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr == "could not write notification: No space left on device\n", "\(result)")
    }

    @Test func traceFileWriteFailureIsReported() throws {
        let server = try CLIFixture.server()
        let result = try runPgwire(["query", "--trace", "/dev/full", "SELECT 1 AS x"], environment: server.environment())
        #expect(result.status == 1, "\(result)")
        #expect(result.stdout.contains("(1 row)"))
        #expect(result.stderr == "pgwire: error: could not write trace file \"/dev/full\": No space left on device\n", "\(result)")
    }

    @Test func traceFileIsCompleteWhenTheCommandEnds() throws {
        let server = try CLIFixture.server()
        let path = temporaryPath("cli-trace")
        defer { unlink(path) }
        let result = try runPgwire(["query", "--trace", path, "SELECT 1 AS x"], environment: server.environment())
        #expect(result.status == 0, "\(result)")
        let trace = try String(contentsOfFile: path, encoding: .utf8)
        #expect(trace.contains("\tTerminate"), "the last message is in the file when pgwire exits:\n\(trace)")
    }

    // MARK: pgwire trace

    /// Starts `pgwire trace` (stdout and stderr to pipes) and returns it with its port.
    private func startProxy(_ extra: [String]) throws -> (Process, Pipe, Pipe, Int) {
        let server = try CLIFixture.server()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try PgwireBinary.path())
        process.arguments = ["trace", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(server.port)", "--no-timestamps"] + extra
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        var text = ""
        while !text.contains("\n") {
            let data = err.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let match = text.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/), let port = Int(match.1) else {
            process.terminate()
            throw TestServerError("pgwire trace did not start: \(text)")
        }
        return (process, out, err, port)
    }

    @Test func traceProxyPrintsItsAddressOnStderrOnly() throws {
        let server = try CLIFixture.server()
        let (process, out, _, port) = try startProxy([])
        let psql = try runPsql(server, ["-d", "host=127.0.0.1 port=\(port) dbname=pgwire_test sslmode=disable", "-c", "SELECT 1"], environment: server.environment())
        #expect(psql.status == 0, "\(psql)")
        Thread.sleep(forTimeInterval: 0.5)
        process.terminate()
        process.waitUntilExit()
        let trace = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(trace.contains("\tQuery\t"), "\(trace)")
        #expect(!trace.contains("listening"), "\(trace)")
        #expect(process.terminationStatus == 0)
    }

    @Test func traceProxyStopsWhenTheTraceCannotBeWritten() throws {
        let server = try CLIFixture.server()
        let (process, _, err, port) = try startProxy(["--output", "/dev/full"])
        _ = try? runPsql(server, ["-d", "host=127.0.0.1 port=\(port) dbname=pgwire_test sslmode=disable", "-c", "SELECT 1"], environment: server.environment(), timeout: 30)
        let exited = waitFor(10) { !process.isRunning }
        if !exited { process.terminate() }
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(exited)
        #expect(process.terminationStatus == 1)
        #expect(stderr.contains("pgwire: error: could not write trace file \"/dev/full\": No space left on device"), "\(stderr)")
    }

    // MARK: Ctrl-C (psql: "Cancel request sent", the server's 57014, exit 1; the backend ends)

    @Test func controlCCancelsCopyOut() throws {
        let server = try CLIFixture.server()
        let name = "cli_sigint_copy_out"
        let path = temporaryPath("sigint-copy-out")
        defer { unlink(path) }
        let (result, seconds) = try runInterrupted(
            ["copy-out", "--dsn", "application_name=\(name)", "--file", path,
             "COPY (SELECT g, pg_sleep(0.001) FROM generate_series(1, 100000) g) TO STDOUT"],
            environment: server.environment()) { backends(name, state: "active") == 1 }
        #expect(result.status == 1, "\(result)")
        #expect(seconds < 10)
        #expect(result.stderr.hasPrefix("Cancel request sent\n"), "\(result)")
        #expect(result.stderr.contains("ERROR:  57014: canceling statement due to user request"), "\(result)")
        #expect(waitFor(10) { backends(name) == 0 })
    }

    @Test func controlCCancelsCopyOutWaitingForTheServer() throws {
        let server = try CLIFixture.server()
        let name = "cli_sigint_copy_out_sleep"
        let (result, seconds) = try runInterrupted(
            ["copy-out", "--dsn", "application_name=\(name)", "COPY (SELECT pg_sleep(30)) TO STDOUT"],
            environment: server.environment()) { backends(name, state: "active") == 1 }
        #expect(result.status == 1, "\(result)")
        #expect(seconds < 10)
        #expect(result.stderr == "Cancel request sent\nERROR:  57014: canceling statement due to user request\n", "\(result)")
        #expect(waitFor(10) { backends(name) == 0 })
    }

    @Test func controlCEndsCopyIn() throws {
        let server = try CLIFixture.server()
        let name = "cli_sigint_copy_in"
        #expect(try runPgwire(["query", "CREATE TABLE IF NOT EXISTS cli_sigint_in (a int)"], environment: server.environment()).status == 0)
        // A FIFO that stays open: the COPY waits for more data when Ctrl-C comes.
        let fifo = temporaryPath("sigint-fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        let writer = open(fifo, O_RDWR)
        defer { close(writer) }
        _ = write(writer, "1\n", 2)
        let (result, seconds) = try runInterrupted(
            ["copy-in", "--dsn", "application_name=\(name)", "--file", fifo, "COPY cli_sigint_in FROM STDIN"],
            environment: server.environment()) { backends(name, state: "active") == 1 }
        #expect(result.status == 1, "\(result)")
        #expect(seconds < 10)
        #expect(result.stderr.contains("ERROR:  57014: "), "\(result)")
        #expect(result.stderr.contains("canceled") || result.stderr.contains("canceling"), "\(result)")
        #expect(!result.stdout.contains("COPY"), "\(result)")
        #expect(waitFor(10) { backends(name) == 0 })
    }

    @Test func controlCEndsListen() throws {
        let server = try CLIFixture.server()
        let name = "cli_sigint_listen"
        let (result, seconds) = try runInterrupted(
            ["listen", "--dsn", "application_name=\(name)", "cli_sigint_channel"],
            environment: server.environment()) { backends(name, state: "idle", query: "LISTEN%") == 1 }
        #expect(result.status == 1, "\(result)")
        #expect(seconds < 10)
        #expect(result.stderr == "Cancel request sent\n", "\(result)")
        #expect(waitFor(10) { backends(name) == 0 })
    }

    @Test func controlCCancelsBench() throws {
        let server = try CLIFixture.server()
        let name = "cli_sigint_bench"
        let (result, seconds) = try runInterrupted(
            ["bench", "latency", "--dsn", "application_name=\(name)", "--query", "SELECT pg_sleep(30)", "--count", "3", "--warmup", "0"],
            environment: server.environment()) { backends(name, state: "active") == 1 }
        #expect(result.status == 1, "\(result)")
        #expect(seconds < 10)
        #expect(result.stderr == "Cancel request sent\nERROR:  57014: canceling statement due to user request\n", "\(result)")
        #expect(result.stdout.isEmpty)
        #expect(waitFor(10) { backends(name) == 0 })
    }

    @Test func controlCStopsABenchOfShortQueries() throws {
        let server = try CLIFixture.server()
        let name = "cli_sigint_bench_short"
        let (result, seconds) = try runInterrupted(
            ["bench", "throughput", "--dsn", "application_name=\(name)", "--connections", "2", "--duration", "60s", "--quiet"],
            environment: server.environment()) { backends(name, query: "SELECT 1") == 2 }
        #expect(result.status == 1, "\(result)")
        #expect(seconds < 10)
        #expect(result.stderr.hasPrefix("Cancel request sent\n"), "\(result)")
        #expect(waitFor(10) { backends(name) == 0 })
    }

    @Test func secondControlCExitsAtOnce() throws {
        let server = try CLIFixture.server()
        let name = "cli_sigint_twice"
        // A statement that survives a cancel: it catches query_canceled and sleeps again.
        let sql = "DO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(30); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$"
        defer { _ = try? scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '\(name)'") }
        let (result, seconds) = try runInterrupted(
            ["query", "--dsn", "application_name=\(name)", sql], environment: server.environment(), twice: true) {
            backends(name, state: "active") == 1
        }
        #expect(result.status == 130, "\(result)")
        #expect(seconds < 10)
        #expect(result.stderr == "Cancel request sent\n", "\(result)")
    }

    @Test func queryPrintsCancelRequestSentLikePsql() throws {
        let server = try CLIFixture.server()
        let name = "cli_sigint_query"
        let (result, _) = try runInterrupted(["query", "--dsn", "application_name=\(name)", "SELECT pg_sleep(30)"],
                                             environment: server.environment()) { backends(name, state: "active") == 1 }
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr == "Cancel request sent\nERROR:  57014: canceling statement due to user request\n", "\(result)")
    }

    // MARK: listen --psql-format

    @Test func listenPsqlFormatMatchesPsql() throws {
        let server = try CLIFixture.server()
        let env = server.environment()
        let name = "cli_listen_format"
        let sender = Thread {
            _ = waitFor(20) { backends(name, state: "idle", query: "LISTEN%") == 1 }
            _ = try? runPsql(server, ["-c", "NOTIFY cli_format_channel", "-c", "NOTIFY cli_format_channel, 'p q'"], environment: env)
        }
        sender.start()
        let ours = try runPgwire(["listen", "--dsn", "application_name=\(name)", "--psql-format", "--count", "2", "--timeout", "30", "cli_format_channel"],
                                 environment: env, timeout: 60)
        #expect(ours.status == 0, "\(ours)")
        // psql's own lines for the same notifications (in its session).
        let psql = try runPsql(server, ["-c", "LISTEN cli_format_channel", "-c", "NOTIFY cli_format_channel", "-c", "NOTIFY cli_format_channel, 'p q'"], environment: env)
        func normalized(_ text: String) -> [String] {
            text.split(separator: "\n").filter { $0.hasPrefix("Asynchronous notification") }
                .map { String($0).replacing(/PID \d+\./, with: "PID N.") }
        }
        #expect(normalized(psql.stdout) == [
            "Asynchronous notification \"cli_format_channel\" received from server process with PID N.",
            "Asynchronous notification \"cli_format_channel\" with payload \"p q\" received from server process with PID N.",
        ])
        #expect(normalized(ours.stdout) == normalized(psql.stdout), "\(ours)")
    }

    // MARK: Options

    @Test func unknownOptionsAreReportedWithASuggestion() throws {
        let env = try CLIFixture.server().environment()
        let nope = try runPgwire(["query", "--nope", "SELECT 1"], environment: env)
        #expect(nope.status == 64, "\(nope)")
        #expect(nope.stderr.hasPrefix("Error: Unknown option '--nope'.\n"), "\(nope)")
        let typo = try runPgwire(["query", "--fromat", "csv", "SELECT 1"], environment: env)
        #expect(typo.status == 64, "\(typo)")
        #expect(typo.stderr.hasPrefix("Error: Unknown option '--fromat'. Did you mean '--format'?\n"), "\(typo)")
        let short = try runPgwire(["query", "-x", "SELECT 1"], environment: env)
        #expect(short.stderr.hasPrefix("Error: Unknown option '-x'."), "\(short)")
        // SQL that begins like an option (a comment) is still SQL.
        let comment = try runPgwire(["query", "--format", "csv", "-- a comment\nSELECT 1 AS a"], environment: env)
        #expect(comment.status == 0, "\(comment)")
        #expect(comment.stdout == "a\n1\n")
        let other = try runPgwire(["copy-out", "--flie", "x", "COPY t TO STDOUT"], environment: env)
        #expect(other.stderr.hasPrefix("Error: Unknown option '--flie'. Did you mean '--file'?"), "\(other)")
    }

    @Test func versionIsPrinted() throws {
        let result = try runPgwire(["--version"], environment: try CLIFixture.server().environment())
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.firstMatch(of: /^pgwire \(PostgresWire\) \d+\.\d+\.\d+\n$/) != nil, "\(result)")
    }

    @Test func benchTakesConnectionOptionsAndReportsSQLErrors() throws {
        let server = try CLIFixture.server()
        var env = server.environment()
        for key in ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE"] { env[key] = nil }
        let flags = ["-h", server.host, "-p", String(server.port), "-U", TestServer.Role.trust.rawValue, "-d", "pgwire_test"]
        let ok = try runPgwire(["bench", "latency"] + flags + ["--count", "5", "--warmup", "1", "--query", "SELECT current_database()"], environment: env)
        #expect(ok.status == 0, "\(ok)")
        #expect(ok.stdout.contains("5 queries in "), "\(ok)")
        let bad = try runPgwire(["bench", "latency"] + flags + ["--count", "5", "--query", "SELECT * FROM no_such_bench_table"], environment: env)
        #expect(bad.status == 1, "\(bad)")
        #expect(bad.stderr.hasPrefix("ERROR:  42P01: relation \"no_such_bench_table\" does not exist\n"), "\(bad)")
        let refused = try runPgwire(["bench", "connect", "-h", "127.0.0.1", "-p", "1", "--count", "1"], environment: env)
        #expect(refused.status == 2, "\(refused)")
        let help = try runPgwire(["bench", "latency", "--help"], environment: env)
        #expect(help.status == 0)
        #expect(help.stdout.contains("-h, --host"), "\(help)")
    }

    // MARK: Progress on a terminal only

    @Test func copyProgressOnlyOnATerminal() throws {
        let server = try CLIFixture.server()
        let env = server.environment()
        let path = temporaryPath("progress")
        defer { unlink(path) }
        // Rows that take 1.2 s in all: the progress line is due after 0.5 s.
        let sql = "COPY (SELECT g, pg_sleep(0.3) FROM generate_series(1, 4) g) TO STDOUT"
        let piped = try runPgwire(["copy-out", "--file", path, sql], environment: env)
        #expect(piped.status == 0, "\(piped)")
        #expect(piped.stderr.isEmpty, "no progress in a pipe: \(visualize(piped.stderr))")
        #expect(piped.stdout == "COPY 4\n")
        // script(1) runs the command on a pseudo-terminal.
        let command = ([try PgwireBinary.path(), "copy-out", "--file", path, sql]).map(shellQuote).joined(separator: " ")
        let tty = try runProcess("script", ["-qec", command, "/dev/null"], environment: env, timeout: 60)
        #expect(tty.status == 0, "\(tty)")
        #expect(tty.stdout.contains("\r\u{1B}[Kcopy-out: "), "\(visualize(tty.stdout))")
        #expect(tty.stdout.contains(" rows, "), "\(visualize(tty.stdout))")
        // Erased before the tag.
        #expect(tty.stdout.hasSuffix("\r\u{1B}[KCOPY 4\r\n"), "\(visualize(tty.stdout))")
    }
}
