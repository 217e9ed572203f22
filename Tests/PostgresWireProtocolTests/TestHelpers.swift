import Testing
@testable import PostgresWireProtocol

// MARK: - Deterministic randomness

/// SplitMix64: a tiny, fast, seedable generator so every "random" test is reproducible.
struct SeededRNG: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }

    /// Splits `count` bytes into random chunk lengths of 1...maxChunk.
    mutating func chunkLengths(total: Int, maxChunk: Int) -> [Int] {
        var lengths: [Int] = []
        var left = total
        while left > 0 {
            let n = Int.random(in: 1...min(maxChunk, left), using: &self)
            lengths.append(n)
            left -= n
        }
        return lengths
    }
}

// MARK: - Byte helpers

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
func cstring(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }
func int16(_ v: Int16) -> [UInt8] { var a: [UInt8] = []; a.appendInt16(v); return a }
func int32(_ v: Int32) -> [UInt8] { var a: [UInt8] = []; a.appendInt32(v); return a }
func uint32(_ v: UInt32) -> [UInt8] { var a: [UInt8] = []; a.appendUInt32(v); return a }

/// A typed message built by hand: type byte, Int32 length (including itself), body.
func typedMessage(_ type: Character, _ body: [UInt8]) -> [UInt8] {
    [type.asciiValue!] + int32(Int32(body.count + 4)) + body
}

/// An untyped startup-phase packet built by hand: Int32 length (including itself), body.
func untypedPacket(_ body: [UInt8]) -> [UInt8] { int32(Int32(body.count + 4)) + body }

/// Splits an encoded typed message into its type byte and body (after checking the length field).
func splitTyped(_ encoded: [UInt8]) -> (type: UInt8, body: ArraySlice<UInt8>) {
    precondition(encoded.count >= 5)
    let length = Int(Int32(bitPattern: UInt32(encoded[1]) << 24 | UInt32(encoded[2]) << 16 | UInt32(encoded[3]) << 8 | UInt32(encoded[4])))
    precondition(length == encoded.count - 1, "length field \(length) does not match \(encoded.count - 1)")
    return (encoded[0], encoded[5...])
}

func splitUntyped(_ encoded: [UInt8]) -> ArraySlice<UInt8> {
    let length = Int(Int32(bitPattern: UInt32(encoded[0]) << 24 | UInt32(encoded[1]) << 16 | UInt32(encoded[2]) << 8 | UInt32(encoded[3])))
    precondition(length == encoded.count)
    return encoded[4...]
}

// MARK: - Result wrappers for typed throws

func decodeBackend(type: UInt8, body: ArraySlice<UInt8>) -> Result<BackendMessage, ProtocolError> {
    do throws(ProtocolError) {
        return .success(try BackendMessage.decode(type: type, body: body))
    } catch {
        return .failure(error)
    }
}

func decodeFrontend(type: UInt8, body: ArraySlice<UInt8>,
                    kind: FrontendMessage.AuthenticationResponseKind = .password) -> Result<FrontendMessage, ProtocolError> {
    do throws(ProtocolError) {
        return .success(try FrontendMessage.decode(type: type, body: body, authenticationResponse: kind))
    } catch {
        return .failure(error)
    }
}

func decodeStartup(body: ArraySlice<UInt8>) -> Result<FrontendMessage, ProtocolError> {
    do throws(ProtocolError) {
        return .success(try FrontendMessage.decodeStartupPacket(body: body))
    } catch {
        return .failure(error)
    }
}

extension Result where Failure == ProtocolError {
    var isMalformed: Bool {
        if case .failure(.malformed) = self { return true }
        return false
    }
    var error: ProtocolError? {
        if case .failure(let e) = self { return e }
        return nil
    }
    var value: Success? {
        if case .success(let v) = self { return v }
        return nil
    }
}

extension ProtocolError {
    var isMalformed: Bool { if case .malformed = self { return true } else { return false } }
    var isUnexpectedMessage: Bool { if case .unexpectedMessage = self { return true } else { return false } }
}

/// Decodes everything currently decodable; the error (if any) ends the drain.
func drain(_ decoder: inout BackendMessageDecoder) -> (messages: [BackendMessage], error: ProtocolError?) {
    var out: [BackendMessage] = []
    do throws(ProtocolError) {
        while let m = try decoder.next() { out.append(m) }
        return (out, nil)
    } catch {
        return (out, error)
    }
}

