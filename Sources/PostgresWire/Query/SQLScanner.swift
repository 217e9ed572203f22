/// Finds the highest `$n` placeholder in SQL text, skipping string literals, quoted identifiers,
/// dollar-quoted strings and comments, so a wrong parameter count is reported before anything
/// is sent.
enum SQLScanner {
    static func highestPlaceholder(in sql: String) -> Int {
        // PREPARE's $n belong to the statement it defines, not to this one.
        if SQLStatements.firstWord(sql) == "prepare" { return 0 }
        let s = Array(sql.utf8)
        var highest = 0
        var number: Int?  // digits of the placeholder being read
        var expectDigitsAt = -1
        walk(s) { i, c in
            if i == expectDigitsAt, isDigit(c) {
                number = min((number ?? 0) * 10 + Int(c - 48), 1_000_000)
                expectDigitsAt = i + 1
                return
            }
            if let n = number { highest = max(highest, n) }
            number = nil
            // `$n` outside literals and comments, not inside an identifier such as a$1.
            if c == UInt8(ascii: "$"), i == 0 || !isIdentifierByte(s[i - 1]) {
                expectDigitsAt = i + 1
            }
        }
        if let n = number { highest = max(highest, n) }
        return highest
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    static func isIdentifierByte(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c >= 128 || c == 36
    }
}

/// Splitting a multi-statement string the way the server would execute it.
public enum SQLStatements {
    /// Whether the statement is a COPY (its first word, after comments and whitespace).
    public static func isCopy(_ statement: String) -> Bool { firstWord(statement) == "copy" }

    /// The statement's first keyword, lowercased.
    static func firstWord(_ statement: String) -> String {
        var firstWord = ""
        var started = false
        var done = false
        SQLScanner.walk(Array(statement.utf8)) { _, c in
            guard !done else { return }
            let isLetter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
            if isLetter {
                started = true
                firstWord.append(Character(Unicode.Scalar(c)))
            } else if started || !(c == 32 || c == 9 || c == 10 || c == 13 || c == 40) {
                done = true
            }
        }
        return firstWord.lowercased()
    }

    /// The statements of `sql`, split at semicolons outside literals, quoted identifiers, dollar
    /// quotes and comments; empty statements are dropped (the server ignores them too).
    public static func split(_ sql: String) -> [String] {
        let bytes = Array(sql.utf8)
        var statements: [String] = []
        var start = 0
        for end in SQLScanner.statementBoundaries(bytes) + [bytes.count] {
            let text = String(decoding: bytes[start..<end], as: UTF8.self)
            start = min(end + 1, bytes.count)
            if !SQLScanner.isBlank(text) { statements.append(text) }
        }
        return statements
    }
}

extension SQLScanner {
    /// Offsets of the semicolons that end statements.
    static func statementBoundaries(_ s: [UInt8]) -> [Int] {
        var result: [Int] = []
        var depth = 0  // parentheses: CREATE RULE … (a; b) keeps its semicolons
        walk(s) { i, c in
            switch c {
            case UInt8(ascii: "("): depth += 1
            case UInt8(ascii: ")"): depth = max(0, depth - 1)
            case UInt8(ascii: ";") where depth == 0: result.append(i)
            default: break
            }
        }
        return result
    }

    /// Whether the text holds nothing but whitespace and comments.
    static func isBlank(_ text: String) -> Bool {
        var blank = true
        walk(Array(text.utf8)) { _, c in
            if !(c == 32 || c == 9 || c == 10 || c == 13 || c == 12) { blank = false }
        }
        return blank
    }

    /// Calls `visit` for every byte outside literals, quoted identifiers, dollar quotes and comments.
    static func walk(_ s: [UInt8], _ visit: (Int, UInt8) -> Void) {
        var i = 0
        @inline(__always) func at(_ k: Int) -> UInt8 { k < s.count ? s[k] : 0 }
        while i < s.count {
            let c = s[i]
            if c == UInt8(ascii: "'") {
                // E'…' strings allow backslash escapes; standard strings only doubled quotes.
                let escapes = i > 0 && (s[i - 1] == UInt8(ascii: "E") || s[i - 1] == UInt8(ascii: "e"))
                    && (i < 2 || !isIdentifierByte(s[i - 2]))
                i += 1
                while i < s.count {
                    if escapes && s[i] == UInt8(ascii: "\\") { i += 2; continue }
                    if s[i] == UInt8(ascii: "'") { if at(i + 1) == UInt8(ascii: "'") { i += 2; continue }; break }
                    i += 1
                }
                i += 1
            } else if c == UInt8(ascii: "\"") {
                i += 1
                while i < s.count {
                    if s[i] == UInt8(ascii: "\"") { if at(i + 1) == UInt8(ascii: "\"") { i += 2; continue }; break }
                    i += 1
                }
                i += 1
            } else if c == UInt8(ascii: "-") && at(i + 1) == UInt8(ascii: "-") {
                while i < s.count && s[i] != 10 { i += 1 }
            } else if c == UInt8(ascii: "/") && at(i + 1) == UInt8(ascii: "*") {
                var depth = 1
                i += 2
                while i < s.count && depth > 0 {
                    if s[i] == UInt8(ascii: "/") && at(i + 1) == UInt8(ascii: "*") { depth += 1; i += 2 }
                    else if s[i] == UInt8(ascii: "*") && at(i + 1) == UInt8(ascii: "/") { depth -= 1; i += 2 }
                    else { i += 1 }
                }
            } else if c == UInt8(ascii: "$") && !(i > 0 && isIdentifierByte(s[i - 1])) && !isDigit(at(i + 1)) {
                var j = i + 1
                while j < s.count && isIdentifierByte(s[j]) && s[j] != UInt8(ascii: "$") { j += 1 }
                if j < s.count && s[j] == UInt8(ascii: "$") {
                    let tag = Array(s[i...j])
                    var k = j + 1
                    while k + tag.count <= s.count && Array(s[k..<(k + tag.count)]) != tag { k += 1 }
                    i = k + tag.count <= s.count ? k + tag.count : s.count
                } else {
                    visit(i, c)
                    i += 1
                }
            } else {
                visit(i, c)
                i += 1
            }
        }
    }
}
