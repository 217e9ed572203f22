// psql parity of `pgwire query` (issue 11): a statement that fails after some of its rows were
// sent prints none of them, and COPY … FROM STDIN reads standard input, in every output format,
// with and without --binary, psql being the oracle.

import Foundation
import Testing
import TestSupport

/// Statements that fail after the server has sent some of their rows.
let failingMidResultCorpus: [OracleCase] = [
    OracleCase("division by zero on the fifth row", "SELECT g, 10/(5-g) AS x FROM generate_series(1,10) g"),
    OracleCase("second statement fails mid-result",
               "SELECT 1 AS a, 'first' AS b; SELECT g, 10/(5-g) AS x FROM generate_series(1,10) g; SELECT 3 AS never"),
    OracleCase("third statement fails mid-result after DML",
               "CREATE TEMP TABLE pm (x int); INSERT INTO pm VALUES (1), (2); SELECT * FROM pm; SELECT x, 1/(x-2) FROM pm ORDER BY x"),
    OracleCase("fails after more than 64 KiB of output",
               "SELECT 0 AS zero; SELECT g, repeat('x', 50) AS pad FROM generate_series(1, 5000) g WHERE 1/(4000-g) IS NOT NULL"),
    OracleCase("INSERT RETURNING fails mid-result",
               "CREATE TEMP TABLE pr (x int); INSERT INTO pr SELECT 10/(5-g) FROM generate_series(1,10) g RETURNING x"),
    OracleCase("fails mid-result inside a transaction",
               "BEGIN; SELECT 1 AS one; SELECT g, 10/(3-g) FROM generate_series(1,5) g; COMMIT"),
]

@Suite("psql parity of pgwire query")
struct PsqlParityTests {
    static let formats: [(psql: [String], pgwire: [String])] = [([], []), (["--csv"], ["--format", "csv"]), (["-A"], ["--format", "unaligned"])]

    /// Format index × --binary, as one argument (a test takes at most two argument collections).
    static let formatModes: [Int] = Array(0..<6)

    @Test("a statement failing mid-result prints none of its rows", arguments: failingMidResultCorpus, formatModes)
    func failingMidResult(_ query: OracleCase, mode: Int) throws {
        let flags = Self.formats[mode % 3]
        let binary = mode >= 3
        let (psql, pgwire) = try expectSameOutput(query.sql, psqlFlags: flags.psql, pgwireFlags: flags.pgwire + (binary ? ["--binary"] : []))
        #expect(psql.status == 1)
        #expect(pgwire.stderr.contains("division by zero"), "\(pgwire.stderr)")
        // The oracle itself shows no row of the failing statement (e.g. no 2.5 nor 10 of the first case).
        #expect(!pgwire.stdout.contains("never"))
        if query.name == "division by zero on the fifth row" { #expect(pgwire.stdoutData.isEmpty) }
    }

    /// Runs `sql` through psql and `pgwire query` with `stdin`; expects the same stdout and exit code.
    @discardableResult
    func expectSameCopyIn(_ sql: String, stdin: [UInt8], psqlFlags: [String] = [], pgwireFlags: [String] = [],
                          sourceLocation: SourceLocation = #_sourceLocation) throws -> (psql: ProcessResult, pgwire: ProcessResult) {
        let server = try CLIFixture.server()
        let environment = server.environment()
        let expected = try runProcess(server.binDirectory + "/psql", ["-X"] + psqlFlags + ["-c", sql], environment: environment, stdin: stdin)
        let actual = try runProcess(try PgwireBinary.path(), ["query"] + pgwireFlags + [sql], environment: environment, stdin: stdin)
        #expect(actual.stdoutData == expected.stdoutData,
                "stdout differs for \(visualize(sql)) (pgwire \(pgwireFlags))\n\(describeDifference(expected: expected.stdoutData, actual: actual.stdoutData))\n--- psql stderr ---\n\(expected.stderr)\n--- pgwire stderr ---\n\(actual.stderr)",
                sourceLocation: sourceLocation)
        #expect(actual.status == expected.status, "exit \(expected.status) vs \(actual.status)\n\(actual.stderr)", sourceLocation: sourceLocation)
        return (expected, actual)
    }

