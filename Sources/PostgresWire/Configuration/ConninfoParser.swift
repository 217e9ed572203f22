// Parsing of libpq connection strings (key=value lists and postgresql:// URIs), following
// fe-connect.c's conninfo_parse / conninfo_uri_parse_options byte for byte. Only the options written
// in the string come out (like PQconninfoParse); environment and defaults are applied elsewhere.

enum ConninfoParser {
    private static let masked = "********"

    /// Parses `conninfo`; returns keyword → value for the options it names (last one wins).
    static func parse(_ conninfo: String) throws(ConfigurationError) -> [String: String] {
        var bytes = Array(conninfo.utf8)
        // C sees the string only up to its first NUL.
        if let nul = bytes.firstIndex(of: 0) { bytes.removeSubrange(nul...) }
        if let prefix = uriPrefixLength(bytes) {
            return try parseURI(bytes, prefixLength: prefix)
        }
        return try parseKeywordValue(bytes)
    }

    static func uriPrefixLength(_ bytes: [UInt8]) -> Int? {
        for designator in ["postgresql://", "postgres://"] {
            let d = Array(designator.utf8)
            if bytes.count >= d.count && Array(bytes[0..<d.count]) == d { return d.count }
        }
        return nil
    }

    /// Whether libpq would take `string` as a connection string rather than a database name.
    static func isConnectionString(_ string: String) -> Bool {
        uriPrefixLength(Array(string.utf8)) != nil || string.contains("=")
    }

    // MARK: - Storing values

    /// conninfo_storeval: `requiressl` becomes `sslmode`; unknown keywords fail (or return false
    /// when `ignoreMissing`).
    private static func store(
        _ keyword: String, _ value: String, into options: inout [String: String], ignoreMissing: Bool
    ) throws(ConfigurationError) -> Bool {
        var keyword = keyword
        var value = value
        if keyword == "requiressl" {
            keyword = "sslmode"
            value = value.utf8.first == UInt8(ascii: "1") ? "require" : "prefer"
        }
        guard ConninfoOptions.isKnown(keyword) else {
            if ignoreMissing { return false }
            throw ConfigurationError("invalid connection option \"\(keyword)\"")
        }
        options[keyword] = value
        return true
    }

    // MARK: - key = value

    private static func parseKeywordValue(_ b: [UInt8]) throws(ConfigurationError) -> [String: String] {
        var options: [String: String] = [:]
        let n = b.count
        var i = 0
        // Set after an unquoted secret value: a stray word right after it may be the rest of the
        // password, so it is not echoed in an error.
        var afterUnquotedSecret = false
        while i < n {
            if isCSpace(b[i]) {
                i += 1
                continue
            }
            let nameStart = i
            var nameEnd: Int? = nil
            while i < n {
                if b[i] == UInt8(ascii: "=") { break }
                if isCSpace(b[i]) {
                    nameEnd = i
                    i += 1
                    while i < n && isCSpace(b[i]) { i += 1 }
                    break
                }
                i += 1
            }
            let name = string(b[nameStart..<(nameEnd ?? i)])
            let shownName = afterUnquotedSecret ? masked : name
            guard i < n, b[i] == UInt8(ascii: "=") else {
                throw ConfigurationError("missing \"=\" after \"\(shownName)\" in connection info string")
            }
            i += 1
            while i < n && isCSpace(b[i]) { i += 1 }

            var value: [UInt8] = []
            var quoted = false
            if i < n && b[i] == UInt8(ascii: "'") {
                quoted = true
                i += 1
                while true {
                    guard i < n else {
                        throw ConfigurationError("unterminated quoted string in connection info string")
                    }
                    if b[i] == UInt8(ascii: "\\") {
                        i += 1
                        if i < n {
                            value.append(b[i])
                            i += 1
                        }
                        continue
                    }
                    if b[i] == UInt8(ascii: "'") {
                        i += 1
                        break
                    }
                    value.append(b[i])
                    i += 1
                }
            } else {
                while i < n {
                    if isCSpace(b[i]) {
                        i += 1
                        break
                    }
                    if b[i] == UInt8(ascii: "\\") {
                        i += 1
                        if i < n {
                            value.append(b[i])
                            i += 1
                        }
                    } else {
                        value.append(b[i])
                        i += 1
                    }
                }
            }
            do {
                _ = try store(name, string(value), into: &options, ignoreMissing: false)
            } catch {
                if afterUnquotedSecret {
                    throw ConfigurationError("invalid connection option \"\(masked)\"")
                }
                throw error
            }
            afterUnquotedSecret = !quoted && ConninfoOptions.secretKeywords.contains(name)
        }
        return options
    }

    // MARK: - URI

