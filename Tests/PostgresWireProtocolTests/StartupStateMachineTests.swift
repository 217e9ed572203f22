import Foundation
import Testing
@testable import PostgresWireProtocol

/// A server-side SCRAM-SHA-256 implementation, written from RFC 5802 for the tests: it checks the
/// client's proof the way PostgreSQL does and computes the real server signature.
struct FakeSCRAMServer {
    let password: String
    let salt: [UInt8] = Array("pepper and salt!".utf8)
    let iterations = 4096
    var expectedChannelBinding: [UInt8] = []  // appended to the gs2 header for c=
    private var gs2Header = ""
    private var clientFirstBare = ""
    private var serverFirst = ""
    private var nonce = ""

    init(password: String) { self.password = password }

    mutating func serverFirst(for initial: SASLInitialResponse) throws -> [UInt8] {
        let text = String(decoding: try #require(initial.data), as: UTF8.self)
        // gs2-header is everything up to and including the second comma.
        let secondComma = try #require(text.indices.filter { text[$0] == "," }.dropFirst().first)
        gs2Header = String(text[...secondComma])
        clientFirstBare = String(text[text.index(after: secondComma)...])
        #expect(clientFirstBare.hasPrefix("n=,r="))
        let clientNonce = String(clientFirstBare.dropFirst("n=,r=".count))
        #expect(!clientNonce.isEmpty)
        nonce = clientNonce + "3rfcNHYJY1ZVvWVs7j"
        serverFirst = "r=\(nonce),s=\(Data(salt).base64EncodedString()),i=\(iterations)"
        return Array(serverFirst.utf8)
    }

    func keys() -> (stored: [UInt8], server: [UInt8]) {
        let salted = Crypto.pbkdf2SHA256(password: Array(password.utf8), salt: salt, iterations: iterations)
        let clientKey = Crypto.hmacSHA256(key: salted, data: Array("Client Key".utf8))
        return (Crypto.sha256(clientKey), Crypto.hmacSHA256(key: salted, data: Array("Server Key".utf8)))
    }

    /// Verifies client-final-message and returns server-final-message ("v=…").
    func serverFinal(for clientFinal: ArraySlice<UInt8>) throws -> [UInt8] {
        let text = String(decoding: clientFinal, as: UTF8.self)
        let proofRange = try #require(text.range(of: ",p="))
        let withoutProof = String(text[..<proofRange.lowerBound])
        let proof = try #require(Data(base64Encoded: String(text[proofRange.upperBound...])))
        #expect(withoutProof == "c=\(Data(Array(gs2Header.utf8) + expectedChannelBinding).base64EncodedString()),r=\(nonce)")
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let (storedKey, serverKey) = keys()
        let clientSignature = Crypto.hmacSHA256(key: storedKey, data: authMessage)
        let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
        #expect(Crypto.sha256(clientKey) == storedKey, "client proof does not verify")
        return Array("v=\(Data(Crypto.hmacSHA256(key: serverKey, data: authMessage)).base64EncodedString())".utf8)
    }

    var gs2: String { gs2Header }
}

@Suite("Startup state machine")
struct StartupStateMachineTests {
    typealias Machine = StartupStateMachine
    static let parameters: [(name: String, value: String)] = [("user", "postgres"), ("database", "app"), ("application_name", "t")]

    /// Feeds one message and returns the failure it caused (nil if it was accepted).
    static func failure(_ machine: inout Machine, _ message: BackendMessage) -> Machine.Failure? {
        do throws(Machine.Failure) {
            _ = try machine.receive(message)
            return nil
        } catch {
            return error
        }
    }

    static func isViolation(_ f: Machine.Failure?, message: String) -> Bool {
        if case .protocolViolation(.unexpectedMessage(let m, _))? = f { return m == message }
        return false
    }

