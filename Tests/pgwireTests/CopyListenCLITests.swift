import Foundation
import Testing
import TestSupport

@Suite("pgwire copy-in, copy-out, listen and Ctrl-C")
struct CopyListenCLITests {
    @Test func copyInFromStdinAndCopyOutToStdout() throws {
        let server = try CLIFixture.server()
        let env = server.environment()
        #expect(try runPgwire(["query", "CREATE TABLE IF NOT EXISTS cli_copy (a int, b text); TRUNCATE cli_copy"], environment: env).status == 0)
        let data = Array("1,one\n2,\"two, too\"\n3,\n".utf8)
        let copyIn = try runProcess(try PgwireBinary.path(), ["copy-in", "COPY cli_copy FROM STDIN (FORMAT csv)"], environment: env, stdin: data)
        #expect(copyIn.status == 0, "\(copyIn.stderr)")
        #expect(copyIn.stdout == "COPY 3\n")
        let ours = try runPgwire(["copy-out", "COPY (SELECT * FROM cli_copy ORDER BY a) TO STDOUT (FORMAT csv)"], environment: env)
        let psql = try runPsql(server, ["-c", "COPY (SELECT * FROM cli_copy ORDER BY a) TO STDOUT (FORMAT csv)"], environment: env)
        #expect(ours.status == 0)
        #expect(ours.stdoutData == psql.stdoutData)
        #expect(ours.stdout == String(decoding: data, as: UTF8.self))
    }

    @Test func copyInFromFileAndBadData() throws {
        let server = try CLIFixture.server()
        let env = server.environment()
        #expect(try runPgwire(["query", "CREATE TABLE IF NOT EXISTS cli_copy2 (a int)"], environment: env).status == 0)
        let path = NSTemporaryDirectory() + "pgwire-copy-\(getpid()).txt"
        try "1\nx\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let bad = try runPgwire(["copy-in", "--file", path, "COPY cli_copy2 FROM STDIN"], environment: env)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("22P02"))
        let outPath = path + ".out"
        defer { unlink(outPath) }
        let out = try runPgwire(["copy-out", "--file", outPath, "COPY (SELECT generate_series(1, 5)) TO STDOUT"], environment: env)
        #expect(out.status == 0)
        #expect(out.stdout == "COPY 5\n")
        #expect(try String(contentsOfFile: outPath, encoding: .utf8) == "1\n2\n3\n4\n5\n")
    }

    @Test func listenPrintsNotifications() throws {
        let server = try CLIFixture.server()
        let env = server.environment()
        // The listener stops after two notifications; a second process sends them once it listens.
        let sender = Thread {
            Thread.sleep(forTimeInterval: 1.5)
            _ = try? runPsql(server, ["-c", "NOTIFY cli_channel, 'hello'; NOTIFY cli_channel, 'world'"], environment: env)
        }
        sender.start()
        let result = try runPgwire(["listen", "--count", "2", "--timeout", "20", "cli_channel"], environment: env, timeout: 30)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: "\t").prefix(2).joined(separator: "\t") }
        #expect(lines == ["cli_channel\thello", "cli_channel\tworld"])
    }

    @Test func controlCCancelsTheRunningQuery() throws {
        let server = try CLIFixture.server()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try PgwireBinary.path())
        process.arguments = ["query", "SELECT pg_sleep(30)"]
        process.environment = server.environment()
        let errPipe = Pipe()
        process.standardError = errPipe
        process.standardOutput = Pipe()
        try process.run()
        Thread.sleep(forTimeInterval: 1.5)
        let start = Date()
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(process.terminationStatus == 1)
        let stderr = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stderr.contains("57014") && stderr.contains("canceling statement due to user request"))
    }
}
