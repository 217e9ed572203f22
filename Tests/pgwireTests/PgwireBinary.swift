// Locating the `pgwire` executable built alongside this test bundle, running it and psql, and
// comparing their output byte for byte.

import Foundation
import Testing
import TestSupport

struct PgwireBinaryNotFound: Error, CustomStringConvertible {
    let searched: [String]
    var description: String {
        """
        the pgwire executable was not found next to the test bundle (looked in: \
        \(searched.joined(separator: ", "))). `swift test` builds every product, pgwire included, \
        before running the tests; build it with `swift build` using the same --scratch-path, or set \
        PGWIRE_BINARY to its path.
        """
    }
}

enum PgwireBinary {
    /// The path of the `pgwire` executable in the build products directory of this test run
    /// (e.g. `<scratch>/debug/pgwire`). Throws `PgwireBinaryNotFound` (failing the test) if it is missing.
    static func path() throws -> String {
        try located.get()
    }

    private static let located: Result<String, PgwireBinaryNotFound> = locate()

    private static func locate() -> Result<String, PgwireBinaryNotFound> {
        var searched: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["PGWIRE_BINARY"], !explicit.isEmpty {
            if isExecutableFile(explicit) { return .success(explicit) }
            searched.append("$PGWIRE_BINARY=\(explicit)")
        }
        // Where the test process lives: <scratch>/debug/PostgresWirePackageTests.xctest on Linux,
        // <scratch>/debug/PostgresWirePackageTests.xctest/Contents/MacOS/... on macOS.
        var starts: [URL] = []
        #if os(Linux)
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: exe))
        }
        #endif
        if let executable = Bundle.main.executableURL { starts.append(executable) }
        starts.append(Bundle.main.bundleURL)
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            starts.append(bundle.bundleURL)
        }
        if let argv0 = CommandLine.arguments.first, !argv0.isEmpty {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
            starts.append(URL(fileURLWithPath: argv0, relativeTo: cwd).standardizedFileURL)
        }
        for start in starts {
            // The directory holding the test executable (Linux), or holding the .xctest bundle that
            // contains it (macOS: .../debug/X.xctest/Contents/MacOS/X).
            var url = start.resolvingSymlinksInPath().standardizedFileURL
            var directories = [url.deletingLastPathComponent()]
            while url.pathComponents.count > 1 {
                if url.pathExtension == "xctest" { directories.append(url.deletingLastPathComponent()) }
                url = url.deletingLastPathComponent()
            }
            for directory in directories {
                let candidate = directory.appendingPathComponent("pgwire").path
                if searched.contains(candidate) { continue }
                searched.append(candidate)
                if isExecutableFile(candidate) { return .success(candidate) }
            }
        }
        return .failure(PgwireBinaryNotFound(searched: searched))
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        return access(path, X_OK) == 0 && stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }
}

/// The shared test cluster, with the objects the corpora use (created once per test process).
enum CLIFixture {
    static func server() throws -> TestServer {
        try prepared.get()
    }

    private static let prepared: Result<TestServer, any Error> = Result {
        let server = try TestServer.shared()
        try server.execute("""
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'très "content"');
            CREATE TYPE pair AS (x int, y text);
            CREATE TABLE fixed_items (id int PRIMARY KEY, label text, price numeric(10,2), tags text[]);
            INSERT INTO fixed_items VALUES
                (1, 'apple', 1.25, '{red,fruit}'),
                (2, 'banana, ripe', 0.5, '{"yellow \\"bright\\"",NULL}'),
                (3, NULL, NULL, '{}'),
                (10, E'multi\\nline', 1000000.00, NULL);
            -- The table of the README's example query.
            CREATE TABLE t (id int, name text);
            INSERT INTO t VALUES (1, 'one'), (2, NULL), (3, 'three, with comma');
            """)
        return server
    }
}

/// Runs `pgwire <arguments>` with `environment`.
func runPgwire(_ arguments: [String], environment: [String: String], timeout: Double = 180) throws -> ProcessResult {
    try runProcess(try PgwireBinary.path(), arguments, environment: environment, timeout: timeout)
}

/// Runs psql (the server's own, like `TestServer.psql`) with `environment`; `-X` is added.
func runPsql(_ server: TestServer, _ arguments: [String], environment: [String: String], timeout: Double = 180) throws -> ProcessResult {
    let candidate = server.binDirectory + "/psql"
    let executable = access(candidate, X_OK) == 0 ? candidate : "psql"
    return try runProcess(executable, ["-X"] + arguments, environment: environment, timeout: timeout)
}

