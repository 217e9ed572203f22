import Foundation

// MARK: Value types

/// A PostgreSQL `date`, kept as the server's day count so every value round-trips: ±infinity,
/// dates BC (4713 BC at the earliest) and far future (up to 5874897 AD).
public struct PostgresDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Days since 2000-01-01; `Int32.max` is infinity and `Int32.min` -infinity.
    public var daysSince2000: Int32

    public init(daysSince2000: Int32) { self.daysSince2000 = daysSince2000 }

    /// A calendar date; `year` is astronomical (0 = 1 BC, -1 = 2 BC). nil for an invalid date.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= PostgresCalendar.daysInMonth(month, year: Int64(year)) else { return nil }
        let days = PostgresCalendar.daysFromCivil(year: Int64(year), month: month, day: day) - PostgresCalendar.postgresEpochDaysSinceUnix
        guard let d = Int32(exactly: days), d != .max, d != .min else { return nil }
        daysSince2000 = d
    }

    /// The UTC day containing `date`.
    /// The UTC day containing `date` (clamped to ±infinity beyond the range of a date).
    public init(_ date: Date) {
        let days = (date.timeIntervalSince1970 / 86_400).rounded(.down) - Double(PostgresCalendar.postgresEpochDaysSinceUnix)
        if days.isNaN {
            daysSince2000 = .min
        } else {
            daysSince2000 = days >= Double(Int32.max) ? .max : days <= Double(Int32.min) ? .min : Int32(days)
        }
    }

    public static let infinity = PostgresDate(daysSince2000: .max)
    public static let negativeInfinity = PostgresDate(daysSince2000: .min)

    public var isFinite: Bool { daysSince2000 != .max && daysSince2000 != .min }

    /// Year (astronomical), month and day; nil for ±infinity.
    public var components: (year: Int, month: Int, day: Int)? {
        guard isFinite else { return nil }
        let c = PostgresCalendar.civilFromDays(Int64(daysSince2000) + PostgresCalendar.postgresEpochDaysSinceUnix)
        return (Int(c.year), c.month, c.day)
    }

    /// Midnight UTC of the day; nil for ±infinity.
    public var date: Date? {
        guard isFinite else { return nil }
        return Date(timeIntervalSince1970: Double((Int64(daysSince2000) + PostgresCalendar.postgresEpochDaysSinceUnix) * 86_400))
    }

    /// The ISO DateStyle text ("2000-01-01", "0044-03-15 BC", "infinity").
    public var description: String { PostgresDateTimeFormat.date(self, style: .default) }

    public static func < (a: Self, b: Self) -> Bool { a.daysSince2000 < b.daysSince2000 }
}

/// Shared by `timestamp` and `timestamptz`: microseconds since 2000-01-01 00:00:00 (local
/// wall-clock for `timestamp`, UTC for `timestamptz`); `Int64.max`/`Int64.min` are ±infinity.
public protocol PostgresTimestampValue: Sendable, Hashable, Comparable, CustomStringConvertible {
    var microsecondsSince2000: Int64 { get }
    init(microsecondsSince2000: Int64)
}

extension PostgresTimestampValue {
    public static var infinity: Self { Self(microsecondsSince2000: .max) }
    public static var negativeInfinity: Self { Self(microsecondsSince2000: .min) }
    public var isFinite: Bool { microsecondsSince2000 != .max && microsecondsSince2000 != .min }

