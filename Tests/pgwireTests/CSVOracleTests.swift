// `pgwire query --format csv SQL` must print exactly what `psql -X --csv -c SQL` prints.

import Testing
import TestSupport

let csvCorpus: [OracleCase] = [
    // Text edge values.
    OracleCase("basic", "SELECT 1 AS a, 'x' AS b"),
    OracleCase("NULL vs empty string", "SELECT NULL::text AS n, '' AS e, ' ' AS sp, NULL AS untyped"),
    OracleCase("NULL vs empty across rows", "SELECT * FROM (VALUES (NULL), (''), ('\"\"'), (NULL)) v(x)"),
    OracleCase("double quotes", #"SELECT 'say "hi"' AS q, '"' AS lone, '""' AS two, 'end"' AS trailing"#),
    OracleCase("commas", "SELECT 'a,b' AS c, ',' AS only, 'a,' AS trail, ',,,' AS many"),
    OracleCase("carriage return", #"SELECT E'a\rb' AS cr, E'\r' AS only_cr"#),
    OracleCase("line feed", #"SELECT E'line1\nline2' AS lf, E'\n' AS only_lf, E'trailing\n' AS t"#),
    OracleCase("CRLF", #"SELECT E'a\r\nb' AS crlf, E'\r\n' AS only_crlf"#),
    OracleCase("tabs", #"SELECT E'a\tb' AS tab, E'\t' AS only_tab, E'\tlead' AS lead"#),
    OracleCase("backslashes", #"SELECT E'back\\slash' AS one, E'\\\\' AS two, E'\\' AS lone, 'C:\Windows\' AS path"#),
    OracleCase("backslash-dot exactly", #"SELECT E'\\.' AS dot"#),
    OracleCase("backslash-dot variants", #"SELECT E'\\.' AS a, E'\\.x' AS b, E'x\\.' AS c, E'\\.\n' AS d, '.' AS e, E'\\' AS f"#),
    OracleCase("backslash-dot in rows", #"SELECT x FROM (VALUES (E'\\.'), ('ok'), (E'\\.')) v(x)"#),
    OracleCase("leading and trailing spaces", "SELECT '  lead' AS l, 'trail  ' AS t, '  both  ' AS b"),
    OracleCase("unicode", #"SELECT 'é' AS e, '日本語' AS j, '😀👍🏽' AS emoji, E'e\u0301' AS combining, U&'\00C5\+01F600' AS escaped"#),
    OracleCase("control characters", #"SELECT E'\x01\x07\x1b[0m' AS ctl, E'a\x7fb' AS del"#),
    OracleCase("very long text", "SELECT repeat('abcdefghij', 1000) AS long, length(repeat('abcdefghij', 1000)) AS len"),
    OracleCase("long text with separators", "SELECT repeat('a,\"b\"' || chr(10), 2000) AS long"),
    OracleCase("char varchar name", #"SELECT 'ab'::char(5) AS c, 'x'::varchar(3) AS v, 'abc'::name AS n, 'a'::"char" AS ch"#),
    OracleCase("numeric-looking text", "SELECT '007' AS a, '1e3' AS b, '-0' AS c"),

    // Numbers.
    OracleCase("int2 min max", "SELECT (-32768)::int2 AS min2, 32767::int2 AS max2, 0::int2 AS zero"),
    OracleCase("int4 min max", "SELECT (-2147483648)::int4 AS min4, 2147483647::int4 AS max4"),
    OracleCase("int8 min max", "SELECT (-9223372036854775808)::int8 AS min8, 9223372036854775807::int8 AS max8"),
    OracleCase("float4 specials", "SELECT 'NaN'::float4 AS nan, 'Infinity'::float4 AS inf, '-Infinity'::float4 AS ninf, '-0'::float4 AS nzero, 0.1::float4 AS tenth, 3.4028235e38::float4 AS max, 1.4e-45::float4 AS tiny"),
    OracleCase("float8 specials", "SELECT 'NaN'::float8 AS nan, 'Infinity'::float8 AS inf, '-Infinity'::float8 AS ninf, '-0'::float8 AS nzero, 1e-300::float8 AS small, 0.1::float8 AS tenth, 1.7976931348623157e308::float8 AS max, 5e-324::float8 AS denorm, 1.0/3 AS third"),
    OracleCase("numeric", "SELECT 123456789012345678901234567890.123456789::numeric AS huge, 0.000000000000000000000001::numeric AS tiny, 'NaN'::numeric AS nan, 'Infinity'::numeric AS inf, -0.50::numeric AS neg, 1e100::numeric AS big, 10^20 AS pow"),
    OracleCase("money", "SELECT 12345.678::money AS m, (-1)::money AS neg, 0::money AS zero"),
    OracleCase("oid and reg types", "SELECT 4294967295::oid AS maxoid, 'int4'::regtype AS t, 'pg_class'::regclass AS c, 'pg_class'::regclass::oid AS o"),
    OracleCase("bool", "SELECT true AS t, false AS f, NULL::bool AS n"),
    OracleCase("bit strings", "SELECT B'1010' AS b, B'1'::bit varying AS vb, ''::bit varying AS empty"),

    // Other scalar types.
    OracleCase("bytea hex", #"SELECT '\x00ff10'::bytea AS b, ''::bytea AS empty, 'abc'::bytea AS text, decode('2c22', 'hex') AS quote_comma"#),
    OracleCase("bytea escape output", #"SET bytea_output = 'escape'; SELECT '\x00ff41'::bytea AS b"#),
    OracleCase("uuid", "SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '00000000-0000-0000-0000-000000000000'::uuid AS z"),
    OracleCase("date", "SELECT '2024-02-29'::date AS leap, 'infinity'::date AS inf, '-infinity'::date AS ninf, '0044-03-15 BC'::date AS bc, '4713-01-01 BC'::date AS first"),
    OracleCase("time and timetz", "SELECT '13:45:30.123456'::time AS t, '23:59:59+05:30'::timetz AS tz, '24:00'::time AS midnight, '00:00'::time AS zero"),
    OracleCase("timestamp", "SELECT '2024-01-01 12:34:56.789'::timestamp AS ts, 'infinity'::timestamp AS inf, '4713-01-01 00:00 BC'::timestamp AS bc, '294276-12-31 23:59:59.999999'::timestamp AS max"),
    OracleCase("timestamptz", "SELECT '2024-06-01 12:00:00+02'::timestamptz AS tz, '-infinity'::timestamptz AS ninf, '1900-01-01 00:00:00+00'::timestamptz AS old"),
    OracleCase("interval", "SELECT '1 year 2 mons 3 days 04:05:06.789'::interval AS i, '-1 day'::interval AS neg, '0'::interval AS zero, make_interval(secs => 0.000001) AS micro, '-178000000 years'::interval AS huge"),
    OracleCase("json and jsonb", #"SELECT '{"a": [1, 2, {"b": "c,d"}]}'::json AS j, '{"b": 1, "a": "x\"y"}'::jsonb AS jb, 'null'::jsonb AS jnull, '"line\nbreak"'::json AS jstr"#),
    OracleCase("arrays", #"SELECT ARRAY[1,NULL,3] AS ints, ARRAY['a b', 'c"d', 'e,f', NULL, '', 'NULL', E'g\\h'] AS texts, ARRAY[[1,2],[3,4]] AS nested, '{}'::int[] AS empty, '[0:1]={7,8}'::int[] AS bounds"#),
    OracleCase("ranges", "SELECT int4range(1,10) AS r, '[2024-01-01,2024-02-01)'::daterange AS d, numrange(NULL, 5) AS unbounded, 'empty'::int4range AS e, tstzrange('2024-01-01', '2024-01-02', '[]') AS ts"),
    OracleCase("multiranges", "SELECT '{[1,3),[5,7)}'::int4multirange AS m, '{}'::int4multirange AS empty"),
    OracleCase("records and composites", #"SELECT ROW(1, 'a b', NULL, 'x"y', '') AS r, (1, 't,u')::pair AS p, ROW() AS empty_row"#),
    OracleCase("network types", "SELECT '192.168.1.5/24'::inet AS i, '::1'::inet AS i6, '10.0.0.0/8'::cidr AS c, '08:00:2b:01:02:03'::macaddr AS m, '08:00:2b:01:02:03:04:05'::macaddr8 AS m8"),
    OracleCase("xml", #"SELECT '<a b="c">text, more</a>'::xml AS x, xmlelement(name p, 'x<y') AS e"#),
    OracleCase("geometric types", "SELECT point(1.5, -2) AS p, box(point(0,0), point(1,1)) AS b, '((0,0),(1,1),(2,0))'::polygon AS poly, circle(point(0,0), 2) AS c, lseg(point(0,0), point(1,1)) AS l, '[(0,0),(1,1)]'::path AS path"),
    OracleCase("enum", "SELECT 'happy'::mood AS m, enum_range(NULL::mood) AS all_moods, 'très \"content\"'::mood AS quoted"),
    OracleCase("tsvector", "SELECT to_tsvector('english', 'The quick brown fox') AS v, 'a & b'::tsquery AS q"),
    OracleCase("void", "SELECT pg_sleep(0) AS v"),

    // Column names.
    OracleCase("column name with comma", #"SELECT 1 AS "a,b""#),
    OracleCase("column name with quotes", #"SELECT 1 AS "say ""x""", 2 AS """""#),
    OracleCase("column names with spaces and unicode", #"SELECT 1 AS " spaced ", 2 AS "日本", 3 AS "é", 4 AS "😀""#),
    OracleCase("column name with newline", "SELECT 1 AS \"line1\nline2\", 2 AS \"cr\rhere\""),
    OracleCase("column name backslash-dot", #"SELECT 1 AS "\.", 2 AS "\""#),
    OracleCase("unnamed columns", "SELECT 1, 'a', NULL, now() IS NOT NULL"),
    OracleCase("duplicate column names", "SELECT 1 AS a, 2 AS a, 3 AS \"A\", 4 AS a"),

    // Shapes of results.
    OracleCase("zero-column select", "SELECT"),
    OracleCase("zero columns, three rows", "SELECT FROM generate_series(1, 3)"),
    OracleCase("zero rows", "SELECT 1 AS a, 'b' AS b WHERE false"),
    OracleCase("zero rows from a table", "SELECT id, label, tags FROM fixed_items WHERE id < 0"),
    OracleCase("table contents", "SELECT * FROM fixed_items ORDER BY id"),
    OracleCase("TABLE and VALUES", "TABLE fixed_items; VALUES (1, 'a'), (2, NULL)"),
    OracleCase("cross join", "SELECT a, b FROM generate_series(1, 3) a, generate_series(1, 3) b"),
    OracleCase("generate_series 10000 rows", "SELECT g, md5(g::text) AS h, CASE WHEN g % 7 = 0 THEN NULL ELSE 'v,' || g END AS maybe FROM generate_series(1, 10000) g"),
    OracleCase("empty query string", ""),
    OracleCase("only semicolons", ";;"),
    OracleCase("only a comment", "-- nothing here"),
    OracleCase("empty statements between", "SELECT 1 AS one;;; SELECT 2 AS two;"),
    OracleCase("leading comment line", "-- leading comment\nSELECT 1 AS one"),
    OracleCase("COMMIT without transaction (WARNING)", "COMMIT"),
    OracleCase("trailing comment", "SELECT 1 AS one -- trailing"),
    OracleCase("EXPLAIN", "EXPLAIN (COSTS OFF) SELECT * FROM fixed_items WHERE id = 1"),

    // Several statements.
    OracleCase("multi-statement with DDL and DML",
               "CREATE TEMP TABLE m1 (id int, v text); INSERT INTO m1 VALUES (1, 'a'), (2, NULL); SELECT * FROM m1 ORDER BY id; UPDATE m1 SET v = 'b,c' WHERE id = 2; SELECT * FROM m1 ORDER BY id; DELETE FROM m1; DROP TABLE m1"),
    OracleCase("multi-statement selects", "SELECT 1 AS a; SELECT 'x' AS b, 2 AS c; SELECT"),
    OracleCase("error in the middle", "SELECT 1 AS first; SELECT * FROM missing_table; SELECT 3 AS never"),
    OracleCase("error after DML", "CREATE TEMP TABLE m2 (id int PRIMARY KEY); INSERT INTO m2 VALUES (1); SELECT * FROM m2; INSERT INTO m2 VALUES (1); SELECT 'unreached'"),
    OracleCase("error in first statement", "SELECT 1/0 AS boom; SELECT 2"),
    OracleCase("error in explicit transaction", "BEGIN; SELECT 1 AS a; SELECT 1/0; SELECT 2; COMMIT"),
    OracleCase("transaction tags", "BEGIN; SELECT 1 AS a; SAVEPOINT s; RELEASE s; COMMIT; START TRANSACTION; ROLLBACK"),
    OracleCase("INSERT RETURNING",
               "CREATE TEMP TABLE r (id serial, v text); INSERT INTO r (v) VALUES ('a'), ('b,c'), (NULL) RETURNING id, v"),
    OracleCase("UPDATE and DELETE RETURNING",
               "CREATE TEMP TABLE r2 (id int, v text); INSERT INTO r2 VALUES (1, 'x'), (2, 'y'); UPDATE r2 SET v = v || '\"' RETURNING *; DELETE FROM r2 WHERE id = 1 RETURNING id; DELETE FROM r2 WHERE false RETURNING id"),
    OracleCase("INSERT RETURNING nothing", "CREATE TEMP TABLE r3 (id int); INSERT INTO r3 SELECT 1 WHERE false RETURNING id"),
    OracleCase("DO with RAISE NOTICE", "DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$"),
    OracleCase("DO then SELECT", "DO $$ BEGIN RAISE NOTICE 'n1'; RAISE NOTICE 'n2'; END $$; SELECT 1 AS after"),
    OracleCase("COPY TO STDOUT", "COPY (SELECT 1, 'a,b', NULL, E'tab\\there') TO STDOUT"),
    OracleCase("COPY CSV HEADER", #"COPY (SELECT 1 AS n, 'a"b' AS q) TO STDOUT WITH (FORMAT csv, HEADER)"#),
    OracleCase("COPY then SELECT", "COPY (SELECT g FROM generate_series(1, 3) g) TO STDOUT; SELECT 'after' AS x"),
    OracleCase("SET and SHOW", "SET TimeZone = 'America/New_York'; SHOW TimeZone; SELECT '2024-01-01 00:00:00+00'::timestamptz AS ts"),
    OracleCase("DateStyle and IntervalStyle", "SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'iso_8601'; SELECT '2024-03-04'::date AS d, '2024-03-04 05:06:07'::timestamp AS ts, '1 day 2 hours'::interval AS i"),
    OracleCase("SHOW", "SHOW server_encoding"),
    OracleCase("PREPARE and EXECUTE", "PREPARE s(int) AS SELECT $1 + 1 AS next; EXECUTE s(41); DEALLOCATE s"),
    OracleCase("CALL with INOUT",
               "CREATE PROCEDURE pg_temp.bump(INOUT x int) LANGUAGE plpgsql AS $$ BEGIN x := x + 1; END $$; CALL pg_temp.bump(41)"),
]

@Suite("CSV output matches psql --csv")
struct CSVOracleTests {
    @Test("psql -X --csv -c", arguments: csvCorpus)
    func csvMatchesPsql(_ query: OracleCase) throws {
        try expectSameOutput(query.sql, psqlFlags: ["--csv"], pgwireFlags: ["--format", "csv"])
    }

    @Test func corpusIsLargeEnough() {
        #expect(csvCorpus.count >= 60)
        #expect(Set(csvCorpus.map(\.name)).count == csvCorpus.count, "case names must be unique")
    }

    @Test func noticesGoToStderr() throws {
        let sql = "DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$; SELECT 1 AS one"
        let (psql, pgwire) = try expectSameOutput(sql, psqlFlags: ["--csv"], pgwireFlags: ["--format", "csv"])
        #expect(psql.stderr.contains("NOTICE:  hello 42"))
        #expect(pgwire.stderr.contains("NOTICE:  hello 42"), "pgwire stderr: \(visualize(pgwire.stderr))")
        #expect(!pgwire.stdout.contains("NOTICE"))
        #expect(pgwire.status == 0)
    }

    @Test func warningsGoToStderr() throws {
        let (psql, pgwire) = try expectSameOutput("COMMIT", psqlFlags: ["--csv"], pgwireFlags: ["--format", "csv"])
        #expect(psql.stderr.contains("WARNING:  there is no transaction in progress"))
        #expect(pgwire.stderr.contains("WARNING:  there is no transaction in progress"), "pgwire stderr: \(visualize(pgwire.stderr))")
        #expect(pgwire.status == 0)
    }

    @Test func noticeDetailAndHintGoToStderr() throws {
        let sql = "DO $$ BEGIN RAISE NOTICE 'with extras' USING DETAIL = 'the detail', HINT = 'the hint'; END $$"
        let (psql, pgwire) = try expectSameOutput(sql, psqlFlags: ["--csv"], pgwireFlags: ["--format", "csv"])
        for line in ["NOTICE:  with extras", "DETAIL:  the detail", "HINT:  the hint"] {
            #expect(psql.stderr.contains(line))
            #expect(pgwire.stderr.contains(line), "psql stderr:\n\(visualize(psql.stderr))\npgwire stderr:\n\(visualize(pgwire.stderr))")
        }
    }

    @Test func failingStatementExitsWithOne() throws {
        let (psql, pgwire) = try expectSameOutput(
            "SELECT 1 AS first; SELECT * FROM missing_table; SELECT 3 AS never",
            psqlFlags: ["--csv"], pgwireFlags: ["--format", "csv"])
        #expect(psql.status == 1)
        #expect(pgwire.status == 1)
        #expect(pgwire.stdout == "first\n1\n")
        #expect(pgwire.stderr.contains("42P01"), "pgwire stderr: \(visualize(pgwire.stderr))")
    }
}
