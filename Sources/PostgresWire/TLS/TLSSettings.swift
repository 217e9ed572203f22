import COpenSSL
import Foundation

/// What one TLS handshake needs, taken from the connection parameters the way libpq reads them.
/// Files are not looked at here: that happens in `TLSContextBuilder`, only once the server has
/// agreed to TLS (as libpq does, so a server answering 'N' under `prefer` never trips over a
/// missing certificate file).
struct TLSSettings: Sendable {
    /// The ALPN protocol name PostgreSQL 17 registered (and requires for direct TLS).
    static let alpnProtocol = "postgresql"

    var sslMode: SSLMode
    /// `sslrootcert` as given (a path, or "system"); nil = `~/.postgresql/root.crt`.
    var rootCertificate: String?
    var crlFile: String?
    var crlDirectory: String?
    /// `sslcert`; nil = `~/.postgresql/postgresql.crt` (used when it exists).
    var clientCertificate: String?
    /// `sslkey`; nil = `~/.postgresql/postgresql.key`.
    var clientKey: String?
    var clientKeyPassword: String?
    var homeDirectory: String?
    /// Sent as SNI (the host name, unless it is an IP address or SNI is off).
    var serverName: String?
    /// The name the certificate must match (verify-full), or nil.
    var verifyHostName: String?
    /// True for verify-full when there is no host name to check (only hostaddr was given).
    var hostNameMissing: Bool
    var minimumProtocolVersion: String?
    var maximumProtocolVersion: String?
    var compression: Bool
    /// Direct TLS: the server must select ALPN "postgresql".
    var requireALPN: Bool

    init(configuration c: ConnectionConfiguration, host: ConnectionConfiguration.Host, direct: Bool) {
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        sslMode = c.sslMode
        rootCertificate = nonEmpty(c.sslRootCert)
        crlFile = nonEmpty(c.sslCRL)
        crlDirectory = nonEmpty(c.sslCRLDir)
        clientCertificate = nonEmpty(c.sslCert)
        clientKey = nonEmpty(c.sslKey)
        clientKeyPassword = c.sslPassword
        homeDirectory = c.homeDirectory
        let name = host.host
        let isAddress = HostNameVerification.isIPAddress(name)
        serverName = c.sslSNI && !name.isEmpty && !isAddress && !name.hasPrefix("/") ? name : nil
        verifyHostName = c.sslMode == .verifyFull && !name.isEmpty ? name : nil
        hostNameMissing = c.sslMode == .verifyFull && name.isEmpty
        minimumProtocolVersion = nonEmpty(c.sslMinProtocolVersion)
        maximumProtocolVersion = nonEmpty(c.sslMaxProtocolVersion)
        compression = c.sslCompression
        requireALPN = direct
    }

    /// The configuration's home directory, else `$HOME`, else the effective user's (`getpwuid`).
    var resolvedHomeDirectory: String? {
        if let homeDirectory, !homeDirectory.isEmpty { return homeDirectory }
        return LocalSystem.homeDirectory(environment: LocalSystem.libpqEnvironment())
    }
}

/// The files a context may load, with libpq's `~/.postgresql/` defaults applied (the home
/// directory is looked up only when a default is needed): the one place their paths are made,
/// for `TLSContextBuilder.configure` and for the cache key that watches them.
struct TLSFiles: Hashable {
    /// `sslrootcert` or `~/.postgresql/root.crt`; nil for `system` or without a home directory.
    let rootCertificate: String?
    /// `sslcrl`, or `~/.postgresql/root.crl` when neither `sslcrl` nor `sslcrldir` is given.
    let crlFile: String?
    let crlDirectory: String?
    /// `sslcert` or `~/.postgresql/postgresql.crt`.
    let clientCertificate: String?
    /// `sslkey` or `~/.postgresql/postgresql.key`.
    let clientKey: String?

