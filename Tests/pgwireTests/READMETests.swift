// The `pgwire query` commands shown in README.md work: each is run against the test cluster (its
// connection target rewritten to the cluster) and, where the output is deterministic, compared with psql.

import Foundation
import Testing
import TestSupport

/// The package root, derived from this file's location (Tests/pgwireTests/READMETests.swift).
private let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A `pgwire query` command from a ```sh block of the README.
struct READMECommand: Sendable, CustomTestStringConvertible {
    let line: String
    /// Leading `NAME=value` assignments.
    let assignments: [(String, String)]
    /// Whether it runs through `scripts/with-server`.
    let viaWithServer: Bool
    /// The arguments after `pgwire` (starting with `query`).
    let arguments: [String]
    /// The exit status the README announces with a trailing `# exits N` (0 without one).
    let expectedStatus: Int32
    var testDescription: String { line }
}

/// Splits a shell command line into words (plain words, '…' and "…" quoting, backslash escapes); a `#`
/// at the start of a word begins a comment.
func shellWords(_ line: String) -> [String] {
    var words: [String] = []
    var current = ""
    var inWord = false
    var quote: Character?
    var escaped = false
    for character in line {
        if escaped {
            current.append(character); escaped = false; inWord = true
            continue
        }
        if let q = quote {
            if character == q { quote = nil }
            else if character == "\\" && q == "\"" { escaped = true }
            else { current.append(character) }
            continue
        }
        switch character {
        case " ", "\t":
            if inWord { words.append(current); current = ""; inWord = false }
        case "'", "\"":
            quote = character; inWord = true
        case "\\":
            escaped = true
        case "#" where !inWord:
            return words
        default:
            current.append(character); inWord = true
        }
    }
    if inWord { words.append(current) }
    return words
}

func readmeQueryCommands() throws -> [READMECommand] {
    let text = try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
    var commands: [READMECommand] = []
    var inBlock = false
    var inShellBlock = false
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let line = rawLine.trimmingCharacters(in: .whitespaces)
        if line.hasPrefix("```") {
            // A fence either opens a block (shell or not, by its info string) or closes the open one.
            if inBlock {
                inBlock = false
                inShellBlock = false
            } else {
                inBlock = true
                inShellBlock = ["```sh", "```bash", "```shell", "```"].contains(line)
            }
            continue
        }
        guard inShellBlock, line.contains("pgwire query") else { continue }
        var words = shellWords(line)
        var assignments: [(String, String)] = []
        while let first = words.first, let equals = first.firstIndex(of: "="),
              first[..<equals].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
            assignments.append((String(first[..<equals]), String(first[first.index(after: equals)...])))
            words.removeFirst()
        }
        var viaWithServer = false
        if words.first == "scripts/with-server" { viaWithServer = true; words.removeFirst() }
        if words.starts(with: ["swift", "run"]) { words.removeFirst(2) }
        guard words.first == "pgwire" || words.first?.hasSuffix("/pgwire") == true else { continue }
        words.removeFirst()
        var expectedStatus: Int32 = 0
        if let match = line.range(of: #"#\s*exits\s+[0-9]+\s*$"#, options: .regularExpression) {
            expectedStatus = Int32(line[match].filter(\.isNumber)) ?? 0
        }
        commands.append(READMECommand(
            line: line, assignments: assignments, viaWithServer: viaWithServer, arguments: words, expectedStatus: expectedStatus))
    }
    return commands
}

@Suite("README")
struct READMETests {
    @Test func readmeShowsQueryCommands() throws {
        let commands = try readmeQueryCommands()
        #expect(!commands.isEmpty, "README.md has no `pgwire query` command in a ```sh block")
        #expect(commands.allSatisfy { $0.arguments.first == "query" })
    }

    @Test("README query command runs", arguments: try readmeQueryCommands())
    func readmeCommand(_ command: READMECommand) throws {
        let server = try CLIFixture.server()
        let binary = try PgwireBinary.path()
        var environment = server.environment()
        for (name, value) in command.assignments {
            // PGHOST=/some/socket/dir means "over the Unix socket": use the cluster's socket directory.
            environment[name] = name == "PGHOST" && value.hasPrefix("/") ? server.socketDirectory : value
        }
        var arguments = command.arguments
        var psqlConnection: [String] = []
        if let dsnIndex = arguments.firstIndex(of: "--dsn"), dsnIndex + 1 < arguments.count {
            // The README's DSN names an example host; point the same form of DSN at the cluster.
            let original = arguments[dsnIndex + 1]
            let replacement = original.hasPrefix("postgres")
                ? "postgresql://pgwire_trust@\(server.host):\(server.port)/pgwire_test"
                : server.dsn(role: .trust)
            arguments[dsnIndex + 1] = replacement
            psqlConnection = ["-d", replacement]
        }

        let result: ProcessResult
        if command.viaWithServer {
            result = try runProcess(
                packageRoot.appendingPathComponent("scripts/with-server").path, [binary] + arguments,
                environment: environment, timeout: 180)
        } else {
            result = try runProcess(binary, arguments, environment: environment, timeout: 180)
        }
        #expect(result.status == command.expectedStatus, "`\(command.line)` exited \(result.status):\n\(result)")
        if command.expectedStatus == 0 {
            #expect(!result.stdout.isEmpty, "`\(command.line)` printed nothing")
        } else {
            #expect(!result.stderr.isEmpty, "`\(command.line)` failed without a message")
        }

        // Compare with psql when the output does not depend on the moment or the process.
        guard let sql = arguments.last else { return }
        var psqlFlags: [String] = []
        if let formatIndex = arguments.firstIndex(of: "--format"), formatIndex + 1 < arguments.count {
            switch arguments[formatIndex + 1] {
            case "csv": psqlFlags = ["--csv"]
            case "unaligned": psqlFlags = ["-A"]
            default: break
            }
        }
        let psql = try runPsql(server, psqlConnection + psqlFlags + ["-c", sql], environment: environment)
        #expect(psql.status == result.status)
        let volatile = ["now()", "clock_timestamp", "random(", "pg_backend_pid", "current_time", "localtime"]
        if volatile.contains(where: { sql.lowercased().contains($0) }) {
            // Same shape: header, separator and footer lines.
            let ours = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let theirs = psql.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(ours.count == theirs.count, "psql:\n\(visualize(psql.stdout))\npgwire:\n\(visualize(result.stdout))")
            // (Column widths may differ: now() drops trailing zeros of its microseconds.)
            #expect(ours.suffix(3) == theirs.suffix(3), "psql:\n\(visualize(psql.stdout))\npgwire:\n\(visualize(result.stdout))")
            let headerWords = { (line: Substring?) in (line ?? "").split(whereSeparator: { $0 == " " || $0 == "|" }) }
            #expect(headerWords(ours.first) == headerWords(theirs.first), "psql:\n\(visualize(psql.stdout))\npgwire:\n\(visualize(result.stdout))")
        } else {
            let same = result.stdoutData == psql.stdoutData
            #expect(same, "`\(command.line)`\n\(describeDifference(expected: psql.stdoutData, actual: result.stdoutData))")
        }
    }

    @Test func readmeErrorFormat() throws {
        // README: `Errors go to stderr with their SQLSTATE (ERROR:  42P01: relation "x" does not exist)`.
        let text = try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let documented = #"ERROR:  42P01: relation "x" does not exist"#
        #expect(text.contains(documented))
        let server = try CLIFixture.server()
        let result = try runPgwire(["query", "SELECT * FROM x"], environment: server.environment())
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix(documented + "\n"), "stderr: \(visualize(result.stderr))")
    }
}
