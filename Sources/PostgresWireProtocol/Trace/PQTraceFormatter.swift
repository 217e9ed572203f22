import Foundation

/// Renders protocol messages the way PostgreSQL 15's libpq `PQtrace` does, one message per call.
///
/// The output for every message PQtrace can show is byte-for-byte what libpq writes:
///
///     <timestamp>\t<F|B>\t<length>\t<MessageName>\t<fields…>\n
///
/// where each field starts with a space: strings as `"…"` (raw bytes, exactly as libpq prints them
/// with `%s`), byte strings as `'…'` with every non-printable byte written `\xNN`, integers in
/// decimal (Int16 values unsigned, as libpq reads them), single bytes as the character or `\xNN`.
/// libpq's own oddities are kept, so a trace can be compared with a real PQtrace line for line:
/// a CopyData sent by the client prints as an empty line followed by
/// `mismatched message length: consumed 4, expected N`, and CopyData from the server is not
/// printed at all (`copyData: .libpq`, the default; `.full` shows both directions).
///
/// Messages PQtrace never sees are given the same line shape with descriptive names: the untyped
/// startup packets (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest — the latter exactly
/// as PG15 prints it), the authentication requests (AuthenticationOk, AuthenticationSASL, …) and the
/// client's 'p' messages (PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse). Secrets
/// never appear: password, SASL and GSS payloads print as `<redacted N bytes>`.
///
/// The formatter keeps a little state per session: the kind of the next 'p' message, learnt from
/// the server's last authentication request. Use one formatter per connection, fed both directions
/// in order. Input that cannot be a message is described on a line of its own
/// (`malformed message: …`); the formatter never reads outside the bytes it is given.
public struct PQTraceFormatter: Sendable {
    public enum CopyDataStyle: Sendable, Equatable {
        /// Exactly what PG15's PQtrace prints (see the type's documentation).
        case libpq
        /// `CopyData\t '<bytes>'` in both directions.
        case full
    }

    public struct Options: Sendable, Equatable {
        /// Print libpq's timestamp column; false matches `PQTRACE_SUPPRESS_TIMESTAMPS`.
        public var timestamps: Bool
        /// `PQTRACE_REGRESS_MODE`: hide values that vary between runs (OIDs, process IDs, source locations).
        public var regress: Bool
        public var copyData: CopyDataStyle
        /// Written at the start of every line (e.g. a connection number and a tab).
        public var linePrefix: [UInt8]

        public init(timestamps: Bool = true, regress: Bool = false, copyData: CopyDataStyle = .libpq, linePrefix: [UInt8] = []) {
            self.timestamps = timestamps
            self.regress = regress
            self.copyData = copyData
            self.linePrefix = linePrefix
        }
    }

    public var options: Options
    /// How the next 'p' message from the client is to be read; updated by every Authentication
    /// request the formatter sees from the server.
    public var authenticationResponse: FrontendMessage.AuthenticationResponseKind = .password

    private var cachedSecond: Int = .min
    private var cachedSecondText: [UInt8] = []

    public init(options: Options = Options()) {
        self.options = options
    }

    // MARK: Public entry points

