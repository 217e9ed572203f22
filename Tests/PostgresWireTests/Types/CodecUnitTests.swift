import Foundation
import PostgresWire
import Testing

/// Codecs on known byte vectors, without a server.
@Suite struct CodecUnitTests {
    let ctx = PostgresDecodingContext.default

    func encode<T: PostgresEncodable>(_ value: T) throws -> [UInt8] {
        var out: [UInt8] = []
        try value.encode(into: &out, context: .default)
        return out
    }

    func decode<T: PostgresDecodable>(_: T.Type, _ bytes: [UInt8], _ type: PostgresDataType, _ format: PostgresFormat = .binary,
                                      context: PostgresDecodingContext = .default) throws -> T {
        try T.decode(from: bytes[...], type: type, format: format, context: context)
    }

    func text<T: PostgresDecodable>(_: T.Type, _ s: String, _ type: PostgresDataType, context: PostgresDecodingContext = .default) throws -> T {
        try T.decode(from: Array(s.utf8)[...], type: type, format: .text, context: context)
    }

    func reason(_ body: () throws -> Void) -> PostgresCodingError.Reason? {
        do {
            try body()
            return nil
        } catch let e as PostgresCodingError {
            return e.reason
        } catch {
            return .invalidData("unexpected \(error)")
        }
    }

    // MARK: Integers, bool, floats

    @Test func integers() throws {
        #expect(try decode(Int32.self, [0, 0, 0, 42], .int4) == 42)
        #expect(try decode(Int64.self, [0xFF, 0xFE], .int2) == -2)
        #expect(try decode(Int.self, [0, 0, 0, 0, 0, 0, 1, 0], .int8) == 256)
        #expect(try decode(UInt32.self, [0xFF, 0xFF, 0xFF, 0xFF], .oid) == 4_294_967_295)
        #expect(try decode(Int16.self, [0, 0, 0x7F, 0xFF], .int4) == 32767)
        #expect(try encode(Int32(-1)) == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try encode(42) == [0, 0, 0, 0, 0, 0, 0, 42])
        #expect(Int.postgresDataType == .int8 && Int16.postgresDataType == .int2 && UInt32.postgresDataType == .oid)
        #expect(try encode(Int8(-1)) == [0xFF] && Int8.postgresDataType == .char)
        // Narrower columns fit; wider values overflow.
        #expect(reason { _ = try decode(Int32.self, [0, 0, 1, 0, 0, 0, 0, 0], .int8) } == .overflow)
        #expect(reason { _ = try decode(Int16.self, [0, 1, 0, 0], .int4) } == .overflow)
        #expect(reason { _ = try decode(UInt32.self, [0xFF, 0xFF, 0xFF, 0xFF], .int4) } == .overflow)
        #expect(reason { _ = try decode(UInt8.self, [0, 0, 1, 0], .int4) } == .overflow)
        // Never from floats, numeric or text.
        #expect(reason { _ = try decode(Int.self, [0, 0, 0, 0, 0, 0, 0, 0], .float8) } == .typeMismatch)
        #expect(reason { _ = try decode(Int.self, [0, 0, 0, 0, 0, 0, 0, 0], .numeric) } == .typeMismatch)
        #expect(reason { _ = try decode(Int.self, Array("42".utf8), .text) } == .typeMismatch)
        #expect(reason { _ = try text(Int.self, "42", .text) } == .typeMismatch)
        // Wrong length is invalid data, not a crash.
        #expect(reason { _ = try decode(Int32.self, [0, 0, 42], .int4) } == .invalidData("expected 4 bytes, got 3"))
        // Text format.
        #expect(try text(Int.self, "-9223372036854775808", .int8) == .min)
        #expect(try text(Int16.self, "-32768", .int2) == -32768)
        #expect(reason { _ = try text(Int32.self, "1099511627776", .int8) } == .overflow)
        #expect(reason { _ = try text(Int.self, "12x", .int4) } == .invalidData("not an integer"))
    }

    @Test func boolAndChar() throws {
        #expect(try decode(Bool.self, [1], .bool) == true)
        #expect(try decode(Bool.self, [0], .bool) == false)
        #expect(try text(Bool.self, "t", .bool) && !(try text(Bool.self, "f", .bool)))
        #expect(try encode(true) == [1])
        #expect(reason { _ = try decode(Bool.self, [2], .bool) } == .invalidData("bool byte 2"))
        #expect(reason { _ = try decode(Bool.self, [0, 0, 0, 1], .int4) } == .typeMismatch)
        #expect(try decode(UInt8.self, [0xFF], .char) == 255)
        #expect(try text(UInt8.self, "\\377", .char) == 255)
        #expect(try text(UInt8.self, "a", .char) == 97)
    }