    init(_ s: TLSSettings) {
        let needsHome = s.rootCertificate == nil || s.clientCertificate == nil || s.clientKey == nil
            || (s.crlFile == nil && s.crlDirectory == nil)
        let home = needsHome ? s.resolvedHomeDirectory : nil
        func inHome(_ name: String) -> String? { home.map { $0 + "/.postgresql/" + name } }
        rootCertificate = s.rootCertificate == "system" ? nil : s.rootCertificate ?? inHome("root.crt")
        crlFile = s.crlFile ?? (s.crlDirectory == nil ? inHome("root.crl") : nil)
        crlDirectory = s.crlDirectory
        clientCertificate = s.clientCertificate ?? inHome("postgresql.crt")
        clientKey = s.clientKey ?? inHome("postgresql.key")
    }

    var all: [String?] { [rootCertificate, crlFile, crlDirectory, clientCertificate, clientKey] }
}

/// Builds the per-connection SSL_CTX, following libpq's initialize_SSL: protocol bounds, root
/// certificates (and CRLs) when a root file exists or sslmode demands one, the client certificate
/// and key (with libpq's key-file permission check), ALPN.
enum TLSContextBuilder {
    static func makeContext(_ settings: TLSSettings, peer: String) throws(PostgresError) -> OpaquePointer {
        func failure(_ message: String) -> PostgresError { .connectionFailed("connection to \(peer) failed: \(message)") }
        if settings.hostNameMissing {
            throw failure("host name must be specified for a verified SSL connection")
        }
        // A context is built once per distinct configuration and reused while the files it
        // loaded are unchanged (see `TLSContextCache`); the caller owns one reference.
        let files = TLSFiles(settings)
        let key = TLSContextCache.Key(settings, files: files)
        if let cached = TLSContextCache.shared.context(for: key) { return cached }
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw failure("could not create SSL context: \(TLSErrors.describe(ERR_get_error()))")
        }
        do throws(PostgresError) {
            try configure(context, settings, files: files, failure: failure)
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        KeyShare.preferP256(context)
        TLSContextCache.shared.store(context, for: key)
        return context
    }

    private static func protocolVersion(_ name: String) -> Int32? {
        switch name.lowercased() {
        case "tlsv1": return pgwire_TLS1_VERSION()
        case "tlsv1.1": return pgwire_TLS1_1_VERSION()
        case "tlsv1.2": return pgwire_TLS1_2_VERSION()
        case "tlsv1.3": return pgwire_TLS1_3_VERSION()
        default: return nil
        }
    }

