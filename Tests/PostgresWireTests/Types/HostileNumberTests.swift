import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing

/// Boundary numbers wherever the client parses a number out of the server's text or binary data:
/// every parse either succeeds or throws a typed error, never traps (a trap would kill the test
/// process, so merely finishing is part of the assertion).
@Suite struct HostileNumberTests {
    /// 0, -1, ±2^31 (and one past), ±2^63 (and one past), 20-digit runs, non-ASCII digits
    /// (Arabic-Indic, fullwidth, a digit with a combining mark), empty, signs alone.
    static let values = [
        "0", "-1", "1", "2147483647", "2147483648", "-2147483648", "-2147483649",
        "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "-9223372036854775809", "18446744073709551616", "99999999999999999999", "-99999999999999999999",
        "00000000000000000000000000000001", "٣", "١٢٣", "３", "1\u{301}", "", "-", "+", "+-1",
    ]

    static func decodes<T: PostgresDecodable>(_: T.Type, _ text: String, _ type: PostgresDataType,
                                              _ context: PostgresDecodingContext) -> Result<T, PostgresCodingError> {
        do throws(PostgresCodingError) {
            return .success(try T.decode(from: Array(text.utf8)[...], type: type, format: .text, context: context))
        } catch {
            return .failure(error)
        }
    }

    static func renders(_ bytes: [UInt8], _ type: PostgresDataType, _ settings: PostgresSessionSettings = .default) -> Result<String, PostgresCodingError> {
        do throws(PostgresCodingError) {
            return .success(try PostgresTextRenderer.render(bytes[...], type: type, settings: settings))
        } catch {
            return .failure(error)
        }
    }

    // MARK: ParameterStatus

    @Test("server_version: any text gives a version or the default, libpq's reading of the rest")
    func serverVersion() {
        for v in Self.values {
            for text in [v, "15.\(v)", "\(v).1", "9.6.\(v)", "\(v).\(v).\(v)", "\(v)beta1", "\(v) (Debian)"] {
                let settings = PostgresSessionSettings(parameters: ["server_version": text])
                #expect(settings.serverVersionNumber >= 0, "\(text)")
                // The version steers float and "char" output: render with it.
                _ = Self.renders([0x3f, 0xf0, 0, 0, 0, 0, 0, 0], .float8, settings)
            }
        }
        func version(_ text: String) -> Int { PostgresSessionSettings(parameters: ["server_version": text]).serverVersionNumber }
        #expect(version("15.18 (Debian 15.18-0+deb12u1)") == 150_018)
        #expect(version("9.6.24") == 90_624)
        #expect(version("17beta1") == 170_000)
        #expect(version("10") == 100_000)
        // Unreadable or out of range: the default (15) stays.
        #expect(version("9223372036854775807") == 150_000)
        #expect(version("15.9223372036854775807") == 150_000)
        #expect(version("٣") == 150_000)
        #expect(version("") == 150_000)
        #expect(version("214749") == 150_000)  // 214749 * 10000 is beyond int4
        #expect(version("214748") == 2_147_480_000)
    }

    @Test("extra_float_digits out of the server's range is clamped, not overflowed")
    func extraFloatDigits() {
        for efd in [Int.max, Int.min, Int(Int32.max), Int(Int32.min), -16, 4, 100] {
            for version in ["11.1", "15.1"] {
                let settings = PostgresSessionSettings(parameters: ["server_version": version], extraFloatDigits: efd)
                #expect(Self.renders([0x3f, 0xf0, 0, 0, 0, 0, 0, 0], .float8, settings).isSuccess, "efd \(efd)")
                #expect(Self.renders([0x3f, 0x80, 0, 0], .float4, settings).isSuccess, "efd \(efd)")
            }
        }
        #expect(PostgresTextRenderer.formatFloat8(0.1, extraFloatDigits: Int.min) == "0.1")
        #expect(PostgresTextRenderer.formatFloat4(0.5, extraFloatDigits: Int.min + 1) == "0.5")
    }

