import Foundation

/// A time zone as PostgreSQL's bundled tzcode sees it: the TZif file from the system zoneinfo
/// directory (the same files a server built `--with-system-tzdata` reads) extended by its POSIX
/// TZ footer rule, or a bare POSIX TZ string ("<+05>-05", "EST5EDT,M3.2.0,M11.1.0"). This gives
/// the exact offsets and abbreviations timestamptz_out prints, LMT and far-future years included.
public final class PostgresTimeZone: Sendable {
    public struct LocalTimeType: Sendable, Equatable {
        /// Seconds east of UTC.
        public var utcOffset: Int32
        public var isDST: Bool
        public var abbreviation: String
        public init(utcOffset: Int32, isDST: Bool, abbreviation: String) {
            self.utcOffset = utcOffset
            self.isDST = isDST
            self.abbreviation = abbreviation
        }
    }

    public let name: String
    let types: [LocalTimeType]
    let transitions: [Int64]
    let transitionTypes: [Int]
    let defaultType: Int
    let rule: PosixRule?
    /// Every UTC offset the zone uses (for local → UTC resolution).
    let distinctOffsets: [Int32]

    init(name: String, types: [LocalTimeType], transitions: [Int64], transitionTypes: [Int], rule: PosixRule?) {
        self.name = name
        self.types = types.isEmpty ? [LocalTimeType(utcOffset: 0, isDST: false, abbreviation: "UTC")] : types
        self.transitions = transitions
        self.transitionTypes = transitionTypes
        self.rule = rule
        var offsets: [Int32] = []
        for t in self.types + [rule?.std, rule?.dst].compactMap({ $0 }) where !offsets.contains(t.utcOffset) { offsets.append(t.utcOffset) }
        self.distinctOffsets = offsets
        // tzcode's defaulttype inference, for times before the first transition.
        var i = transitionTypes.contains(0) ? -1 : 0
        if i < 0, let first = transitionTypes.first, self.types[first].isDST {
            i = first - 1
            while i >= 0, self.types[i].isDST { i -= 1 }
        }
        if i < 0 {
            i = self.types.firstIndex { !$0.isDST } ?? 0
        }
        self.defaultType = i
    }

    public static let utc = PostgresTimeZone(name: "UTC", types: [LocalTimeType(utcOffset: 0, isDST: false, abbreviation: "UTC")],
                                             transitions: [], transitionTypes: [], rule: nil)

