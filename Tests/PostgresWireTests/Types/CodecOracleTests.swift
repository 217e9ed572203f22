import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// The codec oracle: every edge value is fetched from the real server in binary and in text, then
/// (a) rendering the binary value gives exactly the server's text, (b) decoding the binary value
/// and encoding it again gives the same bytes, and decoding the server's text gives a value that
/// encodes to those bytes too. Repeated under several DateStyle / IntervalStyle / TimeZone /
/// extra_float_digits settings.
@Suite(.serialized) struct CodecOracleTests {
    static let corpus: [String] = [
        // bool, integers, oid
        "true", "false",
        "0::int2", "(-32768)::int2", "32767::int2",
        "0::int4", "(-2147483648)::int4", "2147483647::int4", "42",
        "(-9223372036854775808)::int8", "9223372036854775807::int8", "0::int8",
        "0::oid", "4294967295::oid", "'123'::xid8",
        // float4
        "0::float4", "'-0'::float4", "1.5::float4", "'3.4028235e38'::float4", "'1.4e-45'::float4", "'1e-5'::float4",
        "100000::float4", "1000000::float4", "123456.7::float4", "'NaN'::float4", "'Infinity'::float4", "'-Infinity'::float4",
        "0.1::float4", "1e10::float4", "'1.17549435e-38'::float4", "(-12.375)::float4", "0.0001::float4", "999999::float4",
        // float8
        "0::float8", "'-0'::float8", "0.1::float8", "1e300::float8", "1e-5::float8", "1e-4::float8", "0.0001234::float8",
        "100000::float8", "1e15::float8", "1e14::float8", "123456789012345.6::float8", "1.2345678901234567e16::float8",
        "'5e-324'::float8", "'1.7976931348623157e308'::float8", "'NaN'::float8", "'Infinity'::float8", "'-Infinity'::float8",
        "'2.2250738585072014e-308'::float8", "(-1.5)::float8", "(1.0/3)::float8", "pi()", "1e22::float8", "(2^53)::float8",
        "123.456e-10::float8", "(-0.000012345)::float8",
        // numeric
        "0::numeric", "0.000::numeric", "(-0.0001)::numeric", "1.5::numeric", "12345678901234567890.123456789::numeric",
        "0.00000000000000000001::numeric", "'NaN'::numeric", "'Infinity'::numeric", "'-Infinity'::numeric", "10000::numeric",
        "9999.9999::numeric", "(-123.4500)::numeric", "1e100::numeric", "0.1::numeric(20,10)", "1e-100::numeric",
        "'3.14159265358979323846264338327950288419716939937510'::numeric", "(-99999999)::numeric", "1234567.00001::numeric",
        "100000000::numeric(12,2)", "'1e-1000'::numeric",
        // text-like
        "''::text", "'hello'::text", #"'with "quotes" and \backslash'::text"#, "'NULL'::text", "'héllo ✓ 🎉'::text",
        "' leading space'::text", "E'tab\\there'::text", "E'new\\nline'::text", "'abc'::varchar(10)", "'ab'::char(5)",
        "'a'::\"char\"", "''::\"char\"", "'\\377'::\"char\"", "'pg_class'::name", "'unknown literal'::unknown",
        // bytea
        "'\\x'::bytea", "'\\x00ff10'::bytea", "'abc\\\\'::bytea", "decode('000102037f80fe5c27', 'hex')",
        // uuid
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "'00000000-0000-0000-0000-000000000000'::uuid",
        // date
        "'2000-01-01'::date", "'1999-12-31'::date", "'infinity'::date", "'-infinity'::date", "'0044-03-15 BC'::date",
        "'4714-11-24 BC'::date", "'5874897-12-31'::date", "'2024-02-29'::date", "'0001-01-01'::date", "'0001-12-31 BC'::date",
        "'10000-01-01'::date", "'1970-01-01'::date", "'1582-10-10'::date",
        // time, timetz
        "'00:00'::time", "'23:59:59.999999'::time", "'24:00:00'::time", "'12:34:56.5'::time", "'00:00:00.000001'::time",
        "'12:00+02'::timetz", "'00:00:00-15:59'::timetz", "'23:59:59.999999+15:59'::timetz", "'12:00:00+05:30'::timetz",
        "'12:00:00.25-03:30:15'::timetz", "'24:00:00+00'::timetz",
        // timestamp
        "'2000-01-01 00:00'::timestamp", "'1999-12-31 23:59:59.999999'::timestamp", "'infinity'::timestamp",
        "'-infinity'::timestamp", "'0044-03-15 12:00 BC'::timestamp", "'4714-11-24 00:00 BC'::timestamp",
        "'294276-12-31 23:59:59.999999'::timestamp", "'2024-02-29 12:34:56.789'::timestamp", "'1970-01-01'::timestamp",
        "'1900-01-01 00:00:00.5'::timestamp", "'10000-01-01 10:00'::timestamp", "'0001-01-01 00:00:00.000001'::timestamp",
        // timestamptz
        "'2000-01-01 00:00+00'::timestamptz", "'2021-03-28 00:59:59+00'::timestamptz", "'2021-03-28 01:30:00+00'::timestamptz",
        "'2021-10-31 00:30:00+00'::timestamptz", "'2021-10-31 01:30:00+00'::timestamptz", "'2021-03-14 07:00:00+00'::timestamptz",
        "'2021-11-07 05:30:00+00'::timestamptz", "'2021-11-07 06:30:00+00'::timestamptz",
        "'1800-01-01 00:00+00'::timestamptz", "'1900-01-01 00:00+00'::timestamptz", "'infinity'::timestamptz",
        "'-infinity'::timestamptz", "'0044-03-15 12:00+00 BC'::timestamptz", "'2100-07-01 12:00+00'::timestamptz",
        "'3000-01-15 12:00+00'::timestamptz", "'2038-01-19 03:14:08+00'::timestamptz", "'1969-12-31 23:59:59.999999+00'::timestamptz",
        "'1940-06-15 00:00+00'::timestamptz", "'12345-06-15 12:00+00'::timestamptz", "'2500-03-26 01:30+00'::timestamptz",
        "'1883-11-18 17:00+00'::timestamptz", "'1911-03-11 00:00+00'::timestamptz", "'2023-06-01 12:00:00.123456+00'::timestamptz",
        "'4714-11-24 12:00+00 BC'::timestamptz", "'294276-12-31 23:59:59.999999+00'::timestamptz", "'2021-04-04 14:45+00'::timestamptz",
        "'2021-10-02 15:30+00'::timestamptz", "'1000-06-15 00:00+00'::timestamptz",
        // interval
        "'0'::interval", "'1 year 2 months 3 days 04:05:06.789'::interval", "'-1 days +02:00:00'::interval",
        "'-1 year -2 mons'::interval", "'1 day -1 second'::interval", "'1 year'::interval", "'-1 year 2 mons'::interval",
        "'178000000 years'::interval", "'-178000000 years'::interval", "'2147483647 days'::interval", "'-2147483648 days'::interval",
        "'2562047788:00:54.775807'::interval", "'-2562047788:00:54.775807'::interval", "'1 second'::interval",
        "'-1 second'::interval", "'0.000001 seconds'::interval", "'-0.5 seconds'::interval", "'1 mon -1 day'::interval",
        "'-1 mon 1 day -00:00:01'::interval", "'1 day 2 hours'::interval", "'25 hours'::interval", "'1 mon'::interval",
        "'-1 day'::interval", "'1 hour 1 minute 1 second'::interval", "'-1 year -1 mon -1 day -01:01:01.5'::interval",
        "'2 years 1 second'::interval", "'-7 days 3 hours'::interval", "'1 min'::interval",
        // json, jsonb, jsonpath
        "'{\"a\":1,  \"b\":[1,2]}'::json", "'\"str\"'::json", "'null'::json", "'{\"b\": [1, 2], \"a\": 1}'::jsonb",
        "'[]'::jsonb", "'\"x\"'::jsonb", "'{\"k\": \"üé\\u0041\", \"n\": 1.50}'::jsonb", "'$.a[*] ? (@ > 1)'::jsonpath",
        // network
        "'192.168.0.1'::inet", "'10.0.0.0/8'::inet", "'::1'::inet", "'2001:db8::1/64'::inet", "'::ffff:1.2.3.4'::inet",
        "'::'::inet", "'1::'::inet", "'0.0.0.0/0'::inet", "'fe80::1:0:0:1'::inet", "'::1.2.3.4'::inet",
        "'2001:db8:0:0:1:0:0:1'::inet", "'1:0:0:2:0:0:0:3'::inet", "'1:2:3:4:5:6:7:8'::inet", "'::ffff:0:1.2.3.4'::inet",
        "'10.0.0.0/8'::cidr", "'192.168.1.0/24'::cidr", "'2001:db8::/32'::cidr", "'0.0.0.0/0'::cidr", "'1.2.3.4/32'::cidr",
        "'::/0'::cidr", "'08:00:2b:01:02:03'::macaddr", "'ff:ff:ff:ff:ff:ff'::macaddr", "'08:00:2b:01:02:03:04:05'::macaddr8",
        // arrays
        "ARRAY[1,2,3]", "ARRAY[[1,2],[3,4]]", "'{}'::int[]", "ARRAY[1,NULL,3]", "'[0:2]={1,2,3}'::int[]",
        "'[-5:-4][1:2]={{1,2},{3,4}}'::int[]", "ARRAY['a','','NULL','null','with space','q\"uote','back\\slash','{brace}','comma,x',NULL,E'tab\\t',E'nl\\n']::text[]",
        "ARRAY[1.5,NULL,'NaN','-Infinity']::float8[]", "ARRAY['2000-01-01','infinity','0044-03-15 BC']::date[]",
        "ARRAY['1 day'::interval, '-1 mon 00:00:01']", "ARRAY['2000-01-01 12:00+00','2021-10-31 01:30+00']::timestamptz[]",
        "ARRAY['2000-01-01 12:00']::timestamp[]", "ARRAY[true,false,NULL]", "ARRAY['\\x00'::bytea, '\\x']",
        "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]", "ARRAY[1.23::numeric, 'NaN', '-1e-10']",
        "ARRAY['{\"a\": 1}'::jsonb]", "ARRAY['{\"a\": \"x y\"}'::json]", "ARRAY['192.168.0.1'::inet, '::1']", "ARRAY['10.0.0.0/8'::cidr]",
        "ARRAY[[[1]],[[2]]]", "ARRAY['a'::\"char\", '\"']", "ARRAY['x'::name, 'y z']", "ARRAY['ab'::char(3)]", "'{}'::text[][]",
        "ARRAY[NULL]::int[]", "ARRAY[ARRAY[NULL,1]]", "ARRAY['12:00'::time]", "ARRAY['12:00+01'::timetz]",
        "ARRAY[int4range(1,5), 'empty']", "ARRAY[' ', 'x y', '']::varchar[]", "ARRAY[1::int2, -2::int2]", "ARRAY[1::int8]",
        "ARRAY[1.5::float4, 'Infinity']", "ARRAY[1::oid]", "ARRAY['08:00:2b:01:02:03'::macaddr]",
        "ARRAY[[1,2,3],[4,5,6]]::int8[]", "'[2:3]={a,b}'::text[]", "'{{\"\"}}'::text[]", "ARRAY['{}'::text, 'NULLS', 'nULl']",
        // ranges, multiranges
        "int4range(1,10)", "int4range(NULL, 5)", "'empty'::int4range", "int8range(1, NULL, '[]')", "numrange(1.5, 2.5, '[]')",
        "tsrange('2000-01-01', '2001-01-01')", "tstzrange('2000-01-01 00:00+00', NULL)", "daterange('2000-01-01','2000-02-01')",
        "'(,)'::int4range", "numrange(NULL, NULL)", "int4range(-5, -1, '(]')", "daterange('-infinity', 'infinity')",
        "'{[1,3),[5,7)}'::int4multirange", "'{}'::int4multirange", "'{[2000-01-01,2000-02-01)}'::datemultirange",
        // other built-ins
        "'1 2 3'::int2vector", "'1 2'::oidvector", "''::int2vector", "'(0,1)'::tid", "'(4294967295,65535)'::tid", "'123'::xid",
        "'0'::cid", "'16/B374D848'::pg_lsn", "'0/0'::pg_lsn", "B'1010'", "B'1'::varbit", "B''::varbit", "B'101010101'::bit(9)",
        "'(1,2)'::point", "'[(1,2),(3,4)]'::lseg", "'(1,2),(3,4)'::box", "'((0,0),(1,1))'::path", "'[(0,0),(1,1)]'::path",
        "'((0,0),(1,0),(1,1))'::polygon", "'{1,-1,0}'::line", "'<(1,2),3>'::circle", "point(0.1, 1e300)",
        "ARRAY['(1,2),(3,4)'::box, '(0,0),(1,1)']", "'my cursor'::refcursor",
    ]