    private static func parseURI(_ b: [UInt8], prefixLength: Int) throws(ConfigurationError) -> [String: String] {
        var options: [String: String] = [:]
        let n = b.count
        func at(_ i: Int) -> UInt8 { i < n ? b[i] : 0 }
        let colon = UInt8(ascii: ":"), slash = UInt8(ascii: "/"), question = UInt8(ascii: "?")
        let comma = UInt8(ascii: ","), at_ = UInt8(ascii: "@")

        let start = prefixLength
        var p = start
        var prevchar: UInt8 = 0

        // User credentials: look ahead for '@' before the first '/'.
        while p < n && b[p] != at_ && b[p] != slash { p += 1 }
        if at(p) == at_ {
            p = start
            while b[p] != colon && b[p] != at_ { p += 1 }
            let user = b[start..<p]
            prevchar = b[p]
            if !user.isEmpty {
                _ = try store("user", try decode(user, secret: false), into: &options, ignoreMissing: false)
            }
            if prevchar == colon {
                let passwordStart = p + 1
                while b[p] != at_ { p += 1 }
                let password = b[passwordStart..<p]
                if !password.isEmpty {
                    _ = try store("password", try decode(password, secret: true), into: &options, ignoreMissing: false)
                }
            }
            p += 1
        } else {
            p = start
        }

        // One or more netloc[:port], separated by commas.
        var hostbuf: [UInt8] = []
        var portbuf: [UInt8] = []
        while true {
            if at(p) == UInt8(ascii: "[") {
                p += 1
                let hostStart = p
                while p < n && b[p] != UInt8(ascii: "]") { p += 1 }
                if p >= n {
                    throw ConfigurationError(
                        "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"\(redactedURI(b, prefixLength: prefixLength))\"")
                }
                if p == hostStart {
                    throw ConfigurationError(
                        "IPv6 host address may not be empty in URI: \"\(redactedURI(b, prefixLength: prefixLength))\"")
                }
                hostbuf += b[hostStart..<p]
                p += 1
                let c = at(p)
                if c != 0 && c != colon && c != slash && c != question && c != comma {
                    throw ConfigurationError(
                        "unexpected character \"\(string([c]))\" at position \(p + 1) in URI (expected \":\" or \"/\"): \"\(redactedURI(b, prefixLength: prefixLength))\"")
                }
            } else {
                let hostStart = p
                while p < n && b[p] != colon && b[p] != slash && b[p] != question && b[p] != comma { p += 1 }
                hostbuf += b[hostStart..<p]
            }
            prevchar = at(p)
            if prevchar == colon {
                p += 1
                let portStart = p
                while p < n && b[p] != slash && b[p] != question && b[p] != comma { p += 1 }
                prevchar = at(p)
                portbuf += b[portStart..<p]
            }
            if prevchar != comma { break }
            p += 1
            hostbuf.append(comma)
            portbuf.append(comma)
        }
        if !hostbuf.isEmpty {
            _ = try store("host", try decode(hostbuf[...], secret: false), into: &options, ignoreMissing: false)
        }
        if !portbuf.isEmpty {
            _ = try store("port", try decode(portbuf[...], secret: false), into: &options, ignoreMissing: false)
        }

        if prevchar != 0 && prevchar != question {
            p += 1
            let dbStart = p
            while p < n && b[p] != question { p += 1 }
            prevchar = at(p)
            let dbname = b[dbStart..<min(p, n)]
            // An empty dbname is not stored, so that PGDATABASE still applies.
            if !dbname.isEmpty {
                _ = try store("dbname", try decode(dbname, secret: false), into: &options, ignoreMissing: false)
            }
        }
        if prevchar != 0 {
            p += 1
            try parseQuery(b, from: p, into: &options)
        }
        return options
    }

    private static func parseQuery(_ b: [UInt8], from start: Int, into options: inout [String: String]) throws(ConfigurationError) {
        let n = b.count
        var p = start
        while p < n {
            let keywordStart = p
            var separator: Int? = nil
            var end = p
            while true {
                if p < n && b[p] == UInt8(ascii: "=") {
                    if let separator {
                        throw ConfigurationError(
                            "extra key/value separator \"=\" in URI query parameter: \"\(string(b[keywordStart..<separator]))\"")
                    }
                    separator = p
                    p += 1
                } else if p >= n || b[p] == UInt8(ascii: "&") {
                    end = p
                    if p < n { p += 1 }
                    guard separator != nil else {
                        throw ConfigurationError(
                            "missing key/value separator \"=\" in URI query parameter: \"\(string(b[keywordStart..<end]))\"")
                    }
                    break
                } else {
                    p += 1
                }
            }
            let separatorIndex = separator!
            var keyword = try decode(b[keywordStart..<separatorIndex], secret: false)
            var value = try decode(
                b[(separatorIndex + 1)..<end], secret: ConninfoOptions.secretKeywords.contains(keyword))
            // JDBC compatibility.
            if keyword == "ssl" && value == "true" {
                keyword = "sslmode"
                value = "require"
            }
            if try !store(keyword, value, into: &options, ignoreMissing: true) {
                throw ConfigurationError("invalid URI query parameter: \"\(keyword)\"")
            }
        }
    }