    /// Appends the trace of one complete message to `out` (nothing at all for messages libpq does
    /// not print, i.e. server CopyData in `.libpq` style).
    ///
    /// `message` is the whole message: type byte, Int32 length and body; for the untyped startup
    /// packets (first byte 0, frontend only) the length and body. `time` overrides the clock
    /// (seconds and microseconds since the epoch) for the timestamp column.
    public mutating func format(_ direction: TraceDirection, _ message: ArraySlice<UInt8>, into out: inout [UInt8],
                                time: (seconds: Int, microseconds: Int)? = nil) {
        if direction == .backend, options.copyData == .libpq, message.first == BackendMessageType.copyData, message.count >= 5 {
            return
        }
        beginLine(into: &out, time: time)
        out.append(direction == .frontend ? UInt8(ascii: "F") : UInt8(ascii: "B"))
        out.append(tab)
        var renderer = Renderer(message: message, regress: options.regress)
        let isUntyped = direction == .frontend && message.first == 0
        if message.count == 1 && direction == .backend {
            // The server's one-byte answer to SSLRequest/GSSENCRequest has no length field.
            out.append(contentsOf: "1\tSSLResponse\t".utf8)
            _ = try? renderer.byte1(into: &out)
            out.append(newline)
            return
        }
        let headerSize = isUntyped ? 4 : 5
        guard message.count >= headerSize else {
            out.append(contentsOf: "?\t".utf8)
            out.append(newline)
            appendLine("malformed message: only \(message.count) bytes, shorter than a message header", into: &out)
            return
        }
        let length = Int(renderer.peekInt32(at: isUntyped ? 0 : 1))
        // libpq's regress mode hides the length of server errors and notices (their source locations vary).
        if options.regress && direction == .backend && (message.first == UInt8(ascii: "E") || message.first == UInt8(ascii: "N")) {
            out.append(contentsOf: "NN\t".utf8)
        } else {
            appendDecimal(length, to: &out)
            out.append(tab)
        }
        let expectedTotal = isUntyped ? length : length + 1
        if expectedTotal != message.count || length < 4 {
            out.append(newline)
            appendLine("malformed message: length field says \(length) but the message has \(message.count - (isUntyped ? 0 : 1)) bytes", into: &out)
            return
        }
        renderer.cursor = headerSize
        do throws(Renderer.Truncated) {
            if isUntyped {
                try renderUntyped(&renderer, into: &out)
            } else if direction == .frontend {
                try renderFrontend(&renderer, into: &out)
            } else {
                try renderBackend(&renderer, into: &out)
            }
        } catch {
            out.append(newline)
            appendLine("malformed message: \(error.what) runs past the end of the message (length \(length))", into: &out)
            return
        }
        out.append(newline)
        let consumed = isUntyped ? renderer.cursor : renderer.cursor - 1
        if consumed != length {
            appendLine("mismatched message length: consumed \(consumed), expected \(length)", into: &out)
        }
    }

    /// Convenience: the trace of one message as text (invalid UTF-8 replaced).
    public mutating func format(_ direction: TraceDirection, _ message: ArraySlice<UInt8>,
                                time: (seconds: Int, microseconds: Int)? = nil) -> String {
        var out: [UInt8] = []
        format(direction, message, into: &out, time: time)
        return String(decoding: out, as: UTF8.self)
    }

    /// The line for a one-byte answer to an SSLRequest (`gss: false`) or GSSENCRequest (`gss: true`).
    public mutating func formatEncryptionResponse(_ byte: UInt8, gss: Bool, into out: inout [UInt8],
                                                  time: (seconds: Int, microseconds: Int)? = nil) {
        beginLine(into: &out, time: time)
        out.append(contentsOf: (gss ? "B\t1\tGSSENCResponse\t" : "B\t1\tSSLResponse\t").utf8)
        var renderer = Renderer(message: [byte][...], regress: false)
        _ = try? renderer.byte1(into: &out)
        out.append(newline)
    }

    /// A line that is not a message: `<prefix><timestamp>\t#\t<text>`. Used for events around the
    /// messages (a connection opening, malformed traffic); a trace reader can skip lines whose
    /// direction column is `#`. Newlines in `text` become spaces.
    public mutating func formatComment(_ text: String, into out: inout [UInt8], time: (seconds: Int, microseconds: Int)? = nil) {
        beginLine(into: &out, time: time)
        out.append(UInt8(ascii: "#"))
        out.append(tab)
        for byte in text.utf8 { out.append(byte == newline || byte == 13 ? UInt8(ascii: " ") : byte) }
        out.append(newline)
    }