    private static func configure(_ context: OpaquePointer, _ settings: TLSSettings, files: TLSFiles,
                                  failure: (String) -> PostgresError) throws(PostgresError) {
        var options = pgwire_SSL_OP_NO_SSLv2_SSLv3() | pgwire_SSL_OP_IGNORE_UNEXPECTED_EOF()
        if !settings.compression { options |= pgwire_SSL_OP_NO_COMPRESSION() }
        _ = SSL_CTX_set_options(context, options)
        pgwire_SSL_CTX_set_mode(context, pgwire_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER() | pgwire_SSL_MODE_ENABLE_PARTIAL_WRITE())
        // Read whatever the socket holds, not one record header and then its body: the server's
        // handshake flight (6 records) and each message after it cost one recv instead of two
        // each. Bytes read ahead stay in OpenSSL's buffer (TLSTransport.hasBufferedBytes).
        pgwire_SSL_CTX_set_read_ahead(context, 1)

        if let minimum = settings.minimumProtocolVersion {
            guard let version = protocolVersion(minimum) else {
                throw failure("invalid value \"\(minimum)\" for minimum SSL protocol version")
            }
            guard pgwire_SSL_CTX_set_min_proto_version(context, version) == 1 else {
                throw failure("could not set minimum SSL protocol version: \(TLSErrors.describe(ERR_get_error()))")
            }
        }
        if let maximum = settings.maximumProtocolVersion {
            guard let version = protocolVersion(maximum) else {
                throw failure("invalid value \"\(maximum)\" for maximum SSL protocol version")
            }
            guard pgwire_SSL_CTX_set_max_proto_version(context, version) == 1 else {
                throw failure("could not set maximum SSL protocol version: \(TLSErrors.describe(ERR_get_error()))")
            }
        }

        // ALPN, as libpq 17 sends it on every TLS connection: "\x0Apostgresql".
        let alpn = [UInt8(TLSSettings.alpnProtocol.utf8.count)] + Array(TLSSettings.alpnProtocol.utf8)
        guard SSL_CTX_set_alpn_protos(context, alpn, UInt32(alpn.count)) == 0 else {
            throw failure("could not set SSL ALPN extension: \(TLSErrors.describe(ERR_get_error()))")
        }

        // Root certificates: verification happens whenever they can be loaded.
        var haveRootCertificates = false
        if settings.rootCertificate == "system" {
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw failure("could not load system root certificate paths: \(TLSErrors.describe(ERR_get_error()))")
            }
            haveRootCertificates = true
        } else {
            let path = files.rootCertificate
            if let path, FileStatus.exists(path) {
                ERR_clear_error()
                guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
                    throw failure("could not read root certificate file \"\(path)\": \(TLSErrors.describe(ERR_get_error()))")
                }
                haveRootCertificates = true
            } else if settings.sslMode == .verifyCA || settings.sslMode == .verifyFull {
                if let path {
                    throw failure("root certificate file \"\(path)\" does not exist\nEither provide the file, use the system's trusted roots with sslrootcert=system, or change sslmode to disable server certificate verification.")
                }
                throw failure("could not get home directory to locate root certificate file\nEither provide the file, use the system's trusted roots with sslrootcert=system, or change sslmode to disable server certificate verification.")
            }
        }
        if haveRootCertificates {
            // CRLs: sslcrl / sslcrldir, else ~/.postgresql/root.crl; silently skipped when absent.
            if let store = SSL_CTX_get_cert_store(context) {
                var file = files.crlFile
                let directory = settings.crlDirectory
                if let existing = file, !FileStatus.exists(existing) { file = nil }
                if file != nil || directory != nil {
                    ERR_clear_error()
                    if X509_STORE_load_locations(store, file, directory) == 1 {
                        X509_STORE_set_flags(store, pgwire_X509_V_FLAG_CRL_CHECK_ALL())
                    } else if settings.crlFile != nil || directory != nil {
                        let named = settings.crlFile ?? directory ?? ""
                        throw failure("could not load SSL certificate revocation list \"\(named)\": \(TLSErrors.describe(ERR_get_error()))")
                    }
                }
                ERR_clear_error()
            }
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }

        // The client certificate (used when the file exists) and its key.
        guard let certificatePath = files.clientCertificate else { return }
        var info = stat()
        if stat(certificatePath, &info) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return }
            throw failure("could not open certificate file \"\(certificatePath)\": \(String(cString: strerror(errno)))")
        }
        ERR_clear_error()
        guard SSL_CTX_use_certificate_chain_file(context, certificatePath) == 1 else {
            throw failure("could not read certificate file \"\(certificatePath)\": \(TLSErrors.describe(ERR_get_error()))")
        }
        guard let keyPath = files.clientKey else {
            throw failure("certificate present, but not private key file")
        }
        try loadClientKey(keyPath, into: context, password: settings.clientKeyPassword, failure: failure)
    }


    /// libpq's key-file checks, then the key (decrypted with sslpassword; never by prompting).
    private static func loadClientKey(_ path: String, into context: OpaquePointer, password: String?,
                                      failure: (String) -> PostgresError) throws(PostgresError) {
        if path.hasPrefix("engine:") {
            throw failure("OpenSSL engine keys (\"\(path)\") are not supported")
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw failure("certificate present, but not private key file \"\(path)\"")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw failure("private key file \"\(path)\" is not a regular file")
        }
        // Owned by root: 0640 or less; otherwise 0600 or less.
        let forbidden: mode_t = info.st_uid == 0
            ? (S_IWGRP | S_IXGRP | S_IRWXO)
            : (S_IRWXG | S_IRWXO)
        if info.st_mode & forbidden != 0 {
            throw failure("private key file \"\(path)\" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root")
        }
        // The passphrase callback copies sslpassword (or nothing, so an encrypted key without
        // sslpassword fails instead of prompting on the terminal).
        let passphrase = strdup(password ?? "")
        defer {
            if let passphrase {
                memset(passphrase, 0, strlen(passphrase))
                free(passphrase)
            }
        }
        SSL_CTX_set_default_passwd_cb(context) { buffer, size, _, userdata in
            guard let buffer, size > 0, let userdata else { return 0 }
            let source = userdata.assumingMemoryBound(to: CChar.self)
            let length = min(Int(strlen(source)), Int(size) - 1)
            memcpy(buffer, source, length)
            buffer[length] = 0
            return Int32(length)
        }
        SSL_CTX_set_default_passwd_cb_userdata(context, passphrase)
        defer {
            SSL_CTX_set_default_passwd_cb(context, nil)
            SSL_CTX_set_default_passwd_cb_userdata(context, nil)
        }
        ERR_clear_error()
        guard SSL_CTX_use_PrivateKey_file(context, path, SSL_FILETYPE_PEM) == 1 else {
            throw failure("could not load private key file \"\(path)\": \(TLSErrors.describe(ERR_get_error()))")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw failure("certificate does not match private key file \"\(path)\": \(TLSErrors.describe(ERR_get_error()))")
        }
    }
}