    @Test("TimeZone settings with any numbers resolve or fall back to UTC")
    func timeZoneSettings() {
        for v in Self.values {
            for zone in ["UTC+\(v)", "<+\(v)>-\(v)", "EST\(v)EDT", "EST5EDT,M\(v).2.0,M11.1.0", "XXX\(v):\(v):\(v)", v] {
                let settings = PostgresSessionSettings(parameters: ["TimeZone": zone])
                _ = Self.renders([0, 0, 0, 0, 0, 0, 0, 0], .timestamptz, settings)
                _ = Self.decodes(PostgresTimestampTZ.self, "2000-01-01 00:00:00 EST", .timestamptz,
                                 PostgresDecodingContext(parameters: ["TimeZone": zone]))
            }
        }
    }

    // MARK: Text values

    static let textTemplates: [(PostgresDataType, [String])] = [
        (.int2, ["V"]), (.int4, ["V", " V "]), (.int8, ["V"]), (.float8, ["V", "Ve5", "1eV"]),
        (.numeric, ["V", "V.V", "1eV", "1e-V", "0.V"]),
        (.date, ["V-01-01", "2000-V-01", "2000-01-V", "V-V-V", "01/01/V", "V.01.2000", "V-01-01 BC"]),
        (.time, ["V:00:00", "00:V:00", "00:00:V", "00:00:00.V", "V:V:V.V"]),
        (.timetz, ["00:00:00+V", "00:00:00-V", "00:00:00+V:V", "00:00:00+01:V:V", "V:00:00+01"]),
        (.timestamp, ["V-01-01 00:00:00", "2000-01-01 V:00:00", "2000-01-01 00:00:V.V", "Sat Jan V 00:00:00 V",
                      "2000-01-01 00:00:00.V", "V-12-31 23:59:59.999999"]),
        (.timestamptz, ["2000-01-01 00:00:00+V", "2000-01-01 00:00:00-V:V", "2000-01-01 00:00:00+01:V:V",
                        "V-01-01 00:00:00+00", "2000-01-01 V:00:00 UTC", "01/01/V 00:00:00 EST", "294276-12-31 23:59:59+V",
                        "V-01-01 00:00:00 BC"]),
        (.interval, ["V years", "V mons", "V days", "V:00:00", "V hours", "V mins", "V secs", "@ V mins ago", "@ V years V days ago",
                     "PVY", "PVM", "PVW", "PVD", "PTVH", "PTVM", "PTVS", "PT0.VS", "V-V", "+V-V +V +V:00:00", "-V V:00:00",
                     "V years V mons V days V:V:V"]),
        (.int4Array, ["{V}", "{V,V}", "[V:V]={1}", "[1:V]={1}", "[V]={1}", "[V:1]={}", "{{V},{V}}"]),
        (.macaddr, ["08:00:2b:01:02:V", "V"]),
        (.inet, ["1.2.3.V", "1.2.3.4/V", "::V"]),
        (.uuid, ["V", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380aV"]),
        (.bool, ["V"]),
    ]

    static func decodeEverything(_ text: String, _ type: PostgresDataType, _ context: PostgresDecodingContext) -> Int {
        var failures = 0
        func count<T>(_ r: Result<T, PostgresCodingError>) { if case .failure = r { failures += 1 } }
        count(decodes(Int.self, text, type, context))
        count(decodes(Int16.self, text, type, context))
        count(decodes(Double.self, text, type, context))
        count(decodes(PostgresNumeric.self, text, type, context))
        count(decodes(Decimal.self, text, type, context))
        count(decodes(PostgresDate.self, text, type, context))
        count(decodes(Date.self, text, type, context))
        count(decodes(PostgresTime.self, text, type, context))
        count(decodes(PostgresTimeTZ.self, text, type, context))
        count(decodes(PostgresTimestamp.self, text, type, context))
        count(decodes(PostgresTimestampTZ.self, text, type, context))
        count(decodes(PostgresInterval.self, text, type, context))
        count(decodes([Int].self, text, type, context))
        count(decodes([[Int32]].self, text, type, context))
        count(decodes(PostgresArray<Int>.self, text, type, context))
        count(decodes(PostgresMacAddress.self, text, type, context))
        count(decodes(PostgresInet.self, text, type, context))
        count(decodes(UUID.self, text, type, context))
        count(decodes(Bool.self, text, type, context))
        count(decodes(String.self, text, type, context))
        return failures
    }

    @Test("text values with boundary numbers in every numeric field decode or throw PostgresCodingError",
          arguments: ["ISO, MDY", "SQL, DMY", "Postgres, MDY", "German, DMY"])
    func textValues(_ dateStyle: String) {
        let context = PostgresDecodingContext(parameters: ["DateStyle": dateStyle, "TimeZone": "America/New_York",
                                                           "IntervalStyle": "postgres"])
        var failures = 0
        for (type, templates) in Self.textTemplates {
            for template in templates {
                for v in Self.values {
                    failures += Self.decodeEverything(template.replacingOccurrences(of: "V", with: v), type, context)
                }
            }
        }
        #expect(failures > 1000)
    }

    @Test("impossible text values are decoding errors")
    func impossibleTextValues() {
        let context = PostgresDecodingContext.default
        let rejected: [(String, PostgresDataType)] = [
            ("2000-01-01 00:00:00+99999999999999999999", .timestamptz),
            ("2000-01-01 00:00:00+٣", .timestamptz),
            ("2000-01-01 00:00:00+9223372036854775807", .timestamptz),
            ("2000-01-01 00:00:00+2562047788:00", .timestamptz),
            ("9223372036854775807-01-01 00:00:00", .timestamp),
            ("2000-01-01 2562047789:00:00", .timestamp),
        ]
        for (text, type) in rejected {
            guard case .failure(let error) = Self.decodes(PostgresTimestampTZ.self, text, type, context) else {
                Issue.record("\(text) decoded")
                continue
            }
            #expect(error.description.contains("is not a valid"), "\(error)")
        }
        for text in ["9223372036854775807-01-01", "٣-01-01", "2000-٣-01", "2147483647-01-01", "-1-01-01"] {
            #expect(!Self.decodes(PostgresDate.self, text, .date, context).isSuccess, "\(text)")
        }
        for text in ["00:00:00+99999999999999999999", "00:00:00+2147483648", "00:00:00+٣", "00:00:00+24:00:01"] {
            #expect(!Self.decodes(PostgresTimeTZ.self, text, .timetz, context).isSuccess, "\(text)")
        }
        for text in ["9223372036854775807 years", "-9223372036854775808 years", "2147483648 mons", "@ 9223372036854775807 hours",
                     "2562047789:00:00", "P9223372036854775807W", "PT9223372036854775807H", "-9223372036854775808 days ago",
                     "@ 1 min 9223372036854775807 secs"] {
            #expect(!Self.decodes(PostgresInterval.self, text, .interval, context).isSuccess, "\(text)")
        }
        for text in ["[-9223372036854775808:1]={1}", "[1:9223372036854775807]={1}", "[2147483648:2147483648]={1}", "[٣:٣]={1}"] {
            #expect(!Self.decodes(PostgresArray<Int>.self, text, .int4Array, context).isSuccess, "\(text)")
        }
        #expect(!Self.decodes(PostgresMacAddress.self, "０８:00:2b:01:02:03", .macaddr, context).isSuccess)
        // Sanity: ordinary values still decode.
        #expect(Self.decodes(PostgresTimeTZ.self, "12:00:00+05:30", .timetz, context).isSuccess)
        #expect(Self.decodes(PostgresInterval.self, "@ 1 year 2 mons 3 days 04:05:06 ago", .interval, context).isSuccess)
        #expect((try? Self.decodes(PostgresTimestampTZ.self, "2000-01-01 00:00:00+01", .timestamptz, context).get())
                == PostgresTimestampTZ(microsecondsSince2000: -3_600_000_000))
        #expect((try? Self.decodes(PostgresArray<Int>.self, "[-2147483648:-2147483647]={1,2}", .int4Array, context).get())?
                .dimensions == [PostgresArrayDimension(length: 2, lowerBound: -2_147_483_648)])
    }

