extension BackendMessage {
    /// Decodes one message body (the bytes after the type byte and length).
    public static func decode(type: UInt8, body: ArraySlice<UInt8>) throws(ProtocolError) -> BackendMessage {
        typealias T = BackendMessageType
        switch type {
        case T.authentication:
            var r = ByteReader(body, message: "Authentication")
            return .authentication(try decodeAuthentication(&r))
        case T.backendKeyData:
            var r = ByteReader(body, message: "BackendKeyData")
            let key = BackendKeyData(processID: try r.readInt32("process ID"), secretKey: try r.readInt32("secret key"))
            try r.expectEnd()
            return .backendKeyData(key)
        case T.bindComplete: return try empty(body, .bindComplete)
        case T.closeComplete: return try empty(body, .closeComplete)
        case T.commandComplete: return .commandComplete(try CommandComplete(decoding: body))
        case T.copyData: return .copyData(body)
        case T.copyDone: return try empty(body, .copyDone)
        case T.copyInResponse: return .copyInResponse(try decodeCopyResponse(body, "CopyInResponse"))
        case T.copyOutResponse: return .copyOutResponse(try decodeCopyResponse(body, "CopyOutResponse"))
        case T.copyBothResponse: return .copyBothResponse(try decodeCopyResponse(body, "CopyBothResponse"))
        case T.dataRow: return .dataRow(try DataRow(decoding: body))
        case T.emptyQueryResponse: return try empty(body, .emptyQueryResponse)
        case T.errorResponse: return .errorResponse(try decodeDiagnostic(body, "ErrorResponse"))
        case T.noticeResponse: return .noticeResponse(try decodeDiagnostic(body, "NoticeResponse"))
        case T.functionCallResponse:
            var r = ByteReader(body, message: "FunctionCallResponse")
            let value = try r.readNullableBytes32("result")
            try r.expectEnd()
            return .functionCallResponse(value)
        case T.negotiateProtocolVersion:
            var r = ByteReader(body, message: "NegotiateProtocolVersion")
            let minor = try r.readInt32("newest minor version")
            let count = try r.readCount32("option count", minimumElementSize: 1)
            var options: [String] = []
            for _ in 0..<count { options.append(try r.readCString("option name")) }
            try r.expectEnd()
            return .negotiateProtocolVersion(NegotiateProtocolVersion(newestMinorVersion: minor, unrecognizedOptions: options))
        case T.noData: return try empty(body, .noData)
        case T.notificationResponse:
            var r = ByteReader(body, message: "NotificationResponse")
            let pid = try r.readInt32("process ID")
            let channel = try r.readCString("channel")
            let payload = try r.readCString("payload")
            try r.expectEnd()
            return .notificationResponse(NotificationResponse(processID: pid, channel: channel, payload: payload))
        case T.parameterDescription:
            var r = ByteReader(body, message: "ParameterDescription")
            let count = try r.readCount16("parameter count", minimumElementSize: 4)
            var oids: [UInt32] = []
            oids.reserveCapacity(count)
            for _ in 0..<count { oids.append(try r.readUInt32("parameter type OID")) }
            try r.expectEnd()
            return .parameterDescription(oids)
        case T.parameterStatus:
            var r = ByteReader(body, message: "ParameterStatus")
            let name = try r.readCString("parameter name")
            let value = try r.readCString("parameter value")
            try r.expectEnd()
            return .parameterStatus(ParameterStatus(name: name, value: value))
        case T.parseComplete: return try empty(body, .parseComplete)
        case T.portalSuspended: return try empty(body, .portalSuspended)
        case T.readyForQuery: return .readyForQuery(try TransactionStatus(decoding: body))
        case T.rowDescription: return .rowDescription(try decodeRowDescription(body))
        default:
            throw .unknownMessageType(type)
        }
    }

    private static func empty(_ body: ArraySlice<UInt8>, _ message: BackendMessage) throws(ProtocolError) -> BackendMessage {
        try checkEmptyBody(count: body.count, of: message)
        return message
    }

    /// The check of a message that has no body (BindComplete, ParseComplete…), for a reader
    /// that matched it by its type alone (see `ExtendedQueryStateMachine.acceptInPlace`).
    @inline(__always)
    public static func checkEmptyBody(count: Int, of message: @autoclosure () -> BackendMessage) throws(ProtocolError) {
        if count != 0 {
            throw .malformed(message: message().name, reason: "expected an empty body, got \(count) bytes")
        }
    }