    /// conninfo_uri_decode. For secrets the offending text is not echoed.
    static func decode(_ s: ArraySlice<UInt8>, secret: Bool) throws(ConfigurationError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c != UInt8(ascii: "%") {
                out.append(c)
                i += 1
                continue
            }
            let shown = secret ? masked : string(s)
            guard i + 2 < s.endIndex, let hi = hexValue(s[i + 1]), let lo = hexValue(s[i + 2]) else {
                throw ConfigurationError("invalid percent-encoded token: \"\(shown)\"")
            }
            let byte = hi << 4 | lo
            if byte == 0 {
                throw ConfigurationError("forbidden value %00 in percent-encoded value: \"\(shown)\"")
            }
            out.append(byte)
            i += 3
        }
        return string(out)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    /// The URI as libpq would echo it in an error, with the password (user-info part and
    /// `password=`/`sslpassword=` query values) replaced by asterisks.
    static func redactedURI(_ b: [UInt8], prefixLength: Int) -> String {
        var out = Array(b[0..<prefixLength])
        var p = prefixLength
        let n = b.count
        while p < n && b[p] != UInt8(ascii: "@") && b[p] != UInt8(ascii: "/") { p += 1 }
        var rest = prefixLength
        if p < n && b[p] == UInt8(ascii: "@") {
            let at = p
            if let colon = b[prefixLength..<at].firstIndex(of: UInt8(ascii: ":")), colon + 1 < at {
                out += b[prefixLength...colon]
                out += Array(masked.utf8)
                out.append(UInt8(ascii: "@"))
            } else {
                out += b[prefixLength...at]
            }
            rest = at + 1
        }
        // Query: mask values of secret keywords.
        let tail = Array(b[rest..<n])
        guard let q = tail.firstIndex(of: UInt8(ascii: "?")) else { return string(out + tail) }
        out += tail[0...q]
        let params = tail[(q + 1)...].split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false)
        for (index, param) in params.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            if let eq = param.firstIndex(of: UInt8(ascii: "=")),
                let key = try? decode(param[param.startIndex..<eq], secret: false),
                ConninfoOptions.secretKeywords.contains(key)
            {
                out += param[param.startIndex...eq]
                out += Array(masked.utf8)
            } else {
                out += param
            }
        }
        return string(out)
    }

    // MARK: - Helpers

    /// C's isspace in the "C" locale.
    @inline(__always)
    static func isCSpace(_ c: UInt8) -> Bool {
        c == 0x20 || (c >= 0x09 && c <= 0x0D)
    }

    static func string<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        String(decoding: Array(bytes), as: UTF8.self)
    }
}

// MARK: - Number parsing as libpq does it

enum LibpqNumber {
    /// parse_int_param: strtol in base 10 with leading and trailing whitespace allowed, no garbage,
    /// result within C int.
    static func parseInt(_ value: String) -> Int32? {
        let b = Array(value.utf8)
        var i = 0
        while i < b.count && ConninfoParser.isCSpace(b[i]) { i += 1 }
        var negative = false
        if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) {
            negative = b[i] == UInt8(ascii: "-")
            i += 1
        }
        let digitsStart = i
        var magnitude: Int64 = 0
        var overflow = false
        while i < b.count && b[i] >= UInt8(ascii: "0") && b[i] <= UInt8(ascii: "9") {
            if !overflow {
                magnitude = magnitude * 10 + Int64(b[i] - UInt8(ascii: "0"))
                if magnitude > Int64(Int32.max) + 1 { overflow = true }
            }
            i += 1
        }
        guard i > digitsStart, !overflow else { return nil }
        while i < b.count && ConninfoParser.isCSpace(b[i]) { i += 1 }
        guard i == b.count else { return nil }
        let signed = negative ? -magnitude : magnitude
        guard signed >= Int64(Int32.min) && signed <= Int64(Int32.max) else { return nil }
        return Int32(signed)
    }

    static func parseInt(_ value: String, option: String) throws(ConfigurationError) -> Int {
        guard let v = parseInt(value) else {
            throw ConfigurationError("invalid integer value \"\(value)\" for connection option \"\(option)\"")
        }
        return Int(v)
    }

    /// useKeepalives: strtol with leading whitespace, nothing after the digits. An empty or
    /// digit-less string is 0 for strtol (no error), as in libpq.
    static func parseKeepalives(_ value: String) -> Bool? {
        let b = Array(value.utf8)
        var i = 0
        while i < b.count && ConninfoParser.isCSpace(b[i]) { i += 1 }
        var j = i
        if j < b.count && (b[j] == UInt8(ascii: "+") || b[j] == UInt8(ascii: "-")) { j += 1 }
        let digitsStart = j
        var nonzero = false
        while j < b.count && b[j] >= UInt8(ascii: "0") && b[j] <= UInt8(ascii: "9") {
            if b[j] != UInt8(ascii: "0") { nonzero = true }
            j += 1
        }
        if j == digitsStart {
            // No conversion: strtol leaves the end pointer at the start of the string.
            return b.isEmpty ? false : nil
        }
        guard j == b.count else { return nil }
        return nonzero
    }
}
