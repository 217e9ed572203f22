import Testing
@testable import PostgresWireProtocol

@Suite("Message round trips")
struct MessageRoundTripTests {
    // MARK: Backend

    @Test("every BackendMessage encodes and decodes back to itself", arguments: Samples.backend)
    func backendRoundTrip(_ message: BackendMessage) throws {
        let encoded = message.encoded
        let (type, body) = splitTyped(encoded)
        #expect(decodeBackend(type: type, body: body) == .success(message))

        // Through the streaming decoder as well.
        var decoder = BackendMessageDecoder()
        decoder.append(encoded)
        let result = drain(&decoder)
        #expect(result.error == nil)
        #expect(result.messages == [message])
        #expect(decoder.framer.bufferedByteCount == 0)
    }

    @Test("encode(into:) appends to existing bytes")
    func backendEncodeAppends() {
        var out: [UInt8] = [0xAA]
        BackendMessage.readyForQuery(.idle).encode(into: &out)
        BackendMessage.noData.encode(into: &out)
        #expect(out == [0xAA, 0x5A, 0, 0, 0, 5, 0x49, 0x6E, 0, 0, 0, 4])
    }

    @Test("the samples cover every backend type byte and every case")
    func backendSamplesAreExhaustive() {
        let types = Set(Samples.backend.map { $0.encoded[0] })
        #expect(types == BackendMessageType.all)
        #expect(BackendMessageType.all.count == 24)
        // 23 non-authentication cases + 11 authentication variants, each with a distinct name.
        #expect(Set(Samples.backend.map(\.name)).count == 34)
    }

    @Test("authentication codes match the documentation")
    func authenticationCodes() {
        let expected: [(Authentication, Int32, String)] = [
            (.ok, 0, "AuthenticationOk"), (.kerberosV5, 2, "AuthenticationKerberosV5"),
            (.cleartextPassword, 3, "AuthenticationCleartextPassword"), (.md5Password(salt: [0, 0, 0, 0]), 5, "AuthenticationMD5Password"),
            (.scmCredential, 6, "AuthenticationSCMCredential"), (.gss, 7, "AuthenticationGSS"),
            (.gssContinue([]), 8, "AuthenticationGSSContinue"), (.sspi, 9, "AuthenticationSSPI"),
            (.sasl(mechanisms: []), 10, "AuthenticationSASL"), (.saslContinue([]), 11, "AuthenticationSASLContinue"),
            (.saslFinal([]), 12, "AuthenticationSASLFinal"),
        ]
        for (auth, code, name) in expected {
            #expect(auth.code == code)
            #expect(auth.name == name)
            #expect(BackendMessage.authentication(auth).name == name)
        }
    }

    // MARK: Backend exact bytes (PostgreSQL "Message Formats")

