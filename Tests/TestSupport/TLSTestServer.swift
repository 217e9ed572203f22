// A second throwaway PostgreSQL cluster, with ssl=on, for the TLS tests; and the certificates they use.
//
// `TLSTestServer.shared()` generates a test CA and certificates with the `openssl` CLI, runs initdb +
// pg_ctl once per test process in /tmp/pgwire-test-tls-XXXXXX (so TestServer's stale-cluster sweep
// also removes it if this process dies) and stops/removes it at exit. It listens on 127.0.0.1 only
// (plus its Unix socket), presents `server.crt` (CN and SAN DNS:localhost, signed by the test CA with
// ECDSA-SHA384, so tls-server-end-point uses SHA-384) and trusts the test CA for client certificates.
//
// Roles and pg_hba.conf (TCP rules for 127.0.0.1; the Unix socket is trust for everyone):
//   tls_trust      host       trust          (superuser, owns database tls_test)
//   tls_scram      host       scram-sha-256  password scram-secret
//   tls_md5        hostssl    md5            password md5-secret (stored as MD5)
//   tls_password   hostssl    password       password pw-secret
//   tls_cert       hostssl    cert           client certificate CN=tls_cert
//   tls_sslonly    hostssl    trust          (no plaintext rule: refused without TLS)
//   tls_nossl      hostnossl  trust          (no TLS rule: refused over TLS)

import Foundation
import PostgresWire

/// Certificates and keys generated for the TLS tests (PEM files in `directory`).
public struct TLSTestCertificates: Sendable {
    public let directory: String
    /// The test CA (trusted by the server for client certificates, and by clients given sslrootcert).
    public var caCertificate: String { directory + "/ca.crt" }
    /// An unrelated CA: verifying the server against it must fail.
    public var otherCACertificate: String { directory + "/other-ca.crt" }
    /// CN=localhost, SAN DNS:localhost, signed with ECDSA-SHA384 (the real server's certificate).
    public var serverCertificate: String { directory + "/server.crt" }
    public var serverKey: String { directory + "/server.key" }
    /// SAN IP:127.0.0.1 and IP:::1 only, CN=pgwire-ip-test (for a fake server).
    public var ipCertificate: String { directory + "/server-ip.crt" }
    /// SAN DNS:*.pgwire.test (for a fake server).
    public var wildcardCertificate: String { directory + "/server-wildcard.crt" }
    /// CN=localhost and no SAN at all (for a fake server).
    public var commonNameOnlyCertificate: String { directory + "/server-cn.crt" }
    /// SAN DNS:localhost, valid January 2020 only (for a fake server).
    public var expiredCertificate: String { directory + "/server-expired.crt" }
    /// SAN DNS:localhost, signed with ECDSA-SHA256 (for a fake server).
    public var sha256Certificate: String { directory + "/server-sha256.crt" }
    /// CN=localhost, SAN DNS:localhost, self-signed with an RSA key (RSA-SHA512 signature; for a fake server).
    public var rsaSelfSignedCertificate: String { directory + "/server-rsa.crt" }
    public var rsaSelfSignedKey: String { directory + "/server-rsa.key" }
    /// CN=tls_cert, for `cert` authentication; key mode 0600.
    public var clientCertificate: String { directory + "/client.crt" }
    public var clientKey: String { directory + "/client.key" }
    /// The same key, encrypted (AES-256) with `clientKeyPassword`.
    public var clientEncryptedKey: String { directory + "/client-encrypted.key" }
    public let clientKeyPassword = "key-secret"
    /// The same key with mode 0644 (libpq refuses it).
    public var clientWorldReadableKey: String { directory + "/client-world-readable.key" }
    /// A CRL of the test CA revoking nothing, and one revoking `serverCertificate`.
    public var emptyCRL: String { directory + "/empty.crl" }
    public var serverRevokedCRL: String { directory + "/server-revoked.crl" }

    /// Generates everything in `directory` (which must exist) with the openssl CLI.
    public static func generate(in directory: String) throws -> TLSTestCertificates {
        let certificates = TLSTestCertificates(directory: directory)
        try certificates.generateAll()
        return certificates
    }