/// The 'p' reading a given frontend message needs.
func authenticationKind(of message: FrontendMessage) -> FrontendMessage.AuthenticationResponseKind {
    switch message {
    case .saslInitialResponse: return .saslInitial
    case .saslResponse: return .sasl
    case .gssResponse: return .gss
    default: return .password
    }
}

func isUntyped(_ message: FrontendMessage) -> Bool {
    switch message {
    case .startup, .sslRequest, .gssEncRequest, .cancelRequest: return true
    default: return false
    }
}

// MARK: - Samples of every message

enum Samples {
    static let rowDescription = RowDescription(fields: [
        .init(name: "id", tableOID: 16384, columnAttributeNumber: 1, dataTypeOID: 23, dataTypeSize: 4, typeModifier: -1, formatCode: 0),
        .init(name: "name", tableOID: 16384, columnAttributeNumber: 2, dataTypeOID: 25, dataTypeSize: -1, typeModifier: -1, formatCode: 1),
        .init(name: "", tableOID: UInt32.max, columnAttributeNumber: Int16.min, dataTypeOID: UInt32.max,
              dataTypeSize: Int16.max, typeModifier: Int32.min, formatCode: 0),
        .init(name: "ünïcødé ✓", dataTypeOID: 1043, typeModifier: 68),
    ])

    static let errorFields = DiagnosticFields([
        (UInt8(ascii: "S"), "ERROR"), (UInt8(ascii: "V"), "ERROR"), (UInt8(ascii: "C"), "42P01"),
        (UInt8(ascii: "M"), "relation \"nope\" does not exist"), (UInt8(ascii: "P"), "15"),
        (UInt8(ascii: "F"), "parse_relation.c"), (UInt8(ascii: "L"), "1392"), (UInt8(ascii: "R"), "parserOpenTable"),
    ])

    static let noticeFields = DiagnosticFields([
        (UInt8(ascii: "S"), "NOTICE"), (UInt8(ascii: "V"), "NOTICE"), (UInt8(ascii: "C"), "00000"),
        (UInt8(ascii: "M"), "table \"t\" does not exist, skipping"),
    ])

