extension FrontendMessage {
    public func encode(into out: inout [UInt8]) {
        typealias T = FrontendMessageType
        switch self {
        case .startup(let s):
            Self.encodeUntyped(&out) { b in
                b.appendInt32(s.protocolVersion)
                for p in s.parameters {
                    b.appendCString(p.name)
                    b.appendCString(p.value)
                }
                b.append(0)
            }
        case .sslRequest: Self.encodeUntyped(&out) { $0.appendInt32(StartupCode.sslRequest) }
        case .gssEncRequest: Self.encodeUntyped(&out) { $0.appendInt32(StartupCode.gssEncRequest) }
        case .cancelRequest(let c):
            Self.encodeUntyped(&out) { b in
                b.appendInt32(StartupCode.cancelRequest)
                b.appendInt32(c.processID)
                b.appendInt32(c.secretKey)
            }
        case .bind(let bind):
            var encoder = BindEncoder()
            encoder.encode(bind, into: &out)
        case .close(let c):
            out.appendMessage(T.close) { b in
                b.append(c.target.rawValue)
                b.appendCString(c.name)
            }
        case .copyData(let data): out.appendMessage(T.copyData) { $0.append(contentsOf: data) }
        case .copyDone: out.appendMessage(T.copyDone) { _ in }
        case .copyFail(let message): out.appendMessage(T.copyFail) { $0.appendCString(message) }
        case .describe(let d):
            out.appendMessage(T.describe) { b in
                b.append(d.target.rawValue)
                b.appendCString(d.name)
            }
        case .execute(let e):
            out.appendMessage(T.execute) { b in
                b.appendCString(e.portal)
                b.appendInt32(e.maxRows)
            }
        case .flush: out.appendMessage(T.flush) { _ in }
        case .functionCall(let f):
            out.appendMessage(T.functionCall) { b in
                b.appendUInt32(f.functionOID)
                b.appendInt16(Int16(truncatingIfNeeded: f.argumentFormats.count))
                for x in f.argumentFormats { b.appendInt16(x) }
                b.appendInt16(Int16(truncatingIfNeeded: f.arguments.count))
                for a in f.arguments {
                    if let a {
                        b.appendInt32(Int32(truncatingIfNeeded: a.count))
                        b.append(contentsOf: a)
                    } else {
                        b.appendInt32(-1)
                    }
                }
                b.appendInt16(f.resultFormat)
            }
        case .gssResponse(let data): out.appendMessage(T.authenticationResponse) { $0.append(contentsOf: data) }
        case .parse(let p):
            out.appendMessage(T.parse) { b in
                b.appendCString(p.statement)
                b.appendCString(p.query)
                b.appendInt16(Int16(truncatingIfNeeded: p.parameterTypes.count))
                for t in p.parameterTypes { b.appendUInt32(t) }
            }
        case .password(let password): out.appendMessage(T.authenticationResponse) { $0.appendCString(password) }
        case .saslInitialResponse(let s):
            out.appendMessage(T.authenticationResponse) { b in
                b.appendCString(s.mechanism)
                if let data = s.data {
                    b.appendInt32(Int32(truncatingIfNeeded: data.count))
                    b.append(contentsOf: data)
                } else {
                    b.appendInt32(-1)
                }
            }
        case .saslResponse(let data): out.appendMessage(T.authenticationResponse) { $0.append(contentsOf: data) }
        case .query(let sql): out.appendMessage(T.query) { $0.appendCString(sql) }
        case .sync: out.appendMessage(T.sync) { _ in }
        case .terminate: out.appendMessage(T.terminate) { _ in }
        }
    }

    private static func encodeUntyped(_ out: inout [UInt8], _ body: (inout [UInt8]) -> Void) {
        let lengthOffset = out.count
        out.appendInt32(0)
        body(&out)
        out.setInt32(Int32(truncatingIfNeeded: out.count - lengthOffset), at: lengthOffset)
    }

    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    /// What a 'p' message means depends on the authentication request it answers.
    public enum AuthenticationResponseKind: Sendable {
        case password, saslInitial, sasl, gss
    }

    /// Decodes an untyped startup-phase packet (the bytes after its length).
    public static func decodeStartupPacket(body: ArraySlice<UInt8>) throws(ProtocolError) -> FrontendMessage {
        var r = ByteReader(body, message: "StartupMessage")
        let code = try r.readInt32("protocol version")
        switch code {
        case StartupCode.sslRequest:
            try r.expectEnd()
            return .sslRequest
        case StartupCode.gssEncRequest:
            try r.expectEnd()
            return .gssEncRequest
        case StartupCode.cancelRequest:
            let c = CancelRequest(processID: try r.readInt32("process ID"), secretKey: try r.readInt32("secret key"))
            try r.expectEnd()
            return .cancelRequest(c)
        default:
            if code >> 16 != 3 {
                throw .malformed(message: "StartupMessage", reason: "unsupported protocol version \(code >> 16).\(code & 0xffff)")
            }
            var parameters: [(name: String, value: String)] = []
            while true {
                let name = try r.readCString("parameter name")
                if name.isEmpty { break }
                parameters.append((name, try r.readCString("parameter value")))
            }
            try r.expectEnd()
            return .startup(StartupMessage(protocolVersion: code, parameters: parameters))
        }
    }

