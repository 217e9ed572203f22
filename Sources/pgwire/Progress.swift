import Foundation
import PostgresWire

/// A one-line progress report on stderr for long commands (COPY): rows and bytes so far and the
/// rate. Shown only when stderr is a terminal, redrawn at most every `interval` seconds (the first
/// time after `interval`, so quick commands show nothing), and erased by `finish()`: pipes, files
/// and tests never see it.
final class ProgressLine {
    private let label: String
    private let rowWord: String
    private let enabled: Bool
    /// Whether the line is shown at all (stderr is a terminal).
    var isEnabled: Bool { enabled }
    private let interval: UInt64
    private let start: UInt64
    private var lastDraw: UInt64
    private var drawn = false
    private(set) var rows = 0
    private(set) var bytes = 0

    init(label: String, rowWord: String = "rows", interval: Double = 0.5, enabled: Bool = isatty(2) == 1) {
        self.label = label
        self.rowWord = rowWord
        self.enabled = enabled
        self.interval = UInt64(interval * 1e9)
        start = Platform.monotonicNanoseconds()
        lastDraw = start
    }

    /// Counts `rows` more rows (lines) and `bytes` more bytes; redraws when `interval` has passed.
    func add(rows: Int, bytes: Int) {
        self.rows += rows
        self.bytes += bytes
        guard enabled else { return }
        let now = Platform.monotonicNanoseconds()
        guard now - lastDraw >= interval else { return }
        lastDraw = now
        drawn = true
        writeStderr("\r\u{1B}[K" + text(now: now))
    }

    /// Erases the line (if it was drawn).
    func finish() {
        if drawn { writeStderr("\r\u{1B}[K") }
        drawn = false
    }

    func text(now: UInt64) -> String {
        let seconds = Double(now - start) / 1e9
        let rate = seconds > 0 ? Double(bytes) / seconds : 0
        return "\(label): \(rows) \(rowWord), \(formatBytes(Double(bytes))), \(formatBytes(rate))/s, \(String(format: "%.1f", seconds)) s"
    }
}

/// 1.5 MB, 230 kB, 12 B (decimal units).
func formatBytes(_ value: Double) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var v = value
    var unit = 0
    while v >= 1000 && unit < units.count - 1 {
        v /= 1000
        unit += 1
    }
    return unit == 0 ? "\(Int(v)) B" : String(format: "%.1f %@", v, units[unit])
}

/// The number of LF bytes in `bytes` (memchr: cheap even in a debug build).
func countNewlines(_ bytes: UnsafeRawBufferPointer) -> Int {
    guard var p = bytes.baseAddress else { return 0 }
    let end = p + bytes.count
    var count = 0
    while p < end, let hit = memchr(p, 10, end - p) {
        count += 1
        p = UnsafeRawPointer(hit) + 1
    }
    return count
}