    /// The local time type in effect at `unixSeconds`.
    public func localTimeType(atUnixSeconds t: Int64) -> LocalTimeType {
        if transitions.isEmpty || t < transitions[0] {
            if transitions.isEmpty, let rule { return rule.localTimeType(atUnixSeconds: t) }
            return types[defaultType]
        }
        if let rule, rule.dst != nil, t >= transitions[transitions.count - 1] {
            return rule.localTimeType(atUnixSeconds: t)
        }
        var lo = 0, hi = transitions.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if t < transitions[mid] { hi = mid } else { lo = mid + 1 }
        }
        return types[transitionTypes[lo - 1]]
    }

    /// The local time types that could apply to a local wall-clock time (one normally, two in a
    /// repeated hour, none in a skipped hour), with the UTC instants they give, earliest first.
    func candidates(localSeconds: Int64) -> [(LocalTimeType, Int64)] {
        var out: [(LocalTimeType, Int64)] = []
        for offset in distinctOffsets {
            let utc = localSeconds - Int64(offset)
            let actual = localTimeType(atUnixSeconds: utc)
            if actual.utcOffset == offset { out.append((actual, utc)) }
        }
        return out.sorted { $0.1 < $1.1 }
    }

    // MARK: Loading

    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var cache: [String: PostgresTimeZone] = [:]

    /// Where zoneinfo files are looked up ($TZDIR first).
    static var zoneDirectories: [String] {
        var dirs: [String] = []
        if let tzdir = ProcessInfo.processInfo.environment["TZDIR"], !tzdir.isEmpty { dirs.append(tzdir) }
        dirs += ["/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo", "/var/db/timezone/zoneinfo"]
        return dirs
    }

    /// The zone PostgreSQL's TimeZone setting names: a zoneinfo name, or a POSIX TZ string.
    /// nil if neither works.
    public static func named(_ name: String) -> PostgresTimeZone? {
        if let cached = cacheLock.withLock({ cache[name] }) { return cached }
        let zone = load(name)
        if let zone { cacheLock.withLock { cache[name] = zone } }
        return zone
    }

    private static func load(_ name: String) -> PostgresTimeZone? {
        // pg_tzset sends "GMT" straight to the POSIX parser (no file).
        if name.uppercased() == "GMT" {
            return PostgresTimeZone(name: name, types: [LocalTimeType(utcOffset: 0, isDST: false, abbreviation: "GMT")],
                                    transitions: [], transitionTypes: [], rule: nil)
        }
        if !name.contains(".."), !name.hasPrefix("/") {
            for dir in zoneDirectories {
                if let data = FileManager.default.contents(atPath: dir + "/" + name), let zone = parseTZif(Array(data), name: name) {
                    return zone
                }
            }
        }
        // pg_tzset parses a POSIX spec upper-cased (the server reports it so).
        if let rule = PosixRule(name.uppercased()) {
            return PostgresTimeZone(name: name, types: [rule.std], transitions: [], transitionTypes: [], rule: rule)
        }
        if name.uppercased() == "UTC" { return .utc }
        return nil
    }

    /// Parses a TZif file (version 2+ 64-bit data preferred) and its footer rule.
    static func parseTZif(_ bytes: [UInt8], name: String) -> PostgresTimeZone? {
        struct Header { var isut, isstd, leap, time, type, char: Int }
        func readHeader(_ at: Int) -> (version: UInt8, Header)? {
            guard bytes.count >= at + 44, bytes[at..<(at + 4)].elementsEqual("TZif".utf8) else { return nil }
            func count(_ i: Int) -> Int {
                let o = at + 20 + i * 4
                return Int(UInt32(bytes[o]) << 24 | UInt32(bytes[o + 1]) << 16 | UInt32(bytes[o + 2]) << 8 | UInt32(bytes[o + 3]))
            }
            return (bytes[at + 4], Header(isut: count(0), isstd: count(1), leap: count(2), time: count(3), type: count(4), char: count(5)))
        }
        guard let (version, h1) = readHeader(0) else { return nil }
        var offset = 44
        var header = h1
        var timeSize = 4
        if version >= UInt8(ascii: "2") {
            let v1Size = h1.time * 5 + h1.type * 6 + h1.char + h1.leap * 8 + h1.isstd + h1.isut
            guard let (_, h2) = readHeader(44 + v1Size) else { return nil }
            offset = 44 + v1Size + 44
            header = h2
            timeSize = 8
        }
        let dataSize = header.time * (timeSize + 1) + header.type * 6 + header.char + header.leap * (timeSize + 4) + header.isstd + header.isut
        guard bytes.count >= offset + dataSize, header.type > 0 else { return nil }
        func int(_ at: Int, _ size: Int) -> Int64 {
            var v: UInt64 = 0
            for i in 0..<size { v = v << 8 | UInt64(bytes[at + i]) }
            return size == 4 ? Int64(Int32(truncatingIfNeeded: v)) : Int64(bitPattern: v)
        }
        var transitions: [Int64] = []
        for i in 0..<header.time { transitions.append(int(offset + i * timeSize, timeSize)) }
        var p = offset + header.time * timeSize
        var transitionTypes: [Int] = []
        for i in 0..<header.time { transitionTypes.append(Int(bytes[p + i])) }
        p += header.time
        var rawTypes: [(Int32, Bool, Int)] = []
        for i in 0..<header.type {
            let o = p + i * 6
            rawTypes.append((Int32(truncatingIfNeeded: int(o, 4)), bytes[o + 4] != 0, Int(bytes[o + 5])))
        }
        p += header.type * 6
        let chars = Array(bytes[p..<(p + header.char)])
        guard transitionTypes.allSatisfy({ $0 < rawTypes.count }) else { return nil }
        let types = rawTypes.map { utoff, isdst, idx -> LocalTimeType in
            let end = chars[min(idx, chars.count)...].firstIndex(of: 0) ?? chars.count
            return LocalTimeType(utcOffset: utoff, isDST: isdst, abbreviation: String(decoding: chars[min(idx, chars.count)..<end], as: UTF8.self))
        }
        var rule: PosixRule?
        if timeSize == 8 {
            let footerStart = offset + dataSize
            if footerStart < bytes.count, bytes[footerStart] == 0x0A,
               let end = bytes[(footerStart + 1)...].firstIndex(of: 0x0A) {
                rule = PosixRule(String(decoding: bytes[(footerStart + 1)..<end], as: UTF8.self))
            }
        }
        return PostgresTimeZone(name: name, types: types, transitions: transitions, transitionTypes: transitionTypes, rule: rule)
    }
}

