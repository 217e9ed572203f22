/// Proleptic Gregorian calendar arithmetic on day numbers, as PostgreSQL uses (year 0 = 1 BC).
enum PostgresCalendar {
    static let microsecondsPerSecond: Int64 = 1_000_000
    static let microsecondsPerDay: Int64 = 86_400_000_000
    /// Days from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch).
    static let postgresEpochDaysSinceUnix: Int64 = 10_957
    static let postgresEpochUnixSeconds: Int64 = 946_684_800

    /// Days since 1970-01-01 of a civil date (astronomical year numbering).
    /// Years beyond ±`yearClamp` are clamped to it: no PostgreSQL value is anywhere near, every
    /// caller range-checks the result (which is then far out of range), and the arithmetic below
    /// cannot overflow for any input.
    static let yearClamp: Int64 = 1_000_000_000

    static func daysFromCivil(year: Int64, month: Int, day: Int) -> Int64 {
        let year = min(max(year, -yearClamp), yearClamp)
        let month = min(max(month, 1), 12)
        let day = min(max(day, -1_000_000), 1_000_000)
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day number (days since 1970-01-01).
    static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// 0 = Sunday.
    static func weekday(daysSinceUnix days: Int64) -> Int {
        Int(((days + 4) % 7 + 7) % 7)
    }

    static func isLeap(_ year: Int64) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    /// 0 for a month outside 1…12 (so no day is valid in it).
    static func daysInMonth(_ month: Int, year: Int64) -> Int {
        guard (1...12).contains(month) else { return 0 }
        return [31, isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    }

    /// Floor division and modulo.
    static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var q = a / b
        var r = a % b
        if r < 0 { q -= 1; r += b }
        return (q, r)
    }

    struct DateTimeFields {
        var year: Int64  // astronomical: 0 = 1 BC
        var month: Int
        var day: Int
        var hour: Int
        var minute: Int
        var second: Int
        var microsecond: Int
        var daysSinceUnix: Int64
    }

    /// Splits microseconds since 2000-01-01 00:00 into calendar fields.
    static func fields(microsecondsSince2000 us: Int64) -> DateTimeFields {
        let (days, time) = floorDivMod(us, microsecondsPerDay)
        let unixDays = days + postgresEpochDaysSinceUnix
        let (y, m, d) = civilFromDays(unixDays)
        let seconds = time / microsecondsPerSecond
        return DateTimeFields(year: y, month: m, day: d, hour: Int(seconds / 3600), minute: Int(seconds / 60 % 60),
                              second: Int(seconds % 60), microsecond: Int(time % microsecondsPerSecond), daysSinceUnix: unixDays)
    }

    static func microsecondsSince2000(year: Int64, month: Int, day: Int, hour: Int, minute: Int, second: Int,
                                      microsecond: Int) -> Int64? {
        let days = daysFromCivil(year: year, month: month, day: day) - postgresEpochDaysSinceUnix
        // The clock fields are range-checked by every caller (0…24, 0…59, 0…60, < 1,000,000).
        let time = (Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)) * microsecondsPerSecond + Int64(microsecond)
        return days.checkedMultiplied(by: microsecondsPerDay)?.checkedAdding(time)
    }
}
