import PostgresWire
import PostgresWireProtocol

/// Prints query results the way psql does for its output formats.
protocol ResultPrinter {
    func begin(columns: ResultColumns)
    func row(_ values: [String?])
    /// A statement finished; `hadRows` tells whether `begin` was called for it.
    func end(tag: String, hadRows: Bool)
}

enum OutputFormat: String, CaseIterable {
    case aligned, csv, unaligned
}

/// `psql --csv`: header line, fields quoted only when needed, NULL as an empty field.
final class CSVPrinter: ResultPrinter {
    let out: OutputBuffer
    init(out: OutputBuffer) { self.out = out }

    func begin(columns: ResultColumns) {
        out.write(columns.names.map(Self.field).joined(separator: ","))
        out.write("\n")
    }

    func row(_ values: [String?]) {
        if values.isEmpty { return }
        out.write(values.map { $0.map(Self.field) ?? "" }.joined(separator: ","))
        out.write("\n")
    }

    func end(tag: String, hadRows: Bool) {
        if let status = commandStatusToPrint(tag: tag, hadRows: hadRows) { out.write(status + "\n") }
    }

    /// psql quotes a field that holds the separator, a quote, CR or LF, or that is exactly `\.`.
    static func field(_ s: String) -> String {
        var needsQuotes = s == "\\."
        if !needsQuotes {
            for b in s.utf8 where b == UInt8(ascii: ",") || b == UInt8(ascii: "\"") || b == 10 || b == 13 {
                needsQuotes = true
                break
            }
        }
        guard needsQuotes else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// `psql -A`: fields separated by `|`, no quoting, a row-count footer.
final class UnalignedPrinter: ResultPrinter {
    let out: OutputBuffer
    var count = 0
    init(out: OutputBuffer) { self.out = out }

    func begin(columns: ResultColumns) {
        count = 0
        out.write(columns.names.joined(separator: "|") + "\n")
    }

    func row(_ values: [String?]) {
        count += 1
        if values.isEmpty { return }
        out.write(values.map { $0 ?? "" }.joined(separator: "|") + "\n")
    }

    func end(tag: String, hadRows: Bool) {
        if hadRows { out.write(count == 1 ? "(1 row)\n" : "(\(count) rows)\n") }
        if let status = commandStatusToPrint(tag: tag, hadRows: hadRows) { out.write(status + "\n") }
    }
}

/// psql's default table: centred headers, numbers right-aligned, `+` marking wrapped lines.
final class AlignedPrinter: ResultPrinter {
    let out: OutputBuffer
    var columns: ResultColumns?
    var rows: [[String?]] = []
    init(out: OutputBuffer) { self.out = out }

    func begin(columns: ResultColumns) {
        self.columns = columns
        rows = []
    }

    func row(_ values: [String?]) { rows.append(values) }

    func end(tag: String, hadRows: Bool) {
        if hadRows, let columns { render(columns) }
        if let status = commandStatusToPrint(tag: tag, hadRows: hadRows) { out.write(status + "\n") }
        columns = nil
        rows = []
    }

    private func render(_ columns: ResultColumns) {
        let n = columns.count
        let footer = rows.count == 1 ? "(1 row)\n\n" : "(\(rows.count) rows)\n\n"
        if n == 0 {
            out.write("--\n" + footer)
            return
        }
        let rightAligned = columns.fields.map { Self.numericTypes.contains($0.dataTypeOID) }
        let headers = columns.names.map { TextWidth.displayLines($0) }
        // Each cell: its display lines (control characters made visible, tabs expanded).
        let cells: [[[TextWidth.Line]]] = rows.map { row in row.map { TextWidth.displayLines($0 ?? "") } }
        var widths = headers.map { $0.map(\.width).max() ?? 0 }
        for row in cells {
            for (j, cell) in row.enumerated() { widths[j] = max(widths[j], cell.map(\.width).max() ?? 0) }
        }

        // Header lines (a multi-line column name wraps too).
        let headerHeight = headers.map(\.count).max() ?? 1
        for lineIndex in 0..<headerHeight {
            var line = ""
            for j in 0..<n {
                line += j == 0 ? " " : " "
                let part = lineIndex < headers[j].count ? headers[j][lineIndex] : TextWidth.Line(text: "", width: 0)
                let left = (widths[j] - part.width) / 2
                line += String(repeating: " ", count: left) + part.text + String(repeating: " ", count: widths[j] - part.width - left)
                let continues = lineIndex + 1 < headers[j].count
                line += continues ? "+" : " "
                if j < n - 1 { line += "|" }
            }
            out.write(line + "\n")
        }
        out.write(widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "\n")

        for row in cells {
            let height = row.map(\.count).max() ?? 1
            for lineIndex in 0..<height {
                var line = ""
                for j in 0..<n {
                    line += " "
                    let cell = row[j]
                    let exhausted = lineIndex >= cell.count
                    let part = exhausted ? TextWidth.Line(text: "", width: 0) : cell[lineIndex]
                    let continues = lineIndex + 1 < cell.count
                    let pad = String(repeating: " ", count: widths[j] - part.width)
                    let isLast = j == n - 1
                    if isLast && exhausted {
                        // psql leaves the last column empty on the extra lines of a wrapped row.
                    } else if rightAligned[j] {
                        line += pad + part.text
                    } else if isLast && !continues {
                        line += part.text
                    } else {
                        line += part.text + pad
                    }
                    if continues {
                        line += "+"
                    } else if !isLast {
                        line += " "
                    }
                    if !isLast { line += "|" }
                }
                out.write(line + "\n")
            }
        }
        out.write(footer)
    }

    /// Types psql right-aligns (int2, int4, int8, float4, float8, numeric, oid, xid, cid, money, xid8).
    static let numericTypes: Set<UInt32> = [20, 21, 23, 26, 28, 29, 700, 701, 790, 1700, 5069]
}

/// psql prints a command's status tag unless the command returned rows; for INSERT, UPDATE and
/// DELETE … RETURNING it prints the tag after the rows.
func commandStatusToPrint(tag: String, hadRows: Bool) -> String? {
    if tag.isEmpty { return nil }
    if !hadRows { return tag }
    if tag.hasPrefix("INSERT") || tag.hasPrefix("UPDATE") || tag.hasPrefix("DELETE") { return tag }
    return nil
}
