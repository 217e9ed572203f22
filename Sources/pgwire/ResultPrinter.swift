import PostgresWire
import PostgresWireProtocol

/// Prints query results the way psql does for its output formats.
///
/// Like psql (which prints a statement's result only once libpq has the whole PGresult), a
/// printer holds one statement's rows until `end` and prints nothing of a statement that fails
/// part-way: `begin` starts afresh and drops whatever an unfinished statement left. The rows are
/// held in a compact form: the rendered output bytes (CSV, unaligned) or an arena of cell bytes
/// with one length per cell (aligned, which must measure every row before printing the first).
protocol ResultPrinter: AnyObject {
    func begin(columns: ResultColumns)
    /// The next cell of the current row, as the server's text (nil for NULL).
    func cell(_ bytes: UnsafeRawBufferPointer?)
    /// The current row is complete.
    func endRow()
    /// A statement finished; `hadRows` tells whether `begin` was called for it.
    func end(tag: String, hadRows: Bool)
}

extension ResultPrinter {
    /// One row of text values (nil for NULL).
    func row(_ values: [String?]) {
        for value in values {
            if var value {
                value.withUTF8 { cell(UnsafeRawBufferPointer($0)) }
            } else {
                cell(nil)
            }
        }
        endRow()
    }

    /// One row of a text-format result, straight from the DataRow's bytes.
    func row(_ row: Row) {
        row.data.forEachColumn { _, bytes in
            if let bytes { bytes.withUnsafeBytes { cell($0) } } else { cell(nil) }
        }
        endRow()
    }
}

enum OutputFormat: String, CaseIterable {
    case aligned, csv, unaligned
}

/// Bytes appended in chunks of about 1 MiB: no doubling reallocation (and no transient 2x peak)
/// however large the result grows.
struct ByteChunks {
    private(set) var chunks: [[UInt8]] = []
    static let chunkSize = 1 << 20

    var isEmpty: Bool { chunks.isEmpty }

    /// Appends `bytes` in one piece: a cell never straddles two chunks (AlignedPrinter relies on it).
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if bytes.isEmpty { return }
        if chunks.isEmpty || chunks[chunks.count - 1].count + bytes.count > chunks[chunks.count - 1].capacity {
            var chunk: [UInt8] = []
            chunk.reserveCapacity(max(Self.chunkSize, bytes.count))
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(contentsOf: bytes)
    }

    mutating func append(_ byte: UInt8) {
        withUnsafeBytes(of: byte) { append($0) }
    }

    mutating func append(_ string: String) {
        var string = string
        string.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    mutating func removeAll() { chunks = [] }

    /// Writes everything to `out` and empties the chunks.
    mutating func drain(to out: OutputBuffer) {
        for chunk in chunks { out.write(bytes: chunk) }
        chunks = []
    }
}

/// `psql --csv`: header line, fields quoted only when needed, NULL as an empty field.
final class CSVPrinter: ResultPrinter {
    let out: OutputBuffer
    private var pending = ByteChunks()
    private var column = 0
    private var scratch: [UInt8] = []
    init(out: OutputBuffer) { self.out = out }

    func begin(columns: ResultColumns) {
        pending.removeAll()
        column = 0
        for name in columns.names {
            var name = name
            name.withUTF8 { cell(UnsafeRawBufferPointer($0)) }
        }
        // The header line ends with a newline even when there are no columns.
        pending.append(10)
        column = 0
    }

    func cell(_ bytes: UnsafeRawBufferPointer?) {
        if column > 0 { pending.append(UInt8(ascii: ",")) }
        column += 1
        guard let bytes else { return }
        guard Self.needsQuotes(bytes) else {
            pending.append(bytes)
            return
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(UInt8(ascii: "\""))
        for b in bytes {
            scratch.append(b)
            if b == UInt8(ascii: "\"") { scratch.append(b) }
        }
        scratch.append(UInt8(ascii: "\""))
        scratch.withUnsafeBytes { pending.append($0) }
    }

    func endRow() {
        // A row of no columns prints nothing, as in psql.
        if column > 0 { pending.append(10) }
        column = 0
    }

    func end(tag: String, hadRows: Bool) {
        pending.drain(to: out)
        if let status = commandStatusToPrint(tag: tag, hadRows: hadRows) { out.write(status + "\n") }
    }

    /// psql quotes a field that holds the separator, a quote, CR or LF, or that is exactly `\.`.
    static func needsQuotes(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes.count == 2 && bytes[0] == UInt8(ascii: "\\") && bytes[1] == UInt8(ascii: ".") { return true }
        for b in bytes where b == UInt8(ascii: ",") || b == UInt8(ascii: "\"") || b == 10 || b == 13 { return true }
        return false
    }
}

/// `psql -A`: fields separated by `|`, no quoting, a row-count footer.
final class UnalignedPrinter: ResultPrinter {
    let out: OutputBuffer
    private var pending = ByteChunks()
    private var column = 0
    private var count = 0
    init(out: OutputBuffer) { self.out = out }

    func begin(columns: ResultColumns) {
        pending.removeAll()
        count = 0
        pending.append(columns.names.joined(separator: "|") + "\n")
    }

    func cell(_ bytes: UnsafeRawBufferPointer?) {
        if column > 0 { pending.append(UInt8(ascii: "|")) }
        column += 1
        if let bytes { pending.append(bytes) }
    }

    func endRow() {
        count += 1
        if column > 0 { pending.append(10) }
        column = 0
    }