    /// A calendar date and time; `year` is astronomical (0 = 1 BC). nil if invalid or out of range.
    public init?(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, microsecond: Int = 0) {
        guard (1...12).contains(month), day >= 1, day <= PostgresCalendar.daysInMonth(month, year: Int64(year)),
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second), (0..<1_000_000).contains(microsecond),
              let us = PostgresCalendar.microsecondsSince2000(year: Int64(year), month: month, day: day, hour: hour,
                                                              minute: minute, second: second, microsecond: microsecond),
              us != .max, us != .min else { return nil }
        self.init(microsecondsSince2000: us)
    }

    /// The instant, reading the value as UTC (Date has sub-microsecond precision only near 2001).
    public init?(_ date: Date) {
        let us = (date.timeIntervalSince1970 - Double(PostgresCalendar.postgresEpochUnixSeconds)) * 1_000_000
        guard us.isFinite, let v = Int64(exactly: us.rounded()), v != .max, v != .min else { return nil }
        self.init(microsecondsSince2000: v)
    }

    /// Calendar fields (astronomical year) of the value read as UTC; nil for ±infinity.
    public var components: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, microsecond: Int)? {
        guard isFinite else { return nil }
        let f = PostgresCalendar.fields(microsecondsSince2000: microsecondsSince2000)
        return (Int(f.year), f.month, f.day, f.hour, f.minute, f.second, f.microsecond)
    }

    /// The value read as UTC; nil for ±infinity.
    public var date: Date? {
        guard isFinite else { return nil }
        return PostgresTimestampCodec.date(microsecondsSince2000: microsecondsSince2000)
    }

    public static func < (a: Self, b: Self) -> Bool { a.microsecondsSince2000 < b.microsecondsSince2000 }
}

/// A PostgreSQL `timestamp` (without time zone), lossless (±infinity, BC, far future).
public struct PostgresTimestamp: PostgresTimestampValue {
    public var microsecondsSince2000: Int64
    public init(microsecondsSince2000: Int64) { self.microsecondsSince2000 = microsecondsSince2000 }
    /// ISO DateStyle text.
    public var description: String {
        PostgresDateTimeFormat.timestamp(microsecondsSince2000, zone: nil, style: .default)
    }
}

/// A PostgreSQL `timestamptz`: an instant, microseconds since 2000-01-01 00:00:00 UTC, lossless.
public struct PostgresTimestampTZ: PostgresTimestampValue {
    public var microsecondsSince2000: Int64
    public init(microsecondsSince2000: Int64) { self.microsecondsSince2000 = microsecondsSince2000 }
    /// ISO DateStyle text in UTC ("2000-01-01 00:00:00+00").
    public var description: String {
        PostgresDateTimeFormat.timestamp(microsecondsSince2000, zone: .utc, style: .default)
    }
}

/// A PostgreSQL `time` (without time zone): microseconds since midnight, 00:00:00 to 24:00:00.
public struct PostgresTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var microsecondsSinceMidnight: Int64
    public init(microsecondsSinceMidnight: Int64) { self.microsecondsSinceMidnight = microsecondsSinceMidnight }
    public init?(hour: Int, minute: Int, second: Int, microsecond: Int = 0) {
        guard (0...24).contains(hour), (0...59).contains(minute), (0...60).contains(second), (0..<1_000_000).contains(microsecond) else { return nil }
        let us = (Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)) * 1_000_000 + Int64(microsecond)
        guard us <= PostgresCalendar.microsecondsPerDay else { return nil }
        microsecondsSinceMidnight = us
    }
    public var components: (hour: Int, minute: Int, second: Int, microsecond: Int) {
        let us = microsecondsSinceMidnight
        let s = us / 1_000_000
        return (Int(s / 3600), Int(s / 60 % 60), Int(s % 60), Int(us % 1_000_000))
    }
    public var description: String { PostgresDateTimeFormat.time(microsecondsSinceMidnight) }
    public static func < (a: Self, b: Self) -> Bool { a.microsecondsSinceMidnight < b.microsecondsSinceMidnight }
}

/// A PostgreSQL `timetz`: a time of day and a fixed UTC offset.
public struct PostgresTimeTZ: Sendable, Hashable, CustomStringConvertible {
    public var time: PostgresTime
    /// Seconds east of UTC (+02:00 is 7200). The wire format stores the negation.
    public var utcOffsetSeconds: Int32
    public init(time: PostgresTime, utcOffsetSeconds: Int32) {
        self.time = time
        self.utcOffsetSeconds = utcOffsetSeconds
    }
    public var description: String {
        PostgresDateTimeFormat.time(time.microsecondsSinceMidnight) + PostgresDateTimeFormat.zoneOffset(westSeconds: -Int(utcOffsetSeconds))
    }
}