    private static func decodeAuthentication(_ r: inout ByteReader) throws(ProtocolError) -> Authentication {
        let code = try r.readInt32("authentication code")
        let result: Authentication
        switch code {
        case 0: result = .ok
        case 2: result = .kerberosV5
        case 3: result = .cleartextPassword
        case 5: result = .md5Password(salt: Array(try r.readBytes(4, "MD5 salt")))
        case 6: result = .scmCredential
        case 7: result = .gss
        case 8: return .gssContinue(r.readRest())
        case 9: result = .sspi
        case 10:
            var mechanisms: [String] = []
            while true {
                let name = try r.readCString("SASL mechanism")
                if name.isEmpty { break }
                mechanisms.append(name)
            }
            result = .sasl(mechanisms: mechanisms)
        case 11: return .saslContinue(r.readRest())
        case 12: return .saslFinal(r.readRest())
        default:
            throw .malformed(message: "Authentication", reason: "unknown authentication code \(code)")
        }
        try r.expectEnd()
        return result
    }

    private static func decodeCopyResponse(_ body: ArraySlice<UInt8>, _ name: String) throws(ProtocolError) -> CopyResponse {
        var r = ByteReader(body, message: name)
        let format = try r.readUInt8("overall format")
        if format > 1 { throw .malformed(message: name, reason: "invalid overall format \(format)") }
        let count = try r.readCount16("column count", minimumElementSize: 2)
        var formats: [Int16] = []
        formats.reserveCapacity(count)
        for _ in 0..<count {
            let f = try r.readInt16("column format")
            if f != 0 && f != 1 { throw .malformed(message: name, reason: "invalid column format \(f)") }
            formats.append(f)
        }
        try r.expectEnd()
        return CopyResponse(overallFormat: Int8(format), columnFormats: formats)
    }

    /// Validates every column length once, so later column access needs no checks. This runs for
    /// every row: a tight loop over the lengths, with error text built only on failure.
    fileprivate static func decodeDataRow(_ body: ArraySlice<UInt8>) throws(ProtocolError) -> DataRow {
        var r = ByteReader(body, message: "DataRow")
        let count = try r.readCount16("column count", minimumElementSize: 4)
        let start = r.index
        let end = body.endIndex
        var index = start
        // The column count and the starts of columns 1…3 (see `DataRow.layout`).
        var layout = UInt64(UInt16(truncatingIfNeeded: count))
        for column in 0..<count {
            // Columns 1…3 (one unsigned comparison), while their start fits in 16 bits.
            if UInt(bitPattern: column &- 1) < UInt(DataRow.recordedColumns) && index - start <= Int(UInt16.max) {
                layout |= UInt64(index - start) << (16 * column)
            }
            guard end - index >= 4 else {
                throw .malformed(message: "DataRow", reason: "column \(column) length needs 4 bytes but only \(end - index) remain")
            }
            let length = Int(Int32(bitPattern: UInt32(body[index]) << 24 | UInt32(body[index + 1]) << 16
                | UInt32(body[index + 2]) << 8 | UInt32(body[index + 3])))
            index += 4
            if length == -1 { continue }
            guard length >= 0, end - index >= length else {
                throw .malformed(message: "DataRow", reason: length < 0 ? "column \(column) has invalid length \(length)"
                    : "column \(column) needs \(length) bytes but only \(end - index) remain")
            }
            index += length
        }
        if index != end { throw .malformed(message: "DataRow", reason: "\(end - index) unexpected trailing bytes") }
        return DataRow(layout: layout, storage: body[start...])
    }

    private static func decodeDiagnostic(_ body: ArraySlice<UInt8>, _ name: String) throws(ProtocolError) -> DiagnosticFields {
        var r = ByteReader(body, message: name)
        var fields: [(code: UInt8, value: String)] = []
        while true {
            let code = try r.readUInt8("field type")
            if code == 0 { break }
            fields.append((code, try r.readCString("field value")))
        }
        try r.expectEnd()
        return DiagnosticFields(fields)
    }

