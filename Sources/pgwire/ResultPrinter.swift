import Foundation
import PostgresWire

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
    /// A statement finished; `hadRows` tells whether `begin` was called for it. Throws only if
    /// the rows held in a temporary file cannot be read back.
    func end(tag: String, hadRows: Bool) throws
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
        row.forEachColumn { _, bytes in
            if let bytes { bytes.withUnsafeBytes { cell($0) } } else { cell(nil) }
        }
        endRow()
    }
}

enum OutputFormat: String, CaseIterable {
    case aligned, csv, unaligned
}

/// One statement's output held until it completes: bytes appended in chunks of about 1 MiB (no
/// doubling reallocation, no transient 2x peak), of which at most `memoryLimit` stay in memory;
/// older chunks spill to an unlinked temporary file (in $TMPDIR, else /tmp) and are read back,
/// in order, when the statement completes. A cell never straddles two chunks (AlignedPrinter
/// relies on it). If no temporary file can be written, the chunks simply stay in memory.
final class SpoolBuffer {
    static let chunkSize = 1 << 20
    /// Bytes kept in memory before older chunks go to the temporary file.
    nonisolated(unsafe) static var memoryLimit = 16 << 20

    private var chunks: [[UInt8]] = []
    private var memoryBytes = 0
    private var fd: Int32 = -1
    private var spillFailed = false
    /// Sizes of the chunks in the file, in order, and the file's length.
    private var fileChunks: [Int] = []
    private var fileBytes = 0

    deinit { if fd >= 0 { close(fd) } }

    var isEmpty: Bool { chunks.isEmpty && fileChunks.isEmpty }

    func append(_ bytes: UnsafeRawBufferPointer) {
        if bytes.isEmpty { return }
        if chunks.isEmpty || chunks[chunks.count - 1].count + bytes.count > chunks[chunks.count - 1].capacity {
            if memoryBytes > Self.memoryLimit { spill() }
            var chunk: [UInt8] = []
            chunk.reserveCapacity(max(Self.chunkSize, bytes.count))
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(contentsOf: bytes)
        memoryBytes += bytes.count
    }

    func append(_ byte: UInt8) {
        withUnsafeBytes(of: byte) { append($0) }
    }

    func append(_ string: String) {
        var string = string
        string.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Moves every complete chunk (all but the last) to the temporary file.
    private func spill() {
        guard !spillFailed, chunks.count > 1 else { return }
        if fd < 0 {
            let directory = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
            var template = Array((directory + "/pgwire-result-XXXXXX").utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard fd >= 0 else { spillFailed = true; return }
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        }
        var written = 0
        for chunk in chunks.dropLast() {
            let ok = chunk.withUnsafeBytes { raw -> Bool in
                var offset = 0
                while offset < raw.count {
                    let n = pwrite(fd, raw.baseAddress! + offset, raw.count - offset, off_t(fileBytes + offset))
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { return false }
                    offset += n
                }
                return true
            }
            // A chunk that could not be written stays in memory (the file's tail beyond
            // `fileBytes` is ignored), and so does everything after it.
            guard ok else { spillFailed = true; break }
            fileChunks.append(chunk.count)
            fileBytes += chunk.count
            memoryBytes -= chunk.count
            written += 1
        }
        chunks.removeFirst(written)
    }

    struct ReadError: Error, CustomStringConvertible {
        let description: String
    }

    /// Every chunk in order: those in the file (read back one at a time), then those in memory.
    func forEachChunk(_ body: ([UInt8]) throws -> Void) throws {
        var position = 0
        var buffer: [UInt8] = []
        for size in fileChunks {
            buffer = [UInt8](repeating: 0, count: size)
            var offset = 0
            while offset < size {
                let n = buffer.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress! + offset, size - offset, off_t(position + offset)) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    throw ReadError(description: "could not read back the result buffered in a temporary file: \(n < 0 ? String(cString: strerror(errno)) : "unexpected end of file")")
                }
                offset += n
            }
            position += size
            try body(buffer)
        }
        for chunk in chunks { try body(chunk) }
    }

    /// Forgets everything (and the temporary file).
    func removeAll() {
        chunks = []
        memoryBytes = 0
        fileChunks = []
        fileBytes = 0
        spillFailed = false
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }

    /// Writes everything to `out` and empties the buffer.
    func drain(to out: OutputBuffer) throws {
        defer { removeAll() }
        try forEachChunk { out.write(text: $0) }
    }
}

/// `psql --csv`: header line, fields quoted only when needed, NULL as an empty field.
final class CSVPrinter: ResultPrinter {
    let out: OutputBuffer
    private var pending = SpoolBuffer()
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

    func end(tag: String, hadRows: Bool) throws {
        try pending.drain(to: out)
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
    private var pending = SpoolBuffer()
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

    func end(tag: String, hadRows: Bool) throws {
        try pending.drain(to: out)
        if hadRows { out.write(count == 1 ? "(1 row)\n" : "(\(count) rows)\n") }
        if let status = commandStatusToPrint(tag: tag, hadRows: hadRows) { out.write(status + "\n") }
    }
}

/// psql's default table: centred headers, numbers right-aligned, `+` marking wrapped lines.
///
/// Every cell's bytes go into one arena (`SpoolBuffer`, NULL stored as empty, as psql shows it)
/// with its length in `lengths`; column widths are measured as the cells arrive, and the cells
/// are read back in order to print once the statement completes.
final class AlignedPrinter: ResultPrinter {
    let out: OutputBuffer
    private var columns: ResultColumns?
    private var arena = SpoolBuffer()
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

    func end(tag: String, hadRows: Bool) throws {
        defer {
            self.columns = nil
            arena.removeAll()
            lengths = []
        }
        if hadRows, let columns { try render(columns) }
        if let status = commandStatusToPrint(tag: tag, hadRows: hadRows) { out.write(status + "\n") }
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

    private func render(_ columns: ResultColumns) throws {
        let n = columns.count
        let footer = rowCount == 1 ? "(1 row)\n\n" : "(\(rowCount) rows)\n\n"
        if n == 0 {
            out.write("--\n" + footer)
            return
        }
        let rightAligned = (0..<columns.count).map { Self.numericTypes.contains(columns.dataType(at: $0).rawValue) }
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

        // The cells, read back in order from the arena one chunk at a time (a cell never
        // straddles two chunks, so a cell that does not fit in the rest of a chunk is in the next).
        var cellIndex = 0
        var column = 0
        var height = 1
        var line: [UInt8] = []
        var cells: [[Line]] = Array(repeating: [], count: n)
        func pad(_ count: Int) { if count > 0 { line.append(contentsOf: repeatElement(UInt8(ascii: " "), count: count)) } }
        func printRow() {
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
                out.write(text: line)
            }
        }
        /// Takes the cells that lie in `chunk` (and empty ones), printing each row as it completes.
        func consume(_ chunk: [UInt8]) {
            var offset = 0
            chunk.withUnsafeBytes { raw in
                while cellIndex < lengths.count {
                    let length = Int(lengths[cellIndex])
                    if length == 0 {
                        cells[column] = [Line(bytes: [], width: 0)]
                    } else {
                        guard offset + length <= raw.count else { return }
                        cells[column] = Self.lines(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)]))
                        offset += length
                        height = max(height, cells[column].count)
                    }
                    cellIndex += 1
                    column += 1
                    if column == n {
                        printRow()
                        column = 0
                        height = 1
                    }
                }
            }
        }
        try arena.forEachChunk { consume($0) }
        consume([])
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