    /// libpq's timestamp: local time as `%Y-%m-%d %H:%M:%S` followed by `.` and six digits of microseconds.
    public static func timestamp(seconds: Int, microseconds: Int) -> String {
        var out = formatSeconds(seconds)
        out.append(UInt8(ascii: "."))
        appendMicroseconds(microseconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The current time as (seconds, microseconds) since the epoch.
    public static func now() -> (seconds: Int, microseconds: Int) {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return (Int(tv.tv_sec), Int(tv.tv_usec))
    }

    // MARK: Lines

    private mutating func beginLine(into out: inout [UInt8], time: (seconds: Int, microseconds: Int)?) {
        out.append(contentsOf: options.linePrefix)
        guard options.timestamps else { return }
        let t = time ?? Self.now()
        if t.seconds != cachedSecond {
            cachedSecond = t.seconds
            cachedSecondText = Self.formatSeconds(t.seconds)
        }
        out.append(contentsOf: cachedSecondText)
        out.append(UInt8(ascii: "."))
        Self.appendMicroseconds(t.microseconds, to: &out)
        out.append(tab)
    }

    /// A line of its own without timestamp, like libpq's "mismatched message length" note.
    private func appendLine(_ text: String, into out: inout [UInt8]) {
        out.append(contentsOf: options.linePrefix)
        out.append(contentsOf: text.utf8)
        out.append(newline)
    }

    private static func formatSeconds(_ seconds: Int) -> [UInt8] {
        var t = time_t(seconds)
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [Int8](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S", &parts)
        return buffer[0..<n].map { UInt8(bitPattern: $0) }
    }

    private static func appendMicroseconds(_ value: Int, to out: inout [UInt8]) {
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 6)
        var v = max(0, value)
        var i = 5
        while i >= 0 && v > 0 {
            digits[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
            i -= 1
        }
        out.append(contentsOf: digits)
    }

    // MARK: Message bodies

    private mutating func renderUntyped(_ r: inout Renderer, into out: inout [UInt8]) throws(Renderer.Truncated) {
        let code = r.peekInt32(at: 4)
        switch code {
        case StartupCode.cancelRequest:
            // PG15's own rendering: the request code, the process ID and the secret key.
            out.append(contentsOf: "CancelRequest\t".utf8)
            try r.int32(into: &out)
            try r.int32(into: &out)
            try r.int32(into: &out)
        case StartupCode.sslRequest:
            out.append(contentsOf: "SSLRequest\t".utf8)
            try r.int32(into: &out)
        case StartupCode.gssEncRequest:
            out.append(contentsOf: "GSSENCRequest\t".utf8)
            try r.int32(into: &out)
        default:
            // Protocol version as major and minor, then name/value pairs up to the empty name.
            out.append(contentsOf: "StartupMessage\t".utf8)
            try r.int16(into: &out)
            try r.int16(into: &out)
            while try r.peekByte("parameter name") != 0 {
                try r.string(into: &out)
                try r.string(into: &out)
            }
            r.cursor += 1
        }
    }

    private mutating func renderFrontend(_ r: inout Renderer, into out: inout [UInt8]) throws(Renderer.Truncated) {
        let type = r.message[r.message.startIndex]
        func name(_ text: String) { out.append(contentsOf: text.utf8) }
        switch type {
        case UInt8(ascii: "B"):
            name("Bind\t")
            try r.string(into: &out)
            try r.string(into: &out)
            let formats = try r.int16(into: &out)
            for _ in 0..<formats { try r.int16(into: &out) }
            let parameters = try r.int16(into: &out)
            for _ in 0..<parameters {
                let n = try r.int32(into: &out)
                if n == -1 { continue }
                try r.nchar(Int(n), into: &out)
            }
            let resultFormats = try r.int16(into: &out)
            for _ in 0..<resultFormats { try r.int16(into: &out) }
        case UInt8(ascii: "C"):
            name("Close\t")
            try r.byte1(into: &out)
            try r.string(into: &out)
        case UInt8(ascii: "d"):
            if options.copyData == .full {
                name("CopyData\t")
                try r.nchar(r.remaining, into: &out)
            }
            // libpq prints nothing after the length (and then notes the length mismatch).
        case UInt8(ascii: "c"):
            name("CopyDone")
        case UInt8(ascii: "f"):
            name("CopyFail\t")
            try r.string(into: &out)
        case UInt8(ascii: "D"):
            name("Describe\t")
            try r.byte1(into: &out)
            try r.string(into: &out)
        case UInt8(ascii: "E"):
            name("Execute\t")
            try r.string(into: &out)
            try r.int32(into: &out)
        case UInt8(ascii: "H"):
            name("Flush")
        case UInt8(ascii: "F"):
            name("FunctionCall\t")
            try r.int32(into: &out, suppress: r.regress)
            let formats = try r.int16(into: &out)
            for _ in 0..<formats { try r.int16(into: &out) }
            let arguments = try r.int16(into: &out)
            for _ in 0..<arguments {
                let n = try r.int32(into: &out)
                if n == -1 { continue }
                try r.nchar(Int(n), into: &out)
            }
            try r.int16(into: &out)
        case UInt8(ascii: "P"):
            name("Parse\t")
            try r.string(into: &out)
            try r.string(into: &out)
            let types = try r.int16(into: &out)
            for _ in 0..<types { try r.int32(into: &out, suppress: r.regress) }
        case UInt8(ascii: "Q"):
            name("Query\t")
            try r.string(into: &out)
        case UInt8(ascii: "S"):
            name("Sync")
        case UInt8(ascii: "X"):
            name("Terminate")
        case FrontendMessageType.authenticationResponse:
            switch authenticationResponse {
            case .password:
                name("PasswordMessage\t")
                r.redactRest(into: &out)
            case .saslInitial:
                name("SASLInitialResponse\t")
                try r.string(into: &out)
                let n = try r.readInt32("SASL data length")
                if n == -1 {
                    out.append(contentsOf: " -1".utf8)
                } else {
                    try r.redact(Int(n), into: &out)
                }
                authenticationResponse = .sasl
            case .sasl:
                name("SASLResponse\t")
                r.redactRest(into: &out)
            case .gss:
                name("GSSResponse\t")
                r.redactRest(into: &out)
            }
        default:
            unknown(type, into: &out)
        }
    }

    private mutating func renderBackend(_ r: inout Renderer, into out: inout [UInt8]) throws(Renderer.Truncated) {
        let type = r.message[r.message.startIndex]
        func name(_ text: String) { out.append(contentsOf: text.utf8) }
        switch type {
        case UInt8(ascii: "1"): name("ParseComplete")
        case UInt8(ascii: "2"): name("BindComplete")
        case UInt8(ascii: "3"): name("CloseComplete")
        case UInt8(ascii: "A"):
            name("NotificationResponse\t")
            try r.int32(into: &out, suppress: r.regress)
            try r.string(into: &out)
            try r.string(into: &out)
        case UInt8(ascii: "c"): name("CopyDone")
        case UInt8(ascii: "C"):
            name("CommandComplete\t")
            try r.string(into: &out)
        case UInt8(ascii: "d"):
            // Only reached in `.full` style (libpq does not trace server CopyData).
            name("CopyData\t")
            try r.nchar(r.remaining, into: &out)
        case UInt8(ascii: "D"):
            name("DataRow\t")
            let columns = try r.int16(into: &out)
            for _ in 0..<columns {
                let n = try r.int32(into: &out)
                if n == -1 { continue }
                try r.nchar(Int(n), into: &out)
            }
        case UInt8(ascii: "E"):
            try diagnostic("ErrorResponse\t", &r, into: &out)
        case UInt8(ascii: "N"):
            try diagnostic("NoticeResponse\t", &r, into: &out)
        case UInt8(ascii: "G"), UInt8(ascii: "H"):
            name(type == UInt8(ascii: "G") ? "CopyInResponse\t" : "CopyOutResponse\t")
            try r.byte1(into: &out)
            let columns = try r.int16(into: &out)
            for _ in 0..<columns { try r.int16(into: &out) }
        case UInt8(ascii: "W"):
            name("CopyBothResponse\t")
            try r.byte1(into: &out)
            // libpq prints every remaining Int16, the column count included.
            while r.remaining > 0 { try r.int16(into: &out) }
        case UInt8(ascii: "I"): name("EmptyQueryResponse")
        case UInt8(ascii: "K"):
            name("BackendKeyData\t")
            try r.int32(into: &out, suppress: r.regress)
            try r.int32(into: &out, suppress: r.regress)
        case UInt8(ascii: "n"): name("NoData")
        case UInt8(ascii: "R"):
            try authentication(&r, into: &out)
        case UInt8(ascii: "s"): name("PortalSuspended")
        case UInt8(ascii: "S"):
            name("ParameterStatus\t")
            try r.string(into: &out)
            try r.string(into: &out)
        case UInt8(ascii: "t"):
            name("ParameterDescription\t")
            let count = try r.int16(into: &out)
            for _ in 0..<count { try r.int32(into: &out, suppress: r.regress) }
        case UInt8(ascii: "T"):
            name("RowDescription\t")
            let count = try r.int16(into: &out)
            for _ in 0..<count {
                try r.string(into: &out)
                try r.int32(into: &out, suppress: r.regress)
                try r.int16(into: &out)
                try r.int32(into: &out, suppress: r.regress)
                try r.int16(into: &out)
                try r.int32(into: &out)
                try r.int16(into: &out)
            }
        case UInt8(ascii: "v"):
            // As libpq: the newest minor version and the option count (the option names are not printed).
            name("NegotiateProtocolVersion\t")
            try r.int32(into: &out)
            try r.int32(into: &out)
        case UInt8(ascii: "V"):
            name("FunctionCallResponse\t")
            let n = try r.int32(into: &out)
            if n != -1 { try r.nchar(Int(n), into: &out) }
        case UInt8(ascii: "Z"):
            name("ReadyForQuery\t")
            try r.byte1(into: &out)
        default:
            unknown(type, into: &out)
        }
    }

    private func diagnostic(_ name: String, _ r: inout Renderer, into out: inout [UInt8]) throws(Renderer.Truncated) {
        out.append(contentsOf: name.utf8)
        while true {
            let field = try r.byte1(into: &out)
            if field == 0 { break }
            let suppress = r.regress && (field == UInt8(ascii: "L") || field == UInt8(ascii: "F") || field == UInt8(ascii: "R"))
            try r.string(into: &out, suppress: suppress)
        }
    }

    private mutating func authentication(_ r: inout Renderer, into out: inout [UInt8]) throws(Renderer.Truncated) {
        let code = try r.readInt32("authentication request code")
        func name(_ text: String) { out.append(contentsOf: text.utf8) }
        switch code {
        case 0: name("AuthenticationOk")
        case 2: name("AuthenticationKerberosV5")
        case 3:
            name("AuthenticationCleartextPassword")
            authenticationResponse = .password
        case 5:
            name("AuthenticationMD5Password\t")
            try r.nchar(4, into: &out)
            authenticationResponse = .password
        case 6: name("AuthenticationSCMCredential")
        case 7:
            name("AuthenticationGSS")
            authenticationResponse = .gss
        case 8:
            name("AuthenticationGSSContinue\t")
            r.redactRest(into: &out)
            authenticationResponse = .gss
        case 9:
            name("AuthenticationSSPI")
            authenticationResponse = .gss
        case 10:
            name("AuthenticationSASL\t")
            while try r.peekByte("mechanism name") != 0 { try r.string(into: &out) }
            r.cursor += 1
            authenticationResponse = .saslInitial
        case 11:
            name("AuthenticationSASLContinue\t")
            r.redactRest(into: &out)
            authenticationResponse = .sasl
        case 12:
            name("AuthenticationSASLFinal\t")
            r.redactRest(into: &out)
        default:
            // libpq's rendering of any authentication request: the code only.
            name("Authentication\t ")
            appendDecimal(Int(code), to: &out)
        }
    }

    private func unknown(_ type: UInt8, into out: inout [UInt8]) {
        out.append(contentsOf: "Unknown message: ".utf8)
        let hex = String(type, radix: 16)
        if hex.count < 2 { out.append(UInt8(ascii: "0")) }
        out.append(contentsOf: hex.utf8)
    }
}

private let tab = UInt8(ascii: "\t")
private let newline = UInt8(ascii: "\n")

private func appendDecimal(_ value: Int, to out: inout [UInt8]) {
    if value == 0 {
        out.append(UInt8(ascii: "0"))
        return
    }
    var v = value.magnitude
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    withUnsafeMutableBytes(of: &digits) { buffer in
        while v > 0 {
            buffer[count] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
            count += 1
        }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        for i in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[i]) }
    }
}

/// Walks one message with libpq's cursor arithmetic (offset 0 = the type byte, or the length of an
/// untyped packet), appending fields; every read is bounds-checked.
private struct Renderer {
    struct Truncated: Error {
        let what: String
    }

