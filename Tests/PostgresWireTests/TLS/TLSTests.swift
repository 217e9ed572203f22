// TLS (issue 6): libpq's sslmode semantics, certificate and host-name verification, client
// certificates, channel binding, failing closed, direct TLS; against a throwaway ssl=on cluster
// (TLSTestServer), fake servers, and psql/libpq where their behaviour is the oracle.

import Foundation
@testable import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

// MARK: - Helpers

enum TLSFixture {
    static func server() throws -> TLSTestServer { try TLSTestServer.shared() }

    /// Resolves `dsn` against a clean environment and `home` (default: an empty home directory, so
    /// no ~/.postgresql file of the machine's user interferes).
    static func configuration(_ dsn: String, home: String? = nil) throws -> ConnectionConfiguration {
        let server = try server()
        return try ConnectionConfiguration.parse(dsn, environment: ["PGPASSFILE": server.socketDirectory + "/no-such-pgpass"],
                                                 homeDirectory: home ?? server.emptyHome)
    }

    static func connect(_ dsn: String, home: String? = nil) throws -> Connection {
        try Connection(configuration: configuration(dsn, home: home))
    }

    /// The error connecting with `dsn` fails with (an issue is recorded when it succeeds).
    static func connectError(_ dsn: String, home: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> PostgresError? {
        do {
            let connection = try connect(dsn, home: home)
            connection.close()
            Issue.record("expected the connection to fail: \(dsn)", sourceLocation: sourceLocation)
            return nil
        } catch let error as PostgresError {
            return error
        } catch let error as ConfigurationError {
            return .configuration(error)
        } catch {
            Issue.record("unexpected error \(type(of: error)): \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// (ssl in use, protocol version) from pg_stat_ssl for this session.
    static func sslStatus(_ connection: Connection) throws -> (ssl: Bool, version: String?, clientDN: String?) {
        let row = try #require(try connection.simpleQuery(
            "SELECT ssl, version, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()").first?.rows.first)
        return (row[0] == "t", row[1], row[2])
    }

    /// A temporary home directory with `.postgresql/<name>` files copied from `files`.
    static func home(with files: [String: String]) throws -> String {
        let server = try server()
        let home = server.socketDirectory + "/home-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: home + "/.postgresql", withIntermediateDirectories: true)
        for (name, source) in files {
            try FileManager.default.copyItem(atPath: source, toPath: home + "/.postgresql/" + name)
            if name.hasSuffix(".key") { chmod(home + "/.postgresql/" + name, 0o600) }
        }
        return home
    }

    /// The `pgwire` executable next to the test bundle (built by `swift test`), or PGWIRE_BINARY.
    static func pgwireBinary() throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["PGWIRE_BINARY"], access(explicit, X_OK) == 0 { return explicit }
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var url = URL(fileURLWithPath: exe)
            while url.pathComponents.count > 1 {
                url.deleteLastPathComponent()
                candidates.append(url.appendingPathComponent("pgwire").path)
            }
        }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("pgwire").path)
        }
        for candidate in candidates {
            var info = stat()
            if access(candidate, X_OK) == 0, stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG { return candidate }
        }
        throw TestServerError("pgwire executable not found (looked at \(candidates.prefix(4))); build it with the same --scratch-path or set PGWIRE_BINARY")
    }

    static func pgwire(_ arguments: [String]) throws -> ProcessResult {
        let server = try server()
        return try runProcess(try pgwireBinary(), arguments, environment: server.environment(), timeout: 120)
    }

    static func psql(_ arguments: [String]) throws -> ProcessResult {
        let server = try server()
        return try runProcess(server.psqlExecutable, ["-X"] + arguments, environment: server.environment(), timeout: 120)
    }
}

extension PostgresError {
    var isConnectionFailure: Bool {
        if case .connectionFailed = self { return true }
        return false
    }
}

// MARK: - Host name verification rules (no server)

@Suite("TLS host name verification")
struct TLSHostNameTests {
    typealias V = HostNameVerification
    static func dns(_ s: String) -> V.Name { .dns(Array(s.utf8)) }

    @Test func exactAndCaseInsensitiveDNSNames() {
        #expect(V.check(subjectAltNames: [Self.dns("db.example.com")], commonName: nil, host: "db.example.com") == nil)
        #expect(V.check(subjectAltNames: [Self.dns("DB.Example.COM")], commonName: nil, host: "db.example.com") == nil)
        #expect(V.check(subjectAltNames: [Self.dns("other.example.com")], commonName: nil, host: "db.example.com")
                == #"server certificate for "other.example.com" does not match host name "db.example.com""#)
    }

    @Test func wildcards() {
        let sans = [Self.dns("*.example.com")]
        #expect(V.check(subjectAltNames: sans, commonName: nil, host: "db.example.com") == nil)
        #expect(V.check(subjectAltNames: sans, commonName: nil, host: "a.b.example.com") != nil)
        #expect(V.check(subjectAltNames: sans, commonName: nil, host: "example.com") != nil)
        #expect(!V.wildcardMatches(pattern: "db*.example.com", host: "db1.example.com"))
        #expect(!V.wildcardMatches(pattern: "*", host: "x"))
        #expect(V.wildcardMatches(pattern: "*.Example.com", host: "DB.example.COM"))
    }

    @Test func commonNameOnlyWithoutSANsOfTheHostsType() {
        // No SAN at all: the CN counts.
        #expect(V.check(subjectAltNames: [], commonName: Array("localhost".utf8), host: "localhost") == nil)
        // A dNSName SAN present: the CN is ignored for a host name.
        #expect(V.check(subjectAltNames: [Self.dns("other")], commonName: Array("localhost".utf8), host: "localhost") != nil)
        // ... but not for an IP address host, whose SAN type is iPAddress (libpq 14+).
        #expect(V.check(subjectAltNames: [Self.dns("other")], commonName: Array("127.0.0.1".utf8), host: "127.0.0.1") == nil)
        // An iPAddress SAN present: the CN is ignored for an IP host.
        #expect(V.check(subjectAltNames: [.ip([10, 0, 0, 1])], commonName: Array("127.0.0.1".utf8), host: "127.0.0.1")
                == #"server certificate for "10.0.0.1" does not match host name "127.0.0.1""#)
    }

