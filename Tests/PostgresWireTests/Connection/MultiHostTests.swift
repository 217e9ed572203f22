import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// A TCP port on 127.0.0.1 with nothing listening (bound once by the kernel, then released).
func closedLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Platform.socketStream, 0)
    guard fd >= 0 else { throw TestServerError("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    guard withUnsafePointer(to: &address, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }) == 0 else {
        throw TestServerError("bind failed")
    }
    var actual = sockaddr_in()
    var actualLength = length
    _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) } }
    return Int(UInt16(bigEndian: actual.sin_port))
}

/// The server's port as seen by the session (which node of a cluster we reached).
private func serverPort(_ connection: Connection) throws -> Int {
    Int(try connection.simpleQuery("SELECT inet_server_port()").first?.rows.first?[0] ?? "") ?? -1
}

@Suite struct MultiHostConnectTests {
    @Test func firstHostRefusedSecondGood() throws {
        let server = try TestServer.shared()
        let refused = try closedLoopbackPort()
        let connection = try Connection.connect(server.dsn().replacingOccurrences(of: "host=127.0.0.1 port=\(server.port)",
                                                                                  with: "host=127.0.0.1,127.0.0.1 port=\(refused),\(server.port)"))
        defer { connection.close() }
        #expect(connection.host == connection.configuration.hosts[1])
        #expect(try serverPort(connection) == server.port)
    }

    @Test func silentFirstHostTimesOutThenSecondIsUsed() throws {
        let server = try TestServer.shared()
        // Accepts and never answers (not even to SSLRequest).
        let silent = try FakeServer { client in Thread.sleep(forTimeInterval: 6); _ = client }
        defer { silent.stop() }
        let connection = try Connection.connect(
            "host=127.0.0.1,127.0.0.1 port=\(silent.port),\(server.port) user=pgwire_trust dbname=pgwire_test connect_timeout=1")
        defer { connection.close() }
        #expect(try serverPort(connection) == server.port)
        #expect(silent.acceptedCount == 1)
    }

    @Test func everyFailedHostIsListedAsPsqlDoes() throws {
        let server = try TestServer.shared()
        let silent = try FakeServer { client in Thread.sleep(forTimeInterval: 6); _ = client }
        defer { silent.stop() }
        let p1 = try closedLoopbackPort()
        let conninfo = "host=127.0.0.1,localhost,127.0.0.1 port=\(p1),\(p1),\(silent.port) user=pgwire_trust dbname=pgwire_test connect_timeout=2 sslmode=disable"
        var message = ""
        do {
            _ = try Connection.connect(conninfo)
            Issue.record("connected to nothing")
        } catch {
            message = error.message
        }
        let psql = try server.psql(["-d", conninfo, "-c", "SELECT 1"])
        #expect(psql.status == 2)
        #expect(message + "\n" == psql.stderr.replacingOccurrences(of: "psql: error: ", with: ""))
        #expect(message.contains("port \(silent.port) failed: timeout expired"))

        // hostaddr, one per host: libpq 15 shows the address only.
        let p2 = try closedLoopbackPort()
        let withAddresses = "host=db1.invalid,db2.invalid hostaddr=127.0.0.1,127.0.0.1 port=\(p1),\(p2) user=pgwire_trust dbname=pgwire_test sslmode=disable"
        var addressMessage = ""
        do {
            _ = try Connection.connect(withAddresses)
            Issue.record("connected to nothing")
        } catch {
            addressMessage = error.message
        }
        let psqlAddresses = try server.psql(["-d", withAddresses, "-c", "SELECT 1"])
        #expect(addressMessage + "\n" == psqlAddresses.stderr.replacingOccurrences(of: "psql: error: ", with: ""))
        #expect(addressMessage.hasPrefix("connection to server at \"127.0.0.1\", port \(p1) failed: Connection refused"))
    }

    @Test func authenticationFailureEndsTheSearch() throws {
        let server = try TestServer.shared()
        let second = try FakeServer { _ in }
        defer { second.stop() }
        var error: PostgresError?
        do {
            _ = try Connection.connect(
                "host=127.0.0.1,127.0.0.1 port=\(server.port),\(second.port) user=pgwire_password password=wrong dbname=pgwire_test")
        } catch let e {
            error = e
        }
        #expect(error?.sqlState == "28P01")
        #expect(second.acceptedCount == 0)
    }