    // MARK: Binary values

    static func int32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    static func int16(_ v: Int16) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    static func int64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }

    static let int32s: [Int32] = [0, -1, 1, 2, 6, 7, .max, .min, .max - 1, .min + 1, 0x7fff, -0x8000, 65536]
    static let int16s: [Int16] = [0, -1, 1, .max, .min, 9999, 10000, -10000, 16383, 16384]
    static let int64s: [Int64] = [0, -1, 1, .max, .min, .max - 1, .min + 1, 86_400_000_000, -86_400_000_000,
                                  9_223_371_331_200_000_000, -211_813_488_000_000_000, 1 << 62, -(1 << 62)]

    /// Array headers (ndim, flags, element type, dimensions, lower bounds) with boundary numbers.
    static var hostileArrays: [[UInt8]] {
        var out: [[UInt8]] = []
        for n in int32s {
            out.append(int32(n) + int32(0) + int32(23))
            out.append(int32(1) + int32(n) + int32(23) + int32(1) + int32(1) + int32(4) + int32(7))
            out.append(int32(1) + int32(0) + int32(23) + int32(n) + int32(1) + int32(4) + int32(7))
            out.append(int32(1) + int32(0) + int32(23) + int32(1) + int32(n) + int32(4) + int32(7))
            out.append(int32(1) + int32(0) + int32(23) + int32(1) + int32(1) + int32(n) + int32(7))
            out.append(int32(2) + int32(0) + int32(23) + int32(n) + int32(n) + int32(n) + int32(n) + int32(4) + int32(7))
            out.append(int32(6) + int32(0) + int32(23) + (0..<6).flatMap { _ in int32(n) + int32(1) } + int32(4) + int32(7))
            out.append(int32(1) + int32(0) + int32(n) + int32(1) + int32(1) + int32(4) + int32(7))  // element type
        }
        return out
    }

    /// numeric: ndigits, weight, sign, dscale and digits with boundary numbers.
    static var hostileNumerics: [[UInt8]] {
        var out: [[UInt8]] = []
        for n in int16s {
            out.append(int16(n) + int16(0) + int16(0) + int16(0) + int16(1))
            out.append(int16(1) + int16(n) + int16(0) + int16(0) + int16(1))
            out.append(int16(1) + int16(0) + int16(n) + int16(0) + int16(1))
            out.append(int16(1) + int16(0) + int16(0) + int16(n) + int16(1))
            out.append(int16(1) + int16(0) + int16(0) + int16(0) + int16(n))
            out.append(int16(2) + int16(n) + int16(0x4000) + int16(n) + int16(9999) + int16(n))
            out.append(int16(1) + int16(n) + int16(0) + int16(.max) + int16(1))
        }
        return out
    }

    @Test("binary values with hostile headers and extreme numbers render or throw PostgresCodingError")
    func binaryValues() {
        var rendered = 0, failed = 0
        func tally(_ r: Result<String, PostgresCodingError>) { if r.isSuccess { rendered += 1 } else { failed += 1 } }
        for style in ["ISO, MDY", "SQL, DMY", "Postgres, MDY", "German, DMY"] {
            for intervalStyle in ["postgres", "postgres_verbose", "sql_standard", "iso_8601"] {
                let settings = PostgresSessionSettings(parameters: ["DateStyle": style, "IntervalStyle": intervalStyle,
                                                                    "TimeZone": "America/New_York"])
                for v in Self.int32s {
                    tally(Self.renders(Self.int32(v), .date, settings))
                    tally(Self.renders(Self.int64(0) + Self.int32(v), .timetz, settings))
                    tally(Self.renders(Self.int64(0) + Self.int32(v) + Self.int32(0), .interval, settings))
                    tally(Self.renders(Self.int64(0) + Self.int32(0) + Self.int32(v), .interval, settings))
                    tally(Self.renders(Self.int64(.min) + Self.int32(v) + Self.int32(v), .interval, settings))
                }
                for v in Self.int64s {
                    tally(Self.renders(Self.int64(v), .timestamp, settings))
                    tally(Self.renders(Self.int64(v), .timestamptz, settings))
                    tally(Self.renders(Self.int64(v), .time, settings))
                    tally(Self.renders(Self.int64(v) + Self.int32(.min), .timetz, settings))
                    tally(Self.renders(Self.int64(v) + Self.int32(.min) + Self.int32(.min), .interval, settings))
                    tally(Self.renders(Self.int64(v) + Self.int32(.max) + Self.int32(.max), .interval, settings))
                }
            }
        }
        for bytes in Self.hostileArrays {
            tally(Self.renders(bytes, .int4Array))
            _ = try? PostgresArray<Int32>.decode(from: bytes[...], type: .int4Array, format: .binary, context: .default)
            _ = try? [[Int32]].decode(from: bytes[...], type: .int4Array, format: .binary, context: .default)
            _ = try? [Int32].decode(from: bytes[...], type: .int4Array, format: .binary, context: .default)
        }
        for bytes in Self.hostileNumerics {
            tally(Self.renders(bytes, .numeric))
            _ = try? PostgresNumeric.decode(from: bytes[...], type: .numeric, format: .binary, context: .default).decimalValue
            _ = try? Decimal.decode(from: bytes[...], type: .numeric, format: .binary, context: .default)
            _ = try? Double.decode(from: bytes[...], type: .numeric, format: .binary, context: .default)
        }
        for v in Self.int32s {
            _ = try? PostgresTimeTZ.decode(from: (Self.int64(0) + Self.int32(v))[...], type: .timetz, format: .binary, context: .default)
            _ = try? PostgresDate.decode(from: Self.int32(v)[...], type: .date, format: .binary, context: .default).components
            _ = try? Date.decode(from: Self.int32(v)[...], type: .date, format: .binary, context: .default)
        }
        for v in Self.int64s {
            _ = try? Date.decode(from: Self.int64(v)[...], type: .timestamptz, format: .binary, context: .default)
            _ = try? PostgresTimestamp.decode(from: Self.int64(v)[...], type: .timestamp, format: .binary, context: .default).components
            _ = try? PostgresTime.decode(from: Self.int64(v)[...], type: .time, format: .binary, context: .default).components
        }
        #expect(rendered > 100)
        #expect(failed > 50)
        // A timetz zone of Int32.min has no negation: a decoding error, not a trap.
        #expect(throws: PostgresCodingError.self) {
            try PostgresTimeTZ.decode(from: (Self.int64(0) + Self.int32(.min))[...], type: .timetz, format: .binary, context: .default)
        }
    }

    // MARK: Diagnostics and calendar arithmetic

    @Test("error positions and lines of any text: a number or nil")
    func diagnosticNumbers() {
        for v in Self.values {
            let e = ServerError(fields: DiagnosticFields([(UInt8(ascii: "P"), v), (UInt8(ascii: "p"), v), (UInt8(ascii: "L"), v)]))
            if let p = e.position { #expect(String(p) == v || "+\(p)" == v || v.hasPrefix("0")) }
            _ = e.internalPosition
            _ = e.line
        }
        #expect(ServerError(fields: DiagnosticFields([(UInt8(ascii: "P"), "٣")])).position == nil)
        #expect(ServerError(fields: DiagnosticFields([(UInt8(ascii: "P"), "99999999999999999999")])).position == nil)
    }

    @Test("calendar constructors reject out-of-range years and dates instead of overflowing")
    func calendarExtremes() {
        for year in [Int.max, Int.min, Int(Int32.max), Int(Int32.min), 1_000_000_001, -1_000_000_001] {
            #expect(PostgresDate(year: year, month: 1, day: 1) == nil, "\(year)")
            #expect(PostgresTimestamp(year: year, month: 12, day: 31) == nil, "\(year)")
            #expect(PostgresTimestampTZ(year: year, month: 1, day: 1, hour: 23) == nil, "\(year)")
        }
        #expect(PostgresDate(year: 2000, month: 13, day: 1) == nil)
        #expect(PostgresDate(year: 2000, month: Int.min, day: 1) == nil)
        #expect(PostgresDate(year: 2000, month: 1, day: Int.max) == nil)
        #expect(PostgresDate(Date(timeIntervalSince1970: .infinity)) == .infinity)
        #expect(PostgresDate(Date(timeIntervalSince1970: -.infinity)) == .negativeInfinity)
        #expect(PostgresDate(Date(timeIntervalSince1970: 1e300)) == .infinity)
        #expect(PostgresDate(Date(timeIntervalSince1970: 0)) == PostgresDate(year: 1970, month: 1, day: 1))
        let array = PostgresArray(dimensions: [PostgresArrayDimension(length: 1, lowerBound: 1)], elements: [7])
        #expect(array.element(at: Int.min) == nil)
        #expect(array.element(at: 1) == 7)
        var buffer: [UInt8] = []
        let huge = PostgresArray(dimensions: [PostgresArrayDimension(length: Int.max), PostgresArrayDimension(length: 2)], elements: [1])
        #expect(throws: PostgresCodingError.self) { try huge.encode(into: &buffer, context: .default) }
        #expect(throws: PostgresCodingError.self) {
            try PostgresTimeTZ(time: PostgresTime(microsecondsSinceMidnight: 0), utcOffsetSeconds: .min).encode(into: &buffer, context: .default)
        }
    }
}

extension Result {
    var isSuccess: Bool { if case .success = self { return true } else { return false } }
}