/// A PostgreSQL `interval`: months, days and microseconds kept apart (a month is not 30 days, a
/// day is not 24 hours across a DST change).
public struct PostgresInterval: Sendable, Hashable, CustomStringConvertible {
    public var months: Int32
    public var days: Int32
    public var microseconds: Int64

    public init(months: Int32 = 0, days: Int32 = 0, microseconds: Int64 = 0) {
        self.months = months
        self.days = days
        self.microseconds = microseconds
    }

    public init(years: Int32 = 0, months: Int32 = 0, days: Int32 = 0, hours: Int64 = 0, minutes: Int64 = 0, seconds: Int64 = 0,
                microseconds: Int64 = 0) {
        self.months = years * 12 + months
        self.days = days
        self.microseconds = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + microseconds
    }

    /// IntervalStyle `postgres` text ("1 year 2 mons 3 days 04:05:06").
    public var description: String { PostgresDateTimeFormat.interval(self, style: .postgres) }
}

// MARK: Codecs

enum PostgresTimestampCodec {
    /// Seconds from 2000-01-01 to Foundation's reference date 2001-01-01.
    static let referenceOffsetMicroseconds: Int64 = 31_622_400 * 1_000_000

    static func date(microsecondsSince2000 us: Int64) -> Date {
        // One rounding only: an exact integer difference, then a division.
        let (diff, overflow) = us.subtractingReportingOverflow(referenceOffsetMicroseconds)
        return Date(timeIntervalSinceReferenceDate: overflow ? Double(us) / 1e6 - 31_622_400 : Double(diff) / 1e6)
    }

    static func microseconds(_ date: Date) -> Int64? {
        let us = (date.timeIntervalSinceReferenceDate * 1e6).rounded()
        guard us.isFinite, let v = Int64(exactly: us) else { return nil }
        let (r, o) = v.addingReportingOverflow(referenceOffsetMicroseconds)
        return o || r == .max || r == .min ? nil : r
    }

    /// Reads the raw microseconds of a timestamp or timestamptz column.
    static func decodeRaw(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                          context: PostgresDecodingContext, swiftType: Any.Type) throws(PostgresCodingError) -> Int64 {
        switch (type, format) {
        case (.timestamp, .binary), (.timestamptz, .binary):
            return try PostgresBinaryReader.exact(Int64.self, bytes, type: type, swiftType: swiftType)
        case (.timestamp, .text), (.timestamptz, .text):
            return try PostgresDateTimeParser.timestamp(bytes, withZone: type == .timestamptz, context: context, type: type, swiftType: swiftType)
        default:
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: swiftType)
        }
    }
}

extension PostgresTimestamp: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .timestamp }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(microsecondsSince2000)
    }
    /// Reads timestamp columns (and timestamptz ones, as their UTC wall-clock).
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresTimestamp {
        PostgresTimestamp(microsecondsSince2000: try PostgresTimestampCodec.decodeRaw(bytes, type: type, format: format,
                                                                                      context: context, swiftType: Self.self))
    }
}

extension PostgresTimestampTZ: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .timestamptz }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(microsecondsSince2000)
    }
    /// Reads timestamptz columns (and timestamp ones, read as UTC).
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresTimestampTZ {
        PostgresTimestampTZ(microsecondsSince2000: try PostgresTimestampCodec.decodeRaw(bytes, type: type, format: format,
                                                                                        context: context, swiftType: Self.self))
    }
}

extension PostgresDate: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .date }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(daysSince2000)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresDate {
        switch (type, format) {
        case (.date, .binary):
            return PostgresDate(daysSince2000: try PostgresBinaryReader.exact(Int32.self, bytes, type: type, swiftType: Self.self))
        case (.date, .text), (.unknown, .text):
            return try PostgresDateTimeParser.date(bytes, context: context, type: type, swiftType: Self.self)
        default:
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: Self.self)
        }
    }
}