    /// The tail every successful startup shares.
    static func finish(_ machine: inout Machine) throws {
        #expect(try machine.receive(.parameterStatus(ParameterStatus(name: "server_version", value: "17.2"))) == .wait)
        #expect(try machine.receive(.parameterStatus(ParameterStatus(name: "client_encoding", value: "UTF8"))) == .wait)
        #expect(try machine.receive(.parameterStatus(ParameterStatus(name: "server_version", value: "17.3"))) == .wait)
        #expect(try machine.receive(.backendKeyData(BackendKeyData(processID: 321, secretKey: 654))) == .wait)
        #expect(try machine.receive(.readyForQuery(.idle)) == .ready(.idle))
        #expect(machine.parameters == ["server_version": "17.3", "client_encoding": "UTF8"])
        #expect(machine.backendKeyData == BackendKeyData(processID: 321, secretKey: 654))
    }

    @Test("start sends the StartupMessage with the parameters in order")
    func start() {
        var machine = Machine(parameters: Self.parameters, password: nil)
        #expect(machine.user == "postgres")
        guard case .startup(let startup) = machine.start() else {
            Issue.record("not a StartupMessage")
            return
        }
        #expect(startup.protocolVersion == StartupCode.protocolVersion3)
        #expect(startup == StartupMessage(parameters: Self.parameters))
        #expect(Machine(parameters: [], password: nil).user == "")
    }

    @Test("trust: AuthenticationOk, ParameterStatus*, BackendKeyData, ReadyForQuery")
    func trust() throws {
        var machine = Machine(parameters: Self.parameters, password: nil)
        _ = machine.start()
        #expect(try machine.receive(.authentication(.ok)) == .wait)
        #expect(machine.authenticationMethod == "trust")
        try Self.finish(&machine)
        #expect(machine.negotiatedProtocol == nil)
    }

    @Test("trust with the transaction status carried through")
    func readyStatus() throws {
        var machine = Machine(parameters: Self.parameters, password: nil)
        _ = machine.start()
        _ = try machine.receive(.authentication(.ok))
        #expect(try machine.receive(.readyForQuery(.inTransaction)) == .ready(.inTransaction))
        #expect(machine.backendKeyData == nil)
    }

    @Test("cleartext password")
    func cleartext() throws {
        var machine = Machine(parameters: Self.parameters, password: "secret")
        _ = machine.start()
        #expect(try machine.receive(.authentication(.cleartextPassword)) == .send(.password("secret")))
        #expect(try machine.receive(.authentication(.ok)) == .wait)
        #expect(machine.authenticationMethod == "password")
        try Self.finish(&machine)
    }

    @Test("md5 password")
    func md5() throws {
        var machine = Machine(parameters: Self.parameters, password: "secret")
        _ = machine.start()
        // Independently computed with Python hashlib for user "postgres", password "secret", salt 01 02 03 04.
        #expect(try machine.receive(.authentication(.md5Password(salt: [1, 2, 3, 4])))
            == .send(.password("md5bb41a296aab6baccb36ff243a562abff")))
        #expect(try machine.receive(.authentication(.ok)) == .wait)
        #expect(machine.authenticationMethod == "md5")
        try Self.finish(&machine)
    }

    /// Runs the SASL part of a startup against FakeSCRAMServer; returns the server-final bytes.
    static func runSCRAM(_ machine: inout Machine, server: inout FakeSCRAMServer, offered: [String],
                         expectedMechanism: String) throws -> [UInt8] {
        let action = try machine.receive(.authentication(.sasl(mechanisms: offered)))
        guard case .send(.saslInitialResponse(let initial)) = action else {
            Issue.record("expected a SASLInitialResponse, got \(action)")
            throw CancellationError()
        }
        #expect(initial.mechanism == expectedMechanism)
        let serverFirst = try server.serverFirst(for: initial)
        let action2 = try machine.receive(.authentication(.saslContinue(serverFirst[...])))
        guard case .send(.saslResponse(let clientFinal)) = action2 else {
            Issue.record("expected a SASLResponse, got \(action2)")
            throw CancellationError()
        }
        return try server.serverFinal(for: clientFinal)
    }