    let message: ArraySlice<UInt8>
    let regress: Bool
    var cursor = 0

    init(message: ArraySlice<UInt8>, regress: Bool) {
        self.message = message
        self.regress = regress
    }

    var remaining: Int { message.count - cursor }

    @inline(__always)
    private func at(_ offset: Int) -> UInt8 { message[message.startIndex + offset] }

    func peekInt32(at offset: Int) -> Int32 {
        Int32(bitPattern: UInt32(at(offset)) << 24 | UInt32(at(offset + 1)) << 16 | UInt32(at(offset + 2)) << 8 | UInt32(at(offset + 3)))
    }

    func peekByte(_ what: String) throws(Truncated) -> UInt8 {
        guard remaining >= 1 else { throw Truncated(what: what) }
        return at(cursor)
    }

    mutating func readInt32(_ what: String) throws(Truncated) -> Int32 {
        guard remaining >= 4 else { throw Truncated(what: what) }
        let value = peekInt32(at: cursor)
        cursor += 4
        return value
    }

    /// ` c` for a printable byte, ` \xNN` otherwise (the terminator of an error's field list included).
    @discardableResult
    mutating func byte1(into out: inout [UInt8]) throws(Truncated) -> UInt8 {
        guard remaining >= 1 else { throw Truncated(what: "byte") }
        let byte = at(cursor)
        cursor += 1
        out.append(UInt8(ascii: " "))
        if isPrintable(byte) {
            out.append(byte)
        } else {
            appendHexEscape(byte, to: &out)
        }
        return byte
    }