    @Test func ipAddressSANs() {
        #expect(V.check(subjectAltNames: [.ip([127, 0, 0, 1])], commonName: nil, host: "127.0.0.1") == nil)
        let loopback6: [UInt8] = Array(repeating: 0, count: 15) + [1]
        #expect(V.check(subjectAltNames: [.ip(loopback6)], commonName: nil, host: "::1") == nil)
        #expect(V.check(subjectAltNames: [.ip(loopback6)], commonName: nil, host: "0:0::1") == nil)
        #expect(V.check(subjectAltNames: [.ip(loopback6)], commonName: nil, host: "127.0.0.1")
                == #"server certificate for "::1" does not match host name "127.0.0.1""#)
        #expect(V.check(subjectAltNames: [.ip([1, 2, 3])], commonName: nil, host: "127.0.0.1")
                == "certificate contains IP address with invalid length 3")
        // An IP SAN never matches a host name.
        #expect(V.check(subjectAltNames: [.ip([127, 0, 0, 1])], commonName: nil, host: "localhost") != nil)
    }

    @Test func messagesCountTheOtherNames() {
        let sans = [Self.dns("a"), Self.dns("b"), .ip([10, 0, 0, 1])]
        #expect(V.check(subjectAltNames: sans, commonName: Array("cn".utf8), host: "c")
                == #"server certificate for "a" (and 2 other names) does not match host name "c""#)
        #expect(V.check(subjectAltNames: [Self.dns("a"), Self.dns("b")], commonName: nil, host: "c")
                == #"server certificate for "a" (and 1 other name) does not match host name "c""#)
        #expect(V.check(subjectAltNames: [], commonName: nil, host: "c") == "could not get server's host name from server certificate")
    }

    @Test func embeddedNullIsAnError() {
        #expect(V.check(subjectAltNames: [.dns(Array("localhost\0.evil.com".utf8))], commonName: nil, host: "localhost")
                == "SSL certificate's name contains embedded null")
    }

    @Test func ipAddressDetection() {
        #expect(V.isIPAddress("127.0.0.1"))
        #expect(V.isIPAddress("127.1"))  // inet_aton's forms, as libpq
        #expect(V.isIPAddress("::1"))
        #expect(!V.isIPAddress("localhost"))
        #expect(!V.isIPAddress("db.example.com"))
    }
}

// MARK: - Options

@Suite("TLS options")
struct TLSOptionTests {
    static func parse(_ s: String) throws(ConfigurationError) -> ConnectionConfiguration {
        try ConnectionConfiguration.parse(s, environment: [:], osUser: "u", homeDirectory: "/nonexistent")
    }

    static func error(_ s: String) -> String? {
        do { _ = try parse(s); return nil } catch { return error.message }
    }

    @Test func sslnegotiation() throws {
        #expect(try Self.parse("host=h").sslNegotiation == .postgres)
        #expect(try Self.parse("host=h sslmode=require sslnegotiation=direct").sslNegotiation == .direct)
        #expect(try ConnectionConfiguration.parse("host=h", environment: ["PGSSLNEGOTIATION": "direct", "PGSSLMODE": "verify-full"],
                                                  osUser: "u", homeDirectory: "/x").sslNegotiation == .direct)
        #expect(try ConnectionConfiguration.parseOptions("postgresql://h?sslnegotiation=direct") == ["host": "h", "sslnegotiation": "direct"])
        #expect(Self.error("sslnegotiation=bogus") == #"invalid sslnegotiation value: "bogus""#)
        #expect(Self.error("sslnegotiation=direct") == #"weak sslmode "prefer" may not be used with sslnegotiation=direct (use "require", "verify-ca", or "verify-full")"#)
        #expect(Self.error("sslnegotiation=direct sslmode=allow") != nil)
    }

    @Test func sslrootcertSystemImpliesVerifyFull() throws {
        #expect(try Self.parse("sslrootcert=system").sslMode == .verifyFull)
        #expect(try ConnectionConfiguration.parse("", environment: ["PGSSLROOTCERT": "system"], osUser: "u", homeDirectory: "/x").sslMode == .verifyFull)
        #expect(Self.error("sslrootcert=system sslmode=require") == #"weak sslmode "require" may not be used with sslrootcert=system (use "verify-full")"#)
        #expect(Self.error("sslrootcert=system sslmode=verify-ca") != nil)
        #expect(try Self.parse("sslrootcert=/x sslmode=require").sslMode == .require)
    }

    @Test func sniHostAndVerifiedName() throws {
        func settings(_ s: String) throws -> TLSSettings {
            let c = try Self.parse(s)
            return TLSSettings(configuration: c, host: c.hosts[0], direct: false)
        }
        #expect(try settings("host=db.example.com").serverName == "db.example.com")
        #expect(try settings("host=db.example.com sslsni=0").serverName == nil)
        #expect(try settings("host=127.0.0.1").serverName == nil)
        #expect(try settings("host=::1").serverName == nil)
        #expect(try settings("host=db.example.com sslmode=verify-full").verifyHostName == "db.example.com")
        #expect(try settings("host=db.example.com hostaddr=10.0.0.1 sslmode=verify-full").verifyHostName == "db.example.com")
        #expect(try settings("host=db.example.com sslmode=verify-ca").verifyHostName == nil)
        #expect(try settings("hostaddr=10.0.0.1 sslmode=verify-full").hostNameMissing)
    }
}

// MARK: - sslmode against the ssl=on cluster

@Suite("TLS sslmode")
struct TLSModeTests {
    @Test func disableIsPlaintext() throws {
        let server = try TLSFixture.server()
        let c = try TLSFixture.connect(server.dsn(extra: "sslmode=disable"))
        defer { c.close() }
        #expect(try TLSFixture.sslStatus(c).ssl == false)
        // A role allowed only over TLS is refused.
        let error = TLSFixture.connectError(server.dsn(role: .sslOnly, extra: "sslmode=disable"))
        #expect(error?.sqlState == "28000", "\(String(describing: error))")
    }

    @Test func allowTriesPlaintextThenTLS() throws {
        let server = try TLSFixture.server()
        let plain = try TLSFixture.connect(server.dsn(extra: "sslmode=allow"))
        defer { plain.close() }
        #expect(try TLSFixture.sslStatus(plain).ssl == false)
        // pg_hba refuses tls_sslonly in plaintext: libpq's allow retries with TLS.
        let secured = try TLSFixture.connect(server.dsn(role: .sslOnly, extra: "sslmode=allow"))
        defer { secured.close() }
        #expect(try TLSFixture.sslStatus(secured).ssl == true)
    }

    @Test func preferUsesTLSAndFallsBack() throws {
        let server = try TLSFixture.server()
        let secured = try TLSFixture.connect(server.dsn())  // prefer is the default
        defer { secured.close() }
        let status = try TLSFixture.sslStatus(secured)
        #expect(status.ssl == true)
        #expect(status.version == "TLSv1.3")
        // pg_hba refuses tls_nossl over TLS: prefer retries in plaintext.
        let plain = try TLSFixture.connect(server.dsn(role: .noSSL))
        defer { plain.close() }
        #expect(try TLSFixture.sslStatus(plain).ssl == false)
    }

    @Test func allowAndPreferFailWhenBothWaysAreRefused() throws {
        // tls_cert needs a client certificate: refused in plaintext and over TLS, so both attempts fail.
        let server = try TLSFixture.server()
        for mode in ["allow", "prefer"] {
            let error = TLSFixture.connectError(server.dsn(role: .cert, extra: "sslmode=\(mode)"))
            #expect(error?.sqlState == "28000", "\(mode): \(String(describing: error))")
        }
    }