    /// (DateStyle, IntervalStyle, TimeZone, extra_float_digits)
    static let settings: [(String, String, String, Int)] = [
        ("ISO, MDY", "postgres", "UTC", 1),
        ("SQL, DMY", "sql_standard", "Europe/Paris", 0),
        ("Postgres, MDY", "postgres_verbose", "America/New_York", 3),
        ("German", "iso_8601", "Asia/Kolkata", -5),
        ("SQL, MDY", "postgres", "America/Sao_Paulo", 2),
        ("Postgres, DMY", "sql_standard", "Australia/Lord_Howe", -15),
        ("ISO, YMD", "postgres_verbose", "<+05>-05", 1),
        ("ISO, DMY", "iso_8601", "Europe/London", 1),
    ]

    static func set(_ oracle: CodecOracle, _ s: (String, String, String, Int)) throws {
        try oracle.connection.simpleQuery("""
            SET DateStyle = '\(s.0)'; SET IntervalStyle = '\(s.1)'; SET TimeZone = '\(s.2)'; SET extra_float_digits = \(s.3)
            """)
    }

    @Test func corpusIsLarge() {
        #expect(Self.corpus.count >= 150)
        #expect(Set(Self.corpus).count == Self.corpus.count)
    }

    @Test(arguments: settings.indices)
    func renderMatchesServerText(settingsIndex: Int) throws {
        let oracle = try CodecOracle()
        try Self.set(oracle, Self.settings[settingsIndex])
        let settings = try oracle.settings()
        #expect(settings.timeZone == Self.settings[settingsIndex].2)
        for v in try oracle.values(Self.corpus) {
            let binary = try #require(v.binary, "\(v.expression)")
            #expect(PostgresTextRenderer.supportsBinary(v.type), "\(v.expression): \(v.type)")
            let rendered = try PostgresTextRenderer.render(binary[...], type: v.type, typeModifier: v.typeModifier, settings: settings)
            #expect(rendered == v.text, "\(v.expression) [\(Self.settings[settingsIndex])]")
        }
    }