    /// An Int16 printed as libpq does: read as unsigned.
    @discardableResult
    mutating func int16(into out: inout [UInt8]) throws(Truncated) -> Int {
        guard remaining >= 2 else { throw Truncated(what: "Int16") }
        let value = Int(UInt16(at(cursor)) << 8 | UInt16(at(cursor + 1)))
        cursor += 2
        out.append(UInt8(ascii: " "))
        appendDecimal(value, to: &out)
        return value
    }

    @discardableResult
    mutating func int32(into out: inout [UInt8], suppress: Bool = false) throws(Truncated) -> Int32 {
        let value = try readInt32("Int32")
        if suppress {
            out.append(contentsOf: " NNNN".utf8)
        } else {
            out.append(UInt8(ascii: " "))
            appendDecimal(Int(value), to: &out)
        }
        return value
    }

    /// A NUL-terminated string, written raw between double quotes (libpq uses `%s`).
    mutating func string(into out: inout [UInt8], suppress: Bool = false) throws(Truncated) {
        let start = message.startIndex + cursor
        guard let end = message[start...].firstIndex(of: 0) else { throw Truncated(what: "unterminated string") }
        if suppress {
            out.append(contentsOf: " \"SSSS\"".utf8)
        } else {
            out.append(UInt8(ascii: " "))
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: message[start..<end])
            out.append(UInt8(ascii: "\""))
        }
        cursor += end - start + 1
    }