    private static func decodeRowDescription(_ body: ArraySlice<UInt8>) throws(ProtocolError) -> RowDescription {
        var r = ByteReader(body, message: "RowDescription")
        // Each field is at least a NUL plus 18 bytes of attributes.
        let count = try r.readCount16("field count", minimumElementSize: 19)
        var fields: [RowDescription.Field] = []
        fields.reserveCapacity(count)
        for _ in 0..<count {
            let name = try r.readCString("field name")
            let table = try r.readUInt32("table OID")
            let attribute = try r.readInt16("column attribute number")
            let type = try r.readUInt32("data type OID")
            let size = try r.readInt16("data type size")
            let modifier = try r.readInt32("type modifier")
            let format = try r.readInt16("format code")
            if format != 0 && format != 1 {
                throw .malformed(message: "RowDescription", reason: "invalid format code \(format) for field \"\(name)\"")
            }
            fields.append(.init(name: name, tableOID: table, columnAttributeNumber: attribute, dataTypeOID: type,
                                dataTypeSize: size, typeModifier: modifier, formatCode: format))
        }
        try r.expectEnd()
        return RowDescription(fields: fields)
    }
}

extension BackendMessage {
    /// Encodes the message as a server would send it (used by tests, fake servers and the proxy).
    public func encode(into out: inout [UInt8]) {
        typealias T = BackendMessageType
        switch self {
        case .authentication(let auth):
            out.appendMessage(T.authentication) { b in
                b.appendInt32(auth.code)
                switch auth {
                case .md5Password(let salt): b.append(contentsOf: salt)
                case .gssContinue(let data), .saslContinue(let data), .saslFinal(let data): b.append(contentsOf: data)
                case .sasl(let mechanisms):
                    for m in mechanisms { b.appendCString(m) }
                    b.append(0)
                default: break
                }
            }
        case .backendKeyData(let key):
            out.appendMessage(T.backendKeyData) { b in
                b.appendInt32(key.processID)
                b.appendInt32(key.secretKey)
            }
        case .bindComplete: out.appendMessage(T.bindComplete) { _ in }
        case .closeComplete: out.appendMessage(T.closeComplete) { _ in }
        case .commandComplete(let c): out.appendMessage(T.commandComplete) { $0.appendCString(c.tag) }
        case .copyData(let data): out.appendMessage(T.copyData) { $0.append(contentsOf: data) }
        case .copyDone: out.appendMessage(T.copyDone) { _ in }
        case .copyInResponse(let c): Self.encodeCopy(T.copyInResponse, c, &out)
        case .copyOutResponse(let c): Self.encodeCopy(T.copyOutResponse, c, &out)
        case .copyBothResponse(let c): Self.encodeCopy(T.copyBothResponse, c, &out)
        case .dataRow(let row):
            out.appendMessage(T.dataRow) { b in
                b.appendInt16(Int16(truncatingIfNeeded: row.columnCount))
                b.append(contentsOf: row.storage)
            }
        case .emptyQueryResponse: out.appendMessage(T.emptyQueryResponse) { _ in }
        case .errorResponse(let f): Self.encodeDiagnostic(T.errorResponse, f, &out)
        case .noticeResponse(let f): Self.encodeDiagnostic(T.noticeResponse, f, &out)
        case .functionCallResponse(let value):
            out.appendMessage(T.functionCallResponse) { b in
                if let value {
                    b.appendInt32(Int32(value.count))
                    b.append(contentsOf: value)
                } else {
                    b.appendInt32(-1)
                }
            }
        case .negotiateProtocolVersion(let n):
            out.appendMessage(T.negotiateProtocolVersion) { b in
                b.appendInt32(n.newestMinorVersion)
                b.appendInt32(Int32(n.unrecognizedOptions.count))
                for o in n.unrecognizedOptions { b.appendCString(o) }
            }
        case .noData: out.appendMessage(T.noData) { _ in }
        case .notificationResponse(let n):
            out.appendMessage(T.notificationResponse) { b in
                b.appendInt32(n.processID)
                b.appendCString(n.channel)
                b.appendCString(n.payload)
            }
        case .parameterDescription(let oids):
            out.appendMessage(T.parameterDescription) { b in
                b.appendInt16(Int16(truncatingIfNeeded: oids.count))
                for oid in oids { b.appendUInt32(oid) }
            }
        case .parameterStatus(let p):
            out.appendMessage(T.parameterStatus) { b in
                b.appendCString(p.name)
                b.appendCString(p.value)
            }
        case .parseComplete: out.appendMessage(T.parseComplete) { _ in }
        case .portalSuspended: out.appendMessage(T.portalSuspended) { _ in }
        case .readyForQuery(let s): out.appendMessage(T.readyForQuery) { $0.append(s.rawValue) }
        case .rowDescription(let d):
            out.appendMessage(T.rowDescription) { b in
                b.appendInt16(Int16(truncatingIfNeeded: d.fields.count))
                for f in d.fields {
                    b.appendCString(f.name)
                    b.appendUInt32(f.tableOID)
                    b.appendInt16(f.columnAttributeNumber)
                    b.appendUInt32(f.dataTypeOID)
                    b.appendInt16(f.dataTypeSize)
                    b.appendInt32(f.typeModifier)
                    b.appendInt16(f.formatCode)
                }
            }
        }
    }

