// `pgwire query --binary` requests every result column in binary (extended protocol), decodes it
// and renders it back as the server's text output: the bytes must equal psql's. This makes psql
// the oracle of every codec, over the whole CSV corpus and the type-by-type edge values below,
// under several DateStyle / IntervalStyle / TimeZone / extra_float_digits settings.

import Testing
import TestSupport

private let settingsVariants: [(name: String, sql: String)] = [
    ("defaults", ""),
    ("SQL, DMY / postgres_verbose / New York / efd 0",
     "SET DateStyle = 'SQL, DMY'; SET IntervalStyle = postgres_verbose; SET TimeZone = 'America/New_York'; SET extra_float_digits = 0; "),
    ("Postgres, MDY / sql_standard / Kolkata / efd 3",
     "SET DateStyle = 'Postgres, MDY'; SET IntervalStyle = sql_standard; SET TimeZone = 'Asia/Kolkata'; SET extra_float_digits = 3; "),
    ("German / iso_8601 / Paris / efd -5 / bytea escape",
     "SET DateStyle = 'German'; SET IntervalStyle = iso_8601; SET TimeZone = 'Europe/Paris'; SET extra_float_digits = -5; SET bytea_output = escape; "),
]

let typedCorpus: [OracleCase] = [
    OracleCase("bool", "SELECT true, false, NULL::bool"),
    OracleCase("int2", "SELECT (-32768)::int2, 32767::int2, 0::int2"),
    OracleCase("int4", "SELECT (-2147483648)::int4, 2147483647::int4, -1::int4"),
    OracleCase("int8", "SELECT (-9223372036854775808)::int8, 9223372036854775807::int8"),
    OracleCase("oid", "SELECT 0::oid, 4294967295::oid, 1259::oid"),
    OracleCase("float4", "SELECT 0.1::float4, -0::float4, 'NaN'::float4, 'Infinity'::float4, '-Infinity'::float4, 3.4028235e38::float4, 1.4e-45::float4, 123456.7::float4, 1e6::float4, 1234567::float4"),
    OracleCase("float8", "SELECT 0.1::float8, '-0'::float8, 'NaN'::float8, 'Infinity'::float8, '-Infinity'::float8, 1e300::float8, 5e-324::float8, 1.7976931348623157e308::float8, 100000::float8, 1e15::float8, 1e16::float8, 123456789012345678::float8, 0.0001::float8, 0.00001::float8, pi()"),
    OracleCase("numeric", "SELECT 0::numeric, -0.0::numeric, 123.4500::numeric, -99999999999999999999999999999.999999999::numeric, 1e-30::numeric, 'NaN'::numeric, 'Infinity'::numeric, '-Infinity'::numeric, 10000::numeric, 0.0001::numeric, 1.0::numeric(10,5), 12345678901234567890.12345678901234567890::numeric"),
    OracleCase("text types", #"SELECT 'x'::text, ''::text, 'a b'::varchar(5), 'ab'::char(4), 'nm'::name, 'q'::"char", E'tab\there'::text, '日本語 é'::text"#),
    OracleCase("bytea", #"SELECT '\xdeadbeef'::bytea, ''::bytea, E'\\x00ff5c27'::bytea, 'abc\\'::bytea"#),
    OracleCase("uuid", "SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '00000000-0000-0000-0000-000000000000'::uuid"),
    OracleCase("date", "SELECT '2024-02-29'::date, '0001-01-01'::date, '4713-01-01 BC'::date, '5874897-12-31'::date, 'infinity'::date, '-infinity'::date, '1999-12-31'::date"),
    OracleCase("time", "SELECT '00:00:00'::time, '23:59:59.999999'::time, '24:00:00'::time, '12:34:56.5'::time"),
    OracleCase("timetz", "SELECT '12:34:56+05:30'::timetz, '00:00:00-12'::timetz, '23:59:59.123456+14'::timetz, '01:02:03+01:02:03'::timetz"),
    OracleCase("timestamp", "SELECT '2020-01-02 03:04:05.678'::timestamp, '1900-01-01 00:00:00'::timestamp, '0044-03-15 12:00:00 BC'::timestamp, '294276-12-31 23:59:59.999999'::timestamp, 'infinity'::timestamp, '-infinity'::timestamp, '2000-01-01'::timestamp"),
    OracleCase("timestamptz", "SELECT '2020-01-02 03:04:05+02'::timestamptz, '2021-07-01 12:00:00 UTC'::timestamptz, '1850-06-01 00:00:00 UTC'::timestamptz, '0100-01-01 00:00:00 UTC BC'::timestamptz, 'infinity'::timestamptz, '2024-03-31 01:30:00 UTC'::timestamptz, '2024-10-27 01:30:00 UTC'::timestamptz"),
    OracleCase("interval", "SELECT '1 year 2 mons 3 days 04:05:06.7'::interval, '-1 year -2 mons +3 days -04:05:06'::interval, '0'::interval, '1 mon -1 day'::interval, '100 years'::interval, '-00:00:00.000001'::interval, '3 days 25:00:00'::interval, '-1 days'::interval, '1.5 seconds'::interval, '178000000 years'::interval"),
    OracleCase("json and jsonb", #"SELECT '{"b": 1, "a": [1, 2.50, "x"]}'::json, '{"b": 1, "a": [1, 2.50, "x"], "n": null}'::jsonb, '"é\u00e9"'::jsonb, '[]'::jsonb, '  {"sp" : 1}  '::json"#),
    OracleCase("inet and cidr", "SELECT '192.168.0.1'::inet, '192.168.0.1/24'::inet, '10.0.0.0/8'::cidr, '::1'::inet, '2001:db8::ff00:42:8329/64'::inet, '2001:db8::/32'::cidr, '::ffff:1.2.3.4'::inet, '0.0.0.0/0'::cidr"),
    OracleCase("macaddr", "SELECT '08:00:2b:01:02:03'::macaddr, '00:00:00:00:00:00'::macaddr"),
    OracleCase("int arrays", "SELECT '{1,NULL,3}'::int[], '{}'::int[], '{{1,2},{3,4}}'::int4[], '[0:2]={7,8,9}'::int8[], '[-1:0][1:2]={{1,2},{3,4}}'::int2[], ARRAY[NULL::int]"),
    OracleCase("text arrays", #"SELECT '{"a b",c,"",NULL,"NULL","null","x\"y","back\\slash","{brace}","co,mma"}'::text[], ARRAY['']::text[], ARRAY[E'tab\t', ' lead', 'trail ']::varchar[]"#),
    OracleCase("other arrays", "SELECT ARRAY[1.5, NULL, 'NaN']::numeric[], ARRAY[0.1, 'Infinity']::float8[], ARRAY['2020-01-01'::date, 'infinity'], ARRAY['1 day'::interval], ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid], ARRAY[true, false, NULL], ARRAY['\\x01'::bytea, NULL], ARRAY['{\"k\":1}'::jsonb], ARRAY['10.1.2.3/8'::inet], ARRAY['2020-01-02 03:04:05+00'::timestamptz]"),
    OracleCase("ranges", "SELECT '[1,5)'::int4range, 'empty'::int4range, '(,10]'::int8range, '[1.5,2.5]'::numrange, '[2020-01-01,2020-02-01)'::daterange, '[2020-01-01 00:00,)'::tsrange, '(2020-01-01 00:00+00,2020-01-02 00:00+00)'::tstzrange, '(,)'::int4range"),
    OracleCase("records", #"SELECT ROW(1, 'a', NULL, 'b c', '"q"', ''), ROW(ROW(1, 2), ARRAY[1, 2]), ROW()"#),
    OracleCase("enum and composite", #"SELECT 'happy'::mood, ARRAY['sad', 'très "content"']::mood[], ROW(1, 'x')::pair, ARRAY[ROW(2, 'y,z')::pair]"#),
    OracleCase("geometric and misc", "SELECT '(1,2)'::point, '1 hour'::interval * 3, 12.5::money, '<a/>'::xml, 'a b'::tsvector, '16/B374D848'::pg_lsn"),
    OracleCase("table columns", "SELECT * FROM fixed_items ORDER BY id"),
    OracleCase("many rows", "SELECT i, i::float8 / 7, timestamptz '2024-01-01 12:00:00+00' - i * interval '1 day 1 hour', md5(i::text) FROM generate_series(1, 2000) i"),
]

@Suite("pgwire query --binary matches psql")
struct BinaryOracleTests {
    @Test("--binary --format csv, CSV corpus", arguments: csvCorpus)
    func csvCorpusInBinary(_ query: OracleCase) throws {
        try expectSameOutput(query.sql, psqlFlags: ["--csv"], pgwireFlags: ["--format", "csv", "--binary"])
    }

    @Test("--binary, aligned corpus", arguments: alignedCorpus)
    func alignedCorpusInBinary(_ query: OracleCase) throws {
        try expectSameOutput(query.sql, psqlFlags: [], pgwireFlags: ["--binary"])
    }

    @Test("--binary --format csv, typed edge values under several settings", arguments: typedCorpus)
    func typedEdgeValues(_ query: OracleCase) throws {
        for variant in settingsVariants {
            let (psql, pgwire) = try expectSameOutput(variant.sql + query.sql, psqlFlags: ["--csv"], pgwireFlags: ["--format", "csv", "--binary"])
            #expect(psql.status == 0, "\(variant.name): psql failed: \(psql.stderr)")
            #expect(pgwire.status == 0, "\(variant.name): \(pgwire.stderr)")
        }
    }

    @Test("--param sends text parameters")
    func parameters() throws {
        let server = try CLIFixture.server()
        let result = try runPgwire(["query", "--format", "csv", "--param", "41", "--param", "it's", "SELECT $1::int + 1 AS n, $2 AS s, $1 AS raw"],
                                   environment: server.environment())
        #expect(result.status == 0)
        #expect(result.stdout == "n,s,raw\n42,it's,41\n")
        // A wrong number of parameters is an error before anything is sent.
        let wrong = try runPgwire(["query", "--param", "1", "SELECT $1::int, $2::int"], environment: server.environment())
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("2 parameters"))
    }
}
