/// PostgreSQL's date/time output functions (EncodeDateOnly, EncodeDateTime, EncodeTimeOnly,
/// EncodeInterval), byte for byte.
enum PostgresDateTimeFormat {
    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private static func pad(_ v: some BinaryInteger, _ width: Int) -> String { PostgresCodecSupport.zeroPad(v, width) }

    /// The year as printed: BC years count from 1 (astronomical 0 is 1 BC).
    private static func displayYear(_ year: Int64) -> String { pad(year > 0 ? year : -(year - 1), 4) }

    /// AppendSeconds: seconds, then the fraction without trailing zeros.
    static func seconds(_ sec: Int, _ fsec: Int, fillZeros: Bool) -> String {
        var s = fillZeros ? pad(abs(sec), 2) : String(abs(sec))
        if fsec != 0 {
            var frac = pad(abs(fsec), 6)
            while frac.hasSuffix("0") { frac.removeLast() }
            s += "." + frac
        }
        return s
    }

    /// EncodeTimezone: the offset as +hh, +hh:mm or +hh:mm:ss (`west` is seconds west of UTC).
    static func zoneOffset(westSeconds tz: Int) -> String {
        var sec = abs(tz)
        var min = sec / 60
        sec -= min * 60
        let hour = min / 60
        min -= hour * 60
        let sign = tz <= 0 ? "+" : "-"
        if sec != 0 { return sign + pad(hour, 2) + ":" + pad(min, 2) + ":" + pad(sec, 2) }
        if min != 0 { return sign + pad(hour, 2) + ":" + pad(min, 2) }
        return sign + pad(hour, 2)
    }

    // MARK: date

    static func date(_ date: PostgresDate, style: PostgresSessionSettings) -> String {
        if date.daysSince2000 == .max { return "infinity" }
        if date.daysSince2000 == .min { return "-infinity" }
        let (y, m, d) = PostgresCalendar.civilFromDays(Int64(date.daysSince2000) + PostgresCalendar.postgresEpochDaysSinceUnix)
        var s: String
        switch style.dateStyle {
        case .iso:
            s = displayYear(y) + "-" + pad(m, 2) + "-" + pad(d, 2)
        case .sql:
            s = (style.dateOrder == .dmy ? pad(d, 2) + "/" + pad(m, 2) : pad(m, 2) + "/" + pad(d, 2)) + "/" + displayYear(y)
        case .german:
            s = pad(d, 2) + "." + pad(m, 2) + "." + displayYear(y)
        case .postgres:
            s = (style.dateOrder == .dmy ? pad(d, 2) + "-" + pad(m, 2) : pad(m, 2) + "-" + pad(d, 2)) + "-" + displayYear(y)
        }
        if y <= 0 { s += " BC" }
        return s
    }

    // MARK: timestamp, timestamptz

    /// timestamp_out (`zone` nil) or timestamptz_out in `zone`.
    static func timestamp(_ us: Int64, zone: PostgresTimeZone?, style: PostgresSessionSettings) -> String {
        if us == .max { return "infinity" }
        if us == .min { return "-infinity" }
        var local = us
        var type: PostgresTimeZone.LocalTimeType?
        if let zone {
            let (seconds, _) = PostgresCalendar.floorDivMod(us, PostgresCalendar.microsecondsPerSecond)
            let t = zone.localTimeType(atUnixSeconds: seconds + PostgresCalendar.postgresEpochUnixSeconds)
            type = t
            local = us &+ Int64(t.utcOffset) * PostgresCalendar.microsecondsPerSecond
        }
        let f = PostgresCalendar.fields(microsecondsSince2000: local)
        let time = pad(f.hour, 2) + ":" + pad(f.minute, 2) + ":" + seconds(f.second, f.microsecond, fillZeros: true)
        let tzNumeric = type.map { zoneOffset(westSeconds: -Int($0.utcOffset)) } ?? ""
        let tzName = type.map { " " + String($0.abbreviation.prefix(10)) } ?? ""
        var s: String
        switch style.dateStyle {
        case .iso:
            s = displayYear(f.year) + "-" + pad(f.month, 2) + "-" + pad(f.day, 2) + " " + time + tzNumeric
        case .sql:
            let md = style.dateOrder == .dmy ? pad(f.day, 2) + "/" + pad(f.month, 2) : pad(f.month, 2) + "/" + pad(f.day, 2)
            s = md + "/" + displayYear(f.year) + " " + time + tzName
        case .german:
            s = pad(f.day, 2) + "." + pad(f.month, 2) + "." + displayYear(f.year) + " " + time + tzName
        case .postgres:
            let dow = weekdays[PostgresCalendar.weekday(daysSinceUnix: f.daysSinceUnix)]
            let md = style.dateOrder == .dmy ? pad(f.day, 2) + " " + months[f.month - 1] : months[f.month - 1] + " " + pad(f.day, 2)
            s = dow + " " + md + " " + time + " " + displayYear(f.year) + tzName
        }
        if f.year <= 0 { s += " BC" }
        return s
    }

    // MARK: time, timetz

    static func time(_ us: Int64) -> String {
        let (secs, fsec) = PostgresCalendar.floorDivMod(us, PostgresCalendar.microsecondsPerSecond)
        return pad(secs / 3600, 2) + ":" + pad(secs / 60 % 60, 2) + ":" + seconds(Int(secs % 60), Int(fsec), fillZeros: true)
    }

