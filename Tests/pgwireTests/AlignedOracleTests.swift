// `pgwire query SQL` (aligned, the default) must print exactly what `psql -X -c SQL` prints, and
// `pgwire query --format unaligned SQL` exactly what `psql -X -A -c SQL` prints.

import Testing
import TestSupport

let alignedCorpus: [OracleCase] = [
    OracleCase("basic", "SELECT 1 AS n, 'text' AS t"),
    OracleCase("numeric right alignment",
               "SELECT * FROM (VALUES (1, 1.5::numeric, 'a'::text, 2.25::float8, 7::int2, 9::int8, 5::oid, 1::money), (-100, 10000.001, 'longer text', -1e10, -32768::int2, 9223372036854775807, 4294967295::oid, -12345.67::money)) v(i, n, t, f, s, b, o, m)"),
    OracleCase("NULLs", "SELECT NULL::int AS i, NULL::text AS t, 'x' AS x, NULL AS last"),
    OracleCase("NULLs in numeric column", "SELECT * FROM (VALUES (1), (NULL), (12345)) v(n)"),
    OracleCase("multi-line value first column", #"SELECT E'line1\nline two\nl3' AS ml, 'b' AS other"#),
    OracleCase("multi-line value last column", #"SELECT 'a' AS x, E'p\nqq' AS y"#),
    OracleCase("multi-line in several columns", #"SELECT E'a\nb\nc' AS one, 42 AS num, E'x\ny' AS two, E'last\n' AS three"#),
    OracleCase("multi-line rows of different heights", #"SELECT * FROM (VALUES (E'1\n2', 'x'), ('single', E'a\nb\nc'), (E'\n', '')) v(a, b)"#),
    OracleCase("empty lines", #"SELECT E'\n\n' AS blank, 'z' AS z"#),
    OracleCase("wide unicode", #"SELECT '日本語' AS j, 'é' AS e, '😀x' AS emoji, E'e\u0301' AS comb, 'ｆｕｌｌ' AS fullwidth"#),
    OracleCase("wide emoji outside U+1F300-1F64F", "SELECT '🚀' AS rocket, '✅' AS check, '⌚' AS watch, 1 AS n"),
    OracleCase("zero width space", #"SELECT E'a\u200Bb' AS zwsp, 1 AS n"#),
    OracleCase("C1 control character", #"SELECT E'x\u0085y' AS nel, 1 AS n"#),
    OracleCase("more unicode widths", #"SELECT '한국어' AS hangul, E'\u3000' AS ideographic_space, '𝐀' AS math, E'a\u00ADb' AS soft_hyphen, '👍🏽' AS skin, '🇯🇵' AS flag, E'\u00A0' AS nbsp"#),
    OracleCase("CRLF in a value", #"SELECT E'a\r\nb' AS crlf, 'x' AS y"#),
    OracleCase("empty string vs NULL", "SELECT '' AS e, NULL AS n, 'v' AS v"),
    OracleCase("wide unicode header", #"SELECT 1 AS "日本語の列", 'é' AS "é", 'abc' AS "😀""#),
    OracleCase("tabs", #"SELECT E'a\tb' AS t, E'\tx' AS lead, E'12345678\t9' AS eight, E'x\t' AS last"#),
    OracleCase("control characters", #"SELECT E'a\x01b' AS c1, E'\r' AS cr, E'x\x7fy' AS del, E'\x1b[1m' AS esc"#),
    OracleCase("zero rows", "SELECT 1 AS a, 'b' AS b WHERE false"),
    OracleCase("zero columns", "SELECT"),
    OracleCase("zero columns, several rows", "SELECT FROM generate_series(1, 2)"),
    OracleCase("multiple results", "SELECT 1 AS a; SELECT 'x' AS b, 2 AS c; SELECT 3 AS d WHERE false"),
    OracleCase("command tags",
               "CREATE TEMP TABLE a1 (x int); INSERT INTO a1 VALUES (1), (2); UPDATE a1 SET x = x + 1; DELETE FROM a1 WHERE x = 3; SELECT * FROM a1; DROP TABLE a1"),
    OracleCase("RETURNING",
               #"CREATE TEMP TABLE a2 (id int, v text); INSERT INTO a2 VALUES (1, E'multi\nline'), (22, NULL) RETURNING *; UPDATE a2 SET id = id * 10 RETURNING id"#),
    OracleCase("long header, short values", "SELECT 1 AS \"a very long column header\", 'x' AS \"even\", 'y' AS odd"),
    OracleCase("header narrower than values", "SELECT repeat('x', 30) AS a, 123456789 AS b"),
    OracleCase("multi-line header", "SELECT 1 AS \"two\nlines\", 'v' AS plain"),
    OracleCase("trailing spaces in last column", "SELECT 'a' AS x, 'b  ' AS y"),
    OracleCase("arrays, json, bool", #"SELECT ARRAY[1, NULL] AS arr, '{"k": [1, "v"]}'::jsonb AS j, true AS b, ROW(1, 'x y') AS r"#),
    OracleCase("table contents", "SELECT * FROM fixed_items ORDER BY id"),
    OracleCase("many rows", "SELECT g, repeat('*', g % 13) AS bar FROM generate_series(1, 200) g"),
    OracleCase("SET and SHOW", "SET search_path = public; SHOW search_path"),
    OracleCase("COPY TO STDOUT", "COPY (SELECT 1, 'a') TO STDOUT"),
    OracleCase("error in the middle", "SELECT 1 AS first; SELECT 1/0; SELECT 2"),
]

let unalignedCorpus: [OracleCase] = [
    OracleCase("basic", "SELECT 1 AS n, 'text' AS t"),
    OracleCase("NULLs and empty strings", "SELECT NULL::int AS i, '' AS e, NULL AS n"),
    OracleCase("pipes in data and names", "SELECT 'a|b' AS \"x|y\", '|' AS p"),
    OracleCase("multi-line values", #"SELECT E'line1\nline2' AS ml, 'b' AS other, E'\r\n' AS crlf"#),
    OracleCase("tabs and unicode", #"SELECT E'a\tb' AS t, '日本語' AS j, '😀' AS e"#),
    OracleCase("zero rows", "SELECT 1 AS a WHERE false"),
    OracleCase("zero columns", "SELECT; SELECT FROM generate_series(1, 3)"),
    OracleCase("multiple results and tags",
               "CREATE TEMP TABLE u1 (x int); INSERT INTO u1 VALUES (1), (2); SELECT * FROM u1; UPDATE u1 SET x = 0; SELECT 'x' AS y"),
    OracleCase("RETURNING", "CREATE TEMP TABLE u2 (id int); INSERT INTO u2 VALUES (1), (2) RETURNING id, 'r' AS tag"),
    OracleCase("table contents", "SELECT * FROM fixed_items ORDER BY id"),
    OracleCase("one row footer", "SELECT 'only' AS one"),
    OracleCase("error in the middle", "SELECT 1 AS first; SELECT nosuch; SELECT 2"),
]

@Suite("Aligned and unaligned output match psql")
struct AlignedOracleTests {
    @Test("psql -X -c (aligned)", arguments: alignedCorpus)
    func alignedMatchesPsql(_ query: OracleCase) throws {
        try expectSameOutput(query.sql, psqlFlags: [], pgwireFlags: [])
    }

    @Test("explicit --format aligned", arguments: alignedCorpus.prefix(3))
    func explicitAlignedFlag(_ query: OracleCase) throws {
        try expectSameOutput(query.sql, psqlFlags: [], pgwireFlags: ["--format", "aligned"])
    }

    @Test("psql -X -A -c (unaligned)", arguments: unalignedCorpus)
    func unalignedMatchesPsql(_ query: OracleCase) throws {
        try expectSameOutput(query.sql, psqlFlags: ["-A"], pgwireFlags: ["--format", "unaligned"])
    }
}