    static let modes: [[String]] = [[], ["--binary"], ["--format", "csv"], ["--format", "unaligned", "--binary"]]

    /// psql's flags for the output format of a `pgwire query` mode.
    static func psqlFlags(_ mode: [String]) -> [String] {
        mode.contains("csv") ? ["--csv"] : mode.contains("unaligned") ? ["-A"] : []
    }

    @Test("COPY FROM STDIN reads standard input", arguments: modes)
    func copyFromStdin(_ mode: [String]) throws {
        let psqlFlags = Self.psqlFlags(mode)
        // One COPY up to the end of input.
        let (_, single) = try expectSameCopyIn("CREATE TEMP TABLE ci (a int, b text); COPY ci FROM STDIN; SELECT * FROM ci ORDER BY a",
                                               stdin: Array("1\tx\n2\t\\N\n3\ttab\\there\n".utf8), psqlFlags: psqlFlags, pgwireFlags: mode)
        #expect(single.status == 0, "\(single.stderr)")
        #expect(single.stdout.contains("COPY 3"))
        // Two COPYs in one string: the first ends at the `\.` line, the second reads on from there.
        let (_, two) = try expectSameCopyIn(
            "CREATE TEMP TABLE ci (a int, b text); COPY ci FROM STDIN; SELECT count(*) AS n FROM ci; COPY ci FROM STDIN (FORMAT csv); SELECT * FROM ci ORDER BY a",
            stdin: Array("1\tx\n2\ty\n\\.\n3,\"z, w\"\n4,\n".utf8), psqlFlags: psqlFlags, pgwireFlags: mode)
        #expect(two.stdout.contains("COPY 2\n") && two.stdout.contains("z, w"), "\(two.stdout)\n\(two.stderr)")
        // An end marker with CRLF, data after it left unread; empty input; no final newline.
        try expectSameCopyIn("CREATE TEMP TABLE ci (a int); COPY ci FROM STDIN; COPY ci FROM STDIN; SELECT sum(a) FROM ci",
                             stdin: Array("1\n\\.\r\n2\n3".utf8), psqlFlags: psqlFlags, pgwireFlags: mode)
        try expectSameCopyIn("CREATE TEMP TABLE ci (a int); COPY ci FROM STDIN; SELECT count(*) FROM ci",
                             stdin: [], psqlFlags: psqlFlags, pgwireFlags: mode)
        // A line longer than the read buffer, and `\.` not alone on its line (data, not an end marker).
        let long = String(repeating: "0123456789", count: 20_000)
        try expectSameCopyIn("CREATE TEMP TABLE ci (a int, b text); COPY ci FROM STDIN; SELECT a, length(b) FROM ci ORDER BY a",
                             stdin: Array("1\t\(long)\n2\tx\\.\n3\t\(long)\\.\n".utf8), psqlFlags: psqlFlags, pgwireFlags: mode)
        // Bad data: the server's error, exit 1, and the statements before it printed.
        let (_, bad) = try expectSameCopyIn("CREATE TEMP TABLE ci (a int); SELECT 'before' AS b; COPY ci FROM STDIN; SELECT 'after'",
                                            stdin: Array("1\nbad\n".utf8), psqlFlags: psqlFlags, pgwireFlags: mode)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("invalid input syntax for type integer"), "\(bad.stderr)")
        #expect(!bad.stderr.contains("57014"), "\(bad.stderr)")
    }

    @Test("COPY FROM STDIN in binary format reads to the end of input")
    func copyFromStdinBinaryFormat() throws {
        let server = try CLIFixture.server()
        let produced = try runProcess(server.binDirectory + "/psql",
                                      ["-X", "-c", "COPY (SELECT g, 'v' || g, CASE WHEN g = 2 THEN NULL ELSE now() END FROM generate_series(1, 3) g) TO STDOUT (FORMAT binary)"],
                                      environment: server.environment())
        #expect(produced.status == 0)
        let data = produced.stdoutData
        // Binary COPY data holds bytes such as "\\.\n" freely: nothing but the end of input ends it.
        for mode in Self.modes {
            let (_, result) = try expectSameCopyIn(
                "CREATE TEMP TABLE cb (a int, b text, c timestamptz); COPY cb FROM STDIN (FORMAT binary); SELECT a, b, c IS NULL AS n FROM cb ORDER BY a",
                stdin: data, psqlFlags: Self.psqlFlags(mode), pgwireFlags: mode)
            #expect(result.status == 0 && result.stdout.contains("COPY 3"), "\(result)")
        }
    }

    @Test("COPY TO STDOUT still streams, next to COPY FROM STDIN")
    func copyToStdoutAndFromStdin() throws {
        try expectSameCopyIn("CREATE TEMP TABLE co (a int); COPY co FROM STDIN; COPY co TO STDOUT; COPY (SELECT 'x,y') TO STDOUT (FORMAT csv)",
                             stdin: Array("5\n6\n".utf8))
        try expectSameCopyIn("CREATE TEMP TABLE co (a int); COPY co FROM STDIN; COPY co TO STDOUT", stdin: Array("5\n6\n".utf8), pgwireFlags: ["--binary"])
    }
}