    private func openssl(_ arguments: [String]) throws {
        let result = try runProcess("openssl", arguments, environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"],
                                    timeout: 60, currentDirectory: directory)
        guard result.status == 0 else {
            throw TestServerError("openssl \(arguments.joined(separator: " ")) failed:\n\(result)")
        }
    }

    private func write(_ name: String, _ contents: String) throws {
        try contents.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }

    private static let ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    private func generateAll() throws {
        // Two CAs.
        for name in ["ca", "other-ca"] {
            try openssl(["req", "-x509", "-new"] + Self.ecKey + [
                "-keyout", "\(name).key", "-out", "\(name).crt", "-days", "3650",
                "-subj", name == "ca" ? "/CN=PostgresWire Test CA" : "/CN=Some Other CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        }
        // An `openssl ca` database, for arbitrary validity dates and CRLs.
        try FileManager.default.createDirectory(atPath: directory + "/newcerts", withIntermediateDirectories: true)
        try write("index.txt", "")
        try write("serial", "1000\n")
        try write("crlnumber", "1000\n")
        try write("ca.cnf", """
            [ ca ]
            default_ca = testca
            [ testca ]
            dir = \(directory)
            database = $dir/index.txt
            new_certs_dir = $dir/newcerts
            serial = $dir/serial
            crlnumber = $dir/crlnumber
            certificate = $dir/ca.crt
            private_key = $dir/ca.key
            default_md = sha256
            default_days = 3650
            default_crl_days = 3650
            policy = policy_any
            unique_subject = no
            [ policy_any ]
            commonName = supplied

            """)

        func issue(_ name: String, subject: String, extensions: String, digest: String = "sha256",
                   dates: (String, String)? = nil, key: String? = nil) throws {
            try write("\(name).ext", extensions + "\n")
            let keyFile = key ?? "\(name).key"
            if key == nil {
                try openssl(["req", "-new"] + Self.ecKey + ["-keyout", keyFile, "-out", "\(name).csr", "-subj", subject])
            } else {
                try openssl(["req", "-new", "-key", keyFile, "-out", "\(name).csr", "-subj", subject])
            }
            var arguments = ["ca", "-batch", "-notext", "-config", "ca.cnf", "-in", "\(name).csr", "-out", "\(name).crt",
                             "-md", digest, "-extfile", "\(name).ext"]
            if let dates { arguments += ["-startdate", dates.0, "-enddate", dates.1] }
            try openssl(arguments)
        }
        let serverUsage = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth"
        try issue("server", subject: "/CN=localhost", extensions: "subjectAltName=DNS:localhost\n" + serverUsage, digest: "sha384")
        try issue("server-ip", subject: "/CN=pgwire-ip-test", extensions: "subjectAltName=IP:127.0.0.1,IP:::1\n" + serverUsage, key: "server.key")
        try issue("server-wildcard", subject: "/CN=wildcard", extensions: "subjectAltName=DNS:*.pgwire.test\n" + serverUsage, key: "server.key")
        try issue("server-cn", subject: "/CN=localhost", extensions: serverUsage, key: "server.key")
        try issue("server-sha256", subject: "/CN=localhost", extensions: "subjectAltName=DNS:localhost\n" + serverUsage, key: "server.key")
        try issue("server-expired", subject: "/CN=localhost", extensions: "subjectAltName=DNS:localhost\n" + serverUsage,
                  dates: ("20200101000000Z", "20200201000000Z"), key: "server.key")
        try issue("client", subject: "/CN=tls_cert",
                  extensions: "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth")
        try openssl(["req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-sha512", "-keyout", "server-rsa.key",
                     "-out", "server-rsa.crt", "-days", "3650", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"])
        try openssl(["pkey", "-in", "client.key", "-out", "client-encrypted.key", "-aes256", "-passout", "pass:\(clientKeyPassword)"])
        try FileManager.default.copyItem(atPath: clientKey, toPath: clientWorldReadableKey)
        // CRLs: nothing revoked, then the server certificate revoked.
        try openssl(["ca", "-batch", "-config", "ca.cnf", "-gencrl", "-out", "empty.crl"])
        try openssl(["ca", "-batch", "-config", "ca.cnf", "-revoke", "server.crt"])
        try openssl(["ca", "-batch", "-config", "ca.cnf", "-gencrl", "-out", "server-revoked.crl"])

        for key in ["ca.key", "other-ca.key", "server.key", "client.key", "client-encrypted.key", "server-rsa.key"] {
            chmod(directory + "/" + key, 0o600)
        }
        chmod(clientWorldReadableKey, 0o644)
    }
}

public final class TLSTestServer: Sendable {
    public enum Role: String, Sendable, CaseIterable {
        case trust = "tls_trust"
        case scram = "tls_scram"
        case md5 = "tls_md5"
        case password = "tls_password"
        case cert = "tls_cert"
        case sslOnly = "tls_sslonly"
        case noSSL = "tls_nossl"

        public var password: String? {
            switch self {
            case .scram: return "scram-secret"
            case .md5: return "md5-secret"
            case .password: return "pw-secret"
            default: return nil
            }
        }
    }

    public let port: Int
    public let socketDirectory: String
    public let dataDirectory: String
    public let binDirectory: String
    public let logFile: String
    public let certificates: TLSTestCertificates
    /// An empty directory to use as the home directory (no ~/.postgresql files), for configurations
    /// that should not see the real user's.
    public let emptyHome: String

    private init(port: Int, baseDirectory: String, binDirectory: String, certificates: TLSTestCertificates) {
        self.port = port
        self.socketDirectory = baseDirectory
        self.dataDirectory = baseDirectory + "/data"
        self.binDirectory = binDirectory
        self.logFile = baseDirectory + "/postgres.log"
        self.certificates = certificates
        self.emptyHome = baseDirectory + "/home"
    }

    /// The per-process TLS cluster, started on first use. If starting failed, every call rethrows that error.
    public static func shared() throws -> TLSTestServer {
        try tlsServerState.get()
    }

    /// A key=value conninfo for `role` at `host` (default localhost, which the certificate names).
    /// The password is included for password roles; `extra` is appended.
    public func dsn(role: Role = .trust, host: String = "localhost", extra: String = "") -> String {
        var parts = ["host=\(host)", "port=\(port)", "user=\(role.rawValue)", "dbname=tls_test", "connect_timeout=20"]
        if let password = role.password { parts.append("password=\(password)") }
        if !extra.isEmpty { parts.append(extra) }
        return parts.joined(separator: " ")
    }

    /// Environment for child processes (pgwire, psql): PATH and LANG only, plus PGPASSFILE pointing
    /// nowhere; connection settings go in the DSN.
    public func environment() -> [String: String] {
        [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": emptyHome,
            "PGPASSFILE": socketDirectory + "/no-such-pgpass",
        ]
    }

    public var psqlExecutable: String {
        let candidate = binDirectory + "/psql"
        return access(candidate, X_OK) == 0 ? candidate : "psql"
    }

    /// Runs SQL through psql over the Unix socket as tls_trust; throws when psql fails.
    public func execute(_ sql: String) throws {
        let result = try runProcess(
            psqlExecutable, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-p", String(port), "-U", "postgres", "-d", "tls_test", "-f", "-"],
            environment: environment(), stdin: Array(sql.utf8))
        guard result.status == 0 else { throw TestServerError("SQL failed: \(result)") }
    }

    // MARK: Startup

    fileprivate static func start() throws -> TLSTestServer {
        let binDirectory = try findBinDirectory()
        let runAsPostgres = geteuid() == 0
        var template = Array("/tmp/pgwire-test-tls-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw TestServerError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        let base = String(cString: created)
        try? "\(getpid()) \(processStartTime(getpid()) ?? "")\n".write(toFile: base + "/owner", atomically: false, encoding: .utf8)
        tlsServerState.setCleanup(TLSClusterCleanup(baseDirectory: base, binDirectory: binDirectory, runAsPostgres: runAsPostgres))
        do {
            let certDirectory = base + "/certs"
            try FileManager.default.createDirectory(atPath: certDirectory, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: base + "/home", withIntermediateDirectories: true)
            let certificates = try TLSTestCertificates.generate(in: certDirectory)
            chmod(base, 0o755)
            if runAsPostgres {
                guard let user = getpwnam("postgres") else {
                    throw TestServerError("running as root, but there is no `postgres` user to run the server as")
                }
                guard chown(base, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                    throw TestServerError("chown \(base) failed: \(String(cString: strerror(errno)))")
                }
            }
            let server = try initAndStart(base: base, binDirectory: binDirectory, certificates: certificates, runAsPostgres: runAsPostgres)
            try server.bootstrap()
            server.startWatchdog(runAsPostgres: runAsPostgres)
            return server
        } catch {
            tlsRunClusterCleanup()
            throw error
        }
    }

    private static func initAndStart(base: String, binDirectory: String, certificates: TLSTestCertificates, runAsPostgres: Bool) throws -> TLSTestServer {
        let data = base + "/data"
        let logFile = base + "/postgres.log"
        func tool(_ name: String, _ arguments: [String], timeout: Double = 120) throws -> ProcessResult {
            try runServerTool(binDirectory + "/" + name, arguments, runAsPostgres: runAsPostgres, timeout: timeout, currentDirectory: base)
        }
        var initialized = false
        var failures: [String] = []
        for locale in ["C.UTF-8", "C"] {
            let result = try tool("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=\(locale)"])
            if result.status == 0 { initialized = true; break }
            failures.append("initdb --locale=\(locale):\n\(result)")
            _ = try? FileManager.default.removeItem(atPath: data)
        }
        guard initialized else { throw TestServerError(failures.joined(separator: "\n")) }

        // The server's key and certificates live in the data directory, owned by the server's user.
        for (source, target) in [(certificates.serverCertificate, "server.crt"), (certificates.serverKey, "server.key"),
                                 (certificates.caCertificate, "ca.crt")] {
            let destination = data + "/" + target
            try FileManager.default.copyItem(atPath: source, toPath: destination)
            chmod(destination, 0o600)
            if runAsPostgres, let user = getpwnam("postgres") {
                chown(destination, user.pointee.pw_uid, user.pointee.pw_gid)
            }
        }
        let hba = """
            # written by PostgresWire TestSupport (TLS cluster)
            local     all  all           trust
            host      all  tls_trust     127.0.0.1/32  trust
            host      all  tls_scram     127.0.0.1/32  scram-sha-256
            hostssl   all  tls_md5       127.0.0.1/32  md5
            hostssl   all  tls_password  127.0.0.1/32  password
            hostssl   all  tls_cert      127.0.0.1/32  cert
            hostssl   all  tls_sslonly   127.0.0.1/32  trust
            hostnossl all  tls_nossl     127.0.0.1/32  trust

            """
        try writeFile(data + "/pg_hba.conf", hba)
        try appendFile(data + "/postgresql.conf", "\ninclude 'pgwire_tls_test.conf'\n")
        try writeFile(data + "/pgwire_tls_test.conf", "")
        var lastLog = ""
        for attempt in 1...4 {
            let port = try tlsFindFreePort()
            try writeFile(data + "/pgwire_tls_test.conf", """
                listen_addresses = '127.0.0.1'
                port = \(port)
                unix_socket_directories = '\(base)'
                fsync = off
                synchronous_commit = off
                full_page_writes = off
                max_connections = 60
                password_encryption = 'scram-sha-256'
                timezone = 'UTC'
                log_timezone = 'UTC'
                ssl = on
                ssl_cert_file = 'server.crt'
                ssl_key_file = 'server.key'
                ssl_ca_file = 'ca.crt'
                log_connections = on

                """)
            let result = try tool("pg_ctl", ["-w", "-t", "60", "-D", data, "-l", logFile, "start"])
            if result.status == 0 {
                return TLSTestServer(port: port, baseDirectory: base, binDirectory: binDirectory, certificates: certificates)
            }
            lastLog = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "(no log)"
            _ = try? tool("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], timeout: 30)
            let portRace = lastLog.contains("could not bind") || lastLog.contains("already in use") || lastLog.contains("could not create any TCP/IP sockets")
            if !portRace || attempt == 4 {
                throw TestServerError("pg_ctl start (TLS cluster) failed:\n\(result)\n--- server log ---\n\(lastLog)")
            }
        }
        throw TestServerError("pg_ctl start (TLS cluster) failed:\n\(lastLog)")
    }

    private func bootstrap() throws {
        let sql = """
            CREATE ROLE tls_trust LOGIN SUPERUSER;
            CREATE ROLE tls_scram LOGIN PASSWORD 'scram-secret';
            SET password_encryption = 'md5';
            CREATE ROLE tls_md5 LOGIN PASSWORD 'md5-secret';
            RESET password_encryption;
            CREATE ROLE tls_password LOGIN PASSWORD 'pw-secret';
            CREATE ROLE tls_cert LOGIN;
            CREATE ROLE tls_sslonly LOGIN;
            CREATE ROLE tls_nossl LOGIN;
            CREATE DATABASE tls_test OWNER tls_trust;

            """
        let result = try runProcess(
            psqlExecutable,
            ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-p", String(port), "-U", "postgres", "-d", "postgres", "-f", "-"],
            environment: environment(), stdin: Array(sql.utf8))
        guard result.status == 0 else { throw TestServerError("creating TLS test roles failed:\n\(result)") }
    }

    private func startWatchdog(runAsPostgres: Bool) {
        let script = """
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            if [ -f "$2/postmaster.pid" ]; then
              if [ "$5" = 1 ]; then runuser -u postgres -- "$4" stop -D "$2" -m immediate -w; else "$4" stop -D "$2" -m immediate -w; fi
            fi
            case "$3" in /tmp/pgwire-test-tls-*) rm -rf "$3" ;; esac
            """
        _ = try? spawnDetached(
            "/bin/sh",
            ["-c", script, "pgwire-tls-test-watchdog", String(getpid()), dataDirectory, socketDirectory, binDirectory + "/pg_ctl", runAsPostgres ? "1" : "0"],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin:/usr/sbin:/sbin"])
    }
}

// MARK: - Shared state and exit cleanup

private struct TLSClusterCleanup: Sendable {
    let baseDirectory: String
    let binDirectory: String
    let runAsPostgres: Bool
}

private final class TLSServerState: @unchecked Sendable {
    private let startLock = NSLock()
    private var result: Result<TLSTestServer, TestServerError>?
    private let cleanupLock = NSLock()
    private var cleanup: TLSClusterCleanup?
    private var atexitRegistered = false

    func get() throws -> TLSTestServer {
        startLock.lock()
        defer { startLock.unlock() }
        if result == nil {
            do {
                result = .success(try TLSTestServer.start())
            } catch let error as TestServerError {
                result = .failure(error)
            } catch {
                result = .failure(TestServerError(String(describing: error)))
            }
        }
        return try result!.get()
    }

    func setCleanup(_ value: TLSClusterCleanup?) {
        cleanupLock.lock()
        defer { cleanupLock.unlock() }
        cleanup = value
        if value != nil && !atexitRegistered {
            atexitRegistered = true
            atexit { tlsRunClusterCleanup() }
        }
    }

    func takeCleanup() -> TLSClusterCleanup? {
        cleanupLock.lock()
        defer { cleanupLock.unlock() }
        let value = cleanup
        cleanup = nil
        return value
    }
}

private let tlsServerState = TLSServerState()

private func tlsRunClusterCleanup() {
    guard let cleanup = tlsServerState.takeCleanup() else { return }
    let data = cleanup.baseDirectory + "/data"
    if FileManager.default.fileExists(atPath: data + "/postmaster.pid") {
        _ = try? runServerTool(cleanup.binDirectory + "/pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"],
                                  runAsPostgres: cleanup.runAsPostgres, timeout: 30, currentDirectory: "/")
    }
    if cleanup.baseDirectory.hasPrefix("/tmp/pgwire-test-tls-") {
        try? FileManager.default.removeItem(atPath: cleanup.baseDirectory)
    }
}

// MARK: - Helpers (shared with TestServer.swift)

/// A TCP port currently free on 127.0.0.1.
func tlsFindFreePort() throws -> Int {
    for _ in 0..<50 {
        let fd = socket(AF_INET, Platform.socketStream, 0)
        guard fd >= 0 else { continue }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { continue }
        var actual = sockaddr_in()
        var actualLength = length
        guard withUnsafeMutablePointer(to: &actual, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) } }) == 0 else { continue }
        return Int(UInt16(bigEndian: actual.sin_port))
    }
    throw TestServerError("could not find a free TCP port on the loopback interface")
}