    @Test func preferFallsBackWhenTheHandshakeFails() throws {
        // A root certificate that does not verify the server: under prefer the TLS attempt fails and
        // the plaintext one is allowed.
        let server = try TLSFixture.server()
        let c = try TLSFixture.connect(server.dsn(extra: "sslrootcert=\(server.certificates.otherCACertificate)"))
        defer { c.close() }
        #expect(try TLSFixture.sslStatus(c).ssl == false)
    }

    @Test func requireEncryptsWithoutVerifying() throws {
        let server = try TLSFixture.server()
        // No root certificate: no verification (the server's CA is unknown to the client).
        let c = try TLSFixture.connect(server.dsn(host: "127.0.0.1", extra: "sslmode=require"))
        defer { c.close() }
        #expect(try TLSFixture.sslStatus(c).ssl == true)
        // Never plaintext: a role refused over TLS is not retried without it.
        let error = TLSFixture.connectError(server.dsn(role: .noSSL, extra: "sslmode=require"))
        #expect(error?.sqlState == "28000")
        #expect(error?.message.contains("SSL encryption") == true, "\(String(describing: error))")
    }

    @Test func requireVerifiesWhenARootCertificateIsGiven() throws {
        let server = try TLSFixture.server()
        let ok = try TLSFixture.connect(server.dsn(host: "127.0.0.1", extra: "sslmode=require sslrootcert=\(server.certificates.caCertificate)"))
        ok.close()
        let error = TLSFixture.connectError(server.dsn(extra: "sslmode=require sslrootcert=\(server.certificates.otherCACertificate)"))
        #expect(error?.isConnectionFailure == true)
        #expect(error?.message.contains("SSL error: certificate verify failed") == true, "\(String(describing: error))")
    }

    @Test func defaultRootCertificateInHomeDirectory() throws {
        let server = try TLSFixture.server()
        // ~/.postgresql/root.crt makes require verify (like verify-ca) ...
        let wrongHome = try TLSFixture.home(with: ["root.crt": server.certificates.otherCACertificate])
        let error = TLSFixture.connectError(server.dsn(extra: "sslmode=require"), home: wrongHome)
        #expect(error?.message.contains("certificate verify failed") == true, "\(String(describing: error))")
        // ... and is what verify-ca / verify-full use without sslrootcert.
        let rightHome = try TLSFixture.home(with: ["root.crt": server.certificates.caCertificate])
        let c = try TLSFixture.connect(server.dsn(extra: "sslmode=verify-full"), home: rightHome)
        defer { c.close() }
        #expect(try TLSFixture.sslStatus(c).ssl == true)
    }

    @Test func homeDirectoryComesFromHOMEFirst() throws {
        // libpq 15: ~/.postgresql/ is found through $HOME; the password database only when HOME
        // is unset or empty. No homeDirectory is passed here: only the environment names it.
        let server = try TLSFixture.server()
        func configuration(home: String) throws -> ConnectionConfiguration {
            try ConnectionConfiguration.parse(server.dsn(extra: "sslmode=verify-full"), environment: [
                "PGPASSFILE": server.socketDirectory + "/no-such-pgpass", "HOME": home,
            ])
        }
        let rightHome = try TLSFixture.home(with: ["root.crt": server.certificates.caCertificate])
        let c = try Connection(configuration: configuration(home: rightHome))
        defer { c.close() }
        #expect(try TLSFixture.sslStatus(c).ssl == true)

        let wrongHome = try TLSFixture.home(with: ["root.crt": server.certificates.otherCACertificate])
        do {
            let other = try Connection(configuration: configuration(home: wrongHome))
            other.close()
            Issue.record("verified the server with the wrong ~/.postgresql/root.crt")
        } catch let error as PostgresError {
            #expect(error.message.contains("certificate verify failed"), "\(error)")
        }

        let emptyHome = server.emptyHome
        do {
            let other = try Connection(configuration: configuration(home: emptyHome))
            other.close()
            Issue.record("connected with verify-full and no root certificate")
        } catch let error as PostgresError {
            #expect(error.message.contains("root certificate file \"\(emptyHome)/.postgresql/root.crt\" does not exist"), "\(error)")
        }
    }

    @Test func verifyCA() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        // The chain is checked, the host name is not.
        let c = try TLSFixture.connect(server.dsn(host: "127.0.0.1", extra: "sslmode=verify-ca sslrootcert=\(certs.caCertificate)"))
        defer { c.close() }
        #expect(try TLSFixture.sslStatus(c).ssl == true)

