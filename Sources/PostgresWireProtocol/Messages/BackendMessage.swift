/// Every message a PostgreSQL server sends in protocol 3.0 ("Message Formats" in the PostgreSQL docs).
public enum BackendMessage: Sendable, Equatable {
    case authentication(Authentication)
    case backendKeyData(BackendKeyData)
    case bindComplete
    case closeComplete
    case commandComplete(CommandComplete)
    case copyData(ArraySlice<UInt8>)
    case copyDone
    case copyInResponse(CopyResponse)
    case copyOutResponse(CopyResponse)
    case copyBothResponse(CopyResponse)
    case dataRow(DataRow)
    case emptyQueryResponse
    case errorResponse(DiagnosticFields)
    case functionCallResponse(ArraySlice<UInt8>?)
    case negotiateProtocolVersion(NegotiateProtocolVersion)
    case noData
    case noticeResponse(DiagnosticFields)
    case notificationResponse(NotificationResponse)
    case parameterDescription([UInt32])
    case parameterStatus(ParameterStatus)
    case parseComplete
    case portalSuspended
    case readyForQuery(TransactionStatus)
    case rowDescription(RowDescription)

    /// The message's name as the PostgreSQL documentation spells it.
    public var name: String {
        switch self {
        case .authentication(let a): return a.name
        case .backendKeyData: return "BackendKeyData"
        case .bindComplete: return "BindComplete"
        case .closeComplete: return "CloseComplete"
        case .commandComplete: return "CommandComplete"
        case .copyData: return "CopyData"
        case .copyDone: return "CopyDone"
        case .copyInResponse: return "CopyInResponse"
        case .copyOutResponse: return "CopyOutResponse"
        case .copyBothResponse: return "CopyBothResponse"
        case .dataRow: return "DataRow"
        case .emptyQueryResponse: return "EmptyQueryResponse"
        case .errorResponse: return "ErrorResponse"
        case .functionCallResponse: return "FunctionCallResponse"
        case .negotiateProtocolVersion: return "NegotiateProtocolVersion"
        case .noData: return "NoData"
        case .noticeResponse: return "NoticeResponse"
        case .notificationResponse: return "NotificationResponse"
        case .parameterDescription: return "ParameterDescription"
        case .parameterStatus: return "ParameterStatus"
        case .parseComplete: return "ParseComplete"
        case .portalSuspended: return "PortalSuspended"
        case .readyForQuery: return "ReadyForQuery"
        case .rowDescription: return "RowDescription"
        }
    }
}

public enum BackendMessageType {
    public static let authentication = UInt8(ascii: "R")
    public static let backendKeyData = UInt8(ascii: "K")
    public static let bindComplete = UInt8(ascii: "2")
    public static let closeComplete = UInt8(ascii: "3")
    public static let commandComplete = UInt8(ascii: "C")
    public static let copyData = UInt8(ascii: "d")
    public static let copyDone = UInt8(ascii: "c")
    public static let copyInResponse = UInt8(ascii: "G")
    public static let copyOutResponse = UInt8(ascii: "H")
    public static let copyBothResponse = UInt8(ascii: "W")
    public static let dataRow = UInt8(ascii: "D")
    public static let emptyQueryResponse = UInt8(ascii: "I")
    public static let errorResponse = UInt8(ascii: "E")
    public static let functionCallResponse = UInt8(ascii: "V")
    public static let negotiateProtocolVersion = UInt8(ascii: "v")
    public static let noData = UInt8(ascii: "n")
    public static let noticeResponse = UInt8(ascii: "N")
    public static let notificationResponse = UInt8(ascii: "A")
    public static let parameterDescription = UInt8(ascii: "t")
    public static let parameterStatus = UInt8(ascii: "S")
    public static let parseComplete = UInt8(ascii: "1")
    public static let portalSuspended = UInt8(ascii: "s")
    public static let readyForQuery = UInt8(ascii: "Z")
    public static let rowDescription = UInt8(ascii: "T")