    @Test("full SCRAM-SHA-256 exchange: SASL, SASLContinue, SASLFinal, AuthenticationOk")
    func scram() throws {
        var machine = Machine(parameters: Self.parameters, password: "pencil")
        var server = FakeSCRAMServer(password: "pencil")
        _ = machine.start()
        let serverFinal = try Self.runSCRAM(&machine, server: &server, offered: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"],
                                            expectedMechanism: "SCRAM-SHA-256")
        #expect(server.gs2 == "n,,")
        #expect(try machine.receive(.authentication(.saslFinal(serverFinal[...]))) == .wait)
        #expect(machine.authenticationMethod == "SCRAM-SHA-256")
        // A real server always follows SASLFinal with AuthenticationOk (see PostgreSQL's sendAuthRequest/ClientAuthentication).
        #expect(try machine.receive(.authentication(.ok)) == .wait)
        try Self.finish(&machine)
    }

    @Test("full SCRAM-SHA-256-PLUS exchange with tls-server-end-point")
    func scramPlus() throws {
        let hash = Array(repeating: UInt8(0xAB), count: 32)
        var machine = Machine(parameters: Self.parameters, password: "pencil",
                              channelBinding: .tlsServerEndPoint(certificateHash: hash), channelBindingRequired: true)
        var server = FakeSCRAMServer(password: "pencil")
        server.expectedChannelBinding = hash
        _ = machine.start()
        let serverFinal = try Self.runSCRAM(&machine, server: &server, offered: ["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"],
                                            expectedMechanism: "SCRAM-SHA-256-PLUS")
        #expect(server.gs2 == "p=tls-server-end-point,,")
        #expect(try machine.receive(.authentication(.saslFinal(serverFinal[...]))) == .wait)
        #expect(machine.authenticationMethod == "SCRAM-SHA-256-PLUS")
        #expect(try machine.receive(.authentication(.ok)) == .wait)
        try Self.finish(&machine)
    }

    @Test("SCRAM with binding available but not offered by the server uses y,,")
    func scramBindingNotOffered() throws {
        var machine = Machine(parameters: Self.parameters, password: "pencil",
                              channelBinding: .tlsServerEndPoint(certificateHash: [1, 2, 3]))
        var server = FakeSCRAMServer(password: "pencil")
        _ = machine.start()
        let serverFinal = try Self.runSCRAM(&machine, server: &server, offered: ["SCRAM-SHA-256"], expectedMechanism: "SCRAM-SHA-256")
        #expect(server.gs2 == "y,,")
        #expect(try machine.receive(.authentication(.saslFinal(serverFinal[...]))) == .wait)
    }

    @Test("SCRAM: a server ending with AuthenticationOk without SASLFinal is rejected")
    func scramWithoutFinal() throws {
        var machine = Machine(parameters: Self.parameters, password: "pencil")
        var server = FakeSCRAMServer(password: "pencil")
        _ = machine.start()
        _ = try Self.runSCRAM(&machine, server: &server, offered: ["SCRAM-SHA-256"], expectedMechanism: "SCRAM-SHA-256")
        let f = Self.failure(&machine, .authentication(.ok))
        guard case .authentication(.invalidServerMessage)? = f else {
            Issue.record("expected invalidServerMessage, got \(String(describing: f))")
            return
        }
        // The machine is failed from then on.
        #expect(Self.failure(&machine, .readyForQuery(.idle)) != nil)
    }

