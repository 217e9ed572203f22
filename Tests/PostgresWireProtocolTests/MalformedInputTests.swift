import Testing
@testable import PostgresWireProtocol

@Suite("Malformed input")
struct MalformedInputTests {
    // MARK: Truncation and trailing bytes

    @Test("every truncation of a backend body is rejected as malformed", arguments: Samples.backend)
    func truncatedBackend(_ message: BackendMessage) {
        let (type, body) = splitTyped(message.encoded)
        for cut in 0..<body.count {
            let result = decodeBackend(type: type, body: body[body.startIndex..<(body.startIndex + cut)])
            if Samples.hasOpaqueTail(message) && result.error == nil {
                continue  // e.g. CopyData: any prefix is itself a valid message
            }
            #expect(result.isMalformed, "\(message.name) cut to \(cut) of \(body.count) bytes gave \(result)")
        }
    }

    @Test("trailing bytes after a backend body are rejected", arguments: Samples.backend)
    func trailingBackend(_ message: BackendMessage) {
        guard !Samples.hasOpaqueTail(message) else { return }
        let (type, body) = splitTyped(message.encoded)
        for extra in [[0], [1], [0, 0, 0, 0], [0xff]] as [[UInt8]] {
            let result = decodeBackend(type: type, body: ArraySlice(Array(body) + extra))
            #expect(result.isMalformed, "\(message.name) + \(extra) gave \(result)")
        }
    }

    @Test("every truncation of a frontend body is rejected as malformed", arguments: Samples.frontend)
    func truncatedFrontend(_ message: FrontendMessage) {
        let encoded = message.encoded
        if isUntyped(message) {
            let body = splitUntyped(encoded)
            for cut in 0..<body.count {
                let result = decodeStartup(body: body[body.startIndex..<(body.startIndex + cut)])
                #expect(result.isMalformed, "\(message.name) cut to \(cut) gave \(result)")
            }
        } else {
            let (type, body) = splitTyped(encoded)
            for cut in 0..<body.count {
                let result = decodeFrontend(type: type, body: body[body.startIndex..<(body.startIndex + cut)],
                                            kind: authenticationKind(of: message))
                if Samples.hasOpaqueTail(message) && result.error == nil { continue }
                #expect(result.isMalformed, "\(message.name) cut to \(cut) gave \(result)")
            }
        }
    }

    @Test("trailing bytes after a frontend body are rejected", arguments: Samples.frontend)
    func trailingFrontend(_ message: FrontendMessage) {
        guard !Samples.hasOpaqueTail(message) else { return }
        let encoded = message.encoded
        for extra in [[0], [1], [0, 0, 0, 0]] as [[UInt8]] {
            let result: Result<FrontendMessage, ProtocolError>
            if isUntyped(message) {
                result = decodeStartup(body: ArraySlice(Array(splitUntyped(encoded)) + extra))
            } else {
                let (type, body) = splitTyped(encoded)
                result = decodeFrontend(type: type, body: ArraySlice(Array(body) + extra), kind: authenticationKind(of: message))
            }
            #expect(result.isMalformed, "\(message.name) + \(extra) gave \(result)")
        }
    }

    @Test("a truncated message at the end of a stream just waits for more bytes")
    func truncatedStreamWaits() {
        for message in Samples.backend {
            let encoded = message.encoded
            var decoder = BackendMessageDecoder()
            decoder.append(encoded.dropLast())
            let r = drain(&decoder)
            #expect(r.error == nil && r.messages.isEmpty)
        }
    }

    // MARK: Lengths

    @Test("typed length fields below 4 are rejected", arguments: [Int32(0), 1, 3, -1, -4, Int32.min])
    func invalidTypedLength(_ length: Int32) {
        var backend = BackendMessageDecoder()
        backend.append([UInt8(ascii: "Z")] + int32(length))
        #expect(throws: ProtocolError.invalidLength(type: UInt8(ascii: "Z"), length: Int(length))) { try backend.next() }

        var frontend = FrontendMessageDecoder()
        frontend.framer.expectsUntypedMessage = false
        frontend.append([UInt8(ascii: "Q")] + int32(length))
        #expect(throws: ProtocolError.invalidLength(type: UInt8(ascii: "Q"), length: Int(length))) { try frontend.next() }
    }