/// Which group the one key share of a TLS 1.3 ClientHello is for.
///
/// OpenSSL 3 sends a key share for the first group of its list only, X25519 by default. PostgreSQL
/// servers up to 17 accept only P-256 for the key exchange (`ssl_ecdh_curve`'s default,
/// prime256v1), so every handshake went ClientHello (X25519 share), HelloRetryRequest (P-256),
/// a second ClientHello (P-256 share): a wasted X25519 key generation, a second ClientHello and an
/// extra round trip per connect (callgrind: about 0.8M of the 6.1M instructions of a TLS + SCRAM
/// connect). The context therefore offers P-256 first. The groups offered stay exactly those the
/// context offered before, in the same order otherwise: the list is read back from a
/// ClientHello the context writes into memory (once, when it is built), so OpenSSL's defaults, a
/// `Groups` line of openssl.cnf, the security level and the protocol bounds all still decide what
/// is offered. A server that prefers another group it shares with us can still ask for it with a
/// HelloRetryRequest (PostgreSQL 18's default `ssl_groups` accepts P-256 directly).
enum KeyShare {
    /// TLS code point of secp256r1 (P-256).
    static let p256: UInt16 = 23

    static func preferP256(_ context: OpaquePointer) {
        guard let hello = ClientHelloSample(context), let share = hello.keyShareGroup, share != p256,
              let index = hello.groups.firstIndex(where: { $0.codePoint == p256 }) else { return }
        var groups = hello.groups
        groups.insert(groups.remove(at: index), at: 0)
        let names = groups.compactMap(\.name)
        guard names.count == groups.count else { return }
        ERR_clear_error()
        // On failure OpenSSL leaves the context's list as it was.
        if pgwire_SSL_CTX_set1_groups_list(context, names.joined(separator: ":")) != 1 { ERR_clear_error() }
    }
}

/// The supported groups and the key share of the ClientHello a context writes (into memory: no
/// socket, no server), with OpenSSL's name for each group.
struct ClientHelloSample {
    var groups: [(codePoint: UInt16, name: String?)]
    var keyShareGroup: UInt16?

