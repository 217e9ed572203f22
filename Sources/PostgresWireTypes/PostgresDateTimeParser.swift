import Foundation

/// Parses the text the server prints for date/time types in any DateStyle / IntervalStyle (for
/// text-format results). Not a full datetime_in: it reads what the output functions produce.
///
/// The text is the server's, so any field can hold any number: digits are ASCII only, every
/// step is overflow-checked, and a value no PostgreSQL type can hold is a decoding error.
enum PostgresDateTimeParser {
    /// Beyond any year a date or timestamp can hold (5874897 AD, 4713 BC), with room to spare.
    static let maximumYear: Int64 = 100_000_000

    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let weekdayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    struct Fields {
        var year: Int64?
        var month: Int?
        var day: Int?
        var timeMicroseconds: Int64?
        /// Seconds east of UTC, when printed numerically.
        var offset: Int?
        var abbreviation: String?
        var bc = false
    }

    private static func fail(_ text: some Collection<UInt8>, _ what: String, type: PostgresDataType, swiftType: Any.Type) -> PostgresCodingError {
        PostgresCodingError(.invalidData("\"\(String(decoding: text, as: UTF8.self))\" is not a valid \(what)"), type: type, swiftType: swiftType)
    }

    /// "HH:MM:SS[.ffffff]" as microseconds.
    static func clock(_ s: Substring) -> Int64? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, let h = Int64.asciiDigits(parts[0]), let m = Int64.asciiDigits(parts[1]),
              var us = h.checkedMultiplied(by: 60)?.checkedAdding(m)?.checkedMultiplied(by: 60_000_000) else { return nil }
        if parts.count == 3 {
            guard let (sec, frac) = secondsWithFraction(parts[2]), sec >= 0, frac >= 0,
                  let secondsPart = sec.checkedMultiplied(by: 1_000_000)?.checkedAdding(frac),
                  let total = us.checkedAdding(secondsPart) else { return nil }
            us = total
        }
        return us
    }

    /// "SS[.ffffff]" (optionally signed) as whole seconds and microseconds, both carrying the sign.
    static func secondsWithFraction(_ s: Substring) -> (Int64, Int64)? {
        var body = s
        var negative = false
        if body.first == "-" || body.first == "+" { negative = body.first == "-"; body = body.dropFirst() }
        let pieces = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = pieces.first, let whole = Int64.asciiDigits(first) else { return nil }
        var frac: Int64 = 0
        if pieces.count == 2 {
            let digits = pieces[1]
            guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit) else { return nil }
            var padded = String(digits.prefix(6))
            while padded.count < 6 { padded += "0" }
            guard let f = Int64.asciiDigits(padded) else { return nil }
            frac = f
            // Round on the 7th digit like the server does.
            if digits.count > 6, let seventh = digits.dropFirst(6).first?.wholeNumberValue, seventh >= 5 { frac += 1 }
        }
        return negative ? (-whole, -frac) : (whole, frac)
    }

    /// The largest zone offset accepted (the server's own limit is 15:59:59).
    static let maximumZoneOffsetSeconds = 24 * 3600

    /// "+hh", "+hh:mm", "+hh:mm:ss", "+hhmm" as seconds east; nil for anything else, including an
    /// offset of a day or more.
    static func numericZone(_ s: Substring) -> Int? {
        guard let sign = s.first, sign == "+" || sign == "-" else { return nil }
        let parts = s.dropFirst().split(separator: ":", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.count <= 3 else { return nil }
        var numbers: [Int] = []
        if parts.count == 1 && parts[0].utf8.count == 4 {
            numbers = [parts[0].prefix(2), parts[0].suffix(2)].compactMap { Int.asciiDigits($0) }
            guard numbers.count == 2 else { return nil }
        } else {
            numbers = parts.compactMap { Int.asciiDigits($0) }
            guard numbers.count == parts.count else { return nil }
        }
        var seconds = 0
        for (value, unit) in zip(numbers, [3600, 60, 1]) {
            guard let part = value.checkedMultiplied(by: unit), let sum = seconds.checkedAdding(part) else { return nil }
            seconds = sum
        }
        guard seconds <= maximumZoneOffsetSeconds else { return nil }
        return sign == "-" ? -seconds : seconds
    }

    /// Splits a date, time and zone written in any DateStyle into fields.
    static func fields(_ text: String, order: PostgresSessionSettings.DateOrder) -> Fields? {
        var f = Fields()
        var tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if let last = tokens.last?.uppercased(), last == "BC" || last == "AD" {
            f.bc = last == "BC"
            tokens.removeLast()
        }
        var numbersBeforeTime: [Int64] = []
        var numbersAfterTime: [Int64] = []
        for token in tokens {
            if token.contains(":") {
                // A time, maybe with an ISO numeric zone glued on.
                var clockPart = token
                if let zoneStart = token.dropFirst().firstIndex(where: { $0 == "+" || $0 == "-" }) {
                    guard let z = numericZone(token[zoneStart...]) else { return nil }
                    f.offset = z
                    clockPart = token[..<zoneStart]
                }
                guard f.timeMicroseconds == nil, let us = clock(clockPart) else { return nil }
                f.timeMicroseconds = us
            } else if let sep = token.first(where: { $0 == "-" || $0 == "/" || $0 == "." }), token.first?.isASCIIDigit == true {
                let parts = token.split(separator: sep, omittingEmptySubsequences: false)
                guard parts.count == 3, let a = Int64.asciiDigits(parts[0]), let b = Int64.asciiDigits(parts[1]),
                      let c = Int64.asciiDigits(parts[2]) else { return nil }
                switch sep {
                case "-" where parts[0].count > 2 || order == .ymd:
                    (f.year, f.month, f.day) = (a, Int(b), Int(c))
                case ".":
                    (f.day, f.month, f.year) = (Int(a), Int(b), c)
                default:
                    if order == .dmy { (f.day, f.month, f.year) = (Int(a), Int(b), c) } else { (f.month, f.day, f.year) = (Int(a), Int(b), c) }
                }
            } else if token.first?.isASCIIDigit == true, let n = Int64.asciiDigits(token) {
                if f.timeMicroseconds == nil { numbersBeforeTime.append(n) } else { numbersAfterTime.append(n) }
            } else if let m = monthNames.firstIndex(of: token.lowercased()) {
                f.month = m + 1
            } else if weekdayNames.contains(token.lowercased()) {
                continue
            } else if let z = numericZone(token) {
                f.offset = z
            } else if token.allSatisfy({ $0.isLetter }) {
                f.abbreviation = String(token)
            } else {
                return nil
            }
        }
        // Postgres style: "Sat Jan 01 00:00:00 2000": day before the time, year after.
        if f.year == nil {
            if numbersBeforeTime.count == 1, numbersAfterTime.count == 1 {
                f.day = Int(numbersBeforeTime[0])
                f.year = numbersAfterTime[0]
            } else if numbersBeforeTime.count == 2, f.timeMicroseconds == nil {
                f.day = Int(numbersBeforeTime[0])
                f.year = numbersBeforeTime[1]
            } else {
                return nil
            }
        } else if !numbersBeforeTime.isEmpty || !numbersAfterTime.isEmpty {
            return nil
        }
        // Out-of-range numbers are not dates (and would overflow the calendar arithmetic).
        guard let year = f.year, year <= maximumYear, let month = f.month, (1...12).contains(month),
              let day = f.day, (1...31).contains(day) else { return nil }
        if f.bc { f.year = 1 - year }
        return f
    }

    private static func settings(_ context: PostgresDecodingContext) -> PostgresSessionSettings {
        PostgresSessionSettings(parameters: context.parameters)
    }

    static func date(_ bytes: ArraySlice<UInt8>, context: PostgresDecodingContext, type: PostgresDataType,
                     swiftType: Any.Type) throws(PostgresCodingError) -> PostgresDate {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        switch text.lowercased() {
        case "infinity", "+infinity": return .infinity
        case "-infinity": return .negativeInfinity
        default: break
        }
        let order = settings(context).dateOrder
        guard let f = fields(text, order: order), f.timeMicroseconds == nil, let y = f.year, let m = f.month, let d = f.day,
              let date = PostgresDate(year: Int(y), month: m, day: d) else {
            throw fail(bytes, "date", type: type, swiftType: swiftType)
        }
        return date
    }

    static func timestamp(_ bytes: ArraySlice<UInt8>, withZone: Bool, context: PostgresDecodingContext, type: PostgresDataType,
                          swiftType: Any.Type) throws(PostgresCodingError) -> Int64 {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        switch text.lowercased() {
        case "infinity", "+infinity": return .max
        case "-infinity": return .min
        default: break
        }
        let s = settings(context)
        guard let f = fields(text, order: s.dateOrder), let y = f.year, let m = f.month, let d = f.day,
              (1...12).contains(m), d >= 1, d <= PostgresCalendar.daysInMonth(m, year: y),
              let midnight = PostgresCalendar.microsecondsSince2000(year: y, month: m, day: d, hour: 0, minute: 0, second: 0, microsecond: 0)
        else { throw fail(bytes, "timestamp", type: type, swiftType: swiftType) }
        guard let local = midnight.checkedAdding(f.timeMicroseconds ?? 0), local != .max, local != .min else {
            throw fail(bytes, "timestamp", type: type, swiftType: swiftType)
        }
        guard withZone else { return local }
        if let offset = f.offset {
            guard let utc = local.checkedSubtracting(Int64(offset) * 1_000_000), utc != .max, utc != .min else {
                throw fail(bytes, "timestamp", type: type, swiftType: swiftType)
            }
            return utc
        }
        // An abbreviation: resolve the wall-clock time in the session's zone, preferring the
        // candidate whose abbreviation was printed (the repeated hour of a DST change).
        let (localSeconds, fsec) = PostgresCalendar.floorDivMod(local, 1_000_000)
        let unixLocal = localSeconds + PostgresCalendar.postgresEpochUnixSeconds
        if let zone = PostgresTimeZone.named(s.timeZone) {
            let candidates = zone.candidates(localSeconds: unixLocal)
            if let match = candidates.first(where: { $0.0.abbreviation == f.abbreviation }) ?? (f.abbreviation == nil ? candidates.first : nil) {
                guard let utc = match.1.checkedSubtracting(PostgresCalendar.postgresEpochUnixSeconds)?
                        .checkedMultiplied(by: 1_000_000)?.checkedAdding(fsec), utc != .max, utc != .min else {
                    throw fail(bytes, "timestamp", type: type, swiftType: swiftType)
                }
                return utc
            }
        }
        if let abbr = f.abbreviation?.uppercased(), abbr == "UTC" || abbr == "GMT" || abbr == "Z" || abbr == "UT" { return local }
        throw fail(bytes, "timestamp with time zone (unknown zone)", type: type, swiftType: swiftType)
    }

    /// time or timetz text: microseconds and (timetz) seconds east.
    static func time(_ bytes: ArraySlice<UInt8>, withZone: Bool, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> (Int64, Int?) {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        var clockPart = Substring(text)
        var offset: Int?
        if let zoneStart = text.dropFirst().firstIndex(where: { $0 == "+" || $0 == "-" }) {
            guard withZone, let z = numericZone(text[zoneStart...]) else { throw fail(bytes, "time", type: type, swiftType: swiftType) }
            offset = z
            clockPart = text[..<zoneStart]
        }
        guard let us = clock(clockPart), us <= PostgresCalendar.microsecondsPerDay else {
            throw fail(bytes, "time", type: type, swiftType: swiftType)
        }
        return (us, offset)
    }

    // MARK: interval

    /// Reads every IntervalStyle's output (postgres, postgres_verbose, sql_standard, iso_8601).
    static func interval(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> PostgresInterval {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        guard let iv = text.hasPrefix("P") ? iso8601Interval(text) : wordInterval(text) else {
            throw fail(bytes, "interval", type: type, swiftType: swiftType)
        }
        return iv
    }

    /// Sums the fields with overflow checks; `overflowed` makes the result nil.
    private struct Accumulator {
        var months: Int64 = 0
        var days: Int64 = 0
        var microseconds: Int64 = 0
        var overflowed = false

        mutating func add(_ field: WritableKeyPath<Accumulator, Int64>, _ value: Int64, times unit: Int64 = 1) {
            guard let scaled = value.checkedMultiplied(by: unit), let sum = self[keyPath: field].checkedAdding(scaled) else {
                overflowed = true
                return
            }
            self[keyPath: field] = sum
        }

        mutating func negate() {
            guard let m = months.checkedNegated(), let d = days.checkedNegated(), let us = microseconds.checkedNegated() else {
                overflowed = true
                return
            }
            (months, days, microseconds) = (m, d, us)
        }

        func build() -> PostgresInterval? {
            guard !overflowed, let m = Int32(exactly: months), let d = Int32(exactly: days) else { return nil }
            return PostgresInterval(months: m, days: d, microseconds: microseconds)
        }
    }

    private static func iso8601Interval(_ text: String) -> PostgresInterval? {
        var acc = Accumulator()
        var inTime = false
        var number = ""
        for ch in text.dropFirst() {
            if ch == "T" { inTime = true; continue }
            if ch.isASCIIDigit || ch == "-" || ch == "+" || ch == "." { number.append(ch); continue }
            if ch == "S" && inTime {
                guard let (s, f) = secondsWithFraction(Substring(number)) else { return nil }
                acc.add(\.microseconds, s, times: 1_000_000)
                acc.add(\.microseconds, f)
            } else {
                guard let v = Int64(number) else { return nil }
                switch (ch, inTime) {
                case ("Y", false): acc.add(\.months, v, times: 12)
                case ("M", false): acc.add(\.months, v)
                case ("W", false): acc.add(\.days, v, times: 7)
                case ("D", false): acc.add(\.days, v)
                case ("H", true): acc.add(\.microseconds, v, times: 3_600_000_000)
                case ("M", true): acc.add(\.microseconds, v, times: 60_000_000)
                default: return nil
                }
            }
            number = ""
        }
        return number.isEmpty ? acc.build() : nil
    }

    private static func wordInterval(_ text: String) -> PostgresInterval? {
        var body = Substring(text)
        if body.hasPrefix("@") { body = body.dropFirst() }
        var tokens = body.split(separator: " ")
        var ago = false
        if tokens.last == "ago" { ago = true; tokens.removeLast() }
        let hasUnits = tokens.contains { $0.first?.isLetter == true }
        // sql_standard: one leading minus negates every field when no other field is signed.
        var negateAll = false
        if !hasUnits, let first = tokens.first, first.hasPrefix("-"),
           !tokens.dropFirst().contains(where: { $0.hasPrefix("-") || $0.hasPrefix("+") }) {
            negateAll = true
            tokens[0] = tokens[0].dropFirst()
        }
        var acc = Accumulator()
        var i = 0
        while i < tokens.count {
            let token = tokens[i]
            if token.contains(":") {
                var t = token
                var negative = false
                if t.first == "-" || t.first == "+" { negative = t.first == "-"; t = t.dropFirst() }
                guard let us = clock(t) else { return nil }
                acc.add(\.microseconds, us, times: negative ? -1 : 1)
                i += 1
            } else if i + 1 < tokens.count, tokens[i + 1].first?.isLetter == true {
                let unit = tokens[i + 1].lowercased()
                if unit.hasPrefix("sec") {
                    guard let (s, f) = secondsWithFraction(token) else { return nil }
                    acc.add(\.microseconds, s, times: 1_000_000)
                    acc.add(\.microseconds, f)
                } else {
                    guard let v = Int64(token.hasPrefix("+") ? token.dropFirst() : token) else { return nil }
                    switch unit {
                    case "year", "years": acc.add(\.months, v, times: 12)
                    case "mon", "mons": acc.add(\.months, v)
                    case "day", "days": acc.add(\.days, v)
                    case "hour", "hours": acc.add(\.microseconds, v, times: 3_600_000_000)
                    case "min", "mins": acc.add(\.microseconds, v, times: 60_000_000)
                    default: return nil
                    }
                }
                i += 2
            } else if token.dropFirst().contains("-") {
                // sql_standard years-months: [+-]Y-M
                var t = token
                var negative = false
                if t.first == "-" || t.first == "+" { negative = t.first == "-"; t = t.dropFirst() }
                let parts = t.split(separator: "-")
                guard parts.count == 2, let y = Int64.asciiDigits(parts[0]), let m = Int64.asciiDigits(parts[1]),
                      let months = y.checkedMultiplied(by: 12)?.checkedAdding(m) else { return nil }
                acc.add(\.months, months, times: negative ? -1 : 1)
                i += 1
            } else {
                guard let v = Int64(token.hasPrefix("+") ? token.dropFirst() : token) else { return nil }
                acc.add(\.days, v)
                i += 1
            }
        }
        if ago || negateAll { acc.negate() }
        return acc.build()
    }
}