    @Test("SCRAM: a wrong server signature is rejected")
    func scramWrongSignature() throws {
        var machine = Machine(parameters: Self.parameters, password: "pencil")
        var server = FakeSCRAMServer(password: "pencil")
        _ = machine.start()
        var serverFinal = try Self.runSCRAM(&machine, server: &server, offered: ["SCRAM-SHA-256"], expectedMechanism: "SCRAM-SHA-256")
        // Corrupt one character of the (otherwise correct) signature.
        serverFinal[5] = serverFinal[5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(Self.failure(&machine, .authentication(.saslFinal(serverFinal[...])))
            == .authentication(.serverSignatureMismatch))
    }

    @Test("SCRAM: a server error in server-first or server-final is rejected")
    func scramServerErrors() throws {
        var machine = Machine(parameters: Self.parameters, password: "pencil")
        _ = machine.start()
        _ = try machine.receive(.authentication(.sasl(mechanisms: ["SCRAM-SHA-256"])))
        let f = Self.failure(&machine, .authentication(.saslContinue(bytes("e=other-error")[...])))
        guard case .authentication(.invalidServerMessage)? = f else {
            Issue.record("expected invalidServerMessage, got \(String(describing: f))")
            return
        }

        var second = Machine(parameters: Self.parameters, password: "pencil")
        var server = FakeSCRAMServer(password: "pencil")
        _ = second.start()
        _ = try Self.runSCRAM(&second, server: &server, offered: ["SCRAM-SHA-256"], expectedMechanism: "SCRAM-SHA-256")
        let g = Self.failure(&second, .authentication(.saslFinal(bytes("e=invalid-proof")[...])))
        guard case .authentication(.invalidServerMessage)? = g else {
            Issue.record("expected invalidServerMessage, got \(String(describing: g))")
            return
        }
    }

    @Test("SCRAM: out-of-order SASL messages are protocol violations")
    func scramOutOfOrder() throws {
        var a = Machine(parameters: Self.parameters, password: "pencil")
        _ = a.start()
        #expect(Self.isViolation(Self.failure(&a, .authentication(.saslContinue(bytes("r=x")[...]))),
                                 message: "AuthenticationSASLContinue"))