    @Test("untyped length fields below 8 are rejected", arguments: [Int32(0), 4, 7, -1, Int32.min])
    func invalidUntypedLength(_ length: Int32) {
        var decoder = FrontendMessageDecoder()
        decoder.append(int32(length))
        #expect(throws: ProtocolError.invalidLength(type: nil, length: Int(length))) { try decoder.next() }
    }

    @Test("startup packets over 10,000 bytes are rejected from the header alone")
    func oversizedStartupPacket() throws {
        var decoder = FrontendMessageDecoder()
        decoder.append(int32(10_001))
        #expect(throws: ProtocolError.messageTooLarge(type: nil, length: 10_001, limit: 10_000)) { try decoder.next() }

        var exact = FrontendMessageDecoder()
        exact.append(int32(10_000))
        #expect(try exact.next() == nil)  // allowed, waits for the body
    }

    @Test("a length over maximumMessageSize is rejected from the header alone")
    func messageTooLarge() throws {
        var decoder = BackendMessageDecoder(maximumMessageSize: 1024)
        decoder.append([UInt8(ascii: "D")] + int32(1024 + 4 + 1))
        #expect(decoder.framer.bufferedByteCount == 5)
        #expect(throws: ProtocolError.messageTooLarge(type: UInt8(ascii: "D"), length: 1029, limit: 1024)) { try decoder.next() }

        // Exactly at the limit: accepted, waits for the body.
        var atLimit = BackendMessageDecoder(maximumMessageSize: 1024)
        atLimit.append([UInt8(ascii: "D")] + int32(1024 + 4))
        #expect(try atLimit.next() == nil)
        atLimit.append(int16(1) + int32(1018) + [UInt8](repeating: 7, count: 1018))
        #expect(try atLimit.next() == .dataRow(DataRow(values: [[UInt8](repeating: 7, count: 1018)])))

        // The default limit (1 GiB) rejects Int32.max without waiting for (or allocating) 2 GB.
        var huge = BackendMessageDecoder()
        huge.append([UInt8(ascii: "d")] + int32(Int32.max))
        #expect(throws: ProtocolError.messageTooLarge(type: UInt8(ascii: "d"), length: Int(Int32.max), limit: 1 << 30)) {
            try huge.next()
        }