    func end(tag: String, hadRows: Bool) {
        pending.drain(to: out)
        if hadRows { out.write(count == 1 ? "(1 row)\n" : "(\(count) rows)\n") }
        if let status = commandStatusToPrint(tag: tag, hadRows: hadRows) { out.write(status + "\n") }
    }
}

/// psql's default table: centred headers, numbers right-aligned, `+` marking wrapped lines.
///
/// Every cell's bytes go into one arena (`ByteChunks`, NULL stored as empty, as psql shows it)
/// with its length in `lengths`; column widths are measured as the cells arrive, and the cells
/// are read back in order to print once the statement completes.
final class AlignedPrinter: ResultPrinter {
    let out: OutputBuffer
    private var columns: ResultColumns?
    private var arena = ByteChunks()
    private var lengths: [UInt32] = []
    private var widths: [Int] = []
    private var rowCount = 0
    private var column = 0
    init(out: OutputBuffer) { self.out = out }

    func begin(columns: ResultColumns) {
        self.columns = columns
        arena.removeAll()
        lengths = []
        rowCount = 0
        column = 0
        widths = columns.names.map { TextWidth.displayLines($0).map(\.width).max() ?? 0 }
    }

    func cell(_ bytes: UnsafeRawBufferPointer?) {
        guard column < widths.count else { return }
        let bytes = bytes ?? UnsafeRawBufferPointer(start: nil, count: 0)
        arena.append(bytes)
        lengths.append(UInt32(truncatingIfNeeded: bytes.count))
        let width = Self.displayWidth(bytes)
        if width > widths[column] { widths[column] = width }
        column += 1
    }

    func endRow() {
        // A short row (it cannot happen with a valid DataRow) is padded, keeping the arena in step.
        while column < widths.count { cell(nil) }
        column = 0
        rowCount += 1
    }

    func end(tag: String, hadRows: Bool) {
        if hadRows, let columns { render(columns) }
        if let status = commandStatusToPrint(tag: tag, hadRows: hadRows) { out.write(status + "\n") }
        self.columns = nil
        arena.removeAll()
        lengths = []
    }

    /// The widest display line of a cell: the byte count for printable ASCII (the common case),
    /// else what `TextWidth.displayLines` measures.
    static func displayWidth(_ bytes: UnsafeRawBufferPointer) -> Int {
        if isPlainASCII(bytes) { return bytes.count }
        return TextWidth.displayLines(String(decoding: bytes, as: UTF8.self)).map(\.width).max() ?? 0
    }

    static func isPlainASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for b in bytes where b < 0x20 || b > 0x7E { return false }
        return true
    }

    /// One display line of a cell: bytes to print and their width.
    private struct Line {
        var bytes: [UInt8]
        var width: Int
    }

    private static func lines(_ bytes: UnsafeRawBufferPointer) -> [Line] {
        if isPlainASCII(bytes) { return [Line(bytes: Array(bytes), width: bytes.count)] }
        return TextWidth.displayLines(String(decoding: bytes, as: UTF8.self)).map { Line(bytes: Array($0.text.utf8), width: $0.width) }
    }

    private func render(_ columns: ResultColumns) {
        let n = columns.count
        let footer = rowCount == 1 ? "(1 row)\n\n" : "(\(rowCount) rows)\n\n"
        if n == 0 {
            out.write("--\n" + footer)
            return
        }
        let rightAligned = columns.fields.map { Self.numericTypes.contains($0.dataTypeOID) }
        let headers = columns.names.map { TextWidth.displayLines($0) }
        let widths = self.widths

        // Header lines (a multi-line column name wraps too).
        let headerHeight = headers.map(\.count).max() ?? 1
        for lineIndex in 0..<headerHeight {
            var line = ""
            for j in 0..<n {
                line += " "
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

        // The cells, read back in order from the arena (a cell never straddles two chunks).
        let chunks = arena.chunks
        var chunkIndex = 0
        var offset = 0
        var cellIndex = 0
        var line: [UInt8] = []
        var cells: [[Line]] = Array(repeating: [], count: n)
        func pad(_ count: Int) { if count > 0 { line.append(contentsOf: repeatElement(UInt8(ascii: " "), count: count)) } }
        for _ in 0..<rowCount {
            var height = 1
            for j in 0..<n {
                let length = Int(lengths[cellIndex])
                cellIndex += 1
                if length == 0 {
                    cells[j] = [Line(bytes: [], width: 0)]
                    continue
                }
                if offset + length > chunks[chunkIndex].count {
                    chunkIndex += 1
                    offset = 0
                }
                cells[j] = chunks[chunkIndex].withUnsafeBytes { raw in
                    Self.lines(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)]))
                }
                offset += length
                height = max(height, cells[j].count)
            }
            for lineIndex in 0..<height {
                line.removeAll(keepingCapacity: true)
                for j in 0..<n {
                    line.append(UInt8(ascii: " "))
                    let cell = cells[j]
                    let exhausted = lineIndex >= cell.count
                    let continues = lineIndex + 1 < cell.count
                    let isLast = j == n - 1
                    let width = exhausted ? 0 : cell[lineIndex].width
                    if isLast && exhausted {
                        // psql leaves the last column empty on the extra lines of a wrapped row.
                    } else if rightAligned[j] {
                        pad(widths[j] - width)
                        if !exhausted { line.append(contentsOf: cell[lineIndex].bytes) }
                    } else if isLast && !continues {
                        if !exhausted { line.append(contentsOf: cell[lineIndex].bytes) }
                    } else {
                        if !exhausted { line.append(contentsOf: cell[lineIndex].bytes) }
                        pad(widths[j] - width)
                    }
                    if continues {
                        line.append(UInt8(ascii: "+"))
                    } else if !isLast {
                        line.append(UInt8(ascii: " "))
                    }
                    if !isLast { line.append(UInt8(ascii: "|")) }
                }
                line.append(10)
                out.write(bytes: line)
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