        let wrongCA = TLSFixture.connectError(server.dsn(extra: "sslmode=verify-ca sslrootcert=\(certs.otherCACertificate)"))
        #expect(wrongCA?.message.contains("SSL error: certificate verify failed: ") == true,
                "\(String(describing: wrongCA))")
        #expect(wrongCA?.message.hasPrefix("connection to server at \"localhost\"") == true, "\(String(describing: wrongCA))")

        let missing = TLSFixture.connectError(server.dsn(extra: "sslmode=verify-ca"))
        #expect(missing?.message.contains("root certificate file \"\(server.emptyHome)/.postgresql/root.crt\" does not exist") == true,
                "\(String(describing: missing))")
        let missingGiven = TLSFixture.connectError(server.dsn(extra: "sslmode=verify-ca sslrootcert=/nonexistent/root.crt"))
        #expect(missingGiven?.message.contains("root certificate file \"/nonexistent/root.crt\" does not exist") == true)
    }

    @Test func keyShareIsForP256AmongOpenSSLsGroups() throws {
        // PostgreSQL up to 17 takes only P-256 for the key exchange: the ClientHello's one key
        // share is for it (no HelloRetryRequest), and the groups offered are OpenSSL's, in
        // OpenSSL's order apart from P-256 moved to the front.
        let server = try TLSFixture.server()
        let configuration = try TLSFixture.configuration(server.dsn(host: "127.0.0.1", extra: "sslmode=require"))
        let settings = TLSSettings(configuration: configuration, host: configuration.hosts[0], direct: false)
        let ours = try #require(try ClientHelloSample.of(settings))
        let plain = try #require(ClientHelloSample.openSSLDefault())
        #expect(ours.keyShareGroup == KeyShare.p256)
        #expect(ours.groups.first?.codePoint == KeyShare.p256)
        #expect(ours.groups.first?.name == "secp256r1")
        #expect(ours.groups.map(\.codePoint).sorted() == plain.groups.map(\.codePoint).sorted())
        #expect(ours.groups.map(\.codePoint).filter { $0 != KeyShare.p256 } == plain.groups.map(\.codePoint).filter { $0 != KeyShare.p256 })

        let socket = try SocketTransport.connectTCP(host: "127.0.0.1", hostaddr: nil, port: server.port, deadline: Deadline(secondsFromNow: 10))
        #expect(try Connection.requestSSL(socket: socket, sslMode: .require, deadline: Deadline(secondsFromNow: 10)))
        let transport = try TLSTransport.handshake(socket: socket, settings: settings, deadline: Deadline(secondsFromNow: 10))
        defer { transport.close() }
        #expect(transport.keyExchangeGroup == "secp256r1")
        #expect(transport.protocolVersion == "TLSv1.3")
    }

    @Test func sharedContextIsRebuiltWhenACertificateFileChanges() throws {
        // One SSL_CTX serves every connection of a configuration (TLSContextCache), but, as
        // libpq reads its files on each connect, a root certificate replaced in place is used by
        // the next connection.
        let server = try TLSFixture.server()
        let certs = server.certificates
        let root = server.socketDirectory + "/root-" + UUID().uuidString + ".crt"
        try FileManager.default.copyItem(atPath: certs.caCertificate, toPath: root)
        let dsn = server.dsn(host: "127.0.0.1", extra: "sslmode=verify-ca sslrootcert=\(root)")
        let configuration = try TLSFixture.configuration(dsn)
        let key = TLSContextCache.Key(TLSSettings(configuration: configuration, host: configuration.hosts[0], direct: false))
        for _ in 0..<3 { try TLSFixture.connect(dsn).close() }
        #expect(TLSContextCache.shared.contains(key), "the context was not kept for reuse")

        // Replace the file with another CA's certificate: the cached context must not be used.
        try FileManager.default.removeItem(atPath: root)
        try FileManager.default.copyItem(atPath: certs.otherCACertificate, toPath: root)
        #expect(!TLSContextCache.shared.contains(TLSContextCache.Key(TLSSettings(configuration: configuration,
                                                                                 host: configuration.hosts[0], direct: false))))
        let error = TLSFixture.connectError(dsn)
        #expect(error?.message.contains("certificate verify failed") == true, "\(String(describing: error))")
        // And back: verification succeeds again.
        try FileManager.default.removeItem(atPath: root)
        try FileManager.default.copyItem(atPath: certs.caCertificate, toPath: root)
        try TLSFixture.connect(dsn).close()
    }

    @Test func verifyFull() throws {
        let server = try TLSFixture.server()
        let root = "sslrootcert=\(server.certificates.caCertificate)"
        let c = try TLSFixture.connect(server.dsn(extra: "sslmode=verify-full \(root)"))
        defer { c.close() }
        #expect(try TLSFixture.sslStatus(c).ssl == true)
        // The certificate names localhost only (SAN and CN; for an IP host libpq checks the CN too).
        let wrongHost = TLSFixture.connectError(server.dsn(host: "127.0.0.1", extra: "sslmode=verify-full \(root)"))
        #expect(wrongHost?.message == "connection to server at \"127.0.0.1\", port \(server.port) failed: server certificate for \"localhost\" (and 1 other name) does not match host name \"127.0.0.1\"",
                "\(String(describing: wrongHost))")
        // hostaddr: connect to the address, verify the name.
        let viaAddress = try TLSFixture.connect(server.dsn(extra: "hostaddr=127.0.0.1 sslmode=verify-full \(root)"))
        viaAddress.close()
        // Only an address given: there is no name to verify.
        let noName = TLSFixture.connectError("hostaddr=127.0.0.1 port=\(server.port) user=tls_trust dbname=tls_test sslmode=verify-full \(root)")
        #expect(noName?.message.contains("host name must be specified for a verified SSL connection") == true, "\(String(describing: noName))")
    }

    @Test func certificateRevocationLists() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        let ok = try TLSFixture.connect(server.dsn(extra: "sslmode=verify-full sslrootcert=\(certs.caCertificate) sslcrl=\(certs.emptyCRL)"))
        ok.close()
        let revoked = TLSFixture.connectError(server.dsn(extra: "sslmode=verify-full sslrootcert=\(certs.caCertificate) sslcrl=\(certs.serverRevokedCRL)"))
        #expect(revoked?.message.contains("certificate revoked") == true, "\(String(describing: revoked))")
        // ~/.postgresql/root.crl is the default.
        let home = try TLSFixture.home(with: ["root.crt": certs.caCertificate, "root.crl": certs.serverRevokedCRL])
        let revokedByDefault = TLSFixture.connectError(server.dsn(extra: "sslmode=verify-ca"), home: home)
        #expect(revokedByDefault?.message.contains("certificate revoked") == true, "\(String(describing: revokedByDefault))")
    }

    @Test func protocolVersionBounds() throws {
        let server = try TLSFixture.server()
        let c = try TLSFixture.connect(server.dsn(extra: "sslmode=require ssl_max_protocol_version=TLSv1.2"))
        defer { c.close() }
        #expect(try TLSFixture.sslStatus(c).version == "TLSv1.2")
        let c13 = try TLSFixture.connect(server.dsn(extra: "sslmode=require ssl_min_protocol_version=TLSv1.3"))
        defer { c13.close() }
        #expect(try TLSFixture.sslStatus(c13).version == "TLSv1.3")
    }

    @Test func unixSocketIgnoresSSLMode() throws {
        // libpq: "sslmode is ignored for Unix domain socket communication" (psql agrees below).
        let server = try TLSFixture.server()
        let dsn = "host=\(server.socketDirectory) port=\(server.port) user=tls_trust dbname=tls_test sslmode=verify-full"
        let c = try TLSFixture.connect(dsn)
        defer { c.close() }
        #expect(try TLSFixture.sslStatus(c).ssl == false)
        let psql = try TLSFixture.psql(["-d", dsn, "-At", "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"])
        #expect(psql.status == 0 && psql.stdout == "f\n", "\(psql)")
    }

    @Test func bulkDataOverTLS() throws {
        // Many TLS records per read and per write: a 3 MB value each way, then 50,000 rows.
        let server = try TLSFixture.server()
        let c = try TLSFixture.connect(server.dsn(extra: "sslmode=require"))
        defer { c.close() }
        let big = String(repeating: "0123456789abcdef", count: 3 * 65536)
        let row = try #require(try c.simpleQuery("SELECT length('\(big)'), md5('\(big)'), repeat('x', 3000000) AS r").first?.rows.first)
        #expect(row[0] == String(big.utf8.count))
        #expect(row[1] == Crypto.hex(Crypto.md5(Array(big.utf8))))
        #expect(row[2]?.utf8.count == 3_000_000)
        var count = 0
        try c.simpleQuery("SELECT g, repeat('y', 100) FROM generate_series(1, 50000) g") { event in
            if case .row = event { count += 1 }
        }
        #expect(count == 50000)
        let value = String(repeating: "z", count: 100_000)
        let params = try c.query("SELECT \(value)::text = repeat('z', 100000)")
        #expect(params.rows.first?[0] == "t")
    }

    @Test func cancelAndCloseOverTLS() throws {
        let server = try TLSFixture.server()
        let c = try TLSFixture.connect(server.dsn(extra: "sslmode=require"))
        let done = ManagedFlag()
        let canceller = Thread {
            // Until the query ends: a cancel that arrives before the query starts is ignored.
            while !done.value {
                Thread.sleep(forTimeInterval: 0.3)
                if !done.value { try? c.cancel() }
            }
        }
        canceller.start()
        defer { done.set() }
        do {
            _ = try c.simpleQuery("SELECT pg_sleep(20)")
            Issue.record("the query was not cancelled")
        } catch let error as PostgresError {
            #expect(error.sqlState == "57014", "\(error)")
        }
        done.set()
        // Still usable afterwards, then closed cleanly.
        #expect(try c.simpleQuery("SELECT 1").first?.rows.first?[0] == "1")
        c.close()
        #expect(c.isClosed)
    }
}