    @Test func floats() throws {
        #expect(try encode(1.5) == [0x3F, 0xF8, 0, 0, 0, 0, 0, 0])
        #expect(try encode(Float(1.5)) == [0x3F, 0xC0, 0, 0])
        #expect(try encode(-0.0) == [0x80, 0, 0, 0, 0, 0, 0, 0])
        #expect(try decode(Double.self, [0x7F, 0xF8, 0, 0, 0, 0, 0, 0], .float8).isNaN)
        #expect(try decode(Double.self, [0xFF, 0xF0, 0, 0, 0, 0, 0, 0], .float8) == -.infinity)
        #expect(try decode(Double.self, [0x3F, 0xC0, 0, 0], .float4) == 1.5)
        #expect(try decode(Float.self, try encode(1.5), .float8) == 1.5)
        #expect(reason { _ = try decode(Float.self, try encode(0.1), .float8) } == .overflow)
        #expect(reason { _ = try decode(Double.self, [0, 0, 0, 1], .int4) } == .typeMismatch)
        #expect(try text(Double.self, "-Infinity", .float8) == -.infinity)
        #expect(try text(Double.self, "NaN", .float8).isNaN)
        #expect(try text(Double.self, "1e+300", .float8) == 1e300)
        #expect(try text(Float.self, "3.4028235e+38", .float4) == .greatestFiniteMagnitude)
        #expect(try text(Double.self, "0.1", .float4) == Double(Float(0.1)))
    }

    @Test func floatFormatting() throws {
        let f8 = { (d: Double) in PostgresTextRenderer.formatFloat8(d) }
        #expect(f8(1e300) == "1e+300")
        #expect(f8(1e-5) == "1e-05")
        #expect(f8(1e-4) == "0.0001")
        #expect(f8(100000) == "100000")
        #expect(f8(1.2345678901234567e16) == "1.2345678901234568e+16")
        #expect(f8(123456789012345) == "123456789012345")
        #expect(f8(1e15) == "1e+15")
        #expect(f8(-0.0) == "-0")
        #expect(f8(0) == "0")
        #expect(f8(Double.leastNonzeroMagnitude) == "5e-324")
        #expect(f8(0.1) == "0.1")
        #expect(f8(-1.5e-7) == "-1.5e-07")
        #expect(f8(.nan) == "NaN" && f8(.infinity) == "Infinity" && f8(-.infinity) == "-Infinity")
        let f4 = { (f: Float) in PostgresTextRenderer.formatFloat4(f) }
        #expect(f4(1e6) == "1e+06")
        #expect(f4(100000) == "100000")
        #expect(f4(.greatestFiniteMagnitude) == "3.4028235e+38")
        #expect(f4(0.1) == "0.1")
        #expect(PostgresTextRenderer.formatFloat8(0.1, extraFloatDigits: 0) == "0.1")
        #expect(PostgresTextRenderer.formatFloat8(1.0 / 3, extraFloatDigits: 0) == "0.333333333333333")
        #expect(PostgresTextRenderer.formatFloat8(1.0 / 3, extraFloatDigits: -14) == "0.3")
        #expect(PostgresTextRenderer.formatFloat4(Float(1.0 / 3), extraFloatDigits: 0) == "0.333333")
        // Servers before 12 print %g with 15 + extra_float_digits digits even when it is positive.
        var old = PostgresSessionSettings(parameters: ["server_version": "11.22"], extraFloatDigits: 3)
        #expect(old.serverVersionNumber == 110_022)
        #expect(try PostgresTextRenderer.render(try encode(0.1)[...], type: .float8, settings: old) == "0.100000000000000006")
        old.serverVersionNumber = 150_000
        #expect(try PostgresTextRenderer.render(try encode(0.1)[...], type: .float8, settings: old) == "0.1")
        #expect(PostgresSessionSettings(parameters: ["server_version": "9.6.24"]).serverVersionNumber == 90624)
        #expect(PostgresSessionSettings(parameters: ["server_version": "15.18 (Debian 15.18-0+deb12u1)"]).serverVersionNumber == 150_018)
    }

    // MARK: numeric

