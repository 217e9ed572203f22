import Foundation
import Logging
import PostgresWireProtocol

extension Connection {
    struct EstablishedSession {
        var transport: Transport
        var decoder: BackendMessageDecoder
        var parameters: [String: String]
        var backendKeyData: BackendKeyData?
        var transactionStatus: TransactionStatus
        var authenticationMethod: String
        var startupNotices: [ServerError]
    }

    static func openTransport(_ host: ConnectionConfiguration.Host, deadline: Deadline?) throws(PostgresError) -> Transport {
        switch host.endpoint {
        case .unixSocket(let path):
            return try SocketTransport.connectUnix(path: path, deadline: deadline)
        case .tcp(let name, let port):
            return try SocketTransport.connectTCP(host: name, hostaddr: host.hostaddr, port: port, deadline: deadline)
        }
    }

    /// Runs startup and authentication over a connected (and, per sslmode, encrypted) transport;
    /// `establish` (Connection+Connect.swift) gets it there. Closes the transport on failure.
    static func startSession(configuration: ConnectionConfiguration, host: ConnectionConfiguration.Host, transport: Transport,
                             channelBinding: SCRAMClient.ChannelBinding, deadline: Deadline?, logger: Logger,
                             tracer: (any MessageTracer)?) throws(PostgresError) -> EstablishedSession {
        var decoder = BackendMessageDecoder(awaitingAuthentication: true)
        do throws(PostgresError) {
            let password = configuration.password ?? configuration.passwordFromPassFile(for: host) { warning in
                FileHandle.standardError.write(Data((warning + "\n").utf8))
            }
            var machine = StartupStateMachine(parameters: startupParameters(configuration), password: password,
                                              channelBinding: channelBinding,
                                              channelBindingRequired: configuration.channelBinding == .require)
            var out: [UInt8] = []
            func emit(_ message: FrontendMessage) {
                let start = out.count
                message.encode(into: &out)
                tracer?.trace(.frontend, bytes: out[start...])
            }
            emit(machine.start())
            var notices: [ServerError] = []
            while true {
                try transport.writeAll(out, deadline: deadline)
                out.removeAll(keepingCapacity: true)
                var status: TransactionStatus?
                while status == nil && out.isEmpty {
                    let message: BackendMessage
                    do throws(PostgresError) {
                        message = try readMessage(transport: transport, decoder: &decoder, deadline: deadline, tracer: tracer) { $0 }
                    } catch {
                        if case .timeout = error { throw PostgresError.timeout("connection to \(transport.peerDescription) failed: timeout expired") }
                        throw error
                    }
                    let action: StartupStateMachine.Action
                    do throws(StartupStateMachine.Failure) {
                        action = try machine.receive(message)
                    } catch {
                        switch error {
                        case .server(let f): throw PostgresError.connectionRejected(peer: transport.peerDescription, ServerError(fields: f))
                        case .authentication(let a): throw PostgresError.authentication(a)
                        case .protocolViolation(let p): throw PostgresError.protocolViolation(p)
                        }
                    }
                    switch action {
                    case .send(let reply): emit(reply)
                    case .wait: break
                    case .notice(let f): notices.append(ServerError(fields: f))
                    case .ready(let s): status = s
                    }
                }
                if let status {
                    logger.debug("connected", metadata: ["peer": "\(transport.peerDescription)", "auth": "\(machine.authenticationMethod ?? "?")"])
                    return EstablishedSession(transport: transport, decoder: decoder, parameters: machine.parameters,
                                              backendKeyData: machine.backendKeyData, transactionStatus: status,
                                              authenticationMethod: machine.authenticationMethod ?? "trust", startupNotices: notices)
                }
            }
        } catch {
            transport.close()
            throw error
        }
    }

    static func startupParameters(_ c: ConnectionConfiguration) -> [(name: String, value: String)] {
        var p: [(name: String, value: String)] = [("user", c.user), ("database", c.database)]
        if let app = c.applicationName ?? c.fallbackApplicationName, !app.isEmpty { p.append(("application_name", app)) }
        p.append(("client_encoding", c.clientEncoding))
        if let options = c.options, !options.isEmpty { p.append(("options", options)) }
        return p
    }
}