// MARK: - Client certificates

@Suite("TLS client certificates")
struct TLSClientCertificateTests {
    @Test func certAuthentication() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        let c = try TLSFixture.connect(server.dsn(role: .cert, extra: "sslmode=verify-full sslrootcert=\(certs.caCertificate) sslcert=\(certs.clientCertificate) sslkey=\(certs.clientKey)"))
        defer { c.close() }
        let status = try TLSFixture.sslStatus(c)
        #expect(status.ssl)
        #expect(status.clientDN == "/CN=tls_cert")
        #expect(try c.simpleQuery("SELECT current_user").first?.rows.first?[0] == "tls_cert")
    }

    @Test func defaultClientCertificateInHomeDirectory() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        let home = try TLSFixture.home(with: ["postgresql.crt": certs.clientCertificate, "postgresql.key": certs.clientKey])
        let c = try TLSFixture.connect(server.dsn(role: .cert, extra: "sslmode=require"), home: home)
        defer { c.close() }
        #expect(try TLSFixture.sslStatus(c).clientDN == "/CN=tls_cert")
    }

    @Test func withoutACertificateTheServerRefuses() throws {
        let server = try TLSFixture.server()
        let error = TLSFixture.connectError(server.dsn(role: .cert, extra: "sslmode=require"))
        #expect(error?.sqlState == "28000", "\(String(describing: error))")
        #expect(error?.message.contains("connection requires a valid client certificate") == true, "\(String(describing: error))")
    }

    @Test func encryptedKeyNeedsSslpassword() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        let base = "sslmode=require sslcert=\(certs.clientCertificate) sslkey=\(certs.clientEncryptedKey)"
        let c = try TLSFixture.connect(server.dsn(role: .cert, extra: base + " sslpassword=\(certs.clientKeyPassword)"))
        defer { c.close() }
        #expect(try TLSFixture.sslStatus(c).clientDN == "/CN=tls_cert")

        for extra in ["", " sslpassword=wrong-secret"] {
            let error = TLSFixture.connectError(server.dsn(role: .cert, extra: base + extra))
            #expect(error?.message.contains("could not load private key file \"\(certs.clientEncryptedKey)\"") == true, "\(String(describing: error))")
            #expect(error?.message.contains("wrong-secret") == false)
        }
    }

    @Test func keyFilePermissionsAreChecked() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        let error = TLSFixture.connectError(server.dsn(role: .cert, extra: "sslmode=require sslcert=\(certs.clientCertificate) sslkey=\(certs.clientWorldReadableKey)"))
        #expect(error?.message.hasSuffix("failed: private key file \"\(certs.clientWorldReadableKey)\" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root") == true,
                "\(String(describing: error))")
        // libpq says the same.
        let psql = try TLSFixture.psql(["-d", server.dsn(role: .cert, extra: "sslmode=require sslcert=\(certs.clientCertificate) sslkey=\(certs.clientWorldReadableKey)"), "-c", "SELECT 1"])
        #expect(psql.status == 2)
        #expect(psql.stderr.contains("private key file \"\(certs.clientWorldReadableKey)\" has group or world access"), "\(psql)")

        let missing = TLSFixture.connectError(server.dsn(role: .cert, extra: "sslmode=require sslcert=\(certs.clientCertificate) sslkey=/nonexistent.key"))
        #expect(missing?.message.hasSuffix("certificate present, but not private key file \"/nonexistent.key\"") == true, "\(String(describing: missing))")
        let mismatch = TLSFixture.connectError(server.dsn(role: .cert, extra: "sslmode=require sslcert=\(certs.clientCertificate) sslkey=\(certs.rsaSelfSignedKey)"))
        #expect(mismatch?.message.contains("certificate does not match private key file") == true, "\(String(describing: mismatch))")
    }
}

// MARK: - Channel binding

@Suite("TLS channel binding")
struct TLSChannelBindingTests {
    @Test func preferUsesSCRAMPlusOverTLS() throws {
        let server = try TLSFixture.server()
        let c = try TLSFixture.connect(server.dsn(role: .scram, extra: "sslmode=require"))
        defer { c.close() }
        #expect(c.authenticationMethod == "SCRAM-SHA-256-PLUS")
        let plain = try TLSFixture.connect(server.dsn(role: .scram, extra: "sslmode=disable"))
        defer { plain.close() }
        #expect(plain.authenticationMethod == "SCRAM-SHA-256")
    }

    @Test func requireBindsAndDisableDoesNot() throws {
        let server = try TLSFixture.server()
        let bound = try TLSFixture.connect(server.dsn(role: .scram, extra: "sslmode=verify-full sslrootcert=\(server.certificates.caCertificate) channel_binding=require"))
        defer { bound.close() }
        #expect(bound.authenticationMethod == "SCRAM-SHA-256-PLUS")
        let unbound = try TLSFixture.connect(server.dsn(role: .scram, extra: "sslmode=require channel_binding=disable"))
        defer { unbound.close() }
        #expect(unbound.authenticationMethod == "SCRAM-SHA-256")
    }

    @Test(arguments: [TLSTestServer.Role.md5, .password, .cert, .trust])
    func requireRefusesAuthenticationWithoutBinding(role: TLSTestServer.Role) throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        let clientCert = role == .cert ? " sslcert=\(certs.clientCertificate) sslkey=\(certs.clientKey)" : ""
        let error = TLSFixture.connectError(server.dsn(role: role, extra: "sslmode=require channel_binding=require" + clientCert))
        guard case .authentication(.channelBindingRequired)? = error else {
            Issue.record("expected channelBindingRequired, got \(String(describing: error))")
            return
        }
        if let password = role.password { #expect(error?.message.contains(password) == false) }
    }

    @Test func requireRefusesPlaintext() throws {
        let server = try TLSFixture.server()
        let error = TLSFixture.connectError(server.dsn(role: .scram, extra: "sslmode=disable channel_binding=require"))
        guard case .authentication(.channelBindingRequired)? = error else {
            Issue.record("expected channelBindingRequired, got \(String(describing: error))")
            return
        }
    }