    /// Decodes a typed frontend message body.
    public static func decode(type: UInt8, body: ArraySlice<UInt8>, authenticationResponse: AuthenticationResponseKind = .password) throws(ProtocolError) -> FrontendMessage {
        typealias T = FrontendMessageType
        switch type {
        case T.bind:
            var r = ByteReader(body, message: "Bind")
            let portal = try r.readCString("portal name")
            let statement = try r.readCString("statement name")
            let formatCount = try r.readCount16("parameter format count", minimumElementSize: 2)
            var formats: [Int16] = []
            for _ in 0..<formatCount { formats.append(try r.readInt16("parameter format")) }
            let paramCount = try r.readCount16("parameter count", minimumElementSize: 4)
            var params: [[UInt8]?] = []
            for i in 0..<paramCount { params.append(try r.readNullableBytes32("parameter \(i + 1)").map(Array.init)) }
            let resultCount = try r.readCount16("result format count", minimumElementSize: 2)
            var results: [Int16] = []
            for _ in 0..<resultCount { results.append(try r.readInt16("result format")) }
            try r.expectEnd()
            return .bind(Bind(portal: portal, statement: statement, parameterFormats: formats, parameters: params, resultFormats: results))
        case T.close, T.describe:
            let name = type == T.close ? "Close" : "Describe"
            var r = ByteReader(body, message: name)
            let byte = try r.readUInt8("target")
            guard let target = DescribeTarget(rawValue: byte) else {
                throw .malformed(message: name, reason: "invalid target \(ProtocolError.describeByte(byte))")
            }
            let objectName = try r.readCString("name")
            try r.expectEnd()
            return type == T.close ? .close(Close(target: target, name: objectName)) : .describe(Describe(target: target, name: objectName))
        case T.copyData: return .copyData(body)
        case T.copyDone: return try empty(body, .copyDone)
        case T.copyFail:
            var r = ByteReader(body, message: "CopyFail")
            let message = try r.readCString("error message")
            try r.expectEnd()
            return .copyFail(message: message)
        case T.execute:
            var r = ByteReader(body, message: "Execute")
            let portal = try r.readCString("portal name")
            let maxRows = try r.readInt32("row limit")
            try r.expectEnd()
            return .execute(Execute(portal: portal, maxRows: maxRows))
        case T.flush: return try empty(body, .flush)
        case T.functionCall:
            var r = ByteReader(body, message: "FunctionCall")
            let oid = try r.readUInt32("function OID")
            let formatCount = try r.readCount16("argument format count", minimumElementSize: 2)
            var formats: [Int16] = []
            for _ in 0..<formatCount { formats.append(try r.readInt16("argument format")) }
            let argCount = try r.readCount16("argument count", minimumElementSize: 4)
            var args: [[UInt8]?] = []
            for i in 0..<argCount { args.append(try r.readNullableBytes32("argument \(i + 1)").map(Array.init)) }
            let resultFormat = try r.readInt16("result format")
            try r.expectEnd()
            return .functionCall(FunctionCall(functionOID: oid, argumentFormats: formats, arguments: args, resultFormat: resultFormat))
        case T.authenticationResponse:
            switch authenticationResponse {
            case .password:
                var r = ByteReader(body, message: "PasswordMessage")
                let password = try r.readCString("password")
                try r.expectEnd()
                return .password(password)
            case .saslInitial:
                var r = ByteReader(body, message: "SASLInitialResponse")
                let mechanism = try r.readCString("mechanism")
                let data = try r.readNullableBytes32("initial response")
                try r.expectEnd()
                return .saslInitialResponse(SASLInitialResponse(mechanism: mechanism, data: data.map(Array.init)))
            case .sasl: return .saslResponse(body)
            case .gss: return .gssResponse(body)
            }
        case T.parse:
            var r = ByteReader(body, message: "Parse")
            let statement = try r.readCString("statement name")
            let query = try r.readCString("query")
            let count = try r.readCount16("parameter type count", minimumElementSize: 4)
            var types: [UInt32] = []
            for _ in 0..<count { types.append(try r.readUInt32("parameter type OID")) }
            try r.expectEnd()
            return .parse(Parse(statement: statement, query: query, parameterTypes: types))
        case T.query:
            var r = ByteReader(body, message: "Query")
            let sql = try r.readCString("query")
            try r.expectEnd()
            return .query(sql)
        case T.sync: return try empty(body, .sync)
        case T.terminate: return try empty(body, .terminate)
        default:
            throw .unknownMessageType(type)
        }
    }

    private static func empty(_ body: ArraySlice<UInt8>, _ message: FrontendMessage) throws(ProtocolError) -> FrontendMessage {
        if !body.isEmpty {
            throw .malformed(message: message.name, reason: "expected an empty body, got \(body.count) bytes")
        }
        return message
    }
}
