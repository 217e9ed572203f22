/// Display width of text as psql measures it for aligned output.
enum TextWidth {
    struct Line {
        var text: String
        var width: Int
    }

    /// Splits a value into its display lines: newlines break lines, tabs expand to the next
    /// multiple of 8, CR shows as `\r` and other control characters as `\xHH`, like psql.
    static func displayLines(_ value: String) -> [Line] {
        var lines: [Line] = []
        var text = ""
        var width = 0
        for scalar in value.unicodeScalars {
            switch scalar.value {
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
                let hex = String(scalar.value, radix: 16)
                text += "\\x" + (hex.count < 2 ? "0" + hex : hex)
                width += 4
            default:
                text.unicodeScalars.append(scalar)
                width += scalarWidth(scalar.value)
            }
        }
        lines.append(Line(text: text, width: width))
        return lines
    }

    /// Markus Kuhn's wcwidth rules in brief: combining marks are 0 wide, East Asian wide and full-width
    /// characters 2, everything else 1.
    static func scalarWidth(_ c: UInt32) -> Int {
        if c < 0x300 { return 1 }
        if (0x300...0x36F).contains(c) || (0x483...0x489).contains(c) || (0x591...0x5BD).contains(c)
            || (0x610...0x61A).contains(c) || (0x64B...0x65F).contains(c) || (0x200B...0x200F).contains(c)
            || (0x20D0...0x20FF).contains(c) || (0xFE00...0xFE0F).contains(c) || (0xFE20...0xFE2F).contains(c)
            || (0x1AB0...0x1AFF).contains(c) || (0x1DC0...0x1DFF).contains(c) {
            return 0
        }
        if (0x1100...0x115F).contains(c) || (0x2E80...0xA4CF).contains(c) && c != 0x303F
            || (0xAC00...0xD7A3).contains(c) || (0xF900...0xFAFF).contains(c) || (0xFE30...0xFE6F).contains(c)
            || (0xFF00...0xFF60).contains(c) || (0xFFE0...0xFFE6).contains(c) || (0x1F300...0x1F64F).contains(c)
            || (0x1F900...0x1F9FF).contains(c) || (0x20000...0x2FFFD).contains(c) || (0x30000...0x3FFFD).contains(c) {
            return 2
        }
        return 1
    }
}