    @Test func numeric() throws {
        let n = try #require(PostgresNumeric("12345.678"))
        #expect(n.weight == 1 && n.displayScale == 3 && n.digits == [1, 2345, 6780] && n.sign == .positive)
        #expect(try encode(n) == [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C])
        #expect(n.description == "12345.678")
        #expect(try decode(PostgresNumeric.self, try encode(n), .numeric) == n)
        #expect(PostgresNumeric("0")!.digits.isEmpty)
        #expect(PostgresNumeric("-0.000")!.description == "0.000")
        #expect(PostgresNumeric("  -0.00100e3 ")!.description == "-1.00")
        #expect(PostgresNumeric("1e-3")!.description == "0.001")
        #expect(PostgresNumeric("1.5E+10")!.description == "15000000000")
        #expect(PostgresNumeric("0.00012")!.weight == -1)
        #expect(PostgresNumeric("NaN") == .nan && PostgresNumeric("-inf") == .negativeInfinity)
        #expect(PostgresNumeric("Infinity")!.description == "Infinity")
        #expect(PostgresNumeric("1.2.3") == nil && PostgresNumeric("") == nil && PostgresNumeric("e5") == nil)
        #expect(try encode(PostgresNumeric.nan) == [0, 0, 0, 0, 0xC0, 0, 0, 0])
        let big = String(repeating: "9", count: 200) + "." + String(repeating: "1", count: 50)
        #expect(PostgresNumeric(big)!.description == big)
        #expect(PostgresNumeric(Int64.min).description == "-9223372036854775808")
        #expect(reason { _ = try decode(PostgresNumeric.self, [0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10], .numeric) } == .invalidData("invalid digit 10000"))
        #expect(reason { _ = try decode(PostgresNumeric.self, [0, 0, 0, 0, 0x12, 0x34, 0, 0], .numeric) } == .invalidData("invalid sign 0x1234"))
    }

    @Test func decimal() throws {
        let bytes = try encode(PostgresNumeric("12345.678")!)
        #expect(try decode(Decimal.self, bytes, .numeric) == Decimal(string: "12345.678")!)
        #expect(try decode(Decimal.self, try encode(PostgresNumeric("-0.000001")!), .numeric) == Decimal(string: "-0.000001")!)
        #expect(try decode(Decimal.self, [0, 0, 0, 0, 0, 0, 0, 42], .int8) == 42)
        #expect(try text(Decimal.self, "1e100", .numeric) == Decimal(sign: .plus, exponent: 100, significand: 1))
        #expect(try encode(Decimal(string: "123.45")!) == encode(PostgresNumeric("123.45")!))
        #expect(try encode(Decimal(-5)) == encode(PostgresNumeric("-5")!))
        #expect(try encode(Decimal.nan) == encode(PostgresNumeric.nan))
        // What Decimal cannot hold exactly is an error, never rounded.
        for s in ["NaN", "Infinity", "1e200", "1e-200", "1." + String(repeating: "1", count: 40)] {
            #expect(reason { _ = try decode(Decimal.self, try encode(PostgresNumeric(s)!), .numeric) } == .overflow, "\(s)")
        }
        #expect(reason { _ = try decode(Decimal.self, try encode(1.5), .float8) } == .typeMismatch)
    }

    // MARK: text, bytea, uuid

