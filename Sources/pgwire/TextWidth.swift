/// Display width of text as psql measures it for aligned output and error cursors.
enum TextWidth {
    struct Line {
        var text: String
        var width: Int
    }

    /// Splits a value into its display lines as psql's aligned format shows them: newlines break
    /// lines, tabs expand to the next multiple of 8, CR shows as `\r`, other ASCII control
    /// characters as `\xHH`, and C1 controls as `\uHHHH`.
    static func displayLines(_ value: String) -> [Line] {
        var lines: [Line] = []
        var text = ""
        var width = 0
        for scalar in value.unicodeScalars {
            let v = scalar.value
            switch v {
            case 10:
                lines.append(Line(text: text, width: width))
                text = ""
                width = 0
            case 9:
                let spaces = 8 - width % 8
                text += String(repeating: " ", count: spaces)
                width += spaces
            case 13:
                text += "\\r"
                width += 2
            case 0..<32, 127:
                text += "\\x" + hex(v, digits: 2)
                width += 4
            case 0x80..<0xA0:
                text += "\\u" + hex(v, digits: 4)
                width += 6
            default:
                text.unicodeScalars.append(scalar)
                width += scalarWidth(v)
            }
        }
        lines.append(Line(text: text, width: width))
        return lines
    }

    static func hex(_ v: UInt32, digits: Int) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }

    /// PostgreSQL's ucs_wcwidth: -1 for control characters, 0 for combining marks, 2 for East
    /// Asian wide and full-width characters, 1 otherwise.
    static func scalarWidth(_ c: UInt32) -> Int {
        if c == 0 { return 0 }
        if c < 0x20 || (c >= 0x7F && c < 0xA0) { return -1 }
        if c < 0x300 { return 1 }
        if contains(UnicodeWidthTables.combining, c) { return 0 }
        if contains(UnicodeWidthTables.wide, c) { return 2 }
        return 1
    }

    private static func contains(_ table: [ClosedRange<UInt32>], _ c: UInt32) -> Bool {
        var low = 0
        var high = table.count - 1
        while low <= high {
            let mid = (low + high) / 2
            if c < table[mid].lowerBound { high = mid - 1 } else if c > table[mid].upperBound { low = mid + 1 } else { return true }
        }
        return false
    }
}