    init?(_ context: OpaquePointer) {
        ERR_clear_error()
        defer { ERR_clear_error() }
        guard let ssl = SSL_new(context) else { return nil }
        defer { SSL_free(ssl) }
        guard let input = BIO_new(BIO_s_mem()) else { return nil }
        guard let output = BIO_new(BIO_s_mem()) else {
            BIO_free(input)
            return nil
        }
        SSL_set_bio(ssl, input, output)
        SSL_set_connect_state(ssl)
        _ = SSL_do_handshake(ssl)  // writes the ClientHello, then wants the server's answer
        var bytes = [UInt8](repeating: 0, count: 5 + 16_384)
        let count = BIO_read(output, &bytes, Int32(bytes.count))
        guard count > 0, let parsed = ClientHelloSample.parse(bytes[0..<Int(count)]) else { return nil }
        groups = parsed.groups.map { codePoint in
            (codePoint, SSL_group_to_name(ssl, pgwire_group_id_from_codepoint(codePoint)).map { String(cString: $0) })
        }
        keyShareGroup = parsed.keyShare
    }

    /// The ClientHello of the context `settings` use (tests).
    static func of(_ settings: TLSSettings) throws(PostgresError) -> ClientHelloSample? {
        let context = try TLSContextBuilder.makeContext(settings, peer: "sample")
        defer { SSL_CTX_free(context) }
        return ClientHelloSample(context)
    }

    /// The ClientHello of a context left at OpenSSL's defaults (tests).
    static func openSSLDefault() -> ClientHelloSample? {
        guard let context = SSL_CTX_new(TLS_client_method()) else { return nil }
        defer { SSL_CTX_free(context) }
        return ClientHelloSample(context)
    }

    /// supported_groups (extension 10) and the first key_share entry's group (extension 51) of a
    /// ClientHello record (RFC 8446 4.1.2); nil when the bytes are not one.
    static func parse(_ record: ArraySlice<UInt8>) -> (groups: [UInt16], keyShare: UInt16?)? {
        var reader = Reader(bytes: Array(record))
        guard reader.u8() == 22, reader.skip(2), let recordLength = reader.u16(),
              reader.remaining >= Int(recordLength),
              reader.u8() == 1, let helloLength = reader.u24(), reader.remaining >= helloLength,
              reader.skip(2 + 32),                        // legacy_version, random
              let sessionID = reader.u8(), reader.skip(Int(sessionID)),
              let suites = reader.u16(), reader.skip(Int(suites)),
              let compression = reader.u8(), reader.skip(Int(compression)),
              let extensionsLength = reader.u16(), reader.remaining >= Int(extensionsLength) else { return nil }
        var groups: [UInt16] = []
        var keyShare: UInt16?
        let end = reader.offset + Int(extensionsLength)
        while reader.offset + 4 <= end {
            guard let type = reader.u16(), let length = reader.u16(), reader.offset + Int(length) <= end else { return nil }
            var body = Reader(bytes: Array(reader.bytes[reader.offset..<reader.offset + Int(length)]))
            _ = reader.skip(Int(length))
            switch type {
            case 10:
                guard let listLength = body.u16(), body.remaining >= Int(listLength) else { return nil }
                for _ in 0..<Int(listLength) / 2 { if let group = body.u16() { groups.append(group) } }
            case 51:
                guard body.skip(2) else { return nil }  // client_shares length
                keyShare = body.u16()
            default:
                break
            }
        }
        return (groups, keyShare)
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0
        var remaining: Int { bytes.count - offset }
        mutating func skip(_ n: Int) -> Bool {
            guard n >= 0, remaining >= n else { return false }
            offset += n
            return true
        }
        mutating func u8() -> UInt8? {
            guard remaining >= 1 else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }
        mutating func u16() -> UInt16? {
            guard remaining >= 2 else { return nil }
            defer { offset += 2 }
            return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        }
        mutating func u24() -> Int? {
            guard remaining >= 3 else { return nil }
            defer { offset += 3 }
            return Int(bytes[offset]) << 16 | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
        }
    }
}