        var b = Machine(parameters: Self.parameters, password: "pencil")
        _ = b.start()
        _ = try b.receive(.authentication(.sasl(mechanisms: ["SCRAM-SHA-256"])))
        #expect(Self.isViolation(Self.failure(&b, .authentication(.saslFinal(bytes("v=x")[...]))),
                                 message: "AuthenticationSASLFinal"))

        var c = Machine(parameters: Self.parameters, password: "pencil")
        _ = c.start()
        _ = try c.receive(.authentication(.sasl(mechanisms: ["SCRAM-SHA-256"])))
        #expect(Self.isViolation(Self.failure(&c, .authentication(.sasl(mechanisms: ["SCRAM-SHA-256"]))),
                                 message: "AuthenticationSASL"))
    }

    @Test("SCRAM: no supported mechanism")
    func noSupportedMechanism() {
        var machine = Machine(parameters: Self.parameters, password: "pencil")
        _ = machine.start()
        #expect(Self.failure(&machine, .authentication(.sasl(mechanisms: ["SCRAM-SHA-1", "OAUTHBEARER"])))
            == .authentication(.noSupportedSASLMechanism(["SCRAM-SHA-1", "OAUTHBEARER"])))
        var plusOnly = Machine(parameters: Self.parameters, password: "pencil")
        _ = plusOnly.start()
        #expect(Self.failure(&plusOnly, .authentication(.sasl(mechanisms: ["SCRAM-SHA-256-PLUS"])))
            == .authentication(.noSupportedSASLMechanism(["SCRAM-SHA-256-PLUS"])))
    }

    @Test("no password for a password method", arguments: [
        Authentication.cleartextPassword, .md5Password(salt: [1, 2, 3, 4]), .sasl(mechanisms: ["SCRAM-SHA-256"]),
    ])
    func passwordRequired(_ request: Authentication) {
        for password in [nil, ""] as [String?] {
            var machine = Machine(parameters: Self.parameters, password: password)
            _ = machine.start()
            #expect(Self.failure(&machine, .authentication(request)) == .authentication(.passwordRequired))
        }
    }

    @Test("unsupported methods are named", arguments: [
        (Authentication.gss, "GSSAPI"), (.sspi, "SSPI"), (.kerberosV5, "Kerberos V5"), (.scmCredential, "SCM credentials"),
        (.gssContinue([1, 2]), "GSSAPI"),
    ])
    func unsupportedMethods(_ request: Authentication, _ name: String) {
        var machine = Machine(parameters: Self.parameters, password: "pw")
        _ = machine.start()
        let f = Self.failure(&machine, .authentication(request))
        #expect(f == .authentication(.unsupportedMethod(name)))
    }

    @Test("ErrorResponse fails the startup with the server's fields")
    func serverError() throws {
        let fields = DiagnosticFields([(UInt8(ascii: "S"), "FATAL"), (UInt8(ascii: "C"), "28P01"),
                                       (UInt8(ascii: "M"), "password authentication failed for user \"postgres\"")])
        var machine = Machine(parameters: Self.parameters, password: "wrong")
        _ = machine.start()
        _ = try machine.receive(.authentication(.cleartextPassword))
        #expect(Self.failure(&machine, .errorResponse(fields)) == .server(fields))

        var early = Machine(parameters: Self.parameters, password: nil)
        _ = early.start()
        #expect(Self.failure(&early, .errorResponse(fields)) == .server(fields))

        var late = Machine(parameters: Self.parameters, password: nil)
        _ = late.start()
        _ = try late.receive(.authentication(.ok))
        _ = try late.receive(.parameterStatus(ParameterStatus(name: "a", value: "b")))
        #expect(Self.failure(&late, .errorResponse(fields)) == .server(fields))
    }

    @Test("NoticeResponse is delivered at any point of startup")
    func notices() throws {
        var machine = Machine(parameters: Self.parameters, password: "secret")
        _ = machine.start()
        #expect(try machine.receive(.noticeResponse(Samples.noticeFields)) == .notice(Samples.noticeFields))
        _ = try machine.receive(.authentication(.cleartextPassword))
        #expect(try machine.receive(.noticeResponse(Samples.noticeFields)) == .notice(Samples.noticeFields))
        _ = try machine.receive(.authentication(.ok))
        #expect(try machine.receive(.noticeResponse(Samples.noticeFields)) == .notice(Samples.noticeFields))
        try Self.finish(&machine)
    }

    @Test("NegotiateProtocolVersion is tolerated and recorded")
    func negotiateProtocolVersion() throws {
        let n = NegotiateProtocolVersion(newestMinorVersion: 0, unrecognizedOptions: ["_pq_.something"])
        var machine = Machine(parameters: Self.parameters, password: nil)
        _ = machine.start()
        #expect(try machine.receive(.negotiateProtocolVersion(n)) == .wait)
        #expect(machine.negotiatedProtocol == n)
        _ = try machine.receive(.authentication(.ok))
        try Self.finish(&machine)
    }

    @Test("unexpected messages during startup are protocol violations", arguments: [
        BackendMessage.dataRow(DataRow(values: [nil])), .rowDescription(RowDescription(fields: [])),
        .commandComplete(CommandComplete(tag: "SELECT 1")), .emptyQueryResponse, .copyData([1]), .noData,
        .parseComplete, .bindComplete, .closeComplete, .portalSuspended, .copyDone, .parameterDescription([]),
        .copyInResponse(CopyResponse(overallFormat: 0, columnFormats: [])), .functionCallResponse(nil),
        .notificationResponse(NotificationResponse(processID: 1, channel: "c", payload: "")),
    ])
    func unexpectedAnytime(_ message: BackendMessage) throws {
        // Before authentication…
        var before = Machine(parameters: Self.parameters, password: nil)
        _ = before.start()
        #expect(Self.isViolation(Self.failure(&before, message), message: message.name))
        // …and after it.
        var after = Machine(parameters: Self.parameters, password: nil)
        _ = after.start()
        _ = try after.receive(.authentication(.ok))
        #expect(Self.isViolation(Self.failure(&after, message), message: message.name))
    }

    @Test("ParameterStatus, BackendKeyData and ReadyForQuery before authentication are violations", arguments: [
        BackendMessage.parameterStatus(ParameterStatus(name: "a", value: "b")),
        .backendKeyData(BackendKeyData(processID: 1, secretKey: 2)), .readyForQuery(.idle),
    ])
    func beforeAuthentication(_ message: BackendMessage) {
        var machine = Machine(parameters: Self.parameters, password: "pw")
        _ = machine.start()
        #expect(Self.isViolation(Self.failure(&machine, message), message: message.name))

        // Also between a password request and AuthenticationOk.
        var mid = Machine(parameters: Self.parameters, password: "pw")
        _ = mid.start()
        _ = try? mid.receive(.authentication(.cleartextPassword))
        #expect(Self.isViolation(Self.failure(&mid, message), message: message.name))
    }

    @Test("authentication requests after authentication are violations")
    func authenticationAfterOk() throws {
        var machine = Machine(parameters: Self.parameters, password: "pw")
        _ = machine.start()
        _ = try machine.receive(.authentication(.ok))
        #expect(Self.isViolation(Self.failure(&machine, .authentication(.ok)), message: "AuthenticationOk"))

        var ready = Machine(parameters: Self.parameters, password: "pw")
        _ = ready.start()
        _ = try ready.receive(.authentication(.ok))
        _ = try ready.receive(.readyForQuery(.idle))
        #expect(Self.isViolation(Self.failure(&ready, .readyForQuery(.idle)), message: "ReadyForQuery"))
        var ready2 = Machine(parameters: Self.parameters, password: "pw")
        _ = ready2.start()
        _ = try ready2.receive(.authentication(.ok))
        _ = try ready2.receive(.readyForQuery(.idle))
        #expect(Self.isViolation(Self.failure(&ready2, .authentication(.cleartextPassword)),
                                 message: "AuthenticationCleartextPassword"))
    }

    @Test("messages before start() are violations")
    func beforeStart() {
        var machine = Machine(parameters: Self.parameters, password: "pw")
        #expect(Self.isViolation(Self.failure(&machine, .authentication(.ok)), message: "AuthenticationOk"))
    }

    @Test("channel_binding=require refuses methods without channel binding", arguments: [
        Authentication.md5Password(salt: [1, 2, 3, 4]), .cleartextPassword, .ok, .sasl(mechanisms: ["SCRAM-SHA-256"]),
    ])
    func channelBindingRequired(_ request: Authentication) {
        for binding in [SCRAMClient.ChannelBinding.unsupported, .tlsServerEndPoint(certificateHash: [1, 2, 3])] {
            var machine = Machine(parameters: Self.parameters, password: "pw", channelBinding: binding, channelBindingRequired: true)
            _ = machine.start()
            let f = Self.failure(&machine, .authentication(request))
            guard case .authentication(.channelBindingRequired)? = f else {
                Issue.record("\(request.name) with \(binding): expected channelBindingRequired, got \(String(describing: f))")
                continue
            }
        }
    }

    @Test("channel_binding=require without a TLS binding refuses SCRAM-SHA-256-PLUS-less servers and PLUS alike")
    func channelBindingRequiredWithoutTLS() {
        var machine = Machine(parameters: Self.parameters, password: "pw", channelBinding: .unsupported, channelBindingRequired: true)
        _ = machine.start()
        let f = Self.failure(&machine, .authentication(.sasl(mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])))
        guard case .authentication(.channelBindingRequired)? = f else {
            Issue.record("expected channelBindingRequired, got \(String(describing: f))")
            return
        }
    }
}