    @Test func requireRefusesAServerNotOfferingPlus() throws {
        let server = try TLSFixture.server()
        var options = FakeTLSServer.Options(certificateFile: server.certificates.serverCertificate, keyFile: server.certificates.serverKey)
        options.offerSCRAMWithoutChannelBinding = true
        let fake = try FakeTLSServer(options)
        defer { fake.stop() }
        let dsn = "host=localhost port=\(fake.port) user=u dbname=d password=p sslmode=require connect_timeout=10"
        let error = TLSFixture.connectError(dsn + " channel_binding=require")
        guard case .authentication(.channelBindingRequired)? = error else {
            Issue.record("expected channelBindingRequired, got \(String(describing: error))")
            return
        }
    }

    @Test func serverEndPointHashFollowsTheSignatureAlgorithm() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        func handshake(port: Int) throws -> TLSTransport {
            let configuration = try TLSFixture.configuration("host=localhost port=\(port) user=u sslmode=require")
            let socket = try SocketTransport.connectTCP(host: "localhost", hostaddr: nil, port: port, deadline: Deadline(secondsFromNow: 10))
            #expect(try Connection.requestSSL(socket: socket, sslMode: .require, deadline: Deadline(secondsFromNow: 10)))
            return try TLSTransport.handshake(socket: socket, settings: TLSSettings(configuration: configuration, host: configuration.hosts[0], direct: false),
                                              deadline: Deadline(secondsFromNow: 10))
        }
        // The cluster's certificate is signed with ECDSA-SHA384: SHA-384 of the DER.
        let real = try handshake(port: server.port)
        defer { real.close() }
        let der = try #require(real.peerCertificate)
        #expect(real.serverEndPointHash == Crypto.sha384(der))
        #expect(real.alpnProtocol == nil)  // PostgreSQL 15 ignores ALPN

        for (file, key, digest) in [(certs.sha256Certificate, certs.serverKey, Crypto.sha256),
                                    (certs.rsaSelfSignedCertificate, certs.rsaSelfSignedKey, Crypto.sha512)] {
            let fake = try FakeTLSServer(FakeTLSServer.Options(certificateFile: file, keyFile: key))
            defer { fake.stop() }
            let transport = try handshake(port: fake.port)
            defer { transport.close() }
            let fakeDER = try #require(transport.peerCertificate)
            #expect(transport.serverEndPointHash == digest(fakeDER))
        }
    }
}

// MARK: - Failing closed (fake servers)

@Suite("TLS failing closed")
struct TLSFailClosedTests {
    static func fakeDSN(_ port: Int, _ extra: String) -> String {
        "host=localhost port=\(port) user=fake_user dbname=fake_db connect_timeout=10 \(extra)"
    }

