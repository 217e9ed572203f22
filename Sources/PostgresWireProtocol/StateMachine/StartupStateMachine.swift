/// The startup and authentication phase, from StartupMessage to the first ReadyForQuery.
///
/// It takes server messages and answers with what to send or what happened; it never touches a
/// socket, so every branch (each auth method, each failure) is testable by feeding it messages.
public struct StartupStateMachine: Sendable {
    public enum Action: Sendable, Equatable {
        /// Send this message to the server and keep reading.
        case send(FrontendMessage)
        /// Nothing to send; keep reading.
        case wait
        /// A notice arrived during startup; deliver it and keep reading.
        case notice(DiagnosticFields)
        /// The session is ready for queries.
        case ready(TransactionStatus)
    }

    public enum Failure: Error, Sendable, Equatable {
        case server(DiagnosticFields)
        case authentication(AuthenticationError)
        case protocolViolation(ProtocolError)
    }

    enum State: Sendable {
        case initial
        case awaitingAuthentication
        case scramSent(SCRAMClient)
        case scramFinalSent(SCRAMClient)
        /// The server's SCRAM signature checked out; AuthenticationOk comes next.
        case scramVerified
        case authenticated
        case ready
        case failed
    }

    public let user: String
    let password: String?
    let channelBinding: SCRAMClient.ChannelBinding
    let channelBindingRequired: Bool
    let startupParameters: [(name: String, value: String)]
    private var state: State = .initial

    public private(set) var parameters: [String: String] = [:]
    public private(set) var backendKeyData: BackendKeyData?
    public private(set) var negotiatedProtocol: NegotiateProtocolVersion?
    /// The authentication method the server chose, e.g. "SCRAM-SHA-256", "md5", "trust".
    public private(set) var authenticationMethod: String?

    /// - Parameters:
    ///   - parameters: startup parameters in order; must contain "user".
    ///   - channelBinding: what the transport can offer for SCRAM-SHA-256-PLUS.
    public init(parameters: [(name: String, value: String)], password: String?,
                channelBinding: SCRAMClient.ChannelBinding = .unsupported, channelBindingRequired: Bool = false) {
        self.startupParameters = parameters
        self.user = parameters.first(where: { $0.name == "user" })?.value ?? ""
        self.password = password
        self.channelBinding = channelBinding
        self.channelBindingRequired = channelBindingRequired
    }

    public mutating func start() -> FrontendMessage {
        state = .awaitingAuthentication
        return .startup(StartupMessage(parameters: startupParameters))
    }

    public mutating func receive(_ message: BackendMessage) throws(Failure) -> Action {
        do {
            return try handle(message)
        } catch {
            state = .failed
            throw error
        }
    }

    private mutating func handle(_ message: BackendMessage) throws(Failure) -> Action {
        switch message {
        case .errorResponse(let fields):
            throw .server(fields)
        case .noticeResponse(let fields):
            return .notice(fields)
        case .negotiateProtocolVersion(let n):
            // We ask for 3.0 without options; a server that answers with a lower minor still speaks 3.0.
            negotiatedProtocol = n
            return .wait
        case .authentication(let auth):
            return try handleAuthentication(auth)
        case .parameterStatus(let p):
            guard case .authenticated = state else { throw unexpected(message) }
            parameters[p.name] = p.value
            return .wait
        case .backendKeyData(let key):
            guard case .authenticated = state else { throw unexpected(message) }
            backendKeyData = key
            return .wait
        case .readyForQuery(let status):
            guard case .authenticated = state else { throw unexpected(message) }
            state = .ready
            return .ready(status)
        default:
            throw unexpected(message)
        }
    }

    private func unexpected(_ message: BackendMessage) -> Failure {
        .protocolViolation(.unexpectedMessage(message: message.name, state: "starting up (\(stateName))"))
    }