        var frontend = FrontendMessageDecoder(maximumMessageSize: 100)
        frontend.framer.expectsUntypedMessage = false
        frontend.append([UInt8(ascii: "Q")] + int32(200))
        #expect(throws: ProtocolError.messageTooLarge(type: UInt8(ascii: "Q"), length: 200, limit: 100)) { try frontend.next() }
    }

    @Test("only long message types may declare more than 30,000 bytes (libpq's rule), from the header alone")
    func shortTypesAreBounded() throws {
        for type in BackendMessageType.all.sorted() {
            var decoder = BackendMessageDecoder()
            decoder.append([type] + int32(30_001))
            if FrameDecoder.longBackendMessageTypes.contains(type) {
                #expect(try decoder.next() == nil, "\(Character(Unicode.Scalar(type))) should wait for its body")
            } else {
                #expect(throws: ProtocolError.messageTooLarge(type: type, length: 30_001, limit: 30_000)) { try decoder.next() }
            }
            var atLimit = BackendMessageDecoder()
            atLimit.append([type] + int32(30_000))
            #expect(try atLimit.next() == nil)
        }
        // maximumMessageSize still bounds the long types.
        var capped = BackendMessageDecoder(maximumMessageSize: 4096)
        capped.append([UInt8(ascii: "T")] + int32(5000))
        #expect(throws: ProtocolError.messageTooLarge(type: UInt8(ascii: "T"), length: 5000, limit: 4096)) { try capped.next() }
        let description = ProtocolError.messageTooLarge(type: UInt8(ascii: "C"), length: 1 << 30, limit: 30_000).description
        #expect(description.contains("exceeds the limit of 30000 bytes for this message type"), "\(description)")
    }

    @Test("during startup an authentication request over 2,000 bytes, or any message over 30,000, is rejected at once")
    func startupLimits() throws {
        let cases: [(UInt8, Int, Int?)] = [
            (UInt8(ascii: "R"), 2001, 2000), (UInt8(ascii: "R"), 1 << 30, 2000),
            (UInt8(ascii: "v"), 2001, 2000), (UInt8(ascii: "E"), 30_001, 30_000),
            (UInt8(ascii: "D"), 1 << 30, 30_000), (UInt8(ascii: "d"), 30_001, 30_000),
            (UInt8(ascii: "R"), 2000, nil), (UInt8(ascii: "E"), 30_000, nil),
        ]
        for (type, length, limit) in cases {
            var decoder = BackendMessageDecoder(awaitingAuthentication: true)
            decoder.append([type] + int32(Int32(length)))
            if let limit {
                #expect(throws: ProtocolError.messageTooLarge(type: type, length: length, limit: limit)) { try decoder.next() }
            } else {
                #expect(try decoder.next() == nil)
            }
        }
        for type in [UInt8(ascii: "R"), UInt8(ascii: "v"), UInt8(ascii: "E")] {
            var decoder = BackendMessageDecoder(awaitingAuthentication: true)
            decoder.append([type] + int32(7))
            #expect(throws: ProtocolError.invalidLength(type: type, length: 7)) { try decoder.next() }
        }
    }

    @Test("AuthenticationOk ends the startup limits; other authentication requests do not")
    func startupLimitsEndAtAuthenticationOk() throws {
        var decoder = BackendMessageDecoder(awaitingAuthentication: true)
        decoder.append(BackendMessage.authentication(.md5Password(salt: [1, 2, 3, 4])).encoded)
        #expect(try decoder.next() == .authentication(.md5Password(salt: [1, 2, 3, 4])))
        #expect(decoder.framer.awaitingAuthentication)
        decoder.append(BackendMessage.authentication(.ok).encoded)
        #expect(try decoder.next() == .authentication(.ok))
        #expect(!decoder.framer.awaitingAuthentication)
        decoder.append([UInt8(ascii: "D")] + int32(1 << 20))
        #expect(try decoder.next() == nil)  // a long DataRow may follow now: waits for its body
    }

    // MARK: Type bytes

    @Test("unknown backend type bytes are rejected as soon as the type byte arrives")
    func unknownBackendTypes() {
        for byte in UInt8.min...UInt8.max where !BackendMessageType.all.contains(byte) {
            var decoder = BackendMessageDecoder()
            decoder.append([byte])
            #expect(throws: ProtocolError.unknownMessageType(byte)) { try decoder.next() }
            #expect(decodeBackend(type: byte, body: []) == .failure(.unknownMessageType(byte)))
        }
    }

    @Test("unknown frontend type bytes are rejected as soon as the type byte arrives")
    func unknownFrontendTypes() {
        for byte in UInt8.min...UInt8.max where !FrontendMessageDecoder.knownTypes.contains(byte) {
            var decoder = FrontendMessageDecoder()
            decoder.framer.expectsUntypedMessage = false
            decoder.append([byte])
            #expect(throws: ProtocolError.unknownMessageType(byte)) { try decoder.next() }
            #expect(decodeFrontend(type: byte, body: []) == .failure(.unknownMessageType(byte)))
        }
    }

    @Test("an unknown type after valid messages is rejected after they are delivered")
    func unknownTypeMidStream() throws {
        var decoder = BackendMessageDecoder()
        decoder.append(BackendMessage.noData.encoded + [UInt8(ascii: "Q")])
        #expect(try decoder.next() == .noData)
        #expect(throws: ProtocolError.unknownMessageType(UInt8(ascii: "Q"))) { try decoder.next() }
    }

    // MARK: Counts

    static func backend(_ type: Character, _ body: [UInt8]) -> Result<BackendMessage, ProtocolError> {
        decodeBackend(type: type.asciiValue!, body: ArraySlice(body))
    }

    static func frontend(_ type: Character, _ body: [UInt8], kind: FrontendMessage.AuthenticationResponseKind = .password)
        -> Result<FrontendMessage, ProtocolError> {
        decodeFrontend(type: type.asciiValue!, body: ArraySlice(body), kind: kind)
    }

    @Test("negative and implausible counts in RowDescription")
    func rowDescriptionCounts() {
        let field = cstring("a") + uint32(0) + int16(0) + uint32(23) + int16(4) + int32(-1) + int16(0)
        #expect(Self.backend("T", int16(1) + field) == .success(.rowDescription(RowDescription(fields: [
            .init(name: "a", dataTypeOID: 23, dataTypeSize: 4)]))))
        #expect(Self.backend("T", int16(-1) + field).isMalformed)
        #expect(Self.backend("T", int16(Int16.min)).isMalformed)
        #expect(Self.backend("T", int16(2) + field).isMalformed)
        #expect(Self.backend("T", int16(Int16.max) + field).isMalformed)
        #expect(Self.backend("T", int16(0) + field).isMalformed)  // trailing
        #expect(Self.backend("T", []).isMalformed)
        #expect(Self.backend("T", [0]).isMalformed)
    }

    @Test("negative and implausible counts and lengths in DataRow")
    func dataRowCounts() {
        #expect(Self.backend("D", int16(-1)).isMalformed)
        #expect(Self.backend("D", int16(-1) + int32(-1)).isMalformed)
        #expect(Self.backend("D", int16(Int16.max)).isMalformed)
        #expect(Self.backend("D", int16(3) + int32(-1) + int32(-1)).isMalformed)
        #expect(Self.backend("D", int16(1) + int32(-2)).isMalformed)
        #expect(Self.backend("D", int16(1) + int32(Int32.min)).isMalformed)
        #expect(Self.backend("D", int16(1) + int32(Int32.max) + [1, 2, 3]).isMalformed)
        #expect(Self.backend("D", int16(1) + int32(5) + [1, 2, 3, 4]).isMalformed)
        #expect(Self.backend("D", int16(1) + int32(3) + [1, 2, 3, 4]).isMalformed)  // trailing
        #expect(Self.backend("D", int16(1) + int32(-1)) == .success(.dataRow(DataRow(values: [nil]))))
    }

    @Test("negative and implausible counts in ParameterDescription")
    func parameterDescriptionCounts() {
        #expect(Self.backend("t", int16(-1)).isMalformed)
        #expect(Self.backend("t", int16(-1) + uint32(23)).isMalformed)
        #expect(Self.backend("t", int16(Int16.max) + uint32(23)).isMalformed)
        #expect(Self.backend("t", int16(2) + uint32(23)).isMalformed)
        #expect(Self.backend("t", int16(1) + uint32(23) + [0]).isMalformed)
        #expect(Self.backend("t", int16(1) + uint32(23)) == .success(.parameterDescription([23])))
    }

    @Test("negative and implausible counts in NegotiateProtocolVersion and CopyResponse")
    func otherCounts() {
        #expect(Self.backend("v", int32(0) + int32(-1)).isMalformed)
        #expect(Self.backend("v", int32(0) + int32(Int32.max) + cstring("x")).isMalformed)
        #expect(Self.backend("v", int32(0) + int32(2) + cstring("x")).isMalformed)
        #expect(Self.backend("v", int32(0) + int32(1) + bytes("x")).isMalformed)  // no NUL
        for t: Character in ["G", "H", "W"] {
            #expect(Self.backend(t, [0] + int16(-1)).isMalformed)
            #expect(Self.backend(t, [0] + int16(Int16.max) + int16(0)).isMalformed)
            #expect(Self.backend(t, [0] + int16(2) + int16(0)).isMalformed)
        }
    }

    @Test("negative and implausible counts and lengths in Bind")
    func bindCounts() {
        let head = cstring("") + cstring("")
        #expect(Self.frontend("B", head + int16(0) + int16(0) + int16(0)) == .success(.bind(Bind())))
        #expect(Self.frontend("B", head + int16(-1) + int16(0) + int16(0)).isMalformed)
        #expect(Self.frontend("B", head + int16(Int16.max) + int16(0) + int16(0)).isMalformed)
        #expect(Self.frontend("B", head + int16(0) + int16(-1) + int16(0)).isMalformed)
        #expect(Self.frontend("B", head + int16(0) + int16(Int16.max) + int16(0)).isMalformed)
        #expect(Self.frontend("B", head + int16(0) + int16(1) + int32(-2) + int16(0)).isMalformed)
        #expect(Self.frontend("B", head + int16(0) + int16(1) + int32(Int32.max) + int16(0)).isMalformed)
        #expect(Self.frontend("B", head + int16(0) + int16(1) + int32(100) + [1, 2] + int16(0)).isMalformed)
        #expect(Self.frontend("B", head + int16(0) + int16(0) + int16(-1)).isMalformed)
        #expect(Self.frontend("B", head + int16(0) + int16(0) + int16(3) + int16(0)).isMalformed)
        #expect(Self.frontend("B", head + int16(0) + int16(0)).isMalformed)  // result format count missing
        #expect(Self.frontend("B", bytes("portal")).isMalformed)  // no NUL
    }

    @Test("negative and implausible counts in FunctionCall and Parse")
    func functionCallAndParseCounts() {
        #expect(Self.frontend("F", uint32(1) + int16(-1) + int16(0) + int16(0)).isMalformed)
        #expect(Self.frontend("F", uint32(1) + int16(0) + int16(-1) + int16(0)).isMalformed)
        #expect(Self.frontend("F", uint32(1) + int16(0) + int16(1) + int32(-5) + int16(0)).isMalformed)
        #expect(Self.frontend("F", uint32(1) + int16(0) + int16(0)).isMalformed)  // result format missing
        #expect(Self.frontend("F", uint32(1) + int16(0) + int16(0) + int16(1))
            == .success(.functionCall(FunctionCall(functionOID: 1, argumentFormats: [], arguments: [], resultFormat: 1))))
        #expect(Self.frontend("P", cstring("") + cstring("q") + int16(-1)).isMalformed)
        #expect(Self.frontend("P", cstring("") + cstring("q") + int16(Int16.max)).isMalformed)
        #expect(Self.frontend("P", cstring("") + cstring("q") + int16(1)).isMalformed)
        #expect(Self.frontend("P", cstring("") + cstring("q")).isMalformed)
    }

    @Test("SASLInitialResponse with bad data lengths")
    func saslInitialLengths() {
        #expect(Self.frontend("p", cstring("M") + int32(-2), kind: .saslInitial).isMalformed)
        #expect(Self.frontend("p", cstring("M") + int32(10) + [1, 2], kind: .saslInitial).isMalformed)
        #expect(Self.frontend("p", cstring("M") + int32(1) + [1, 2], kind: .saslInitial).isMalformed)
        #expect(Self.frontend("p", cstring("M"), kind: .saslInitial).isMalformed)
    }

    // MARK: Terminators, statuses, codes

    @Test("missing NUL terminators are rejected")
    func missingTerminators() {
        #expect(Self.backend("C", bytes("SELECT 1")).isMalformed)
        #expect(Self.backend("S", cstring("name") + bytes("value")).isMalformed)
        #expect(Self.backend("S", bytes("name")).isMalformed)
        #expect(Self.backend("A", int32(1) + cstring("chan") + bytes("payload")).isMalformed)
        #expect(Self.backend("E", [UInt8(ascii: "S")] + bytes("ERROR")).isMalformed)
        #expect(Self.backend("E", [UInt8(ascii: "S")] + cstring("ERROR")).isMalformed)  // no final NUL
        #expect(Self.backend("E", []).isMalformed)
        #expect(Self.backend("N", [UInt8(ascii: "M")]).isMalformed)
        #expect(Self.backend("R", int32(10) + cstring("SCRAM-SHA-256")).isMalformed)  // list not terminated
        #expect(Self.backend("R", int32(10) + bytes("SCRAM-SHA-256")).isMalformed)
        #expect(Self.backend("T", int16(1) + bytes("name")).isMalformed)
        #expect(Self.frontend("Q", bytes("SELECT 1")).isMalformed)
        #expect(Self.frontend("Q", []).isMalformed)
        #expect(Self.frontend("p", bytes("pw")).isMalformed)
        #expect(Self.frontend("f", bytes("oops")).isMalformed)
        #expect(Self.frontend("C", [UInt8(ascii: "S")] + bytes("name")).isMalformed)
        #expect(Self.frontend("D", [UInt8(ascii: "P")]).isMalformed)
        #expect(Self.frontend("E", bytes("portal")).isMalformed)
        #expect(decodeStartup(body: ArraySlice(int32(196_608) + cstring("user") + cstring("u"))).isMalformed)
        #expect(decodeStartup(body: ArraySlice(int32(196_608) + cstring("user") + bytes("u"))).isMalformed)
        #expect(decodeStartup(body: ArraySlice(int32(196_608) + cstring("user"))).isMalformed)
        #expect(decodeStartup(body: ArraySlice(int32(196_608))).isMalformed)
    }

    @Test("embedded NULs end the string, leaving trailing bytes")
    func embeddedNul() {
        #expect(Self.backend("C", cstring("SELECT") + cstring("1")).isMalformed)
        #expect(Self.frontend("Q", cstring("SELECT 1") + cstring("; DROP")).isMalformed)
    }

    @Test("invalid ReadyForQuery statuses are rejected")
    func readyForQueryStatus() {
        for byte in UInt8.min...UInt8.max {
            let result = Self.backend("Z", [byte])
            switch byte {
            case UInt8(ascii: "I"): #expect(result == .success(.readyForQuery(.idle)))
            case UInt8(ascii: "T"): #expect(result == .success(.readyForQuery(.inTransaction)))
            case UInt8(ascii: "E"): #expect(result == .success(.readyForQuery(.failed)))
            default: #expect(result.isMalformed, "status \(byte)")
            }
        }
        #expect(Self.backend("Z", []).isMalformed)
        #expect(Self.backend("Z", [UInt8(ascii: "I"), UInt8(ascii: "I")]).isMalformed)
    }

    @Test("invalid format codes are rejected", arguments: [Int16(2), -1, 3, Int16.max, Int16.min])
    func invalidFormatCodes(_ code: Int16) {
        let field = cstring("a") + uint32(0) + int16(0) + uint32(23) + int16(4) + int32(-1) + int16(code)
        #expect(Self.backend("T", int16(1) + field).isMalformed)
        for t: Character in ["G", "H", "W"] {
            #expect(Self.backend(t, [0] + int16(1) + int16(code)).isMalformed)
            #expect(Self.backend(t, [1] + int16(2) + int16(1) + int16(code)).isMalformed)
        }
    }

    @Test("invalid CopyResponse overall formats are rejected")
    func invalidOverallFormats() {
        for t: Character in ["G", "H", "W"] {
            for overall: UInt8 in [2, 3, 0x7f, 0x80, 0xff] {
                #expect(Self.backend(t, [overall] + int16(0)).isMalformed)
            }
            #expect(Self.backend(t, [1] + int16(0)).value != nil)
        }
    }

    @Test("invalid Close/Describe targets are rejected")
    func invalidTargets() {
        for byte in UInt8.min...UInt8.max where byte != UInt8(ascii: "S") && byte != UInt8(ascii: "P") {
            #expect(Self.frontend("C", [byte] + cstring("x")).isMalformed)
            #expect(Self.frontend("D", [byte] + cstring("x")).isMalformed)
        }
        #expect(Self.frontend("C", []).isMalformed)
    }

    @Test("unknown authentication codes and bad MD5 salts are rejected")
    func authenticationCodes() {
        for code: Int32 in [-1, 1, 4, 13, 100, Int32.max, Int32.min] {
            #expect(Self.backend("R", int32(code)).isMalformed, "code \(code)")
        }
        #expect(Self.backend("R", int32(5) + [1, 2, 3]).isMalformed)
        #expect(Self.backend("R", int32(5) + [1, 2, 3, 4, 5]).isMalformed)
        #expect(Self.backend("R", int32(0) + [0]).isMalformed)
        #expect(Self.backend("R", [0, 0, 0]).isMalformed)
        #expect(Self.backend("R", []).isMalformed)
    }

    @Test("empty-bodied messages with a body are rejected")
    func nonEmptyEmpties() {
        for t: Character in ["1", "2", "3", "c", "I", "n", "s"] {
            #expect(Self.backend(t, [0]).isMalformed)
        }
        for t: Character in ["c", "H", "S", "X"] {
            #expect(Self.frontend(t, [0]).isMalformed)
        }
    }

    @Test("startup packets with unsupported protocol versions are rejected")
    func unsupportedProtocolVersions() {
        for version: Int32 in [0, 2 << 16, 4 << 16, 1234 << 16 | 5677, 1234 << 16 | 5681, -1, Int32.min] {
            #expect(decodeStartup(body: ArraySlice(int32(version) + [0])).isMalformed, "version \(version)")
        }
        // Any 3.x minor version is accepted.
        #expect(decodeStartup(body: ArraySlice(int32(3 << 16 | 9) + [0]))
            == .success(.startup(StartupMessage(protocolVersion: 3 << 16 | 9, parameters: []))))
        #expect(decodeStartup(body: ArraySlice(int32(StartupCode.cancelRequest) + int32(1))).isMalformed)
        #expect(decodeStartup(body: ArraySlice(int32(StartupCode.sslRequest) + [0])).isMalformed)
        #expect(decodeStartup(body: []).isMalformed)
    }

    @Test("malformed bodies surface through the streaming decoders")
    func malformedThroughDecoder() {
        var decoder = BackendMessageDecoder()
        decoder.append(typedMessage("Z", [UInt8(ascii: "X")]))
        let r = drain(&decoder)
        #expect(r.messages.isEmpty)
        #expect(r.error?.isMalformed == true)

        var frontend = FrontendMessageDecoder()
        frontend.append(untypedPacket(int32(2 << 16) + [0]))
        do throws(ProtocolError) {
            _ = try frontend.next()
            Issue.record("expected an error")
        } catch {
            #expect(error.isMalformed)
        }
    }
}
