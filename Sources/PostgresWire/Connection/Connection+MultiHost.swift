// libpq's rules for a list of hosts (fe-connect.c's PQconnectPoll host and address loop):
// hosts in order (or shuffled with load_balance_hosts=random), each address a name resolves to as
// its own attempt with its own connect_timeout, target_session_attrs checked once a session is up,
// and a second pass accepting any server for prefer-standby. Every failed attempt adds one line to
// the final error; a server that refuses the session (e.g. wrong password) ends the search.

import Foundation
import Logging
import PostgresWireProtocol

extension Connection {
    /// The session established by `establishAny`: the host entry reached, the address connected
    /// to (the entry itself with `hostaddr` set to the numeric address for a TCP host name), and
    /// the session.
    struct ReachedHost {
        var host: ConnectionConfiguration.Host
        var address: ConnectionConfiguration.Host
        var session: EstablishedSession
    }

    /// What the server turned out to be, per libpq's two checks.
    private enum ServerState {
        case unknown
        case known(Bool)
    }

    /// Tries the hosts of `configuration` with libpq's rules and returns the first session that
    /// suits `target_session_attrs`.
    static func establishAny(configuration: ConnectionConfiguration, logger: Logger,
                             tracer: (any MessageTracer)?) throws(PostgresError) -> ReachedHost {
        var hosts = configuration.hosts
        let random = configuration.loadBalanceHosts == .random
        if random { hosts.shuffle() }
        var failures: [PostgresError] = []
        var target = configuration.targetSessionAttributes
        while true {
            for host in hosts {
                let addresses: [ConnectionConfiguration.Host]
                do throws(PostgresError) {
                    addresses = try self.addresses(of: host, shuffled: random)
                } catch {
                    failures.append(error)
                    continue
                }
                addressLoop: for address in addresses {
                    let deadline = configuration.connectTimeout.map { Deadline(secondsFromNow: $0) }
                    var session: EstablishedSession
                    do throws(PostgresError) {
                        session = try establish(configuration: configuration, host: address, deadline: deadline,
                                                logger: logger, tracer: tracer)
                    } catch {
                        logger.debug("connection attempt failed", metadata: ["host": "\(address)", "error": "\(error.message)"])
                        if Self.endsHostSearch(error) { throw error }
                        failures.append(error)
                        continue addressLoop
                    }
                    let peer = session.transport.peerDescription
                    do throws(PostgresError) {
                        if let mismatch = try checkTarget(target, session: &session, deadline: deadline, tracer: tracer) {
                            // Wrong kind of server: close politely and go on with the next host,
                            // not the next address of this one (libpq's rule).
                            terminate(session, tracer: tracer)
                            logger.debug("server does not suit target_session_attrs", metadata: [
                                "host": "\(address)", "target_session_attrs": "\(target.rawValue)", "reason": "\(mismatch)",
                            ])
                            failures.append(.connectionFailed("connection to \(peer) failed: \(mismatch)"))
                            break addressLoop
                        }
                    } catch {
                        session.transport.close()
                        failures.append(error)
                        break addressLoop
                    }
                    return ReachedHost(host: host, address: address, session: session)
                }
            }
            // No host suited prefer-standby: start over accepting any server.
            if target == .preferStandby && !hosts.isEmpty {
                target = .any
                continue
            }
            break
        }
        throw combined(failures)
    }

    /// A server-reported refusal during startup (wrong password, unknown database, too many
    /// connections…) or a client-side authentication failure: libpq does not try further hosts.
    static func endsHostSearch(_ error: PostgresError) -> Bool {
        switch error {
        case .connectionRejected, .authentication: return true
        default: return false
        }
    }

    /// One error for every failed attempt, one line (or more) each, as libpq reports them. A
    /// single failure is returned unchanged.
    static func combined(_ failures: [PostgresError]) -> PostgresError {
        guard let first = failures.first else { return .connectionFailed("no host to connect to") }
        if failures.count == 1 { return first }
        let message = failures.map(\.message).joined(separator: "\n")
        let allTimeouts = failures.allSatisfy { if case .timeout = $0 { return true } else { return false } }
        return allTimeouts ? .timeout(message) : .connectionFailed(message)
    }

    /// The attempts for one host entry: one per address its name resolves to (TCP), else the
    /// entry itself (Unix-domain socket, or a numeric `hostaddr`).
    static func addresses(of host: ConnectionConfiguration.Host, shuffled: Bool) throws(PostgresError) -> [ConnectionConfiguration.Host] {
        guard host.hostaddr == nil, case .tcp(let name, let port) = host.endpoint else { return [host] }
        var numeric = try SocketTransport.resolveTCP(host: name, port: port)
        if shuffled { numeric.shuffle() }
        return numeric.map { address in
            var entry = host
            entry.hostaddr = address
            return entry
        }
    }