    // MARK: interval

    static func interval(_ iv: PostgresInterval, style: PostgresSessionSettings.IntervalStyle) -> String {
        // interval2itm
        let year = Int64(iv.months / 12)
        let mon = Int64(iv.months % 12)
        let mday = Int64(iv.days)
        var time = iv.microseconds
        let hour = time / 3_600_000_000
        time -= hour * 3_600_000_000
        let min = time / 60_000_000
        time -= min * 60_000_000
        let sec = time / 1_000_000
        let fsec = time - sec * 1_000_000
        return encodeInterval(year: year, mon: mon, mday: mday, hour: hour, min: min, sec: sec, fsec: fsec, style: style)
    }

    private static func encodeInterval(year: Int64, mon: Int64, mday: Int64, hour: Int64, min: Int64, sec: Int64, fsec: Int64,
                                       style: PostgresSessionSettings.IntervalStyle) -> String {
        var year = year, mon = mon, mday = mday, hour = hour, min = min, sec = sec, fsec = fsec
        var out = ""
        var isBefore = false
        var isZero = true
        func appendSeconds(_ fill: Bool) -> String { seconds(Int(sec), Int(fsec), fillZeros: fill) }
        switch style {
        case .sqlStandard:
            let hasNegative = year < 0 || mon < 0 || mday < 0 || hour < 0 || min < 0 || sec < 0 || fsec < 0
            let hasPositive = year > 0 || mon > 0 || mday > 0 || hour > 0 || min > 0 || sec > 0 || fsec > 0
            let hasYearMonth = year != 0 || mon != 0
            let hasDayTime = mday != 0 || hour != 0 || min != 0 || sec != 0 || fsec != 0
            let hasDay = mday != 0
            let sqlStandardValue = !(hasNegative && hasPositive) && !(hasYearMonth && hasDayTime)
            if hasNegative && sqlStandardValue {
                out += "-"
                year = -year; mon = -mon; mday = -mday; hour = -hour; min = -min; sec = -sec; fsec = -fsec
            }
            if !hasNegative && !hasPositive {
                out += "0"
            } else if !sqlStandardValue {
                let yearSign = year < 0 || mon < 0 ? "-" : "+"
                let daySign = mday < 0 ? "-" : "+"
                let secSign = hour < 0 || min < 0 || sec < 0 || fsec < 0 ? "-" : "+"
                out += "\(yearSign)\(abs(year))-\(abs(mon)) \(daySign)\(abs(mday)) \(secSign)\(abs(hour)):\(pad(abs(min), 2)):"
                out += appendSeconds(true)
            } else if hasYearMonth {
                out += "\(year)-\(mon)"
            } else if hasDay {
                out += "\(mday) \(hour):\(pad(abs(min), 2)):" + appendSeconds(true)
            } else {
                out += "\(hour):\(pad(abs(min), 2)):" + appendSeconds(true)
            }
        case .iso8601:
            if year == 0 && mon == 0 && mday == 0 && hour == 0 && min == 0 && sec == 0 && fsec == 0 { return "PT0S" }
            out = "P"
            func part(_ v: Int64, _ unit: String) { if v != 0 { out += "\(v)\(unit)" } }
            part(year, "Y")
            part(mon, "M")
            part(mday, "D")
            if hour != 0 || min != 0 || sec != 0 || fsec != 0 { out += "T" }
            part(hour, "H")
            part(min, "M")
            if sec != 0 || fsec != 0 {
                if sec < 0 || fsec < 0 { out += "-" }
                out += appendSeconds(false) + "S"
            }
        case .postgres:
            func part(_ value: Int64, _ units: String) {
                guard value != 0 else { return }
                out += (!isZero ? " " : "") + (isBefore && value > 0 ? "+" : "") + "\(value) \(units)" + (value != 1 ? "s" : "")
                isBefore = value < 0
                isZero = false
            }
            part(year, "year")
            part(mon, "mon")
            part(mday, "day")
            if isZero || hour != 0 || min != 0 || sec != 0 || fsec != 0 {
                let minus = hour < 0 || min < 0 || sec < 0 || fsec < 0
                out += (isZero ? "" : " ") + (minus ? "-" : (isBefore ? "+" : "")) + pad(abs(hour), 2) + ":" + pad(abs(min), 2) + ":"
                out += appendSeconds(true)
            }
        case .postgresVerbose:
            out = "@"
            func part(_ v: Int64, _ units: String) {
                guard v != 0 else { return }
                var value = v
                if isZero {
                    isBefore = value < 0
                    value = abs(value)
                } else if isBefore {
                    value = -value
                }
                out += " \(value) \(units)" + (value == 1 ? "" : "s")
                isZero = false
            }
            part(year, "year")
            part(mon, "mon")
            part(mday, "day")
            part(hour, "hour")
            part(min, "min")
            if sec != 0 || fsec != 0 {
                out += " "
                if sec < 0 || (sec == 0 && fsec < 0) {
                    if isZero { isBefore = true } else if !isBefore { out += "-" }
                } else if isBefore {
                    out += "-"
                }
                out += appendSeconds(false) + " sec" + (abs(sec) != 1 || fsec != 0 ? "s" : "")
                isZero = false
            }
            if isZero { out += " 0" }
            if isBefore { out += " ago" }
        }
        return out
    }
}