    static let all: Set<UInt8> = [
        authentication, backendKeyData, bindComplete, closeComplete, commandComplete, copyData, copyDone,
        copyInResponse, copyOutResponse, copyBothResponse, dataRow, emptyQueryResponse, errorResponse,
        functionCallResponse, negotiateProtocolVersion, noData, noticeResponse, notificationResponse,
        parameterDescription, parameterStatus, parseComplete, portalSuspended, readyForQuery, rowDescription,
    ]
}

public enum Authentication: Sendable, Equatable {
    case ok
    case kerberosV5
    case cleartextPassword
    case md5Password(salt: [UInt8])
    case scmCredential
    case gss
    case gssContinue(ArraySlice<UInt8>)
    case sspi
    case sasl(mechanisms: [String])
    case saslContinue(ArraySlice<UInt8>)
    case saslFinal(ArraySlice<UInt8>)

    public var name: String {
        switch self {
        case .ok: return "AuthenticationOk"
        case .kerberosV5: return "AuthenticationKerberosV5"
        case .cleartextPassword: return "AuthenticationCleartextPassword"
        case .md5Password: return "AuthenticationMD5Password"
        case .scmCredential: return "AuthenticationSCMCredential"
        case .gss: return "AuthenticationGSS"
        case .gssContinue: return "AuthenticationGSSContinue"
        case .sspi: return "AuthenticationSSPI"
        case .sasl: return "AuthenticationSASL"
        case .saslContinue: return "AuthenticationSASLContinue"
        case .saslFinal: return "AuthenticationSASLFinal"
        }
    }

    /// The Int32 code that follows the 'R' type byte.
    public var code: Int32 {
        switch self {
        case .ok: return 0
        case .kerberosV5: return 2
        case .cleartextPassword: return 3
        case .md5Password: return 5
        case .scmCredential: return 6
        case .gss: return 7
        case .gssContinue: return 8
        case .sspi: return 9
        case .sasl: return 10
        case .saslContinue: return 11
        case .saslFinal: return 12
        }
    }
}

public struct BackendKeyData: Sendable, Equatable {
    public var processID: Int32
    public var secretKey: Int32
    public init(processID: Int32, secretKey: Int32) {
        self.processID = processID
        self.secretKey = secretKey
    }
}

public struct CommandComplete: Sendable, Equatable {
    /// The command tag, e.g. "SELECT 3", "INSERT 0 1", "CREATE TABLE".
    public var tag: String
    public init(tag: String) { self.tag = tag }

    /// The command name: the tag without its counts ("INSERT", "SELECT", "CREATE TABLE").
    public var command: String {
        var words = tag.split(separator: " ")
        while let last = words.last, Self.isCount(last) { words.removeLast() }
        return words.joined(separator: " ")
    }