    /// libpq's CONNECTION_CHECK_TARGET: nil when the session suits `target`, else the reason it
    /// does not ("session is read-only"…). Uses the in_hot_standby and default_transaction_read_only
    /// values the server reported at startup, and asks the server when it reported none (older
    /// servers, poolers).
    private static func checkTarget(_ target: TargetSessionAttributes, session: inout EstablishedSession, deadline: Deadline?,
                                    tracer: (any MessageTracer)?) throws(PostgresError) -> String? {
        func flag(_ name: String) -> ServerState {
            switch session.parameters[name] {
            case "on": return .known(true)
            case "off": return .known(false)
            default: return .unknown
            }
        }
        switch target {
        case .any:
            return nil
        case .readWrite, .readOnly:
            let readOnly: Bool
            if case .known(let defaultReadOnly) = flag("default_transaction_read_only"), case .known(let hotStandby) = flag("in_hot_standby") {
                readOnly = defaultReadOnly || hotStandby
            } else {
                readOnly = try probe("SHOW transaction_read_only", session: &session, deadline: deadline, tracer: tracer) == "on"
            }
            if target == .readWrite { return readOnly ? "session is read-only" : nil }
            return readOnly ? nil : "session is not read-only"
        case .primary, .standby, .preferStandby:
            let inRecovery: Bool
            if case .known(let hotStandby) = flag("in_hot_standby") {
                inRecovery = hotStandby
            } else {
                inRecovery = try probe("SELECT pg_catalog.pg_is_in_recovery()", session: &session, deadline: deadline, tracer: tracer) == "t"
            }
            if target == .primary { return inRecovery ? "server is in hot standby mode" : nil }
            return inRecovery ? nil : "server is not in hot standby mode"
        }
    }

    /// Runs one simple query on a session that is not a `Connection` yet and returns the first
    /// column of its first row. Fails with libpq's `"<query>" failed` when the query does.
    private static func probe(_ sql: String, session: inout EstablishedSession, deadline: Deadline?,
                              tracer: (any MessageTracer)?) throws(PostgresError) -> String? {
        let peer = session.transport.peerDescription
        let queryFailed = PostgresError.connectionFailed("connection to \(peer) failed: \"\(sql)\" failed")
        var out: [UInt8] = []
        FrontendMessage.query(sql).encode(into: &out)
        tracer?.trace(.frontend, bytes: out[...])
        do throws(PostgresError) {
            try session.transport.writeAll(out, deadline: deadline)
        } catch {
            if case .timeout = error { throw .timeout("connection to \(peer) failed: timeout expired") }
            throw queryFailed
        }
        var machine = SimpleQueryStateMachine()
        var value: String?
        var gotRow = false
        var failed = false
        while true {
            let message: BackendMessage
            do throws(PostgresError) {
                message = try readMessage(transport: session.transport, decoder: &session.decoder, deadline: deadline, tracer: tracer) { $0 }
            } catch {
                if case .timeout = error { throw .timeout("connection to \(peer) failed: timeout expired") }
                throw queryFailed
            }
            let event: SimpleQueryStateMachine.Event
            do throws(ProtocolError) { event = try machine.receive(message) } catch { throw queryFailed }
            switch event {
            case .row(let row) where !gotRow:
                gotRow = true
                row.forEachColumn { index, bytes in
                    if index == 0, let bytes { value = String(decoding: bytes, as: UTF8.self) }
                }
            case .parameterStatus(let p):
                session.parameters[p.name] = p.value
            case .error:
                failed = true
            case .copyIn, .copyOut, .copyBoth:
                throw queryFailed
            case .ready(let status):
                session.transactionStatus = status
                if failed || !gotRow { throw queryFailed }
                return value
            default:
                break
            }
        }
    }

    /// Sends Terminate and closes a session that is not wanted.
    private static func terminate(_ session: EstablishedSession, tracer: (any MessageTracer)?) {
        var out: [UInt8] = []
        FrontendMessage.terminate.encode(into: &out)
        tracer?.trace(.frontend, bytes: out[...])
        try? session.transport.writeAll(out, deadline: Deadline(secondsFromNow: 1))
        session.transport.close()
    }
}

extension Connection {
    /// For pools, before an idle connection is handed out: reads, without blocking, whatever the
    /// server sent while the connection sat idle (a FATAL and end of file when the server went
    /// away or a failover killed it; ParameterStatus changes such as in_hot_standby after a
    /// promotion) and tells whether the connection is still usable and still suits
    /// target_session_attrs. Costs one poll(2) when nothing arrived.
    func isUsableAfterIdle() -> Bool {
        guard !isClosed else { return false }
        for _ in 0..<4 {
            guard let fd = lock.withLock({ transport.pollableFileDescriptor }) else { break }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let readable = poll(&pfd, 1, 0) > 0 || lock.withLock { transport.hasBufferedBytes }
            guard readable else { break }
            do throws(PostgresError) {
                _ = try dispatchAvailableAsynchronousMessages(socketReadable: true)
            } catch {
                return false
            }
        }
        guard !isClosed else { return false }
        return Self.stillSuits(configuration.targetSessionAttributes, parameters: parameters)
    }

    /// Whether a session whose server reported `parameters` suits `target` (unknown = yes: the
    /// check made while connecting stands).
    static func stillSuits(_ target: TargetSessionAttributes, parameters: [String: String]) -> Bool {
        let hotStandby = parameters["in_hot_standby"]
        let readOnly = parameters["default_transaction_read_only"] == "on" || hotStandby == "on"
        switch target {
        case .any, .preferStandby: return true
        case .readWrite: return !readOnly
        case .readOnly: return hotStandby == nil || readOnly
        case .primary: return hotStandby != "on"
        case .standby: return hotStandby != "off"
        }
    }
}
