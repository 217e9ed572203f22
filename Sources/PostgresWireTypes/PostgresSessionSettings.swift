import Foundation

/// The session settings that change how the server prints values.
public struct PostgresSessionSettings: Sendable, Hashable {
    public enum DateStyle: String, Sendable { case iso = "ISO", sql = "SQL", postgres = "Postgres", german = "German" }
    public enum DateOrder: String, Sendable { case mdy = "MDY", dmy = "DMY", ymd = "YMD" }
    public enum IntervalStyle: String, Sendable {
        case postgres
        case postgresVerbose = "postgres_verbose"
        case sqlStandard = "sql_standard"
        case iso8601 = "iso_8601"
    }
    public enum ByteaOutput: String, Sendable { case hex, escape }

    public var dateStyle: DateStyle
    public var dateOrder: DateOrder
    public var intervalStyle: IntervalStyle
    /// The TimeZone setting: a zoneinfo name ("Europe/Paris") or POSIX string ("<+05>-05").
    public var timeZone: String
    /// extra_float_digits: > 0 prints the shortest exact form (the default, 1), ≤ 0 prints
    /// 15 + n (float8) or 6 + n (float4) significant digits.
    public var extraFloatDigits: Int
    public var byteaOutput: ByteaOutput
    /// The server's version as server_version_num (150018): output details that changed between
    /// releases follow it ("char" escapes from 15, shortest floats from 12). Default: current.
    public var serverVersionNumber: Int = 150_000

    /// Settings from their GUC spellings: DateStyle "ISO, MDY", IntervalStyle "postgres", …
    public init(dateStyle: String = "ISO, MDY", intervalStyle: String = "postgres", timeZone: String = "UTC",
                extraFloatDigits: Int = 1, byteaOutput: String = "hex") {
        (self.dateStyle, self.dateOrder) = Self.parseDateStyle(dateStyle)
        self.intervalStyle = IntervalStyle(rawValue: intervalStyle.lowercased()) ?? .postgres
        self.timeZone = timeZone
        self.extraFloatDigits = extraFloatDigits
        self.byteaOutput = ByteaOutput(rawValue: byteaOutput.lowercased()) ?? .hex
    }

    /// Settings from the server's reported parameters (`connection.parameters`: DateStyle,
    /// IntervalStyle, TimeZone). extra_float_digits and bytea_output are not reported by the
    /// server: pass them if the session changed them (`SHOW extra_float_digits`).
    public init(parameters: [String: String], extraFloatDigits: Int = 1, byteaOutput: String = "hex") {
        self.init(dateStyle: parameters["DateStyle"] ?? "ISO, MDY", intervalStyle: parameters["IntervalStyle"] ?? "postgres",
                  timeZone: parameters["TimeZone"] ?? "UTC", extraFloatDigits: extraFloatDigits, byteaOutput: byteaOutput)
        if let version = parameters["server_version"].flatMap(Self.versionNumber) { serverVersionNumber = version }
    }

    /// "15.18 (Debian 15.18-0+deb12u1)" → 150018, "9.6.24" → 90624, "17beta1" → 170000, as libpq
    /// reads server_version (`sscanf("%d.%d.%d")`). The text is the server's: anything it cannot
    /// hold (no leading ASCII digit, a component or result beyond Int32) gives nil, never a trap.
    static func versionNumber(_ text: String) -> Int? {
        var numbers: [Int] = []
        var utf8 = Substring(text).utf8[...]
        while numbers.count < 3 {
            let digits = utf8.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            guard !digits.isEmpty, let value = Int32(String(decoding: digits, as: UTF8.self)) else { break }
            numbers.append(Int(value))
            utf8 = utf8.dropFirst(digits.count)
            guard utf8.first == UInt8(ascii: ".") else { break }
            utf8 = utf8.dropFirst()
        }
        guard let major = numbers.first else { return nil }
        // Each component fits in Int32, so this arithmetic cannot overflow Int (64-bit).
        let version: Int
        if numbers.count >= 3 {
            version = (major * 100 + numbers[1]) * 100 + numbers[2]
        } else if numbers.count == 2 {
            version = major >= 10 ? major * 10_000 + numbers[1] : (major * 100 + numbers[1]) * 100
        } else {
            version = major * 10_000
        }
        return Int32(exactly: version).map(Int.init)
    }

    public static let `default` = PostgresSessionSettings()

    /// The DateStyle GUC: output style and field order, "German" implying DMY unless given.
    static func parseDateStyle(_ value: String) -> (DateStyle, DateOrder) {
        var style = DateStyle.iso
        var order: DateOrder?
        var germanDefault = false
        for raw in value.split(whereSeparator: { $0 == "," || $0 == " " }) {
            switch raw.lowercased() {
            case "iso": style = .iso
            case "sql": style = .sql
            case "postgres": style = .postgres
            case "german": style = .german; germanDefault = true
            case "ymd": order = .ymd
            case "dmy", "euro", "european": order = .dmy
            case "mdy", "us", "noneuro", "noneuropean": order = .mdy
            default: break
            }
        }
        return (style, order ?? (germanDefault ? .dmy : .mdy))
    }

    /// The DateStyle as the server reports it ("ISO, MDY").
    public var dateStyleString: String { "\(dateStyle.rawValue), \(dateOrder.rawValue)" }

    /// The resolved time zone (UTC if the name is unknown).
    var zone: PostgresTimeZone { PostgresTimeZone.named(timeZone) ?? .utc }
}