/// One query of an oracle corpus; `name` is what the test report shows.
struct OracleCase: Sendable, CustomTestStringConvertible {
    let name: String
    let sql: String
    init(_ name: String, _ sql: String) {
        self.name = name
        self.sql = sql
    }
    var testDescription: String { name }
}

/// `cat -A`-like rendering: `$` at line ends, `^I` for tab, `^M` for CR, `^X` for other control
/// characters, `^?` for DEL; invisible or line-breaking Unicode (C1 controls, zero-width and
/// directional marks, U+2028/9, BOM, soft hyphen) as `<U+XXXX>`, and invalid UTF-8 as `M-xx`. Other
/// non-ASCII text is kept readable.
func visualize(_ bytes: [UInt8]) -> String {
    var out = ""
    var iterator = bytes.makeIterator()
    var decoder = UTF8()
    var offset = 0
    loop: while true {
        let before = offset
        switch decoder.decode(&iterator) {
        case .scalarValue(let scalar):
            let length = String(scalar).utf8.count
            offset += length
            switch scalar.value {
            case 10: out += "$\n"
            case 0..<32: out += "^" + String(UnicodeScalar(UInt8(scalar.value) + 64))
            case 127: out += "^?"
            case 0x80...0x9F, 0xAD, 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x2064, 0xFEFF:
                out += "<U+" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4) + ">"
            default: out.unicodeScalars.append(scalar)
            }
        case .emptyInput:
            break loop
        case .error:
            // Re-sync one byte at a time, showing the offending byte.
            offset = before + 1
            out += "M-" + String(bytes[before], radix: 16).leftPadded(to: 2)
            iterator = Array(bytes[offset...]).makeIterator()
            decoder = UTF8()
        }
    }
    return out
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

func visualize(_ text: String) -> String { visualize(Array(text.utf8)) }

/// A readable account of how `actual` differs from `expected`: both in full when short, otherwise the
/// lines around the first difference.
func describeDifference(expected: [UInt8], actual: [UInt8], expectedLabel: String = "psql", actualLabel: String = "pgwire") -> String {
    if expected.count + actual.count <= 6000 {
        return "--- \(expectedLabel) (\(expected.count) bytes) ---\n\(visualize(expected))\n--- \(actualLabel) (\(actual.count) bytes) ---\n\(visualize(actual))"
    }
    let common = min(expected.count, actual.count)
    let firstDifference = (0..<common).first { expected[$0] != actual[$0] } ?? common
    let lineNumber = expected[..<firstDifference].filter { $0 == 10 }.count
    func window(_ bytes: [UInt8]) -> String {
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
        let from = max(0, lineNumber - 3)
        let to = min(lines.count, lineNumber + 4)
        guard from < to else { return "(no line \(lineNumber + 1))" }
        return lines[from..<to].map { visualize(Array($0)) + "$" }.joined(separator: "\n")
    }
    return """
        first difference at byte \(firstDifference), line \(lineNumber + 1)
        --- \(expectedLabel) (\(expected.count) bytes), lines around it ---
        \(window(expected))
        --- \(actualLabel) (\(actual.count) bytes), lines around it ---
        \(window(actual))
        """
}

/// Runs `sql` through psql (with `psqlFlags`) and `pgwire query` (with `pgwireFlags`) in the same
/// environment and expects identical stdout bytes and exit codes. Returns both results.
@discardableResult
func expectSameOutput(
    _ sql: String, psqlFlags: [String], pgwireFlags: [String],
    role: TestServer.Role = .trust, unixSocket: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> (psql: ProcessResult, pgwire: ProcessResult) {
    let server = try CLIFixture.server()
    let environment = server.environment(role: role, unixSocket: unixSocket)
    let expected = try runPsql(server, psqlFlags + ["-c", sql], environment: environment)
    let actual = try runPgwire(["query"] + pgwireFlags + [sql], environment: environment)
    let sameStdout = actual.stdoutData == expected.stdoutData
    #expect(
        sameStdout,
        "stdout differs for \(visualize(sql)) (psql \(psqlFlags), pgwire \(pgwireFlags))\n\(describeDifference(expected: expected.stdoutData, actual: actual.stdoutData))\n--- psql stderr ---\n\(visualize(expected.stderr))\n--- pgwire stderr ---\n\(visualize(actual.stderr))",
        sourceLocation: sourceLocation)
    let sameStatus = actual.status == expected.status
    #expect(
        sameStatus,
        "exit code differs for \(visualize(sql)): psql \(expected.status), pgwire \(actual.status)\n--- psql stderr ---\n\(visualize(expected.stderr))\n--- pgwire stderr ---\n\(visualize(actual.stderr))",
        sourceLocation: sourceLocation)
    return (expected, actual)
}