    @Test func passFileIsMatchedPerHostTried() throws {
        let server = try TestServer.shared()
        let refused = try closedLoopbackPort()
        let directory = NSTemporaryDirectory() + "pgwire-multihost-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let passfile = directory + "/pgpass"
        // A wrong password for the first host, the right one for the second: each host gets its own line.
        try "localhost:\(refused):*:pgwire_password:wrong\n127.0.0.1:\(server.port):*:pgwire_password:pw-secret\n"
            .write(toFile: passfile, atomically: true, encoding: .utf8)
        chmod(passfile, 0o600)
        let connection = try Connection.connect(
            "host=localhost,127.0.0.1 port=\(refused),\(server.port) user=pgwire_password dbname=pgwire_test passfile=\(passfile)")
        defer { connection.close() }
        #expect(try serverPort(connection) == server.port)
        #expect(connection.authenticationMethod == "password")
    }

    /// A server that reports neither in_hot_standby nor default_transaction_read_only (an older
    /// server, or a pooler) is asked, as libpq does; here a fake standby answers.
    @Test func targetSessionAttrsAsksWhenTheServerDoesNotReport() throws {
        let server = try TestServer.shared()
        let queries = SharedBox<[String]>([])
        let fakeStandby = try FakeServer { client in
            try client.readStartup()
            client.completeTrustStartup()
            guard case .query(let sql) = try client.readMessage() else { throw FakeServerError("expected a Query") }
            queries.withValue { $0.append(sql) }
            let column = RowDescription(fields: [.init(name: "x", dataTypeOID: 25)])
            if sql == "SHOW transaction_read_only" {
                client.send(.rowDescription(column), .dataRow(DataRow(values: [Array("on".utf8)])), .commandComplete(CommandComplete(tag: "SHOW")), .readyForQuery(.idle))
            } else if sql == "SELECT pg_catalog.pg_is_in_recovery()" {
                client.send(.rowDescription(column), .dataRow(DataRow(values: [Array("t".utf8)])), .commandComplete(CommandComplete(tag: "SELECT 1")), .readyForQuery(.idle))
            }
            client.waitForClientClose(timeout: 10)
        }
        defer { fakeStandby.stop() }
        let hosts = "host=127.0.0.1,127.0.0.1 port=\(fakeStandby.port),\(server.port) user=pgwire_trust dbname=pgwire_test sslmode=disable"
        for attrs in ["read-write", "primary"] {
            let connection = try Connection.connect(hosts + " target_session_attrs=\(attrs)")
            #expect(try serverPort(connection) == server.port)
            connection.close()
        }
        let standby = try Connection.connect(hosts + " target_session_attrs=standby")
        #expect(standby.host.port == fakeStandby.port)
        standby.close()
        #expect(queries.value == ["SHOW transaction_read_only", "SELECT pg_catalog.pg_is_in_recovery()", "SELECT pg_catalog.pg_is_in_recovery()"])
    }

    @Test func invalidValuesNameTheValue() throws {
        func message(_ conninfo: String) -> String? {
            do { _ = try ConnectionConfiguration.parse(conninfo, environment: [:], osUser: "u", homeDirectory: "/nonexistent") } catch {
                return error.message
            }
            return nil
        }
        #expect(message("host=a,b target_session_attrs=writable") == #"invalid target_session_attrs value: "writable""#)
        #expect(message("host=a,b load_balance_hosts=sometimes") == #"invalid load_balance_hosts value: "sometimes""#)
        #expect(message("statement_cache_size=-1") == #"invalid statement_cache_size value: "-1""#)
        #expect(message("statement_cache_size=many") == #"invalid statement_cache_size value: "many""#)
        let fromEnvironment = try? ConnectionConfiguration.parse(
            "host=a", environment: ["PGTARGETSESSIONATTRS": "standby", "PGLOADBALANCEHOSTS": "random"], osUser: "u", homeDirectory: "/nonexistent")
        #expect(fromEnvironment?.targetSessionAttributes == .standby)
        #expect(fromEnvironment?.loadBalanceHosts == .random)
        do {
            _ = try ConnectionConfiguration.parse("host=a", environment: ["PGLOADBALANCEHOSTS": "x"], osUser: "u", homeDirectory: "/nonexistent")
            Issue.record("PGLOADBALANCEHOSTS=x accepted")
        } catch {
            #expect(error.message == #"invalid load_balance_hosts value: "x""#)
        }
        #expect(try ConnectionConfiguration.parse("postgresql://h1:5432,h2:5433/db?target_session_attrs=read-write&load_balance_hosts=random",
                                                  environment: [:], osUser: "u", homeDirectory: "/nonexistent").loadBalanceHosts == .random)
    }
}

/// The suites that start clusters, PgBouncer or many client threads run one after another (not
/// alongside each other), to keep the load on a small CI machine down.
@Suite(.serialized) enum ClusterIntegrationTests {}