    /// ASCII digits only (libpq's PQcmdTuples test): not "-1", "+1", "٣" or "".
    static func isCount(_ word: Substring) -> Bool {
        !word.isEmpty && word.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// Rows affected or returned, from the tag's last number (INSERT oid rows, SELECT/UPDATE/DELETE/MERGE/FETCH/MOVE/COPY rows).
    /// nil when the tag carries no count, or when its count is not a run of ASCII digits that fits
    /// in an Int (the server's text: anything is possible).
    public var rowCount: Int? {
        let words = tag.split(separator: " ")
        guard let first = words.first else { return nil }
        switch first {
        case "INSERT", "SELECT", "UPDATE", "DELETE", "MERGE", "FETCH", "MOVE", "COPY":
            guard words.count >= 2, let last = words.last, Self.isCount(last) else { return nil }
            return Int(last)
        default:
            // "CREATE TABLE AS" answers "SELECT n"; other commands carry no count.
            return nil
        }
    }
}

public struct CopyResponse: Sendable, Equatable {
    /// 0 = textual (rows separated by newlines), 1 = binary.
    public var overallFormat: Int8
    public var columnFormats: [Int16]
    public init(overallFormat: Int8, columnFormats: [Int16]) {
        self.overallFormat = overallFormat
        self.columnFormats = columnFormats
    }
}

/// One row of a result as the server sent it: the column values stay in the received bytes until asked for.
public struct DataRow: Sendable, Equatable {
    /// The column count (low 16 bits) and where columns 1, 2 and 3 start in `storage` (16 bits
    /// each, relative to its start; 0: not recorded, past 65535 bytes), recorded once per row so
    /// that the subscript reads those columns directly and walks at most from column 3 (as
    /// rust-postgres keeps each row's ranges, with no allocation and no growth of the value).
    /// Opaque outside this module; kept and passed back to `init(layout:storage:)` by code that
    /// copies rows, so the starts need not be found again.
    public let layout: UInt64
    /// The column area: for each column an Int32 length (-1 = NULL) followed by that many bytes.
    public let storage: ArraySlice<UInt8>

    public var columnCount: Int { Int(UInt16(truncatingIfNeeded: layout)) }

    /// How many column starts `layout` can hold (columns 1…3).
    package static var recordedColumns: Int { 3 }

    /// A row over `storage`, whose column lengths must be valid for `columnCount` columns (the
    /// first columns' starts are recorded here: at most three lengths read).
    public init(columnCount: Int, storage: ArraySlice<UInt8>) {
        var layout = UInt64(UInt16(truncatingIfNeeded: columnCount))
        var offset = 0
        var column = 1
        let available = storage.count
        while column < columnCount && column <= Self.recordedColumns && offset + 4 <= available {
            let i = storage.startIndex + offset
            let length = Int(Int32(bitPattern: UInt32(storage[i]) << 24 | UInt32(storage[i + 1]) << 16
                | UInt32(storage[i + 2]) << 8 | UInt32(storage[i + 3])))
            offset += 4 + max(length, 0)
            guard offset <= Int(UInt16.max) else { break }
            layout |= UInt64(offset) << (16 * column)
            column += 1
        }
        self.init(layout: layout, storage: storage)
    }

    /// A row whose `layout` was recorded earlier (by the decoder, or taken from a row with the
    /// same column area).
    @inlinable
    public init(layout: UInt64, storage: ArraySlice<UInt8>) {
        self.layout = layout
        self.storage = storage
    }

    /// Builds a row from values (for tests and fake servers).
    public init(values: [[UInt8]?]) {
        var bytes: [UInt8] = []
        for value in values {
            if let value {
                bytes.appendInt32(Int32(value.count))
                bytes.append(contentsOf: value)
            } else {
                bytes.appendInt32(-1)
            }
        }
        self.init(columnCount: values.count, storage: bytes[...])
    }

    /// Calls `body` with each column's bytes (nil for NULL), in order.
    @inline(__always)
    public func forEachColumn(_ body: (Int, ArraySlice<UInt8>?) throws -> Void) rethrows {
        var index = storage.startIndex
        for column in 0..<columnCount {
            let length = Int(Int32(bitPattern: UInt32(storage[index]) << 24 | UInt32(storage[index + 1]) << 16
                | UInt32(storage[index + 2]) << 8 | UInt32(storage[index + 3])))
            index += 4
            if length < 0 {
                try body(column, nil)
            } else {
                try body(column, storage[index..<(index + length)])
                index += length
            }
        }
    }