    /// Exactly `count` bytes between single quotes, non-printable ones as `\xNN`.
    mutating func nchar(_ count: Int, into out: inout [UInt8]) throws(Truncated) {
        guard count >= 0 else { throw Truncated(what: "a value of negative length \(count)") }
        guard remaining >= count else { throw Truncated(what: "a value of \(count) bytes") }
        out.append(UInt8(ascii: " "))
        out.append(UInt8(ascii: "'"))
        let start = message.startIndex + cursor
        var runStart = start
        for i in start..<(start + count) {
            let byte = message[i]
            if isPrintable(byte) { continue }
            out.append(contentsOf: message[runStart..<i])
            appendHexEscape(byte, to: &out)
            runStart = i + 1
        }
        out.append(contentsOf: message[runStart..<(start + count)])
        out.append(UInt8(ascii: "'"))
        cursor += count
    }

    mutating func redact(_ count: Int, into out: inout [UInt8]) throws(Truncated) {
        guard count >= 0, remaining >= count else { throw Truncated(what: "a value of \(count) bytes") }
        out.append(contentsOf: " <redacted ".utf8)
        appendDecimal(count, to: &out)
        out.append(contentsOf: " bytes>".utf8)
        cursor += count
    }

    mutating func redactRest(into out: inout [UInt8]) {
        try? redact(remaining, into: &out)
    }
}

/// `isprint` in the C locale. libpq asks the C library, so a program that switched to a single-byte
/// locale (setlocale) could see bytes above 0x7f printed raw; in the C and UTF-8 locales they are escaped.
@inline(__always)
private func isPrintable(_ byte: UInt8) -> Bool { byte >= 0x20 && byte < 0x7f }

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

@inline(__always)
private func appendHexEscape(_ byte: UInt8, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\\"))
    out.append(UInt8(ascii: "x"))
    out.append(hexDigits[Int(byte >> 4)])
    out.append(hexDigits[Int(byte & 0xf)])
}