extension ClusterIntegrationTests {
    /// target_session_attrs and load_balance_hosts against a real primary with two streaming standbys.
    @Suite(.serialized) struct ReplicatedClusterTests {
        @Test func everyTargetSessionAttrsValueInBothOrders() throws {
            let cluster = try ReplicatedCluster.shared()
            let p = cluster.primary, s = cluster.standbys[0]
            let expected: [(TargetSessionAttributes, ReplicatedCluster.Node)] = [
                (.readWrite, p), (.readOnly, s), (.primary, p), (.standby, s), (.preferStandby, s),
            ]
            for order in [[p, s], [s, p]] {
                for (attrs, node) in expected {
                    let connection = try Connection.connect(cluster.dsn(order, extra: "target_session_attrs=\(attrs.rawValue)"))
                    #expect(try serverPort(connection) == node.port, "\(attrs.rawValue) over \(order.map(\.name))")
                    connection.close()
                }
                let any = try Connection.connect(cluster.dsn(order, extra: "target_session_attrs=any"))
                #expect(try serverPort(any) == order[0].port)
                any.close()
            }
            // prefer-standby with no standby in the list falls back to any server.
            let fallback = try Connection.connect(cluster.dsn([p, p], extra: "target_session_attrs=prefer-standby"))
            #expect(try serverPort(fallback) == p.port)
            fallback.close()
            // PGTARGETSESSIONATTRS applies when the string does not say.
            let configuration = try ConnectionConfiguration.parse(cluster.dsn([p, s]), environment: ["PGTARGETSESSIONATTRS": "standby"])
            let fromEnvironment = try Connection(configuration: configuration)
            #expect(try serverPort(fromEnvironment) == s.port)
            fromEnvironment.close()
        }

        @Test func noSuitableServerReportsEachHostAsPsqlDoes() throws {
            let cluster = try ReplicatedCluster.shared()
            let p = cluster.primary, s1 = cluster.standbys[0], s2 = cluster.standbys[1]
            let cases: [(String, String)] = [
                (cluster.dsn([s1, s2], extra: "target_session_attrs=read-write"), "session is read-only"),
                (cluster.dsn([s1, s2], extra: "target_session_attrs=primary"), "server is in hot standby mode"),
                (cluster.dsn([p], extra: "target_session_attrs=read-only"), "session is not read-only"),
                (cluster.dsn([p], extra: "target_session_attrs=standby"), "server is not in hot standby mode"),
            ]
            let psql = cluster.binDirectory + "/psql"
            for (conninfo, reason) in cases {
                var message = ""
                do {
                    _ = try Connection.connect(conninfo)
                    Issue.record("connected: \(conninfo)")
                } catch {
                    message = error.message
                }
                #expect(message.contains(reason))
                let oracle = try runProcess(psql, ["-X", "-d", conninfo, "-c", "SELECT 1"], environment: ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"])
                #expect(oracle.status == 2)
                #expect(message + "\n" == oracle.stderr.replacingOccurrences(of: "psql: error: ", with: ""))
            }
        }

        @Test func loadBalanceHostsRandomSpreadsConnections() throws {
            let cluster = try ReplicatedCluster.shared()
            let s1 = cluster.standbys[0], s2 = cluster.standbys[1]
            var counts: [Int: Int] = [:]
            for _ in 0..<200 {
                let connection = try Connection.connect(cluster.dsn([s1, s2], extra: "load_balance_hosts=random"))
                counts[connection.host.port, default: 0] += 1
                connection.close()
            }
            #expect(counts.values.reduce(0, +) == 200)
            for node in [s1, s2] {
                #expect((70...130).contains(counts[node.port] ?? 0), "\(node.name): \(counts[node.port] ?? 0) of 200")
            }
            // disable (the default) always takes the first host that works.
            for _ in 0..<5 {
                let connection = try Connection.connect(cluster.dsn([s1, s2], extra: "load_balance_hosts=disable"))
                #expect(connection.host.port == s1.port)
                connection.close()
            }
            // random with target_session_attrs still lands on a suitable server.
            for _ in 0..<10 {
                let connection = try Connection.connect(
                    cluster.dsn([s1, cluster.primary, s2], extra: "load_balance_hosts=random target_session_attrs=read-write"))
                #expect(try serverPort(connection) == cluster.primary.port)
                connection.close()
            }
        }

        @Test func uriWithSeveralHosts() throws {
            let cluster = try ReplicatedCluster.shared()
            let uri = "postgresql://127.0.0.1:\(cluster.standbys[0].port),127.0.0.1:\(cluster.primary.port)/pgwire_test?user=pgwire_trust&sslmode=disable&target_session_attrs=read-write"
            let connection = try Connection.connect(uri)
            defer { connection.close() }
            #expect(try serverPort(connection) == cluster.primary.port)
        }
    }
}

/// A value shared by test threads and tasks.
final class SharedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    func withValue<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&stored)
    }
    var value: Value { withValue { $0 } }
}

/// Runs blocking work (processes, sleeps, blocking pools) on a thread of its own, so an async test
/// never holds one of the few threads of Swift's cooperative pool that other tests need.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