    @Test(arguments: ["require", "verify-ca", "verify-full"])
    func serverSayingNUnderRequire(mode: String) throws {
        let fake = try FakeServer { client in
            try client.readStartup()  // answers the SSLRequest with 'N'
            client.completeTrustStartup()
        }
        defer { fake.stop() }
        let error = TLSFixture.connectError(Self.fakeDSN(fake.port, "sslmode=\(mode) sslrootcert=/dev/null"))
        #expect(error?.message == "connection to server at \"localhost\" (127.0.0.1), port \(fake.port) failed: server does not support SSL, but SSL was required"
                || error?.message == "connection to server at \"localhost\" (::1), port \(fake.port) failed: server does not support SSL, but SSL was required",
                "\(String(describing: error))")
    }

    @Test func serverSayingNUnderPreferContinuesInPlaintext() throws {
        let fake = try FakeServer { client in
            try client.readStartup()
            client.completeTrustStartup()
            _ = client.waitForClientClose(timeout: 10)
        }
        defer { fake.stop() }
        let c = try TLSFixture.connect(Self.fakeDSN(fake.port, "sslmode=prefer"))
        c.close()
    }

    @Test(arguments: ["prefer", "require", "verify-full"])
    func plaintextRightAfterS(mode: String) throws {
        // 'S' and a plaintext AuthenticationOk in one segment: injected data, refused in every mode.
        let fake = try FakeServer { client in
            guard case .sslRequest = try client.readMessage() else { return }
            var bytes: [UInt8] = [UInt8(ascii: "S")]
            BackendMessage.authentication(.ok).encode(into: &bytes)
            BackendMessage.readyForQuery(.idle).encode(into: &bytes)
            client.write(bytes)
            _ = client.waitForClientClose(timeout: 10)
        }
        defer { fake.stop() }
        let error = TLSFixture.connectError(Self.fakeDSN(fake.port, "sslmode=\(mode)"))
        #expect(error?.message.hasSuffix("failed: received unencrypted data after SSL response") == true, "\(String(describing: error))")
        #expect(fake.acceptedCount == 1)  // no plaintext retry
    }

    @Test(arguments: ["require", "verify-ca"])
    func plaintextInsteadOfAHandshake(mode: String) throws {
        let root = try TLSFixture.server().certificates.caCertificate
        // 'S', then the server answers the ClientHello with plaintext protocol messages.
        let fake = try FakeServer { client in
            guard case .sslRequest = try client.readMessage() else { return }
            client.write([UInt8(ascii: "S")])
            client.sleep(0.3)  // the ClientHello arrives meanwhile
            client.send(.authentication(.ok), .readyForQuery(.idle))
            _ = client.waitForClientClose(timeout: 10)
        }
        defer { fake.stop() }
        let error = TLSFixture.connectError(Self.fakeDSN(fake.port, "sslmode=\(mode) sslrootcert=\(root)"))
        #expect(error?.isConnectionFailure == true)
        // Usually OpenSSL chokes on the plaintext; if the plaintext was already there when 'S' was
        // read (a slow client), it is refused as unencrypted data. Either way: no session.
        #expect(error?.message.contains("SSL error") == true || error?.message.contains("SSL SYSCALL") == true
                || error?.message.contains("received unencrypted data after SSL response") == true, "\(String(describing: error))")
        #expect(fake.acceptedCount == 1)
    }

    @Test func invalidAnswerToSSLRequest() throws {
        let fake = try FakeServer { client in
            _ = try client.readMessage()
            client.write([UInt8(ascii: "X")])
            _ = client.waitForClientClose(timeout: 10)
        }
        defer { fake.stop() }
        let error = TLSFixture.connectError(Self.fakeDSN(fake.port, "sslmode=prefer"))
        #expect(error?.message.hasSuffix("failed: received invalid response to SSL negotiation: X") == true, "\(String(describing: error))")
    }

    @Test func errorAnswerToSSLRequestIsReported() throws {
        let fake = try FakeServer { client in
            _ = try client.readMessage()
            client.send(.errorResponse(DiagnosticFields([(UInt8(ascii: "S"), "FATAL"), (UInt8(ascii: "V"), "FATAL"),
                                                          (UInt8(ascii: "C"), "53300"), (UInt8(ascii: "M"), "sorry, too many clients already")])))
        }
        defer { fake.stop() }
        let error = TLSFixture.connectError(Self.fakeDSN(fake.port, "sslmode=require"))
        #expect(error?.sqlState == "53300", "\(String(describing: error))")
    }

    @Test func handshakeTimeoutIsBounded() throws {
        // 'S' and then silence: connect_timeout ends the handshake.
        let fake = try FakeServer { client in
            _ = try client.readMessage()
            client.write([UInt8(ascii: "S")])
            _ = client.waitForClientClose(timeout: 15)
        }
        defer { fake.stop() }
        let start = Date()
        let error = TLSFixture.connectError("host=127.0.0.1 port=\(fake.port) user=u dbname=d sslmode=require connect_timeout=2")
        guard case .timeout? = error else {
            Issue.record("expected a timeout, got \(String(describing: error))")
            return
        }
        #expect(Date().timeIntervalSince(start) < 8)
    }

    @Test func expiredCertificate() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        let fake = try FakeTLSServer(FakeTLSServer.Options(certificateFile: certs.expiredCertificate, keyFile: certs.serverKey))
        defer { fake.stop() }
        let error = TLSFixture.connectError(Self.fakeDSN(fake.port, "sslmode=verify-ca sslrootcert=\(certs.caCertificate)"))
        #expect(error?.message.contains("SSL error: certificate verify failed: certificate has expired") == true, "\(String(describing: error))")
        // Without a root certificate, require does not verify (libpq): the expired certificate passes.
        let c = try TLSFixture.connect(Self.fakeDSN(fake.port, "sslmode=require"))
        c.close()
    }

    @Test func ipAddressCertificate() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        let fake = try FakeTLSServer(FakeTLSServer.Options(certificateFile: certs.ipCertificate, keyFile: certs.serverKey))
        defer { fake.stop() }
        let root = "sslrootcert=\(certs.caCertificate)"
        let c = try TLSFixture.connect("host=127.0.0.1 port=\(fake.port) user=u dbname=d sslmode=verify-full \(root)")
        c.close()
        let error = TLSFixture.connectError("host=localhost hostaddr=127.0.0.1 port=\(fake.port) user=u dbname=d sslmode=verify-full \(root)")
        // Two iPAddress SANs, and no dNSName one, so the CN is examined too.
        #expect(error?.message.hasSuffix("failed: server certificate for \"127.0.0.1\" (and 2 other names) does not match host name \"localhost\"") == true,
                "\(String(describing: error))")
    }

    @Test func wildcardAndCommonNameCertificates() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        let root = "sslrootcert=\(certs.caCertificate)"
        let wildcard = try FakeTLSServer(FakeTLSServer.Options(certificateFile: certs.wildcardCertificate, keyFile: certs.serverKey))
        defer { wildcard.stop() }
        let c = try TLSFixture.connect("host=db.pgwire.test hostaddr=127.0.0.1 port=\(wildcard.port) user=u dbname=d sslmode=verify-full \(root)")
        c.close()
        #expect(wildcard.handshakes.first?.serverName == "db.pgwire.test")
        let deep = TLSFixture.connectError("host=a.db.pgwire.test hostaddr=127.0.0.1 port=\(wildcard.port) user=u dbname=d sslmode=verify-full \(root)")
        #expect(deep?.message.hasSuffix("server certificate for \"*.pgwire.test\" does not match host name \"a.db.pgwire.test\"") == true, "\(String(describing: deep))")

        let commonName = try FakeTLSServer(FakeTLSServer.Options(certificateFile: certs.commonNameOnlyCertificate, keyFile: certs.serverKey))
        defer { commonName.stop() }
        let cn = try TLSFixture.connect("host=localhost hostaddr=127.0.0.1 port=\(commonName.port) user=u dbname=d sslmode=verify-full \(root)")
        cn.close()
    }

    @Test func serverNameIndication() throws {
        let server = try TLSFixture.server()
        let fake = try FakeTLSServer(FakeTLSServer.Options(certificateFile: server.certificates.serverCertificate, keyFile: server.certificates.serverKey))
        defer { fake.stop() }
        for dsn in ["host=localhost hostaddr=127.0.0.1", "host=127.0.0.1", "host=localhost hostaddr=127.0.0.1 sslsni=0"] {
            let c = try TLSFixture.connect("\(dsn) port=\(fake.port) user=u dbname=d sslmode=require")
            c.close()
        }
        let names = fake.handshakes.map(\.serverName)
        #expect(names.count == 3)
        #expect(names.filter { $0 == "localhost" }.count == 1)
        #expect(names.filter { $0 == nil }.count == 2)
        // ALPN "postgresql" is offered on every TLS connection (as libpq 17 does).
        #expect(fake.handshakes.allSatisfy { $0.selectedALPN == "postgresql" })
    }

    @Test func noProtocolVersionInCommon() throws {
        let server = try TLSFixture.server()
        var options = FakeTLSServer.Options(certificateFile: server.certificates.serverCertificate, keyFile: server.certificates.serverKey)
        options.maximumTLS12 = true
        let fake = try FakeTLSServer(options)
        defer { fake.stop() }
        let error = TLSFixture.connectError(Self.fakeDSN(fake.port, "sslmode=require ssl_min_protocol_version=TLSv1.3"))
        #expect(error?.message.contains("SSL error:") == true, "\(String(describing: error))")
        #expect(error?.message.contains("This may indicate that the server does not support any SSL protocol version between TLSv1.3 and TLSv1.3.") == true,
                "\(String(describing: error))")
        // Within the bounds it works, at TLS 1.2.
        let c = try TLSFixture.connect(Self.fakeDSN(fake.port, "sslmode=require"))
        defer { c.close() }
        #expect(try c.simpleQuery("SELECT 1").first?.rows.first?[0] == "TLSv1.2")
    }
}

// MARK: - Direct TLS (PostgreSQL 17)

@Suite("TLS direct negotiation")
struct TLSDirectTests {
    @Test func directTLSWithALPN() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        var options = FakeTLSServer.Options(certificateFile: certs.serverCertificate, keyFile: certs.serverKey)
        options.direct = true
        let fake = try FakeTLSServer(options)
        defer { fake.stop() }
        let c = try TLSFixture.connect("host=localhost hostaddr=127.0.0.1 port=\(fake.port) user=u dbname=d sslnegotiation=direct sslmode=verify-full sslrootcert=\(certs.caCertificate)")
        defer { c.close() }
        #expect(try c.simpleQuery("SELECT 1").first?.rows.first?[0] == "TLSv1.3")
        let handshake = try #require(fake.handshakes.first)
        #expect(handshake.selectedALPN == "postgresql")
        #expect(handshake.serverName == "localhost")
        // No SSLRequest: the first byte is a TLS handshake record (0x16).
        #expect(handshake.firstBytes.first == 0x16)
        #expect(handshake.firstBytes != FrontendMessage.sslRequest.encoded)
    }

    @Test func directTLSRequiresALPN() throws {
        let server = try TLSFixture.server()
        var options = FakeTLSServer.Options(certificateFile: server.certificates.serverCertificate, keyFile: server.certificates.serverKey)
        options.direct = true
        options.selectALPN = false
        let fake = try FakeTLSServer(options)
        defer { fake.stop() }
        let error = TLSFixture.connectError("host=localhost hostaddr=127.0.0.1 port=\(fake.port) user=u dbname=d sslnegotiation=direct sslmode=require")
        #expect(error?.message.hasSuffix("failed: direct SSL connection was established without ALPN protocol negotiation extension") == true,
                "\(String(describing: error))")
    }

    @Test func directTLSAgainstAServerWithoutItFailsClosed() throws {
        // PostgreSQL 15 reads the ClientHello as a startup packet and refuses it: an error, never plaintext.
        let server = try TLSFixture.server()
        let error = TLSFixture.connectError(server.dsn(extra: "sslnegotiation=direct sslmode=require"))
        #expect(error?.isConnectionFailure == true, "\(String(describing: error))")
    }

    @Test func directSSLNegotiationNeedsAStrictSSLMode() throws {
        let server = try TLSFixture.server()
        let error = TLSFixture.connectError(server.dsn(extra: "sslnegotiation=direct sslmode=prefer"))
        guard case .configuration? = error else {
            Issue.record("expected a configuration error, got \(String(describing: error))")
            return
        }
    }
}