    var stateName: String {
        switch state {
        case .initial: return "not started"
        case .awaitingAuthentication: return "awaiting authentication request"
        case .scramSent: return "awaiting SCRAM server-first-message"
        case .scramFinalSent: return "awaiting SCRAM server-final-message"
        case .scramVerified: return "awaiting AuthenticationOk after SCRAM"
        case .authenticated: return "awaiting ReadyForQuery"
        case .ready: return "ready"
        case .failed: return "failed"
        }
    }

    private mutating func handleAuthentication(_ auth: Authentication) throws(Failure) -> Action {
        switch (state, auth) {
        case (.awaitingAuthentication, .ok):
            if channelBindingRequired {
                throw .authentication(.channelBindingRequired("the server authenticated the client without channel binding"))
            }
            authenticationMethod = authenticationMethod ?? "trust"
            state = .authenticated
            return .wait
        case (.awaitingAuthentication, .cleartextPassword):
            try requireNoChannelBinding("password")
            authenticationMethod = "password"
            return .send(.password(try requirePassword()))
        case (.awaitingAuthentication, .md5Password(let salt)):
            try requireNoChannelBinding("md5")
            authenticationMethod = "md5"
            return .send(.password(MD5Password.response(user: user, password: try requirePassword(), salt: salt)))
        case (.awaitingAuthentication, .sasl(let mechanisms)):
            let password = try requirePassword()
            var binding = channelBinding
            if case .tlsServerEndPoint = channelBinding, !mechanisms.contains("SCRAM-SHA-256-PLUS") {
                binding = .supportedButNotUsed
            }
            if case .tlsServerEndPoint = binding {} else if channelBindingRequired {
                throw .authentication(.channelBindingRequired("the server did not offer SCRAM-SHA-256-PLUS over this connection"))
            }
            var client = SCRAMClient(password: password, channelBinding: binding)
            guard mechanisms.contains(client.mechanism) else {
                throw .authentication(.noSupportedSASLMechanism(mechanisms))
            }
            authenticationMethod = client.mechanism
            let first = client.clientFirstMessage()
            state = .scramSent(client)
            return .send(.saslInitialResponse(SASLInitialResponse(mechanism: client.mechanism, data: first)))
        case (.scramSent(var client), .saslContinue(let data)):
            let final: [UInt8]
            do { final = try client.clientFinalMessage(serverFirst: data) } catch { throw .authentication(error) }
            state = .scramFinalSent(client)
            return .send(.saslResponse(final[...]))
        case (.scramFinalSent(let client), .saslFinal(let data)):
            do { try client.verifyServerFinal(data) } catch { throw .authentication(error) }
            state = .scramVerified
            return .wait
        case (.scramVerified, .ok):
            state = .authenticated
            return .wait
        case (.scramFinalSent, .ok):
            // AuthenticationOk without SASLFinal: the server never proved it knows the password.
            throw .authentication(.invalidServerMessage("the server ended SCRAM without sending its signature"))
        case (.awaitingAuthentication, .kerberosV5): throw .authentication(.unsupportedMethod("Kerberos V5"))
        case (.awaitingAuthentication, .scmCredential): throw .authentication(.unsupportedMethod("SCM credentials"))
        case (.awaitingAuthentication, .gss), (_, .gssContinue): throw .authentication(.unsupportedMethod("GSSAPI"))
        case (.awaitingAuthentication, .sspi): throw .authentication(.unsupportedMethod("SSPI"))
        default:
            throw .protocolViolation(.unexpectedMessage(message: auth.name, state: "starting up (\(stateName))"))
        }
    }

    private func requirePassword() throws(Failure) -> String {
        guard let password, !password.isEmpty else { throw .authentication(.passwordRequired) }
        return password
    }

    private func requireNoChannelBinding(_ method: String) throws(Failure) {
        if channelBindingRequired {
            throw .authentication(.channelBindingRequired("the server requested \(method) authentication"))
        }
    }
}
