import Foundation
import PostgresWire
import Testing
import TestSupport

/// The text renderer against the server on large generated samples: timestamps over centuries in
/// zones with odd rules, random floats and numerics, every interval style, bytea escape output.
/// Each sample is one array value, so one binary/text pair checks thousands of elements.
@Suite(.serialized) struct TextRenderTests {
    static let zones = [
        "UTC", "GMT", "Europe/Paris", "Europe/Dublin", "Africa/Casablanca", "America/Sao_Paulo", "Australia/Lord_Howe",
        "Pacific/Chatham", "Asia/Tehran", "America/St_Johns", "Pacific/Apia", "Antarctica/Troll", "Asia/Kathmandu",
        "EST5EDT", "Etc/GMT+5", "<-03>3", "America/New_York", "Pacific/Kiritimati", "Europe/Moscow", "Asia/Kolkata",
    ]

    /// Renders the value of `expression` (one row, one column) from binary and compares with the text.
    func check(_ oracle: CodecOracle, _ expression: String, decode: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let v = try oracle.values([expression], prelude: "SELECT setseed(0.25)")[0]
        let settings = try oracle.settings()
        let binary = try #require(v.binary, sourceLocation: sourceLocation)
        let rendered = try PostgresTextRenderer.render(binary[...], type: v.type, settings: settings)
        if rendered != v.text {
            // Report the first differing element rather than two huge strings.
            let r = rendered.split(separator: ","), t = (v.text ?? "").split(separator: ",")
            let i = zip(r, t).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(r.count, t.count)
            let mine = i < r.count ? String(r[i]) : "-", theirs = i < t.count ? String(t[i]) : "-"
            Issue.record("\(expression) [\(settings.dateStyleString), \(settings.timeZone)] element \(i): \(mine) != server \(theirs)",
                         sourceLocation: sourceLocation)
        }
        if decode, let codec = CodecRoundTrip.byOID[v.type.rawValue], let text = v.text {
            let fromText = try codec(Array(text.utf8)[...], v.type, .text, oracle.context())
            #expect(CodecRoundTrip.same(fromText, binary, type: v.type), "text decode of \(expression)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: zones)
    func timestamptzAcrossCenturies(zone: String) throws {
        let oracle = try CodecOracle()
        // ISO shows offsets, the other styles abbreviations; one of them per zone keeps this quick.
        let other = ["SQL, DMY", "Postgres, MDY", "German", "SQL, MDY"][Self.zones.firstIndex(of: zone)! % 4]
        for style in ["ISO, MDY", other] {
            try oracle.connection.simpleQuery("SET TimeZone = '\(zone)'; SET DateStyle = '\(style)'")
            try check(oracle, "(SELECT array_agg(t) FROM generate_series('1800-01-01 00:00+00'::timestamptz, '2200-01-01', '29 days 7 hours 13 minutes 17.5 seconds') t)")
            try check(oracle, "(SELECT array_agg(t) FROM generate_series('2018-01-01 00:00+00'::timestamptz, '2030-01-01', '7 hours 7 minutes 1.000001 seconds') t)")
            try check(oracle, "(SELECT array_agg(t) FROM generate_series('4713-01-01 00:00+00 BC'::timestamptz, '9999-01-01', '367 days 5 hours') t)")
            try check(oracle, "ARRAY['294276-12-31 23:59:59.999999+00'::timestamptz, '4714-11-24 12:00+00 BC', '100000-07-01 12:00+00', 'infinity']")
        }
    }

    @Test func datesTimestampsAndTimes() throws {
        let oracle = try CodecOracle()
        for style in ["ISO, MDY", "SQL, DMY", "SQL, MDY", "Postgres, DMY", "Postgres, MDY", "German", "ISO, YMD"] {
            try oracle.connection.simpleQuery("SET DateStyle = '\(style)'")
            try check(oracle, "(SELECT array_agg(t::date) FROM generate_series('4714-11-24 BC'::timestamp, '9999-12-31', '97 days') t)")
            try check(oracle, "ARRAY['5874897-12-31'::date, '-infinity', '0001-01-01 BC', '0001-01-01']")
            try check(oracle, "(SELECT array_agg(t) FROM generate_series('4714-11-24 BC'::timestamp, '290000-01-01', '9973 days 3 hours 0.000007 seconds') t)")
            try check(oracle, "(SELECT array_agg(t::time) FROM generate_series('2000-01-01'::timestamp, '2000-01-02', '17 minutes 0.123 seconds') t)")
            try check(oracle, "(SELECT array_agg(make_time(h, 30, 0.5)::timetz) FROM generate_series(0, 23) h)")
        }
    }

    @Test(arguments: [-15, -3, 0, 1, 3])
    func randomFloats(extraFloatDigits: Int) throws {
        let oracle = try CodecOracle()
        try oracle.connection.simpleQuery("SET extra_float_digits = \(extraFloatDigits)")
        let decode = extraFloatDigits > 0
        try check(oracle, "(SELECT array_agg((random() - 0.5) * 10 ^ (random() * 600 - 300)) FROM generate_series(1, 3000))", decode: decode)
        try check(oracle, "(SELECT array_agg(((random() - 0.5) * 10 ^ (random() * 70 - 35))::float4) FROM generate_series(1, 3000))", decode: decode)
        try check(oracle, "(SELECT array_agg(round(random() * 10 ^ (g % 20)) / 10 ^ (g % 7)) FROM generate_series(1, 2000) g)", decode: decode)
        try check(oracle, "(SELECT array_agg((round(random() * 10 ^ (g % 9)) / 10 ^ (g % 5))::float4) FROM generate_series(1, 2000) g)", decode: decode)
        try check(oracle, "(SELECT array_agg(2 ^ g) FROM generate_series(-1074, 1023, 7) g)", decode: decode)
        // Values with short decimal neighbours: where the rounding interval's bounds matter.
        try check(oracle, "(SELECT array_agg(((random() * 2 ^ 40)::int8)::float4) FROM generate_series(1, 10000))", decode: decode)
        try check(oracle, "(SELECT array_agg(((random() * 10 ^ 12)::int8 * 10 ^ (g % 15))::float8) FROM generate_series(1, 10000) g)", decode: decode)
        try check(oracle, "ARRAY['4.9e-324'::float8, '2.2250738585072009e-308', '1.7976931348623157e308', '-0', 'NaN', '1e23', '9007199254740993']", decode: decode)
        try check(oracle, "ARRAY['5.1712592e+07'::float4, '3.5039448e+07', '1e10', '8589973e3']", decode: decode)
        try check(oracle, "ARRAY['7.540007629577901e+16'::float8, '9.5e+22', '1e22', '1e21', '2e23', '8.41e21', '5e22']", decode: decode)
        try check(oracle, "ARRAY['1.4e-45'::float4, '1.17549435e-38', '3.4028235e38', '-0', '16777217', '0.3']", decode: decode)
        try check(oracle, "(SELECT array_agg(point(random() * 1e10, -random())) FROM generate_series(1, 200))", decode: false)
    }

    @Test func randomNumerics() throws {
        let oracle = try CodecOracle()
        try check(oracle, "(SELECT array_agg(round(((random() - 0.5) * 10 ^ (random() * 60 - 30))::numeric, (random() * 40)::int)) FROM generate_series(1, 3000))")
        try check(oracle, "(SELECT array_agg(trunc(random() * 10 ^ (g % 30))::numeric * 10 ^ (g % 13 - 6)::numeric) FROM generate_series(1, 2000) g)")
        try check(oracle, "(SELECT array_agg(factorial(g)) FROM generate_series(1, 60) g)")
        try check(oracle, "ARRAY[1e-300::numeric(1000, 500) / 3, 'NaN', '-0.0000', 123456789012345678901234567890.000000000000000000001]")
    }

    @Test func randomIntervalsInEveryStyle() throws {
        let oracle = try CodecOracle()
        for style in ["postgres", "postgres_verbose", "sql_standard", "iso_8601"] {
            try oracle.connection.simpleQuery("SET IntervalStyle = '\(style)'")
            let sign = "(CASE WHEN random() < 0.3 THEN -1 WHEN random() < 0.5 THEN 0 ELSE 1 END)"
            try check(oracle, """
                (SELECT array_agg(make_interval(years => \(sign) * (random() * 100)::int, months => \(sign) * (random() * 30)::int,
                   days => \(sign) * (random() * 400)::int, hours => \(sign) * (random() * 50)::int,
                   mins => \(sign) * (random() * 70)::int, secs => \(sign) * round((random() * 70)::numeric, (random() * 6)::int)))
                 FROM generate_series(1, 3000))
                """)
        }
    }

    @Test func byteaEscapeOutput() throws {
        let oracle = try CodecOracle()
        try oracle.connection.simpleQuery("SET bytea_output = escape")
        try check(oracle, "(SELECT string_agg(set_byte('\\x00'::bytea, 0, g), ''::bytea) FROM generate_series(0, 255) g)")
        try check(oracle, "ARRAY['\\x'::bytea, 'a\\\\b', '\\x5c5c22']")
        try oracle.connection.simpleQuery("SET bytea_output = hex")
        try check(oracle, "(SELECT string_agg(set_byte('\\x00'::bytea, 0, g), ''::bytea) FROM generate_series(0, 255) g)")
    }

    @Test func textsNeedingQuotes() throws {
        let oracle = try CodecOracle()
        // Every ASCII character alone and inside a word, in arrays, ranges' bounds and records.
        try check(oracle, "(SELECT array_agg(chr(g)) FROM generate_series(1, 127) g)")
        try check(oracle, "(SELECT array_agg('a' || chr(g) || 'b') FROM generate_series(1, 127) g)")
        try check(oracle, "(SELECT array_agg(ROW(chr(g), g, 'x y')::text) FROM generate_series(1, 127) g)")
        try check(oracle, "(SELECT array_agg(ROW(chr(g), g, NULL::int, 'a' || chr(g))) FROM generate_series(1, 127) g)")
        try check(oracle, "(SELECT array_agg(tsrange('2020-02-29 12:34:56.789'::timestamp - g * interval '1 day 1 second', NULL)) FROM generate_series(1, 5) g)")
        try check(oracle, "ARRAY[E'\\u00a0', 'é', '日本', 'NULL x', 'NuLl', E'\\\\', '\"']")
    }
}