    private static func encodeCopy(_ type: UInt8, _ c: CopyResponse, _ out: inout [UInt8]) {
        out.appendMessage(type) { b in
            b.append(UInt8(bitPattern: c.overallFormat))
            b.appendInt16(Int16(truncatingIfNeeded: c.columnFormats.count))
            for f in c.columnFormats { b.appendInt16(f) }
        }
    }

    private static func encodeDiagnostic(_ type: UInt8, _ f: DiagnosticFields, _ out: inout [UInt8]) {
        out.appendMessage(type) { b in
            for field in f.fields {
                b.append(field.code)
                b.appendCString(field.value)
            }
            b.append(0)
        }
    }

    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }
}

// The result messages a query loop reads in place (after matching them by type, see
// `ExtendedQueryStateMachine.acceptInPlace`), decoded by the same code as `BackendMessage.decode`.

extension DataRow {
    /// A DataRow's body, checked: every column length within the body, nothing left over.
    @inline(__always)
    public init(decoding body: ArraySlice<UInt8>) throws(ProtocolError) {
        self = try BackendMessage.decodeDataRow(body)
    }
}

extension CommandComplete {
    /// A CommandComplete's body: the command tag, NUL-terminated.
    public init(decoding body: ArraySlice<UInt8>) throws(ProtocolError) {
        var r = ByteReader(body, message: "CommandComplete")
        let tag = try r.readCString("command tag")
        try r.expectEnd()
        self.init(tag: tag)
    }
}

/// The last command tag read and the bytes it came from: a CommandComplete whose body is the
/// same bytes as the previous one (every query of a loop or pipeline: "SELECT 1") gives the same
/// String without reading and validating it again. Only tags of up to 15 bytes are remembered
/// (they are held inline, compared as two words).
public struct CommandTagMemo: Sendable {
    private var first: UInt64 = 0
    private var second: UInt64 = 0
    private var count = -1
    private var command = CommandComplete(tag: "")

    public init() {}

    /// The CommandComplete `body` (`header`'s, in `framer`) decodes to, with the checks of
    /// `CommandComplete(decoding:)`.
    @inline(__always)
    public mutating func commandComplete(_ header: FrameDecoder.FrameHeader, in framer: inout FrameDecoder) throws(ProtocolError) -> CommandComplete {
        let n = header.bodyCount
        guard n <= 16 else { return try CommandComplete(decoding: framer.body(of: header)) }
        var words: (UInt64, UInt64) = (0, 0)
        framer.withBytes(of: header) { body in
            withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: body) }
        }
        if n == count && words.0 == first && words.1 == second { return command }
        let decoded = try CommandComplete(decoding: framer.body(of: header))
        (first, second, count, command) = (words.0, words.1, n, decoded)
        return decoded
    }
}

extension TransactionStatus {
    /// A ReadyForQuery located in `framer` (`inout` only so that a decoder stored in a class is
    /// not copied): its one status byte read in place, with the checks of `init(decoding:)`.
    @inline(__always)
    public init(readyForQuery header: FrameDecoder.FrameHeader, in framer: inout FrameDecoder) throws(ProtocolError) {
        if header.bodyCount == 1, let status = TransactionStatus(rawValue: framer.byte(0, of: header)) {
            self = status
        } else {
            self = try TransactionStatus(decoding: framer.body(of: header))
        }
    }

    /// A ReadyForQuery's body: one known status byte.
    public init(decoding body: ArraySlice<UInt8>) throws(ProtocolError) {
        var r = ByteReader(body, message: "ReadyForQuery")
        let byte = try r.readUInt8("transaction status")
        try r.expectEnd()
        guard let status = TransactionStatus(rawValue: byte) else {
            throw .malformed(message: "ReadyForQuery", reason: "unknown transaction status \(ProtocolError.describeByte(byte))")
        }
        self = status
    }
}