extension PostgresTime: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .time }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(microsecondsSinceMidnight)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresTime {
        switch (type, format) {
        case (.time, .binary):
            return PostgresTime(microsecondsSinceMidnight: try PostgresBinaryReader.exact(Int64.self, bytes, type: type, swiftType: Self.self))
        case (.time, .text), (.unknown, .text):
            let (us, _) = try PostgresDateTimeParser.time(bytes, withZone: false, type: type, swiftType: Self.self)
            return PostgresTime(microsecondsSinceMidnight: us)
        default:
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: Self.self)
        }
    }
}

extension PostgresTimeTZ: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .timetz }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(time.microsecondsSinceMidnight)
        guard let west = utcOffsetSeconds.checkedNegated() else {
            throw PostgresCodingError(.overflow, type: .timetz, swiftType: Self.self)
        }
        buffer.appendBigEndian(west)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresTimeTZ {
        switch (type, format) {
        case (.timetz, .binary):
            var r = PostgresBinaryReader(bytes, type: type, swiftType: Self.self)
            let us = try r.readInteger(Int64.self, "time")
            let zone = try r.readInteger(Int32.self, "zone")
            try r.expectEnd()
            guard let east = zone.checkedNegated() else {
                throw PostgresCodingError(.invalidData("time zone offset \(zone) is out of range"), type: type, swiftType: Self.self)
            }
            return PostgresTimeTZ(time: PostgresTime(microsecondsSinceMidnight: us), utcOffsetSeconds: east)
        case (.timetz, .text), (.unknown, .text):
            let (us, offset) = try PostgresDateTimeParser.time(bytes, withZone: true, type: type, swiftType: Self.self)
            return PostgresTimeTZ(time: PostgresTime(microsecondsSinceMidnight: us), utcOffsetSeconds: Int32(offset ?? 0))
        default:
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: Self.self)
        }
    }
}

extension PostgresInterval: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .interval }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        buffer.appendBigEndian(microseconds)
        buffer.appendBigEndian(days)
        buffer.appendBigEndian(months)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresInterval {
        switch (type, format) {
        case (.interval, .binary):
            var r = PostgresBinaryReader(bytes, type: type, swiftType: Self.self)
            let us = try r.readInteger(Int64.self, "time")
            let days = try r.readInteger(Int32.self, "days")
            let months = try r.readInteger(Int32.self, "months")
            try r.expectEnd()
            return PostgresInterval(months: months, days: days, microseconds: us)
        case (.interval, .text), (.unknown, .text):
            return try PostgresDateTimeParser.interval(bytes, type: type, swiftType: Self.self)
        default:
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: Self.self)
        }
    }
}

/// Date is an instant: it encodes as `timestamptz` and reads timestamptz, timestamp (as UTC) and
/// date (midnight UTC) columns. ±infinity cannot be a Date: decoding it throws `.overflow`
/// (decode `PostgresTimestampTZ` to see it). Precision is Date's own (a Double of seconds since
/// 2001: exact to the microsecond within about ±100 years of 2001).
extension Date: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .timestamptz }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        guard let us = PostgresTimestampCodec.microseconds(self) else {
            throw PostgresCodingError(.overflow, type: .timestamptz, swiftType: Date.self)
        }
        buffer.appendBigEndian(us)
    }
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> Date {
        switch type {
        case .date:
            let d = try PostgresDate.decode(from: bytes, type: type, format: format, context: context)
            guard let date = d.date else { throw PostgresCodingError(.overflow, type: type, swiftType: Date.self) }
            return date
        case .timestamp, .timestamptz:
            let us = try PostgresTimestampCodec.decodeRaw(bytes, type: type, format: format, context: context, swiftType: Date.self)
            guard us != .max, us != .min else { throw PostgresCodingError(.overflow, type: type, swiftType: Date.self) }
            return PostgresTimestampCodec.date(microsecondsSince2000: us)
        default:
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: Date.self)
        }
    }
}