/// A POSIX TZ string: "STD offset [DST [offset] [,start[/time],end[/time]]]" (with tzcode's
/// extensions: <...> quoted names, hours up to 167, negative times).
struct PosixRule: Sendable {
    enum Day: Sendable {
        case julianNoLeap(Int)  // Jn, 1...365, Feb 29 never counted
        case zeroBased(Int)  // n, 0...365
        case monthWeekDay(month: Int, week: Int, weekday: Int)  // Mm.w.d
    }

    struct Transition: Sendable {
        var day: Day
        var time: Int64  // seconds after local midnight
    }

    let std: PostgresTimeZone.LocalTimeType
    let dst: PostgresTimeZone.LocalTimeType?
    let start: Transition?
    let end: Transition?

    init?(_ spec: String) {
        var s = Array(spec.utf8)[...]
        func parseName() -> String? {
            if s.first == UInt8(ascii: "<") {
                guard let close = s.firstIndex(of: UInt8(ascii: ">")) else { return nil }
                let name = String(decoding: s[(s.startIndex + 1)..<close], as: UTF8.self)
                s = s[(close + 1)...]
                return name
            }
            // PostgreSQL's getzname: anything up to a digit, a sign or a comma; unlike IANA's
            // tzcode it allows short and empty names ("-02:00" has an empty one, "X+1" a short one).
            let name = s.prefix { !(48...57).contains($0) && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: "+") }
            s = s.dropFirst(name.count)
            return String(decoding: name, as: UTF8.self)
        }
        func parseNumber(max: Int) -> Int? {
            let digits = s.prefix { (48...57).contains($0) }
            guard !digits.isEmpty, digits.count <= 4 else { return nil }
            s = s.dropFirst(digits.count)
            let v = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
            return v <= max ? v : nil
        }
        func parseTime(maxHours: Int) -> Int64? {
            var sign: Int64 = 1
            if s.first == UInt8(ascii: "-") { sign = -1; s = s.dropFirst() } else if s.first == UInt8(ascii: "+") { s = s.dropFirst() }
            guard let h = parseNumber(max: maxHours) else { return nil }
            var total = Int64(h) * 3600
            if s.first == UInt8(ascii: ":") {
                s = s.dropFirst()
                guard let m = parseNumber(max: 59) else { return nil }
                total += Int64(m) * 60
                if s.first == UInt8(ascii: ":") {
                    s = s.dropFirst()
                    guard let sec = parseNumber(max: 60) else { return nil }
                    total += Int64(sec)
                }
            }
            return sign * total
        }
        func parseTransition() -> Transition? {
            var day: Day
            if s.first == UInt8(ascii: "J") {
                s = s.dropFirst()
                guard let n = parseNumber(max: 365), n >= 1 else { return nil }
                day = .julianNoLeap(n)
            } else if s.first == UInt8(ascii: "M") {
                s = s.dropFirst()
                guard let m = parseNumber(max: 12), m >= 1, s.first == UInt8(ascii: ".") else { return nil }
                s = s.dropFirst()
                guard let w = parseNumber(max: 5), w >= 1, s.first == UInt8(ascii: ".") else { return nil }
                s = s.dropFirst()
                guard let d = parseNumber(max: 6) else { return nil }
                day = .monthWeekDay(month: m, week: w, weekday: d)
            } else {
                guard let n = parseNumber(max: 365) else { return nil }
                day = .zeroBased(n)
            }
            var time: Int64 = 7200
            if s.first == UInt8(ascii: "/") {
                s = s.dropFirst()
                guard let t = parseTime(maxHours: 167) else { return nil }
                time = t
            }
            return Transition(day: day, time: time)
        }

