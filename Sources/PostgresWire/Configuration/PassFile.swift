// The password file (~/.pgpass), as fe-connect.c's passwordFromFile / pwdfMatchesString.

import Foundation

enum PassFile {
    /// Looks up a password. `hostname` is libpq's search key (already mapped to "localhost" where
    /// libpq does so); `port` is the port as text. Returns nil when the file is missing, unsafe, not a
    /// plain file, or has no matching line; the last two cases are reported through `warn` with
    /// libpq's wording.
    static func lookup(
        path: String, hostname: String, port: String, database: String, user: String,
        warn: (String) -> Void
    ) -> String? {
        if database.isEmpty || user.isEmpty { return nil }
        guard let st = FileStatus.status(path) else { return nil }
        if (st.st_mode & S_IFMT) != S_IFREG {
            warn("WARNING: password file \"\(path)\" is not a plain file")
            return nil
        }
        if st.st_mode & (S_IRWXG | S_IRWXO) != 0 {
            warn("WARNING: password file \"\(path)\" has group or world access; permissions should be u=rw (0600) or less")
            return nil
        }
        guard let data = FileStatus.readAll(path) else { return nil }
        return lookup(contents: data, hostname: hostname, port: port, database: database, user: user)
    }

    /// Matching on the file's contents: first matching line wins.
    static func lookup(contents: [UInt8], hostname: String, port: String, database: String, user: String) -> String? {
        let tokens = [hostname, port, database, user].map { Array($0.utf8) }
        for rawLine in contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            if rawLine.first == UInt8(ascii: "#") { continue }
            var line = Array(rawLine)
            // pg_strip_crlf
            while let last = line.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { line.removeLast() }
            if line.isEmpty { continue }
            var position: Int? = 0
            for token in tokens {
                guard let p = position else { break }
                position = matchField(line, from: p, token: token)
            }
            guard let passwordStart = position else { continue }
            // De-escape the password; an unescaped ':' ends it.
            var password: [UInt8] = []
            var i = passwordStart
            while i < line.count && line[i] != UInt8(ascii: ":") {
                if line[i] == UInt8(ascii: "\\") && i + 1 < line.count { i += 1 }
                password.append(line[i])
                i += 1
            }
            return String(decoding: password, as: UTF8.self)
        }
        return nil
    }

    /// pwdfMatchesString: if the field starting at `start` matches `token` (or is `*`), returns the
    /// index just past its terminating ':'.
    static func matchField(_ line: [UInt8], from start: Int, token: [UInt8]) -> Int? {
        let colon = UInt8(ascii: ":")
        func at(_ i: Int) -> UInt8 { i < line.count ? line[i] : 0 }
        if at(start) == UInt8(ascii: "*") && at(start + 1) == colon { return start + 2 }
        var t = start
        var k = 0
        var backslash = false
        while at(t) != 0 {
            if at(t) == UInt8(ascii: "\\") && !backslash {
                t += 1
                backslash = true
            }
            if at(t) == colon && k == token.count && !backslash { return t + 1 }
            backslash = false
            if k == token.count { return nil }
            if at(t) == token[k] {
                t += 1
                k += 1
            } else {
                return nil
            }
        }
        return nil
    }
}