    @Test(arguments: settings.indices)
    func decodeEncodeRoundTrips(settingsIndex: Int) throws {
        let oracle = try CodecOracle()
        let s = Self.settings[settingsIndex]
        try Self.set(oracle, s)
        let context = oracle.context()
        var covered = 0
        for v in try oracle.values(Self.corpus) {
            guard let codec = CodecRoundTrip.byOID[v.type.rawValue] else { continue }
            covered += 1
            let binary = try #require(v.binary)
            let fromBinary = try codec(binary[...], v.type, .binary, context)
            #expect(CodecRoundTrip.same(fromBinary, binary, type: v.type), "binary round trip of \(v.expression): \(fromBinary) != \(binary)")
            // Text decoding must give the same value. Floats printed with fewer digits than
            // needed (extra_float_digits ≤ 0) cannot; neither can json (whitespace is kept only by binary).
            let lossyFloat = s.3 <= 0 && (v.expression.contains("float") || v.expression.contains("pi()") || v.expression.contains("point"))
            // numeric ±Infinity: the server's binary form carries a meaningless display scale.
            let infiniteNumeric = v.type == .numeric && (v.text == "Infinity" || v.text == "-Infinity")
            if lossyFloat || infiniteNumeric { continue }
            let text = try #require(v.text)
            do {
                let fromText = try codec(Array(text.utf8)[...], v.type, .text, context)
                #expect(CodecRoundTrip.same(fromText, binary, type: v.type), "text decode of \(v.expression) = \(text) [\(s)]: \(fromText) != \(binary)")
            } catch {
                Issue.record("text decode of \(v.expression) = \(text) [\(s)]: \(error)")
            }
        }
        #expect(covered >= 150)
    }
}