        // tzcode's getoffset reads up to 167 hours (as for rule times); the server accepts them.
        guard s.first != UInt8(ascii: ":"), let stdName = parseName(), let stdWest = parseTime(maxHours: 167) else { return nil }
        std = PostgresTimeZone.LocalTimeType(utcOffset: Int32(-stdWest), isDST: false, abbreviation: stdName)
        if s.isEmpty {
            dst = nil; start = nil; end = nil
            return
        }
        guard let dstName = parseName(), !dstName.isEmpty else { return nil }
        var dstWest = stdWest - 3600
        if let c = s.first, c != UInt8(ascii: ",") && c != UInt8(ascii: ";") {
            guard let t = parseTime(maxHours: 167) else { return nil }
            dstWest = t
        }
        dst = PostgresTimeZone.LocalTimeType(utcOffset: Int32(-dstWest), isDST: true, abbreviation: dstName)
        if s.isEmpty {
            // No rule: tzcode's default (US rules since 2007).
            start = Transition(day: .monthWeekDay(month: 3, week: 2, weekday: 0), time: 7200)
            end = Transition(day: .monthWeekDay(month: 11, week: 1, weekday: 0), time: 7200)
            return
        }
        guard s.first == UInt8(ascii: ",") else { return nil }
        s = s.dropFirst()
        guard let st = parseTransition(), s.first == UInt8(ascii: ",") else { return nil }
        s = s.dropFirst()
        guard let en = parseTransition(), s.isEmpty else { return nil }
        start = st
        end = en
    }

    /// Seconds from local Jan 1 00:00 to the transition day's midnight.
    private func dayOffset(_ day: Day, year: Int64) -> Int64 {
        let leap = PostgresCalendar.isLeap(year)
        switch day {
        case .julianNoLeap(let n):
            return Int64(n - 1 + (leap && n >= 60 ? 1 : 0)) * 86_400
        case .zeroBased(let n):
            return Int64(n) * 86_400
        case .monthWeekDay(let month, let week, let weekday):
            let firstOfMonth = PostgresCalendar.daysFromCivil(year: year, month: month, day: 1)
            let dow = PostgresCalendar.weekday(daysSinceUnix: firstOfMonth)
            var d = weekday - dow
            if d < 0 { d += 7 }
            let length = PostgresCalendar.daysInMonth(month, year: year)
            var i = 1
            while i < week {
                if d + 7 >= length { break }
                d += 7
                i += 1
            }
            return (firstOfMonth - PostgresCalendar.daysFromCivil(year: year, month: 1, day: 1) + Int64(d)) * 86_400
        }
    }

    func localTimeType(atUnixSeconds t: Int64) -> PostgresTimeZone.LocalTimeType {
        guard let dst, let start, let end else { return std }
        let (days, _) = PostgresCalendar.floorDivMod(t, 86_400)
        let year = PostgresCalendar.civilFromDays(days).year
        var events: [(Int64, Bool)] = []
        for y in (year - 1)...(year + 1) {
            let jan1 = PostgresCalendar.daysFromCivil(year: y, month: 1, day: 1) * 86_400
            let startTime = dayOffset(start.day, year: y) + start.time - Int64(std.utcOffset)
            let endTime = dayOffset(end.day, year: y) + end.time - Int64(dst.utcOffset)
            // tzcode's tzparse: a year whose DST period covers the whole year has no transitions
            // (and a rule with none in any year is perpetual DST).
            let yearSeconds: Int64 = (PostgresCalendar.isLeap(y) ? 366 : 365) * 86_400
            let reversed = endTime < startTime
            guard reversed || (startTime < endTime && endTime - startTime < yearSeconds + Int64(dst.utcOffset - std.utcOffset)) else { continue }
            events.append((jan1 + startTime, true))
            events.append((jan1 + endTime, false))
        }
        if events.isEmpty { return dst }
        events.sort { $0.0 < $1.0 }
        var current = false
        for (at, isDST) in events where at <= t { current = isDST }
        return current ? dst : std
    }
}