    /// The bytes of one column (nil for NULL). Starts from the recorded start of the column (or
    /// of column 3 beyond it) and walks the remaining lengths (validated when the row was decoded)
    /// without bounds checks or reference counting; use `forEachColumn` to visit all.
    public subscript(column: Int) -> ArraySlice<UInt8>? {
        precondition(column >= 0 && column < columnCount, "column \(column) out of range 0..<\(columnCount)")
        var offset = 0
        var current = 0
        if column > 0 {
            let known = min(column, Self.recordedColumns)
            let recorded = Int(UInt16(truncatingIfNeeded: layout >> (16 * known)))
            if recorded != 0 {
                offset = recorded
                current = known
            }
        }
        let length: Int
        (offset, length) = storage.withUnsafeBufferPointer { buffer -> (Int, Int) in
            while true {
                let length = Int(Int32(bitPattern: UInt32(buffer[offset]) << 24 | UInt32(buffer[offset + 1]) << 16
                    | UInt32(buffer[offset + 2]) << 8 | UInt32(buffer[offset + 3])))
                offset += 4
                if current == column { return (offset, length) }
                if length > 0 { offset += length }
                current += 1
            }
        }
        if length < 0 { return nil }
        let start = storage.startIndex + offset
        return storage[start..<(start + length)]
    }

    /// All values copied out (convenient, allocates).
    public var values: [[UInt8]?] {
        var result: [[UInt8]?] = []
        result.reserveCapacity(columnCount)
        forEachColumn { _, value in result.append(value.map { Array($0) }) }
        return result
    }

    public static func == (lhs: DataRow, rhs: DataRow) -> Bool {
        lhs.columnCount == rhs.columnCount && lhs.storage.elementsEqual(rhs.storage)
    }
}

/// The fields of an ErrorResponse or NoticeResponse, in the order the server sent them.
public struct DiagnosticFields: Sendable, Equatable {
    public var fields: [(code: UInt8, value: String)]

    public init(_ fields: [(code: UInt8, value: String)]) { self.fields = fields }

    public subscript(code: UInt8) -> String? {
        fields.first(where: { $0.code == code })?.value
    }

    public static func == (lhs: DiagnosticFields, rhs: DiagnosticFields) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.code == $1.code && $0.value == $1.value }
    }
}

public struct NegotiateProtocolVersion: Sendable, Equatable {
    /// The newest minor protocol version the server supports for the requested major version.
    public var newestMinorVersion: Int32
    /// Protocol options (`_pq_.*`) the server did not recognise.
    public var unrecognizedOptions: [String]
    public init(newestMinorVersion: Int32, unrecognizedOptions: [String]) {
        self.newestMinorVersion = newestMinorVersion
        self.unrecognizedOptions = unrecognizedOptions
    }
}

public struct NotificationResponse: Sendable, Equatable {
    public var processID: Int32
    public var channel: String
    public var payload: String
    public init(processID: Int32, channel: String, payload: String) {
        self.processID = processID
        self.channel = channel
        self.payload = payload
    }
}

public struct ParameterStatus: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public enum TransactionStatus: UInt8, Sendable, Equatable {
    /// Not in a transaction block ('I').
    case idle = 73
    /// In a transaction block ('T').
    case inTransaction = 84
    /// In a failed transaction block; queries are rejected until the block ends ('E').
    case failed = 69
}

public struct RowDescription: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var tableOID: UInt32
        public var columnAttributeNumber: Int16
        public var dataTypeOID: UInt32
        public var dataTypeSize: Int16
        public var typeModifier: Int32
        /// 0 = text, 1 = binary.
        public var formatCode: Int16

        public init(name: String, tableOID: UInt32 = 0, columnAttributeNumber: Int16 = 0, dataTypeOID: UInt32,
                    dataTypeSize: Int16 = -1, typeModifier: Int32 = -1, formatCode: Int16 = 0) {
            self.name = name
            self.tableOID = tableOID
            self.columnAttributeNumber = columnAttributeNumber
            self.dataTypeOID = dataTypeOID
            self.dataTypeSize = dataTypeSize
            self.typeModifier = typeModifier
            self.formatCode = formatCode
        }
    }

    public var fields: [Field]
    public init(fields: [Field]) { self.fields = fields }
}