    /// At least one sample of every BackendMessage case (and every Authentication case).
    static let backend: [BackendMessage] = [
        .authentication(.ok),
        .authentication(.kerberosV5),
        .authentication(.cleartextPassword),
        .authentication(.md5Password(salt: [0x01, 0x02, 0x03, 0x04])),
        .authentication(.md5Password(salt: [0x00, 0xff, 0x00, 0x80])),
        .authentication(.scmCredential),
        .authentication(.gss),
        .authentication(.gssContinue([0x60, 0x81, 0x00, 0x42][...])),
        .authentication(.gssContinue([][...])),
        .authentication(.sspi),
        .authentication(.sasl(mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])),
        .authentication(.sasl(mechanisms: [])),
        .authentication(.saslContinue(bytes("r=abc,s=c2FsdA==,i=4096")[...])),
        .authentication(.saslFinal(bytes("v=c2lnbmF0dXJl")[...])),
        .backendKeyData(BackendKeyData(processID: 4242, secretKey: -123_456_789)),
        .bindComplete,
        .closeComplete,
        .commandComplete(CommandComplete(tag: "SELECT 1")),
        .commandComplete(CommandComplete(tag: "INSERT 0 5")),
        .commandComplete(CommandComplete(tag: "")),
        .copyData([1, 2, 3, 0, 255][...]),
        .copyData([][...]),
        .copyDone,
        .copyInResponse(CopyResponse(overallFormat: 0, columnFormats: [0, 0, 0])),
        .copyOutResponse(CopyResponse(overallFormat: 1, columnFormats: [1, 1])),
        .copyOutResponse(CopyResponse(overallFormat: 0, columnFormats: [])),
        .copyBothResponse(CopyResponse(overallFormat: 1, columnFormats: [1])),
        .dataRow(DataRow(values: [bytes("1"), nil, [], [0, 1, 2, 255]])),
        .dataRow(DataRow(values: [])),
        .dataRow(DataRow(values: [nil])),
        .emptyQueryResponse,
        .errorResponse(errorFields),
        .errorResponse(DiagnosticFields([])),
        .functionCallResponse([9, 8, 7][...]),
        .functionCallResponse([][...]),
        .functionCallResponse(nil),
        .negotiateProtocolVersion(NegotiateProtocolVersion(newestMinorVersion: 0, unrecognizedOptions: ["_pq_.compression", "_pq_.x"])),
        .negotiateProtocolVersion(NegotiateProtocolVersion(newestMinorVersion: 2, unrecognizedOptions: [])),
        .noData,
        .noticeResponse(noticeFields),
        .notificationResponse(NotificationResponse(processID: 77, channel: "events", payload: "{\"id\": 1}")),
        .notificationResponse(NotificationResponse(processID: -1, channel: "ch✓", payload: "")),
        .parameterDescription([23, 25, 0, UInt32.max]),
        .parameterDescription([]),
        .parameterStatus(ParameterStatus(name: "server_version", value: "17.2")),
        .parameterStatus(ParameterStatus(name: "application_name", value: "")),
        .parseComplete,
        .portalSuspended,
        .readyForQuery(.idle),
        .readyForQuery(.inTransaction),
        .readyForQuery(.failed),
        .rowDescription(rowDescription),
        .rowDescription(RowDescription(fields: [])),
    ]

    /// Messages whose body ends in an opaque byte run: any prefix past the fixed part still decodes.
    static func hasOpaqueTail(_ m: BackendMessage) -> Bool {
        switch m {
        case .copyData, .authentication(.gssContinue), .authentication(.saslContinue), .authentication(.saslFinal): return true
        default: return false
        }
    }

    static let startup = StartupMessage(parameters: [
        ("user", "postgres"), ("database", "app"), ("application_name", "pgwire ✓"), ("client_encoding", "UTF8"),
        ("options", "-c search_path=public"),
    ])

    /// At least one sample of every FrontendMessage case, with 'p' variants of every kind.
    static let frontend: [FrontendMessage] = [
        .startup(startup),
        .startup(StartupMessage(parameters: [])),
        .startup(StartupMessage(protocolVersion: 196_610, parameters: [("user", "u")])),  // 3.2
        .sslRequest,
        .gssEncRequest,
        .cancelRequest(CancelRequest(processID: 4242, secretKey: -7)),
        .bind(Bind(portal: "p1", statement: "s1", parameterFormats: [0, 1], parameters: [bytes("42"), nil, [], [0, 255]],
                   resultFormats: [1])),
        .bind(Bind()),
        .close(Close(target: .statement, name: "s1")),
        .close(Close(target: .portal, name: "")),
        .copyData([10, 20, 0, 30][...]),
        .copyData([][...]),
        .copyDone,
        .copyFail(message: "client gave up"),
        .describe(Describe(target: .portal, name: "p1")),
        .describe(Describe(target: .statement, name: "")),
        .execute(Execute(portal: "p1", maxRows: 100)),
        .execute(Execute()),
        .flush,
        .functionCall(FunctionCall(functionOID: 1598, argumentFormats: [1], arguments: [[0, 0, 0, 1], nil], resultFormat: 1)),
        .functionCall(FunctionCall(functionOID: 0, argumentFormats: [], arguments: [], resultFormat: 0)),
        .gssResponse([0x60, 0x01, 0x00][...]),
        .parse(Parse(statement: "s1", query: "SELECT $1::int + $2", parameterTypes: [23, 0, UInt32.max])),
        .parse(Parse(query: "")),
        .password("s3cr3t ✓"),
        .password(""),
        .saslInitialResponse(SASLInitialResponse(mechanism: "SCRAM-SHA-256", data: bytes("n,,n=,r=abcdef"))),
        .saslInitialResponse(SASLInitialResponse(mechanism: "SCRAM-SHA-256-PLUS", data: nil)),
        .saslInitialResponse(SASLInitialResponse(mechanism: "X", data: [])),
        .saslResponse(bytes("c=biws,r=abcdefXYZ,p=cHJvb2Y=")[...]),
        .query("SELECT 1"),
        .query(""),
        .sync,
        .terminate,
    ]

    static var frontendTyped: [FrontendMessage] { frontend.filter { !isUntyped($0) } }

    static func hasOpaqueTail(_ m: FrontendMessage) -> Bool {
        switch m {
        case .copyData, .gssResponse, .saslResponse: return true
        default: return false
        }
    }
}