    @Test func textAndBytes() throws {
        #expect(try decode(String.self, Array("héllo".utf8), .varchar) == "héllo")
        #expect(try decode(String.self, [1] + Array("{}".utf8), .jsonb) == "{}")
        #expect(try decode(Substring.self, Array("x".utf8), .name) == "x")
        #expect(try encode("hé") == [0x68, 0xC3, 0xA9])
        #expect(reason { _ = try decode(String.self, [0xFF], .text) } == .invalidData("not valid UTF-8"))
        // Any renderable binary type reads as its server text; text format reads anything.
        #expect(try decode(String.self, [0, 0, 0, 42], .int4) == "42")
        #expect(try decode(String.self, [0, 0, 0, 0], .date) == "2000-01-01")
        #expect(try text(String.self, "12.5", .numeric) == "12.5")
        #expect(reason { _ = try decode(String.self, [0, 0, 0, 0, 0, 0, 0, 0], .money) } == .typeMismatch)

        #expect(try decode([UInt8].self, [0, 1, 255], .bytea) == [0, 1, 255])
        #expect(try text([UInt8].self, "\\x00ff10", .bytea) == [0, 0xFF, 0x10])
        #expect(try text([UInt8].self, "abc\\\\\\001\\377", .bytea) == [97, 98, 99, 92, 1, 255])
        #expect(try text(Data.self, "\\xDEAD BEEF", .bytea) == Data([0xDE, 0xAD, 0xBE, 0xEF]))
        #expect(reason { _ = try text([UInt8].self, "\\x0", .bytea) } == .invalidData("invalid hexadecimal data"))
        #expect(try encode([UInt8]([1, 2])) == [1, 2] && [UInt8].postgresDataType == .bytea)
        #expect(try encode(Data([3])) == [3])
        #expect(reason { _ = try decode(Data.self, [1], .text) } == .typeMismatch)

        let u = UUID(uuidString: "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")!
        let ub = try encode(u)
        #expect(ub.count == 16 && ub[0] == 0xA0 && ub[15] == 0x11)
        #expect(try decode(UUID.self, ub, .uuid) == u)
        #expect(try text(UUID.self, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", .uuid) == u)
        #expect(try text(UUID.self, "{a0eebc999c0b4ef8bb6d6bb9bd380a11}", .uuid) == u)
        #expect(try PostgresTextRenderer.render(ub[...], type: .uuid, settings: .default) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    }

    // MARK: date and time

    @Test func dates() throws {
        #expect(try encode(PostgresDate(year: 2000, month: 1, day: 1)!) == [0, 0, 0, 0])
        #expect(try encode(PostgresDate(year: 1999, month: 12, day: 31)!) == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(PostgresDate(year: -43, month: 3, day: 15)!.description == "0044-03-15 BC")
        #expect(PostgresDate(year: 5_874_897, month: 12, day: 31)!.description == "5874897-12-31")
        #expect(PostgresDate.infinity.description == "infinity" && PostgresDate.negativeInfinity.description == "-infinity")
        #expect(PostgresDate(year: 2023, month: 2, day: 29) == nil)
        #expect(PostgresDate(daysSince2000: -1).components! == (1999, 12, 31))
        #expect(try decode(Date.self, [0, 0, 0, 1], .date) == Date(timeIntervalSince1970: 946_684_800 + 86_400))
        #expect(reason { _ = try decode(Date.self, [0x7F, 0xFF, 0xFF, 0xFF], .date) } == .overflow)
        #expect(try text(PostgresDate.self, "0044-03-15 BC", .date) == PostgresDate(year: -43, month: 3, day: 15))
        let german = PostgresDecodingContext(parameters: ["DateStyle": "German, DMY"])
        #expect(try text(PostgresDate.self, "15.03.0044 BC", .date, context: german) == PostgresDate(year: -43, month: 3, day: 15))
        let sqlDMY = PostgresDecodingContext(parameters: ["DateStyle": "SQL, DMY"])
        #expect(try text(PostgresDate.self, "02/01/2000", .date, context: sqlDMY) == PostgresDate(year: 2000, month: 1, day: 2))
        #expect(try text(PostgresDate.self, "02/01/2000", .date) == PostgresDate(year: 2000, month: 2, day: 1))
    }

    @Test func timestamps() throws {
        let ts = PostgresTimestamp(year: 2000, month: 1, day: 1, hour: 0, minute: 0, second: 1)!
        #expect(try encode(ts) == [0, 0, 0, 0, 0, 0x0F, 0x42, 0x40])
        #expect(PostgresTimestamp(microsecondsSince2000: -1).description == "1999-12-31 23:59:59.999999")
        #expect(PostgresTimestampTZ(microsecondsSince2000: 0).description == "2000-01-01 00:00:00+00")
        #expect(PostgresTimestamp.infinity.description == "infinity")
        #expect(PostgresTimestamp(year: -4713, month: 11, day: 24)!.description == "4714-11-24 00:00:00 BC")
        let date = Date(timeIntervalSince1970: 1_700_000_000.123456)
        let bytes = try encode(date)
        #expect(Date.postgresDataType == .timestamptz)
        let back = try decode(Date.self, bytes, .timestamptz)
        #expect(abs(back.timeIntervalSince(date)) < 1e-6)
        #expect(try encode(back) == bytes)
        #expect(reason { _ = try decode(Date.self, [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], .timestamptz) } == .overflow)
        #expect(reason { _ = try decode(Date.self, [0, 0, 0, 0, 0, 0, 0, 0], .int8) } == .typeMismatch)
        #expect(try text(PostgresTimestampTZ.self, "2021-10-31 02:30:00+01", .timestamptz).microsecondsSince2000
            == PostgresTimestampTZ(year: 2021, month: 10, day: 31, hour: 1, minute: 30)!.microsecondsSince2000)
        // A repeated hour printed with its abbreviation resolves to the right instant.
        let paris = PostgresDecodingContext(parameters: ["DateStyle": "SQL, DMY", "TimeZone": "Europe/Paris"])
        #expect(try text(PostgresTimestampTZ.self, "31/10/2021 02:30:00 CEST", .timestamptz, context: paris)
            == PostgresTimestampTZ(year: 2021, month: 10, day: 31, hour: 0, minute: 30)!)
        #expect(try text(PostgresTimestampTZ.self, "31/10/2021 02:30:00 CET", .timestamptz, context: paris)
            == PostgresTimestampTZ(year: 2021, month: 10, day: 31, hour: 1, minute: 30)!)
        #expect(try text(PostgresTimestamp.self, "Sat Jan 01 00:00:00.5 2000", .timestamp,
                         context: .init(parameters: ["DateStyle": "Postgres, MDY"])).microsecondsSince2000 == 500_000)
    }

    @Test func timesAndIntervals() throws {
        #expect(try encode(PostgresTime(hour: 24, minute: 0, second: 0)!) == [0, 0, 0, 0x14, 0x1D, 0xD7, 0x60, 0])
        #expect(PostgresTime(microsecondsSinceMidnight: 1).description == "00:00:00.000001")
        let tz = PostgresTimeTZ(time: PostgresTime(hour: 12, minute: 0, second: 0)!, utcOffsetSeconds: 7200)
        #expect(try encode(tz).suffix(4) == [0xFF, 0xFF, 0xE3, 0xE0])  // -7200: the wire stores seconds west
        #expect(tz.description == "12:00:00+02")
        #expect(try text(PostgresTimeTZ.self, "12:00:00.25-03:30:15", .timetz).utcOffsetSeconds == -(3 * 3600 + 30 * 60 + 15))
        let iv = PostgresInterval(months: 14, days: 3, microseconds: 14_706_789_000)
        #expect(try encode(iv) == [0, 0, 0, 3, 108, 151, 202, 136, 0, 0, 0, 3, 0, 0, 0, 14])
        #expect(iv.description == "1 year 2 mons 3 days 04:05:06.789")
        #expect(try decode(PostgresInterval.self, try encode(iv), .interval) == iv)
        for style in ["postgres", "postgres_verbose", "sql_standard", "iso_8601"] {
            let settings = PostgresSessionSettings(intervalStyle: style)
            for v in [iv, PostgresInterval(months: -1, days: 1, microseconds: -1), PostgresInterval(), PostgresInterval(days: -3),
                      PostgresInterval(microseconds: -500_000), PostgresInterval(months: -14)] {
                let s = try PostgresTextRenderer.render(try encode(v)[...], type: .interval, settings: settings)
                #expect(try text(PostgresInterval.self, s, .interval) == v, "\(style): \(s)")
            }
        }
        #expect(try PostgresTextRenderer.render(try encode(iv)[...], type: .interval, settings: .init(intervalStyle: "iso_8601"))
            == "P1Y2M3DT4H5M6.789S")
        #expect(try PostgresTextRenderer.render(try encode(PostgresInterval(days: -1, microseconds: 7_200_000_000))[...], type: .interval,
                                                settings: .init(intervalStyle: "postgres_verbose")) == "@ 1 day -2 hours ago")
    }

    @Test func timeZones() throws {
        let paris = try #require(PostgresTimeZone.named("Europe/Paris"))
        let summer = PostgresTimestampTZ(year: 2021, month: 7, day: 1, hour: 12)!.microsecondsSince2000 / 1_000_000 + 946_684_800
        #expect(paris.localTimeType(atUnixSeconds: summer) == .init(utcOffset: 7200, isDST: true, abbreviation: "CEST"))
        #expect(paris.localTimeType(atUnixSeconds: -5_000_000_000).abbreviation == "LMT")
        // Far future: the POSIX footer rule.
        let far = PostgresTimestampTZ(year: 9999, month: 7, day: 1)!.microsecondsSince2000 / 1_000_000 + 946_684_800
        #expect(paris.localTimeType(atUnixSeconds: far).abbreviation == "CEST")
        let fixed = try #require(PostgresTimeZone.named("<+05>-05"))
        #expect(fixed.localTimeType(atUnixSeconds: 0) == .init(utcOffset: 18_000, isDST: false, abbreviation: "+05"))
        let posix = try #require(PostgresTimeZone.named("XST3XDT,M3.2.0,M11.1.0"))
        #expect(posix.localTimeType(atUnixSeconds: summer).abbreviation == "XDT")
        #expect(posix.localTimeType(atUnixSeconds: summer).utcOffset == -7200)
        #expect(PostgresTimeZone.named("No/Such_Zone") == nil)
        let ny = PostgresSessionSettings(dateStyle: "Postgres, MDY", timeZone: "America/New_York")
        let bytes = try encode(PostgresTimestampTZ(year: 2021, month: 11, day: 7, hour: 6, minute: 30)!)
        #expect(try PostgresTextRenderer.render(bytes[...], type: .timestamptz, settings: ny) == "Sun Nov 07 01:30:00 2021 EST")
    }

    // MARK: network, json

    @Test func network() throws {
        let inet = try #require(PostgresInet("192.168.0.1/24"))
        #expect(try encode(inet) == [2, 24, 0, 4, 192, 168, 0, 1])
        #expect(inet.description == "192.168.0.1/24")
        #expect(PostgresInet("10.0.0.0/8", isCIDR: true)!.description == "10.0.0.0/8")
        #expect(PostgresInet("1.2.3.4/32", isCIDR: true)!.description == "1.2.3.4/32")
        for (input, output) in [("::1", "::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
                                ("1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"), ("::", "::"), ("fe80::/10", "fe80::/10")] {
            #expect(PostgresInet(input)!.description == output)
        }
        let cidr = try decode(PostgresInet.self, [3, 32, 1, 16, 0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 12), .cidr)
        #expect(cidr.isCIDR && cidr.description == "2001:db8::/32")
        #expect(reason { _ = try decode(PostgresInet.self, [2, 33, 0, 4, 1, 2, 3, 4], .inet) } == .invalidData("invalid prefix length 33"))
        let mac = try decode(PostgresMacAddress.self, [8, 0, 0x2b, 1, 2, 3], .macaddr)
        #expect(mac.description == "08:00:2b:01:02:03")
        #expect(try text(PostgresMacAddress.self, "08:00:2b:01:02:03:04:05", .macaddr8).bytes.count == 8)
    }

    struct Payload: Codable, Equatable, Sendable {
        var name: String
        var tags: [String]
    }

    @Test func json() throws {
        let value = PostgresJSON(Payload(name: "n", tags: ["a"]))
        let bytes = try encode(value)
        #expect(bytes.first == 1 && PostgresJSON<Payload>.postgresDataType == .jsonb)
        #expect(try decode(PostgresJSON<Payload>.self, bytes, .jsonb) == value)
        #expect(try decode(PostgresJSON<Payload>.self, Array(#"{"name":"n","tags":["a"]}"#.utf8), .json).value == value.value)
        #expect(try text(PostgresJSON<[Int]>.self, "[1, 2]", .jsonb).value == [1, 2])
        #expect(reason { _ = try decode(PostgresJSON<Payload>.self, [2] + Array("{}".utf8), .jsonb) } == .invalidData("unsupported jsonb version 2"))
        #expect(reason { _ = try decode(PostgresJSON<Payload>.self, [0, 0, 0, 1], .int4) } == .typeMismatch)
    }

    // MARK: arrays

    @Test func arrays() throws {
        let one: [Int32] = [1, 2]
        #expect(try encode(one) == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 2, 0, 0, 0, 1,
                                    0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2])
        #expect([Int32].postgresDataType == .int4Array && [[Int32]].postgresDataType == .int4Array)
        #expect([String?].postgresDataType == .textArray && [[UInt8]].postgresDataType == .byteaArray)
        let withNull: [Int32?] = [1, nil]
        let nb = try encode(withNull)
        #expect(nb[7] == 1)  // has-null flag
        #expect(try decode([Int32?].self, nb, .int4Array) == [1, nil])
        #expect(reason { _ = try decode([Int32].self, nb, .int4Array) } == .unexpectedNull)
        let grid: [[Int]] = [[1, 2, 3], [4, 5, 6]]
        let gb = try encode(grid)
        #expect(gb[3] == 2 && gb[11] == 20)  // two dimensions of int8
        #expect(try decode([[Int]].self, gb, .int8Array) == grid)
        #expect(try decode([[Int32]].self, try encode([[Int32]]()), .int4Array) == [])
        #expect(reason { _ = try decode([Int].self, gb, .int8Array) }
            == .invalidData("the array has 2 dimensions; decode a nested Swift array or PostgresArray"))
        #expect(reason { _ = try encode([[1], [2, 3]]) } == .invalidData("sub-arrays must all have the same length"))
        let pa = try decode(PostgresArray<Int>.self, gb, .int8Array)
        #expect(pa.dimensions == [.init(length: 2), .init(length: 3)] && pa.element(at: 2, 3) == 6)
        let shifted = PostgresArray([10, 20, 30], lowerBound: 0)
        let sb = try encode(shifted)
        #expect(try decode(PostgresArray<Int>.self, sb, .int8Array) == shifted)
        #expect(try PostgresTextRenderer.render(sb[...], type: .int8Array, settings: .default) == "[0:2]={10,20,30}")
        #expect(try encode([[UInt8]]([[1], [2, 3]])).count == 20 + 4 + 1 + 4 + 2)
        #expect(try decode([[UInt8]].self, try encode([[UInt8]]([[1], [2, 3]])), .byteaArray) == [[1], [2, 3]])
        #expect(reason { _ = try decode([Int].self, [0, 0, 0, 1], .int4) } == .typeMismatch)
        #expect(reason { _ = try decode([Int].self, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0x7F, 0, 0, 0, 0, 0, 0, 1], .int4Array) }
            == .invalidData("array size exceeds the data"))
    }

    @Test func textArrays() throws {
        let s = #"{"a\"b",NULL,"NULL",  x y  ,"",\\,"{}"}"#
        #expect(try text([String?].self, s, .textArray) == ["a\"b", nil, "NULL", "x y", "", "\\", "{}"])
        #expect(try text([[Int]].self, "{{1,2},{3,4}}", .int8Array) == [[1, 2], [3, 4]])
        #expect(try text([[String]].self, #"{{""}}"#, .textArray) == [[""]])
        let pa = try text(PostgresArray<Int32>.self, "[-5:-4][1:2]={{1,2},{3,4}}", .int4Array)
        #expect(pa.dimensions == [.init(length: 2, lowerBound: -5), .init(length: 2, lowerBound: 1)])
        #expect(try text([Int].self, "{}", .int8Array) == [])
        #expect(try text([Int16].self, "1 2 3", .int2vector) == [1, 2, 3])
        #expect(reason { _ = try text([Int].self, "{{1},2}", .int8Array) } == .invalidData("malformed array literal: mixed dimensions"))
        #expect(reason { _ = try text([Int].self, "{1,2", .int8Array) } == .invalidData("malformed array literal: unexpected end"))
        #expect(reason { _ = try text([[Int]].self, "{{1},{2,3}}", .int8Array) }
            == .invalidData("malformed array literal: sub-arrays of different lengths"))
        // array_out quoting, checked against the rules.
        let values: [String?] = ["", "NULL", "null", "a b", "q\"", "b\\", "{", "x,y", nil, "plain", "tab\t"]
        #expect(try PostgresTextRenderer.render(try encode(values)[...], type: .textArray, settings: .default)
            == #"{"","NULL","null","a b","q\"","b\\","{","x,y",NULL,plain,"tab"# + "\t\"}")
    }

    // MARK: ranges, records

    @Test func ranges() throws {
        let r = PostgresRange<Int32>(lower: 1, upper: 10)
        #expect(try encode(r) == [0x02, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 10])
        #expect(PostgresRange<Int32>.postgresDataType == .int4range && PostgresRange<Date>.postgresDataType == .tstzrange)
        #expect(try decode(PostgresRange<Int32>.self, try encode(r), .int4range) == r)
        #expect(try text(PostgresRange<Int32>.self, "[1,10)", .int4range) == r)
        #expect(try text(PostgresRange<Int32>.self, "empty", .int4range).isEmpty)
        #expect(try text(PostgresRange<Int32>.self, "(,5]", .int4range) == PostgresRange(lower: nil, upper: 5, upperInclusive: true))
        #expect(try encode(PostgresRange<Int32>.empty) == [1])
        let ts = try text(PostgresRange<PostgresTimestamp>.self, #"["2000-01-01 00:00:00","2001-01-01 00:00:00")"#, .tsrange)
        #expect(ts.lower == PostgresTimestamp(year: 2000, month: 1, day: 1) && ts.upper == PostgresTimestamp(year: 2001, month: 1, day: 1))
        #expect(try PostgresTextRenderer.render(try encode(PostgresRange<PostgresTimestamp>(lower: ts.lower, upper: nil))[...],
                                                type: .tsrange, settings: .default) == #"["2000-01-01 00:00:00",)"#)
        #expect(reason { _ = try decode(PostgresRange<Int32>.self, [2], .int4) } == .typeMismatch)
        let mr = try text(PostgresMultirange<Int32>.self, "{[1,3), [5,7)}", .int4multirange)
        #expect(mr.ranges == [PostgresRange(lower: 1, upper: 3), PostgresRange(lower: 5, upper: 7)])
        #expect(try decode(PostgresMultirange<Int32>.self, try encode(mr), .int4multirange) == mr)
    }

    @Test func records() throws {
        var bytes: [UInt8] = [0, 0, 0, 3]
        bytes += [0, 0, 0, 23, 0, 0, 0, 4, 0, 0, 0, 7]
        bytes += [0, 0, 0, 25, 0, 0, 0, 3] + Array("a b".utf8)
        bytes += [0, 0, 0, 25, 0xFF, 0xFF, 0xFF, 0xFF]
        let record = try decode(PostgresRecord.self, bytes, .record)
        #expect(record.count == 3)
        #expect(try record.decode(Int.self, at: 0) == 7)
        #expect(try record.decode(String.self, at: 1) == "a b")
        #expect(try record.decode(String?.self, at: 2) == nil)
        #expect(try PostgresTextRenderer.render(bytes[...], type: .record, settings: .default) == #"(7,"a b",)"#)
        #expect(!PostgresTextRenderer.supportsBinary(.record))
        let t = try text(PostgresRecord.self, #"(7,"a ""b""",,"")"#, .record)
        #expect(t.fields.map(\.bytes) == [Array("7".utf8), Array("a \"b\"".utf8), nil, []])
        #expect(try t.decode(Int.self, at: 0) == 7)
        let e = #expect(throws: PostgresCodingError.self) { try record.decode(Int.self, at: 1) }
        #expect(e?.column == "field 2" && e?.reason == .typeMismatch)
    }

    // MARK: registry, errors

    @Test func registry() throws {
        let registry = PostgresTypeRegistry()
        for t: PostgresDataType in [.bool, .int4, .numeric, .timestamptz, .int4Array, .jsonb, .int4range, .uuid, .interval] {
            #expect(registry.resultFormat(for: t) == .binary, "\(t)")
            #expect(PostgresTextRenderer.supportsBinary(t, registry: registry), "\(t)")
        }
        for t: PostgresDataType in [.money, .moneyArray, .record, .regclass, .xml, PostgresDataType(99_999)] {
            #expect(registry.resultFormat(for: t) == .text, "\(t)")
            #expect(!PostgresTextRenderer.supportsBinary(t, registry: registry), "\(t)")
        }
        // Printable but without a Swift type of their own: rendered by the CLI, requested as text by connections.
        #expect(registry.resultFormat(for: .point) == .text && PostgresTextRenderer.supportsBinary(.point, registry: registry))
        #expect(registry.arrayType(of: .int4) == .int4Array && registry.elementType(ofArray: .textArray) == .text)
        #expect(registry.rangeType(of: .date) == .daterange && registry.multirangeType(of: .int4range) == .int4multirange)
        let mood = PostgresDataType(90_001), moods = PostgresDataType(90_002)
        registry.registerEnum(mood, name: "mood", arrayType: moods)
        #expect(registry.hasBinaryDecoder(for: mood) && registry.hasBinaryDecoder(for: moods))
        #expect(PostgresTextRenderer.supportsBinary(moods, registry: registry))
        let context = PostgresDecodingContext(registry: registry)
        #expect(try decode(String.self, Array("happy".utf8), mood, context: context) == "happy")
        #expect(reason { _ = try decode(String.self, Array("happy".utf8), mood) } == .typeMismatch)
        let point2 = PostgresDataType(90_003)
        registry.register(point2, name: "point2", render: { bytes, _ in "<\(bytes.count) bytes>" })
        #expect(try PostgresTextRenderer.render([1, 2][...], type: point2, settings: .default, registry: registry) == "<2 bytes>")
        registry.unregister(mood)
        #expect(!registry.hasBinaryDecoder(for: mood) && !registry.hasBinaryDecoder(for: moods))
        #expect(PostgresTypeRegistry.shared.hasBinaryDecoder(for: .int8))
        #expect(PostgresDataType.int4.description == "int4" && PostgresDataType(99_999).description == "oid 99999")
    }

    @Test func errorDescriptions() {
        #expect(PostgresCodingError(.overflow, type: .int8, swiftType: Int32.self, column: "big").description
            == "column \"big\" of type int8 does not fit in Int32")
        #expect(PostgresCodingError(.unexpectedNull, type: .int4, swiftType: Int.self, column: "n").description
            == "column \"n\" is NULL but Int is not optional")
        #expect(PostgresCodingError(.typeMismatch, type: .float8, swiftType: Int.self, column: "f").description
            == "column \"f\" of type float8 cannot be decoded as Int")
        #expect(PostgresCodingError(.missingColumn, type: .unspecified, swiftType: Int.self, column: "x").description
            == "column \"x\" does not exist in the row")
    }
}