/// SSL_CTX objects shared by the connections of one configuration. Building one costs about as
/// much client CPU as a sixth of a whole TLS + SCRAM connect (OpenSSL loads its cipher and
/// provider tables for each new context); libpq builds one per connection. A context is reused
/// only while everything that went into it is the same: the TLS settings, the paths of the files it
/// may load (`TLSFiles`, home-directory defaults applied), and the identity (device, inode, size, modification time, mode, owner) of each file it may have
/// loaded, so a replaced certificate, key or CRL is read again on the next connect, as libpq would.
/// Contexts are not changed after they are built; OpenSSL allows SSL objects of one context on
/// many threads, and client-side session caching stays off (the default), so nothing of one
/// connection reaches another.
final class TLSContextCache: @unchecked Sendable {
    static let shared = TLSContextCache()
    /// Distinct configurations kept; the least recently used one is dropped beyond that.
    static let capacity = 8

    struct FileStamp: Hashable {
        var exists = false
        var device: UInt64 = 0, inode: UInt64 = 0, size: Int64 = 0
        var modifiedSeconds: Int64 = 0, modifiedNanoseconds: Int64 = 0
        var mode: UInt32 = 0, owner: UInt32 = 0

        init(_ path: String?) {
            guard let path else { return }
            var info = stat()
            guard stat(path, &info) == 0 else { return }
            exists = true
            device = UInt64(truncatingIfNeeded: info.st_dev)
            inode = UInt64(truncatingIfNeeded: info.st_ino)
            size = Int64(info.st_size)
            (modifiedSeconds, modifiedNanoseconds) = Platform.modificationTime(info)
            mode = UInt32(info.st_mode)
            owner = UInt32(info.st_uid)
        }
    }

    struct Key: Hashable {
        let sslMode: SSLMode
        let rootCertificate: String?, crlFile: String?, crlDirectory: String?
        let clientCertificate: String?, clientKey: String?, clientKeyPassword: String?
        let paths: TLSFiles
        let minimumProtocolVersion: String?, maximumProtocolVersion: String?
        let compression: Bool
        let files: [FileStamp]

        init(_ s: TLSSettings, files: TLSFiles? = nil) {
            let files = files ?? TLSFiles(s)
            sslMode = s.sslMode
            rootCertificate = s.rootCertificate
            crlFile = s.crlFile
            crlDirectory = s.crlDirectory
            clientCertificate = s.clientCertificate
            clientKey = s.clientKey
            clientKeyPassword = s.clientKeyPassword
            paths = files
            minimumProtocolVersion = s.minimumProtocolVersion
            maximumProtocolVersion = s.maximumProtocolVersion
            compression = s.compression
            self.files = files.all.map(FileStamp.init)
        }
    }

    private let lock = NSLock()
    private var entries: [Key: (context: OpaquePointer, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0

    /// A new reference to the context built for `key`, if there is one.
    func context(for key: Key) -> OpaquePointer? {
        lock.withLock {
            guard let index = entries.index(forKey: key) else { return nil }
            clock += 1
            entries.values[index].lastUse = clock
            let context = entries.values[index].context
            SSL_CTX_up_ref(context)
            return context
        }
    }

    /// Keeps a reference to `context` (the caller keeps its own).
    func store(_ context: OpaquePointer, for key: Key) {
        SSL_CTX_up_ref(context)
        let dropped: [OpaquePointer] = lock.withLock {
            var dropped: [OpaquePointer] = []
            if let old = entries[key] { dropped.append(old.context) }
            clock += 1
            entries[key] = (context, clock)
            while entries.count > Self.capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                dropped.append(oldest.value.context)
                entries[oldest.key] = nil
            }
            return dropped
        }
        for context in dropped { SSL_CTX_free(context) }
    }

    /// Whether a context is held for `key` (tests).
    func contains(_ key: Key) -> Bool { lock.withLock { entries[key] != nil } }
}