// MARK: - pgwire query

@Suite("TLS pgwire CLI")
struct TLSCommandLineTests {
    @Test func verifyFullFromTheCommandLine() throws {
        let server = try TLSFixture.server()
        let dsn = "postgresql://tls_scram:scram-secret@localhost:\(server.port)/tls_test?sslmode=verify-full&sslrootcert=\(server.certificates.caCertificate)&channel_binding=require"
        let result = try TLSFixture.pgwire(["query", "--format", "unaligned", "--dsn", dsn,
                                            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == "ssl|version\nt|TLSv1.3\n(1 row)\n", "\(result)")
    }

    @Test func certificateAuthenticationFromTheCommandLine() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        let dsn = server.dsn(role: .cert, extra: "sslmode=verify-full sslrootcert=\(certs.caCertificate) sslcert=\(certs.clientCertificate) sslkey=\(certs.clientEncryptedKey) sslpassword=\(certs.clientKeyPassword)")
        let result = try TLSFixture.pgwire(["query", "--format", "csv", "--dsn", dsn, "SELECT current_user"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == "current_user\ntls_cert\n", "\(result)")
    }

    @Test func tlsFailuresExitWith2LikePsql() throws {
        let server = try TLSFixture.server()
        let certs = server.certificates
        let fake = try FakeServer { client in
            try client.readStartup()
            client.completeTrustStartup()
        }
        defer { fake.stop() }
        let expired = try FakeTLSServer(FakeTLSServer.Options(certificateFile: certs.expiredCertificate, keyFile: certs.serverKey))
        defer { expired.stop() }
        let cases: [(dsn: String, message: String)] = [
            (server.dsn(extra: "sslmode=verify-ca sslrootcert=\(certs.otherCACertificate)"), "certificate verify failed"),
            (server.dsn(host: "127.0.0.1", extra: "sslmode=verify-full sslrootcert=\(certs.caCertificate)"),
             "server certificate for \"localhost\" (and 1 other name) does not match host name \"127.0.0.1\""),
            ("host=127.0.0.1 port=\(expired.port) user=u dbname=d sslmode=verify-ca sslrootcert=\(certs.caCertificate)", "certificate verify failed"),
            ("host=127.0.0.1 port=\(fake.port) user=u dbname=d sslmode=require", "server does not support SSL, but SSL was required"),
            (server.dsn(role: .md5, extra: "sslmode=require channel_binding=require"), "channel binding"),
        ]
        for (dsn, message) in cases {
            let ours = try TLSFixture.pgwire(["query", "--dsn", dsn, "SELECT 1"])
            #expect(ours.status == 2, "\(dsn): \(ours)")
            #expect(ours.stderr.contains(message), "\(dsn): \(ours)")
            #expect(ours.stdout.isEmpty)
            let psql = try TLSFixture.psql(["-d", dsn, "-c", "SELECT 1"])
            #expect(psql.status == 2, "\(dsn): psql \(psql)")
        }
    }

    @Test func systemRootCertificates() throws {
        // sslrootcert=system means OpenSSL's default store (which SSL_CERT_FILE overrides); it
        // implies verify-full. The test CA is not in the system store.
        let server = try TLSFixture.server()
        let dsn = "postgresql://tls_trust@localhost:\(server.port)/tls_test?sslrootcert=system"
        let untrusted = try TLSFixture.pgwire(["query", "--dsn", dsn, "SELECT 1"])
        #expect(untrusted.status == 2, "\(untrusted)")
        #expect(untrusted.stderr.contains("certificate verify failed"), "\(untrusted)")
        var environment = server.environment()
        environment["SSL_CERT_FILE"] = server.certificates.caCertificate
        let trusted = try runProcess(try TLSFixture.pgwireBinary(), ["query", "--format", "csv", "--dsn", dsn,
                                                                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
                                     environment: environment, timeout: 120)
        #expect(trusted.status == 0, "\(trusted)")
        #expect(trusted.stdout == "ssl\nt\n", "\(trusted)")
        // Only verify-full goes with it.
        let weak = try TLSFixture.pgwire(["query", "--dsn", dsn + "&sslmode=require", "SELECT 1"])
        #expect(weak.status == 2)
        #expect(weak.stderr.contains("weak sslmode \"require\" may not be used with sslrootcert=system"), "\(weak)")
    }

    @Test func hostNameMismatchMessageMatchesLibpq() throws {
        let server = try TLSFixture.server()
        let dsn = server.dsn(host: "127.0.0.1", extra: "sslmode=verify-full sslrootcert=\(server.certificates.caCertificate)")
        let ours = try TLSFixture.pgwire(["query", "--dsn", dsn, "SELECT 1"])
        let psql = try TLSFixture.psql(["-d", dsn, "-c", "SELECT 1"])
        func detail(_ s: String) -> String? {
            s.range(of: "failed: ").map { String(s[$0.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        #expect(detail(ours.stderr) != nil)
        #expect(detail(ours.stderr) == detail(psql.stderr), "pgwire: \(ours.stderr)\npsql: \(psql.stderr)")
    }

    @Test func directTLSFromTheCommandLine() throws {
        let server = try TLSFixture.server()
        var options = FakeTLSServer.Options(certificateFile: server.certificates.serverCertificate, keyFile: server.certificates.serverKey)
        options.direct = true
        let fake = try FakeTLSServer(options)
        defer { fake.stop() }
        let dsn = "postgresql://u@localhost:\(fake.port)/d?hostaddr=127.0.0.1&sslnegotiation=direct&sslmode=verify-full&sslrootcert=\(server.certificates.caCertificate)"
        let result = try TLSFixture.pgwire(["query", "--format", "csv", "--dsn", dsn, "SELECT 1"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == "tls\nTLSv1.3\n", "\(result)")
    }
}

/// A thread-safe boolean for test threads.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var value: Bool { lock.withLock { flag } }
    func set() { lock.withLock { flag = true } }
}