/// Every spelling of TimeZone the server accepts: IANA names, POSIX offsets (whose sign is west
/// of Greenwich: UTC+3 is three hours behind), quoted, short and empty abbreviations, DST with
/// and without rules, perpetual DST, and the server's rewriting of numeric offsets.
let timeZoneSpellings: [String] = [
    "-02:00", "+01:30", "UTC+3", "UTC-3", "<+03>-3", "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "EST5EDT",
    "EST5EDT,M3.2.0,M11.1.0", "EST5EDT4,M3.2.0/2:30,M11.1.0/1", "ABC+1DEF", "X+1", "a.b+1", "<>+1", "JST-9", "FOO+25",
    "FOO+100:30", "ABC+1DEF+26,J1,J365", "ABC-10DEF-11,M10.1.0,M4.1.0/3", "+5", "-12.5", "Europe/Paris",
    "America/Sao_Paulo", "Australia/Lord_Howe", "Asia/Kolkata", "UTC", "GMT",
]

extension PsqlParityTests {
    @Test("--binary renders timestamptz in every TimeZone spelling as psql shows it", arguments: timeZoneSpellings)
    func timeZoneSpelling(_ zone: String) throws {
        let values = """
            SELECT '2024-07-01 12:00:00+00'::timestamptz AS summer, '2024-01-01 12:00:00.5+00'::timestamptz AS winter,
                   '0044-03-15 12:00:00+00 BC'::timestamptz AS bc, 'infinity'::timestamptz AS inf, '-infinity'::timestamptz AS ninf,
                   '1975-01-15 12:00+00'::timestamptz AS y1975, '2300-07-01 12:00+00'::timestamptz AS far,
                   '2024-03-31 00:30'::timestamp::timestamptz AS local_spring, '2024-10-27 02:30'::timestamp::timestamptz AS local_autumn,
                   ARRAY['2024-07-01 12:00+00'::timestamptz] AS arr, tstzrange('2024-01-01 00:00+00', '2024-07-01 00:00+00') AS rng
            """
        let sql = "SET TimeZone = '\(zone)'; SHOW TimeZone; \(values); SET DateStyle = 'Postgres, DMY'; \(values); SET DateStyle = 'SQL, MDY'; \(values)"
        let (psql, pgwire) = try expectSameOutput(sql, psqlFlags: ["--csv"], pgwireFlags: ["--format", "csv", "--binary"])
        #expect(psql.status == 0, "\(psql.stderr)")
        #expect(pgwire.stdout.contains("infinity"))
    }
}