    @Test("backend exact encodings")
    func backendExactBytes() {
        // AuthenticationOk: 'R', Int32(8), Int32(0)
        #expect(BackendMessage.authentication(.ok).encoded == [0x52, 0, 0, 0, 8, 0, 0, 0, 0])
        // AuthenticationMD5Password: 'R', Int32(12), Int32(5), salt
        #expect(BackendMessage.authentication(.md5Password(salt: [1, 2, 3, 4])).encoded
            == [0x52, 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4])
        // AuthenticationSASL: 'R', len, Int32(10), "SCRAM-SHA-256\0", "\0"
        #expect(BackendMessage.authentication(.sasl(mechanisms: ["SCRAM-SHA-256"])).encoded
            == [0x52] + int32(23) + int32(10) + cstring("SCRAM-SHA-256") + [0])
        // ReadyForQuery idle: 'Z', Int32(5), 'I'
        #expect(BackendMessage.readyForQuery(.idle).encoded == [0x5A, 0, 0, 0, 5, 0x49])
        #expect(BackendMessage.readyForQuery(.inTransaction).encoded == [0x5A, 0, 0, 0, 5, 0x54])
        #expect(BackendMessage.readyForQuery(.failed).encoded == [0x5A, 0, 0, 0, 5, 0x45])
        // BackendKeyData: 'K', Int32(12), pid, key
        #expect(BackendMessage.backendKeyData(BackendKeyData(processID: 0x0102_0304, secretKey: -1)).encoded
            == [0x4B, 0, 0, 0, 12, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff])
        // CommandComplete "SELECT 1": 'C', Int32(13), text, NUL
        #expect(BackendMessage.commandComplete(CommandComplete(tag: "SELECT 1")).encoded
            == [0x43, 0, 0, 0, 13] + cstring("SELECT 1"))
        // DataRow with "1" and NULL: 'D', len, Int16(2), Int32(1) '1', Int32(-1)
        #expect(BackendMessage.dataRow(DataRow(values: [bytes("1"), nil])).encoded
            == [0x44, 0, 0, 0, 15, 0, 2, 0, 0, 0, 1, 0x31, 0xff, 0xff, 0xff, 0xff])
        // ParameterStatus
        #expect(BackendMessage.parameterStatus(ParameterStatus(name: "a", value: "b")).encoded
            == [0x53, 0, 0, 0, 8, 0x61, 0, 0x62, 0])
        // Empty-bodied messages: type + Int32(4)
        let empties: [(BackendMessage, Character)] = [
            (.bindComplete, "2"), (.closeComplete, "3"), (.copyDone, "c"), (.emptyQueryResponse, "I"),
            (.noData, "n"), (.parseComplete, "1"), (.portalSuspended, "s"),
        ]
        for (m, t) in empties { #expect(m.encoded == [t.asciiValue!, 0, 0, 0, 4]) }
        // RowDescription field layout
        let rd = RowDescription(fields: [.init(name: "a", tableOID: 1, columnAttributeNumber: 2, dataTypeOID: 23,
                                               dataTypeSize: 4, typeModifier: -1, formatCode: 0)])
        #expect(BackendMessage.rowDescription(rd).encoded
            == [0x54] + int32(4 + 2 + 2 + 18) + int16(1) + cstring("a") + uint32(1) + int16(2) + uint32(23) + int16(4)
            + int32(-1) + int16(0))
        // ErrorResponse: fields then a terminating NUL
        #expect(BackendMessage.errorResponse(DiagnosticFields([(UInt8(ascii: "S"), "ERROR")])).encoded
            == [0x45] + int32(4 + 7 + 1) + [0x53] + cstring("ERROR") + [0])
    }

    @Test("backend messages decode from hand-built bytes")
    func backendFromHandBuiltBytes() {
        let rdBody = int16(1) + cstring("x") + uint32(0) + int16(0) + uint32(25) + int16(-1) + int32(-1) + int16(1)
        let (t, b) = splitTyped(typedMessage("T", rdBody))
        #expect(decodeBackend(type: t, body: b)
            == .success(.rowDescription(RowDescription(fields: [.init(name: "x", dataTypeOID: 25, formatCode: 1)]))))

        let nt = splitTyped(typedMessage("A", int32(5) + cstring("c") + cstring("p")))
        #expect(decodeBackend(type: nt.type, body: nt.body)
            == .success(.notificationResponse(NotificationResponse(processID: 5, channel: "c", payload: "p"))))

        let np = splitTyped(typedMessage("v", int32(1) + int32(1) + cstring("_pq_.a")))
        #expect(decodeBackend(type: np.type, body: np.body)
            == .success(.negotiateProtocolVersion(NegotiateProtocolVersion(newestMinorVersion: 1, unrecognizedOptions: ["_pq_.a"]))))
    }

    // MARK: DataRow accessors

    @Test("DataRow accessors read every column of a decoded row")
    func dataRowAccessors() throws {
        let values: [[UInt8]?] = [bytes("hello"), nil, [], [1, 2, 3], nil]
        let encoded = BackendMessage.dataRow(DataRow(values: values)).encoded
        let (t, b) = splitTyped(encoded)
        guard case .dataRow(let row)? = decodeBackend(type: t, body: b).value else {
            Issue.record("not a DataRow")
            return
        }
        #expect(row.columnCount == 5)
        #expect(row.values == values)
        for i in 0..<values.count {
            #expect(row[i].map(Array.init) == values[i])
        }
        var seen: [Int] = []
        row.forEachColumn { index, value in
            seen.append(index)
            #expect(value.map(Array.init) == values[index])
        }
        #expect(seen == [0, 1, 2, 3, 4])
        // The storage is a slice of the message body; its indices are not zero-based, accessors must cope.
        #expect(row.storage.startIndex == 5 + 2)
    }

    @Test("DataRow equality compares contents, not slice indices")
    func dataRowEquality() {
        let a = DataRow(values: [[1, 2]])
        let padded: [UInt8] = [9, 9, 9] + Array(a.storage)
        let b = DataRow(columnCount: 1, storage: padded[3...])
        #expect(a == b)
        #expect(a != DataRow(values: [[1, 3]]))
        #expect(a != DataRow(columnCount: 2, storage: a.storage))
    }

    @Test("DiagnosticFields subscript returns the first field with the code")
    func diagnosticSubscript() {
        let f = Samples.errorFields
        #expect(f[UInt8(ascii: "C")] == "42P01")
        #expect(f[UInt8(ascii: "M")] == "relation \"nope\" does not exist")
        #expect(f[UInt8(ascii: "Z")] == nil)
        #expect(DiagnosticFields([(1, "a"), (1, "b")])[1] == "a")
        #expect(DiagnosticFields([(1, "a")]) != DiagnosticFields([(1, "b")]))
        #expect(DiagnosticFields([(1, "a")]) != DiagnosticFields([(2, "a")]))
        #expect(DiagnosticFields([(1, "a")]) != DiagnosticFields([(1, "a"), (1, "a")]))
    }

    // MARK: Frontend

    @Test("every FrontendMessage encodes and decodes back to itself", arguments: Samples.frontend)
    func frontendRoundTrip(_ message: FrontendMessage) {
        let encoded = message.encoded
        if isUntyped(message) {
            #expect(decodeStartup(body: splitUntyped(encoded)) == .success(message))
            var decoder = FrontendMessageDecoder()
            decoder.append(encoded)
            var got: [FrontendMessage] = []
            do throws(ProtocolError) {
                while let m = try decoder.next() { got.append(m) }
            } catch {
                Issue.record("decoder threw \(error)")
            }
            #expect(got == [message])
            if case .startup = message {
                #expect(decoder.framer.expectsUntypedMessage == false)
            } else {
                #expect(decoder.framer.expectsUntypedMessage == true)
            }
        } else {
            let (type, body) = splitTyped(encoded)
            #expect(decodeFrontend(type: type, body: body, kind: authenticationKind(of: message)) == .success(message))

            var decoder = FrontendMessageDecoder()
            decoder.framer.expectsUntypedMessage = false
            decoder.authenticationResponse = authenticationKind(of: message)
            decoder.append(encoded)
            var got: [FrontendMessage] = []
            do throws(ProtocolError) {
                while let m = try decoder.next() { got.append(m) }
            } catch {
                Issue.record("decoder threw \(error)")
            }
            #expect(got == [message])
        }
    }

    @Test("the samples cover every frontend case and type byte")
    func frontendSamplesAreExhaustive() {
        #expect(Set(Samples.frontend.map(\.name)).count == 21)
        let typed = Set(Samples.frontendTyped.map { $0.encoded[0] })
        #expect(typed == FrontendMessageDecoder.knownTypes)
    }

    @Test("a 'p' message is read according to the authentication kind")
    func authenticationResponseKinds() {
        let encoded = FrontendMessage.password("pw").encoded
        let (t, b) = splitTyped(encoded)
        #expect(decodeFrontend(type: t, body: b, kind: .password) == .success(.password("pw")))
        #expect(decodeFrontend(type: t, body: b, kind: .sasl) == .success(.saslResponse(cstring("pw")[...])))
        #expect(decodeFrontend(type: t, body: b, kind: .gss) == .success(.gssResponse(cstring("pw")[...])))
        // "pw\0" is not a mechanism plus Int32 length.
        #expect(decodeFrontend(type: t, body: b, kind: .saslInitial).isMalformed)

        let initial = FrontendMessage.saslInitialResponse(SASLInitialResponse(mechanism: "SCRAM-SHA-256", data: bytes("n,,n=,r=x")))
        let (t2, b2) = splitTyped(initial.encoded)
        #expect(decodeFrontend(type: t2, body: b2, kind: .saslInitial) == .success(initial))
        // Read as a password it has trailing bytes after the first NUL.
        #expect(decodeFrontend(type: t2, body: b2, kind: .password).isMalformed)
    }

    @Test("the decoder's authentication kind can change between messages")
    func decoderAuthenticationKindSwitch() throws {
        var decoder = FrontendMessageDecoder()
        let initial = FrontendMessage.saslInitialResponse(SASLInitialResponse(mechanism: "SCRAM-SHA-256", data: bytes("n,,n=,r=abc")))
        let response = FrontendMessage.saslResponse(bytes("c=biws,r=abcdef,p=xyz")[...])
        decoder.append(FrontendMessage.startup(Samples.startup).encoded + initial.encoded + response.encoded
            + FrontendMessage.query("SELECT 1").encoded)
        #expect(try decoder.next() == .startup(Samples.startup))
        decoder.authenticationResponse = .saslInitial
        #expect(try decoder.next() == initial)
        decoder.authenticationResponse = .sasl
        #expect(try decoder.next() == response)
        #expect(try decoder.next() == .query("SELECT 1"))
        #expect(try decoder.next() == nil)
    }

    // MARK: Frontend exact bytes

    @Test("Query \"SELECT 1\" is 'Q', Int32(13), text, NUL")
    func queryBytes() {
        #expect(FrontendMessage.query("SELECT 1").encoded
            == [0x51, 0x00, 0x00, 0x00, 0x0D, 0x53, 0x45, 0x4C, 0x45, 0x43, 0x54, 0x20, 0x31, 0x00])
    }

    @Test("fixed frontend encodings")
    func fixedFrontendBytes() {
        #expect(FrontendMessage.sync.encoded == [0x53, 0x00, 0x00, 0x00, 0x04])
        #expect(FrontendMessage.flush.encoded == [0x48, 0x00, 0x00, 0x00, 0x04])
        #expect(FrontendMessage.terminate.encoded == [0x58, 0x00, 0x00, 0x00, 0x04])
        #expect(FrontendMessage.copyDone.encoded == [0x63, 0x00, 0x00, 0x00, 0x04])
        #expect(FrontendMessage.sslRequest.encoded == [0x00, 0x00, 0x00, 0x08, 0x04, 0xD2, 0x16, 0x2F])
        #expect(FrontendMessage.gssEncRequest.encoded == [0x00, 0x00, 0x00, 0x08, 0x04, 0xD2, 0x16, 0x30])
        #expect(FrontendMessage.cancelRequest(CancelRequest(processID: 0x0A0B_0C0D, secretKey: 0x0102_0304)).encoded
            == [0x00, 0x00, 0x00, 0x10, 0x04, 0xD2, 0x16, 0x2E, 0x0A, 0x0B, 0x0C, 0x0D, 0x01, 0x02, 0x03, 0x04])
        #expect(StartupCode.protocolVersion3 == 0x0003_0000)
        #expect(StartupCode.sslRequest == 1234 << 16 | 5679)
        #expect(StartupCode.cancelRequest == 1234 << 16 | 5678)
        #expect(StartupCode.gssEncRequest == 1234 << 16 | 5680)
    }

    @Test("StartupMessage layout: length, version 3.0, name/value pairs, terminating NUL")
    func startupBytes() {
        let m = FrontendMessage.startup(StartupMessage(parameters: [("user", "postgres"), ("database", "db")]))
        let expected: [UInt8] = [0x00, 0x00, 0x00, 0x23, 0x00, 0x03, 0x00, 0x00]
            + cstring("user") + cstring("postgres") + cstring("database") + cstring("db") + [0x00]
        #expect(expected.count == 0x23)
        #expect(m.encoded == expected)
        #expect(Samples.startup["database"] == "app")
        #expect(Samples.startup["nope"] == nil)
    }

    @Test("extended-protocol encodings")
    func extendedProtocolBytes() {
        #expect(FrontendMessage.parse(Parse(statement: "s", query: "SELECT $1", parameterTypes: [23])).encoded
            == [0x50] + int32(4 + 2 + 10 + 2 + 4) + cstring("s") + cstring("SELECT $1") + int16(1) + uint32(23))
        #expect(FrontendMessage.bind(Bind(portal: "", statement: "s", parameterFormats: [1], parameters: [[0, 0, 0, 7], nil],
                                          resultFormats: [1])).encoded
            == [0x42] + int32(4 + 1 + 2 + 2 + 2 + 2 + 8 + 4 + 2 + 2) + [0] + cstring("s") + int16(1) + int16(1) + int16(2)
            + int32(4) + [0, 0, 0, 7] + int32(-1) + int16(1) + int16(1))
        #expect(FrontendMessage.describe(Describe(target: .portal, name: "")).encoded == [0x44, 0, 0, 0, 6, 0x50, 0])
        #expect(FrontendMessage.close(Close(target: .statement, name: "s")).encoded == [0x43, 0, 0, 0, 7, 0x53, 0x73, 0])
        #expect(FrontendMessage.execute(Execute(portal: "", maxRows: 0)).encoded == [0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0])
        #expect(FrontendMessage.password("pw").encoded == [0x70, 0, 0, 0, 7, 0x70, 0x77, 0])
        #expect(FrontendMessage.saslInitialResponse(SASLInitialResponse(mechanism: "M", data: nil)).encoded
            == [0x70, 0, 0, 0, 10, 0x4D, 0, 0xff, 0xff, 0xff, 0xff])
        #expect(FrontendMessage.saslInitialResponse(SASLInitialResponse(mechanism: "M", data: [1, 2])).encoded
            == [0x70, 0, 0, 0, 12, 0x4D, 0, 0, 0, 0, 2, 1, 2])
        #expect(FrontendMessage.copyFail(message: "x").encoded == [0x66, 0, 0, 0, 6, 0x78, 0])
    }

    @Test("message names")
    func names() {
        #expect(BackendMessage.dataRow(DataRow(values: [])).name == "DataRow")
        #expect(BackendMessage.readyForQuery(.idle).name == "ReadyForQuery")
        #expect(FrontendMessage.password("").name == "PasswordMessage")
        #expect(FrontendMessage.sslRequest.name == "SSLRequest")
        #expect(FrontendMessage.gssEncRequest.name == "GSSENCRequest")
        #expect(FrontendMessage.startup(Samples.startup).name == "StartupMessage")
    }

    @Test("ProtocolError descriptions")
    func protocolErrorDescriptions() {
        #expect(ProtocolError.unknownMessageType(0x51).description == "unknown message type 'Q'")
        #expect(ProtocolError.unknownMessageType(0x00).description == "unknown message type 0x0")
        #expect(ProtocolError.unknownMessageType(0xFF).description == "unknown message type 0xff")
        #expect(ProtocolError.invalidLength(type: nil, length: 3).description == "startup message has an invalid length 3")
        #expect(ProtocolError.messageTooLarge(type: 0x44, length: 2000, limit: 1024).description
            == "'D' message of 2000 bytes exceeds the maximum message size of 1024 bytes")
        #expect(ProtocolError.malformed(message: "DataRow", reason: "x").description == "malformed DataRow message: x")
    }
}
