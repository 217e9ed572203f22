/// Every message a client sends in protocol 3.0, including the untyped startup-phase packets.
public enum FrontendMessage: Sendable, Equatable {
    case startup(StartupMessage)
    case sslRequest
    case gssEncRequest
    case cancelRequest(CancelRequest)
    case bind(Bind)
    case close(Close)
    case copyData(ArraySlice<UInt8>)
    case copyDone
    case copyFail(message: String)
    case describe(Describe)
    case execute(Execute)
    case flush
    case functionCall(FunctionCall)
    case gssResponse(ArraySlice<UInt8>)
    case parse(Parse)
    case password(String)
    case saslInitialResponse(SASLInitialResponse)
    case saslResponse(ArraySlice<UInt8>)
    case query(String)
    case sync
    case terminate

    public var name: String {
        switch self {
        case .startup: return "StartupMessage"
        case .sslRequest: return "SSLRequest"
        case .gssEncRequest: return "GSSENCRequest"
        case .cancelRequest: return "CancelRequest"
        case .bind: return "Bind"
        case .close: return "Close"
        case .copyData: return "CopyData"
        case .copyDone: return "CopyDone"
        case .copyFail: return "CopyFail"
        case .describe: return "Describe"
        case .execute: return "Execute"
        case .flush: return "Flush"
        case .functionCall: return "FunctionCall"
        case .gssResponse: return "GSSResponse"
        case .parse: return "Parse"
        case .password: return "PasswordMessage"
        case .saslInitialResponse: return "SASLInitialResponse"
        case .saslResponse: return "SASLResponse"
        case .query: return "Query"
        case .sync: return "Sync"
        case .terminate: return "Terminate"
        }
    }
}

public enum FrontendMessageType {
    public static let bind = UInt8(ascii: "B")
    public static let close = UInt8(ascii: "C")
    public static let copyData = UInt8(ascii: "d")
    public static let copyDone = UInt8(ascii: "c")
    public static let copyFail = UInt8(ascii: "f")
    public static let describe = UInt8(ascii: "D")
    public static let execute = UInt8(ascii: "E")
    public static let flush = UInt8(ascii: "H")
    public static let functionCall = UInt8(ascii: "F")
    /// PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse all use 'p'.
    public static let authenticationResponse = UInt8(ascii: "p")
    public static let parse = UInt8(ascii: "P")
    public static let query = UInt8(ascii: "Q")
    public static let sync = UInt8(ascii: "S")
    public static let terminate = UInt8(ascii: "X")
}

/// Request codes carried in place of a protocol version by the untyped startup-phase packets.
public enum StartupCode {
    public static let protocolVersion3: Int32 = 196_608  // 3 << 16
    public static let cancelRequest: Int32 = 80_877_102
    public static let sslRequest: Int32 = 80_877_103
    public static let gssEncRequest: Int32 = 80_877_104
}

public struct StartupMessage: Sendable, Equatable {
    public var protocolVersion: Int32
    /// Ordered name/value pairs (user, database, options, application_name, client_encoding, …).
    public var parameters: [(name: String, value: String)]

    public init(protocolVersion: Int32 = StartupCode.protocolVersion3, parameters: [(name: String, value: String)]) {
        self.protocolVersion = protocolVersion
        self.parameters = parameters
    }

    public subscript(name: String) -> String? { parameters.first(where: { $0.name == name })?.value }

    public static func == (lhs: StartupMessage, rhs: StartupMessage) -> Bool {
        lhs.protocolVersion == rhs.protocolVersion && lhs.parameters.count == rhs.parameters.count
            && zip(lhs.parameters, rhs.parameters).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

public struct CancelRequest: Sendable, Equatable {
    public var processID: Int32
    public var secretKey: Int32
    public init(processID: Int32, secretKey: Int32) {
        self.processID = processID
        self.secretKey = secretKey
    }
}

public struct Bind: Sendable, Equatable {
    public var portal: String
    public var statement: String
    public var parameterFormats: [Int16]
    public var parameters: [[UInt8]?]
    public var resultFormats: [Int16]
    public init(portal: String = "", statement: String = "", parameterFormats: [Int16] = [], parameters: [[UInt8]?] = [], resultFormats: [Int16] = []) {
        self.portal = portal
        self.statement = statement
        self.parameterFormats = parameterFormats
        self.parameters = parameters
        self.resultFormats = resultFormats
    }
}

public enum DescribeTarget: UInt8, Sendable, Equatable {
    case statement = 83  // 'S'
    case portal = 80     // 'P'
}

public struct Close: Sendable, Equatable {
    public var target: DescribeTarget
    public var name: String
    public init(target: DescribeTarget, name: String) {
        self.target = target
        self.name = name
    }
}

public struct Describe: Sendable, Equatable {
    public var target: DescribeTarget
    public var name: String
    public init(target: DescribeTarget, name: String) {
        self.target = target
        self.name = name
    }
}

public struct Execute: Sendable, Equatable {
    public var portal: String
    /// 0 = no limit.
    public var maxRows: Int32
    public init(portal: String = "", maxRows: Int32 = 0) {
        self.portal = portal
        self.maxRows = maxRows
    }
}

public struct FunctionCall: Sendable, Equatable {
    public var functionOID: UInt32
    public var argumentFormats: [Int16]
    public var arguments: [[UInt8]?]
    public var resultFormat: Int16
    public init(functionOID: UInt32, argumentFormats: [Int16], arguments: [[UInt8]?], resultFormat: Int16) {
        self.functionOID = functionOID
        self.argumentFormats = argumentFormats
        self.arguments = arguments
        self.resultFormat = resultFormat
    }
}

public struct Parse: Sendable, Equatable {
    public var statement: String
    public var query: String
    public var parameterTypes: [UInt32]
    public init(statement: String = "", query: String, parameterTypes: [UInt32] = []) {
        self.statement = statement
        self.query = query
        self.parameterTypes = parameterTypes
    }
}

public struct SASLInitialResponse: Sendable, Equatable {
    public var mechanism: String
    /// nil is sent as length -1.
    public var data: [UInt8]?
    public init(mechanism: String, data: [UInt8]?) {
        self.mechanism = mechanism
        self.data = data
    }
}
