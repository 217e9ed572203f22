import Foundation
import PostgresWire
import Testing

/// Everything about connection parameters; the suites below are nested in it.
@Suite struct ConfigurationTests {}

// MARK: - Helpers

private let defaultSocketDirectory: String = {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: "/var/run/postgresql", isDirectory: &isDirectory), isDirectory.boolValue {
        return "/var/run/postgresql"
    }
    return "/tmp"
}()

/// Parse with a controlled environment, OS user and home directory.
private func config(
    _ conninfo: String = "", env: [String: String] = [:], user: String = "osuser", home: String = "/home/osuser"
) throws(ConfigurationError) -> ConnectionConfiguration {
    try ConnectionConfiguration.parse(conninfo, environment: env, osUser: user, homeDirectory: home)
}

private func parseError(
    _ conninfo: String, env: [String: String] = [:], home: String = "/home/osuser"
) -> ConfigurationError? {
    do {
        _ = try config(conninfo, env: env, home: home)
        return nil
    } catch {
        return error
    }
}

private func tcp(_ host: String, _ port: Int = 5432, hostaddr: String? = nil) -> ConnectionConfiguration.Host {
    .init(host: host, hostaddr: hostaddr, port: port, endpoint: .tcp(host: hostaddr ?? host, port: port))
}

private func socket(_ dir: String, _ port: Int = 5432) -> ConnectionConfiguration.Host {
    .init(host: dir, port: port, endpoint: .unixSocket(path: "\(dir)/.s.PGSQL.\(port)"))
}

/// A fresh private directory, removed by the caller.
private func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("pgwire-config-tests-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

private func writeFile(_ url: URL, _ contents: String, mode: Int) throws {
    try Data(contents.utf8).write(to: url)
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
}

// MARK: - Connection-string syntax

extension ConfigurationTests {
    @Suite("Connection strings")
    struct ConninfoSyntaxTests {
        @Test func keywordValuePairs() throws {
            let o = try ConnectionConfiguration.parseOptions("host=localhost port=5432 dbname=mydb user=me")
            #expect(o == ["host": "localhost", "port": "5432", "dbname": "mydb", "user": "me"])
        }

        @Test func whitespaceAroundEquals() throws {
            let o = try ConnectionConfiguration.parseOptions("  host =  db.example.com\tport= 5433\n user =x ")
            #expect(o == ["host": "db.example.com", "port": "5433", "user": "x"])
        }

        @Test func quotedValuesAndEscapes() throws {
            let o = try ConnectionConfiguration.parseOptions(#"dbname='my db' user='o\'brien' password='a\\b' options=-c\ x=1"#)
            #expect(o["dbname"] == "my db")
            #expect(o["user"] == "o'brien")
            #expect(o["password"] == #"a\b"#)
            #expect(o["options"] == "-c x=1")
        }

        @Test func emptyValues() throws {
            #expect(try ConnectionConfiguration.parseOptions("host=") == ["host": ""])
            #expect(try ConnectionConfiguration.parseOptions("host='' port=1") == ["host": "", "port": "1"])
            // libpq quirk: blanks after '=' are skipped, so the next pair becomes the value.
            #expect(try ConnectionConfiguration.parseOptions("host= port=1") == ["host": "port=1"])
        }

        @Test func lastValueWins() throws {
            #expect(try ConnectionConfiguration.parseOptions("dbname=a dbname=b")["dbname"] == "b")
        }

        @Test func requiresslMapsToSslmode() throws {
            #expect(try ConnectionConfiguration.parseOptions("requiressl=1") == ["sslmode": "require"])
            #expect(try ConnectionConfiguration.parseOptions("requiressl=0") == ["sslmode": "prefer"])
            #expect(try ConnectionConfiguration.parseOptions("sslmode=disable requiressl=1") == ["sslmode": "require"])
            #expect(try config("requiressl=1").sslMode == .require)
        }

        @Test func everyLibpq15KeywordIsAccepted() throws {
            let keywords = [
                "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "channel_binding",
                "connect_timeout", "client_encoding", "options", "application_name", "fallback_application_name",
                "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                "sslmode", "sslcompression", "sslcert", "sslkey", "sslpassword", "sslrootcert", "sslcrl", "sslcrldir",
                "sslsni", "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version", "gssencmode",
                "krbsrvname", "gsslib", "service", "target_session_attrs", "replication",
            ]
            for keyword in keywords {
                #expect(try ConnectionConfiguration.parseOptions("\(keyword)=v") == [keyword: "v"])
                #expect(try ConnectionConfiguration.parseOptions("postgresql://h?\(keyword)=v")[keyword] == "v")
            }
        }

        @Test func malformedKeywordValueStrings() {
            func message(_ s: String) -> String? {
                do {
                    _ = try ConnectionConfiguration.parseOptions(s)
                    return nil
                } catch {
                    return error.message
                }
            }
            #expect(message("foo=bar") == #"invalid connection option "foo""#)
            #expect(message("host") == #"missing "=" after "host" in connection info string"#)
            #expect(message("host localhost") == #"missing "=" after "host" in connection info string"#)
            #expect(message("host='abc") == "unterminated quoted string in connection info string")
            #expect(message(#"host='abc\'"#) == "unterminated quoted string in connection info string")
        }

        @Test func uriForms() throws {
            #expect(try ConnectionConfiguration.parseOptions("postgresql://") == [:])
            #expect(try ConnectionConfiguration.parseOptions("postgres://localhost") == ["host": "localhost"])
            #expect(
                try ConnectionConfiguration.parseOptions("postgresql://user:secret@localhost:5433/mydb?connect_timeout=10&application_name=myapp")
                    == ["user": "user", "password": "secret", "host": "localhost", "port": "5433", "dbname": "mydb",
                        "connect_timeout": "10", "application_name": "myapp"])
            #expect(try ConnectionConfiguration.parseOptions("postgresql:///mydb") == ["dbname": "mydb"])
            #expect(try ConnectionConfiguration.parseOptions("postgresql://h/") == ["host": "h"])
            #expect(try ConnectionConfiguration.parseOptions("postgresql://user:@h") == ["user": "user", "host": "h"])
        }

        @Test func uriPercentDecoding() throws {
            let o = try ConnectionConfiguration.parseOptions("postgresql://us%40er:p%3Ass@h/d%20b?options=-c%20x%3D1")
            #expect(o == ["user": "us@er", "password": "p:ss", "host": "h", "dbname": "d b", "options": "-c x=1"])
            let socketURI = try ConnectionConfiguration.parseOptions("postgresql://%2Fvar%2Flib%2Fpostgresql/dbname")
            #expect(socketURI == ["host": "/var/lib/postgresql", "dbname": "dbname"])
        }

        @Test func uriIPv6AndMultipleHosts() throws {
            #expect(try ConnectionConfiguration.parseOptions("postgresql://[2001:db8::1234]/database")
                == ["host": "2001:db8::1234", "dbname": "database"])
            #expect(try ConnectionConfiguration.parseOptions("postgresql://[::1]:5433,[fe80::1]:5434/db")
                == ["host": "::1,fe80::1", "port": "5433,5434", "dbname": "db"])
            #expect(try ConnectionConfiguration.parseOptions("postgresql://h1,h2:5433,h3/db")
                == ["host": "h1,h2,h3", "port": ",5433,", "dbname": "db"])
        }

        @Test func uriSSLTrue() throws {
            #expect(try ConnectionConfiguration.parseOptions("postgresql://h?ssl=true") == ["host": "h", "sslmode": "require"])
            #expect(try config("postgresql://h?ssl=true").sslMode == .require)
        }

        @Test func malformedURIs() {
            func message(_ s: String) -> String? {
                do {
                    _ = try ConnectionConfiguration.parseOptions(s)
                    return nil
                } catch {
                    return error.message
                }
            }
            #expect(message("postgresql://h?foo=bar") == #"invalid URI query parameter: "foo""#)
            #expect(message("postgresql://h?port") == #"missing key/value separator "=" in URI query parameter: "port""#)
            #expect(message("postgresql://h?port=1=2") == #"extra key/value separator "=" in URI query parameter: "port""#)
            #expect(message("postgresql://h/db%zz") == #"invalid percent-encoded token: "db%zz""#)
            #expect(message("postgresql://h/db%4") == #"invalid percent-encoded token: "db%4""#)
            #expect(message("postgresql://h/db%00") == #"forbidden value %00 in percent-encoded value: "db%00""#)
            #expect(message("postgresql://[::1")
                == #"end of string reached when looking for matching "]" in IPv6 host address in URI: "postgresql://[::1""#)
            #expect(message("postgresql://[]/db") == #"IPv6 host address may not be empty in URI: "postgresql://[]/db""#)
            #expect(message("postgresql://[::1]x/db")
                == #"unexpected character "x" at position 19 in URI (expected ":" or "/"): "postgresql://[::1]x/db""#)
        }
    }
}

// MARK: - Defaults, environment, derived values

extension ConfigurationTests {
    @Suite("Resolution")
    struct ConfigurationResolutionTests {
        @Test func defaultsWithEmptyEnvironment() throws {
            let c = try config()
            #expect(c.hosts == [socket(defaultSocketDirectory)])
            #expect(c.user == "osuser")
            #expect(c.database == "osuser")
            #expect(c.password == nil)
            #expect(c.passfile == "/home/osuser/.pgpass")
            #expect(c.sslMode == .prefer)
            #expect(c.channelBinding == .prefer)
            #expect(c.targetSessionAttributes == .any)
            #expect(c.gssEncMode == "prefer")
            #expect(c.clientEncoding == "UTF8")
            #expect(c.connectTimeout == nil)
            #expect(c.options == nil)
            #expect(c.applicationName == nil)
            #expect(c.sslSNI)
            #expect(!c.sslCompression)
            #expect(c.sslMinProtocolVersion == "TLSv1.2")
            #expect(c.keepalives)
            #expect(c.raw["port"] == "5432")
            #expect(c.raw["host"] == defaultSocketDirectory)
            #expect(c.raw["user"] == "osuser")
            #expect(c.raw["dbname"] == "osuser")
            #expect(c.raw["krbsrvname"] == "postgres")
        }

        @Test func realOSUserAndHomeAreUsedWhenNotGiven() throws {
            let c = try ConnectionConfiguration.parse("", environment: [:])
            let pw = getpwuid(geteuid())!.pointee
            #expect(c.user == String(cString: pw.pw_name))
            #expect(c.passfile == String(cString: pw.pw_dir) + "/.pgpass")
        }

        @Test func environmentFallback() throws {
            let env = [
                "PGHOST": "envhost", "PGPORT": "6000", "PGUSER": "envuser", "PGDATABASE": "envdb",
                "PGPASSWORD": "envpw", "PGPASSFILE": "/etc/pgpass", "PGOPTIONS": "-c geqo=off", "PGAPPNAME": "envapp",
                "PGCONNECT_TIMEOUT": "7", "PGCLIENTENCODING": "LATIN1", "PGSSLMODE": "verify-full",
                "PGSSLCERT": "/c.crt", "PGSSLKEY": "/c.key", "PGSSLROOTCERT": "/root.crt", "PGSSLCRL": "/crl.pem",
                "PGSSLCRLDIR": "/crl", "PGSSLSNI": "0", "PGSSLMINPROTOCOLVERSION": "TLSv1.3",
                "PGSSLMAXPROTOCOLVERSION": "TLSv1.3", "PGCHANNELBINDING": "require",
                "PGTARGETSESSIONATTRS": "read-write", "PGGSSENCMODE": "disable", "PGREQUIREPEER": "postgres",
                "PGSSLCOMPRESSION": "1", "PGKRBSRVNAME": "kerb", "PGGSSLIB": "gssapi",
            ]
            let c = try config(env: env)
            #expect(c.hosts == [tcp("envhost", 6000)])
            #expect(c.user == "envuser")
            #expect(c.database == "envdb")
            #expect(c.password == "envpw")
            #expect(c.passfile == "/etc/pgpass")
            #expect(c.options == "-c geqo=off")
            #expect(c.applicationName == "envapp")
            #expect(c.connectTimeout == 7)
            #expect(c.clientEncoding == "LATIN1")
            #expect(c.sslMode == .verifyFull)
            #expect(c.sslCert == "/c.crt")
            #expect(c.sslKey == "/c.key")
            #expect(c.sslRootCert == "/root.crt")
            #expect(c.sslCRL == "/crl.pem")
            #expect(c.sslCRLDir == "/crl")
            #expect(!c.sslSNI)
            #expect(c.sslCompression)
            #expect(c.sslMinProtocolVersion == "TLSv1.3")
            #expect(c.sslMaxProtocolVersion == "TLSv1.3")
            #expect(c.channelBinding == .require)
            #expect(c.targetSessionAttributes == .readWrite)
            #expect(c.gssEncMode == "disable")
            #expect(c.requirePeer == "postgres")
            #expect(c.krbsrvname == "kerb")
            #expect(c.gsslib == "gssapi")
            #expect(c.raw["password"] == nil)
        }

        @Test func connectionStringBeatsEnvironment() throws {
            let env = ["PGHOST": "envhost", "PGUSER": "envuser", "PGDATABASE": "envdb", "PGSSLMODE": "require"]
            let c = try config("host=strhost user=struser sslmode=disable", env: env)
            #expect(c.hosts == [tcp("strhost")])
            #expect(c.user == "struser")
            #expect(c.database == "envdb")
            #expect(c.sslMode == .disable)
        }

        @Test func emptyValueInStringStillCountsAsGiven() throws {
            // key=value: host='' is set (empty), so PGHOST is not consulted and the default applies.
            let c = try config("host='' dbname=''", env: ["PGHOST": "envhost", "PGDATABASE": "envdb"])
            #expect(c.hosts == [socket(defaultSocketDirectory)])
            #expect(c.database == "osuser")
            // URI: empty parts are not stored, so the environment applies.
            let u = try config("postgresql:///", env: ["PGHOST": "envhost", "PGDATABASE": "envdb"])
            #expect(u.hosts == [tcp("envhost")])
            #expect(u.database == "envdb")
        }

        @Test func emptyEnvironmentValue() throws {
            // An empty PGHOST is set-but-empty: default host.
            let c = try config(env: ["PGHOST": "", "PGUSER": ""])
            #expect(c.hosts == [socket(defaultSocketDirectory)])
            #expect(c.user == "osuser")
        }

        @Test func pgrequiressl() throws {
            #expect(try config(env: ["PGREQUIRESSL": "1"]).sslMode == .require)
            #expect(try config(env: ["PGREQUIRESSL": "0"]).sslMode == .prefer)
            #expect(try config(env: ["PGREQUIRESSL": "1", "PGSSLMODE": "disable"]).sslMode == .disable)
            #expect(try config("sslmode=allow", env: ["PGREQUIRESSL": "1"]).sslMode == .allow)
        }

        @Test func unixSocketHosts() throws {
            #expect(try config("host=/tmp/pg port=6000").hosts == [socket("/tmp/pg", 6000)])
            #expect(try config("postgresql://%2Fvar%2Flib%2Fpostgresql/db").hosts == [socket("/var/lib/postgresql")])
            #expect(try config("host=@abstract").hosts == [socket("@abstract")])
            let long = "/" + String(repeating: "d", count: 100)
            #expect(parseError("host=\(long)")?.message
                == "Unix-domain socket path \"\(long)/.s.PGSQL.5432\" is too long (maximum 107 bytes)")
        }

        @Test func multipleHosts() throws {
            #expect(try config("host=a,b,c port=1,2,3").hosts == [tcp("a", 1), tcp("b", 2), tcp("c", 3)])
            #expect(try config("host=a,b port=7").hosts == [tcp("a", 7), tcp("b", 7)])
            #expect(try config("host=a,b").hosts == [tcp("a"), tcp("b")])
            #expect(try config("host=a,/tmp,,b port=1,2,3,").hosts
                == [tcp("a", 1), socket("/tmp", 2), socket(defaultSocketDirectory, 3), tcp("b")])
            #expect(try config("postgresql://h1,h2:5433,[::1]:5434/db").hosts
                == [tcp("h1"), tcp("h2", 5433), tcp("::1", 5434)])
            #expect(parseError("host=a,b port=1,2,3")?.message == "could not match 3 port numbers to 2 hosts")
            #expect(parseError("port=1,2")?.message == "could not match 2 port numbers to 1 hosts")
        }

        @Test func hostaddr() throws {
            #expect(try config("host=db.example hostaddr=127.0.0.1").hosts == [tcp("db.example", hostaddr: "127.0.0.1")])
            #expect(try config("hostaddr=::1 port=5433").hosts == [tcp("", 5433, hostaddr: "::1")])
            #expect(try config("host=a,b hostaddr=10.0.0.1,").hosts
                == [tcp("a", hostaddr: "10.0.0.1"), tcp("b")])
            #expect(parseError("host=a hostaddr=1.2.3.4,5.6.7.8")?.message
                == "could not match 1 host names to 2 hostaddr values")
            #expect(parseError("hostaddr=not-an-address")?.message.hasPrefix(
                #"could not parse network address "not-an-address""#) == true)
        }

        @Test func ports() throws {
            #expect(try config("host=h port=' 6000 '").hosts == [tcp("h", 6000)])
            #expect(parseError("host=h port=abc")?.message == #"invalid integer value "abc" for connection option "port""#)
            #expect(parseError("host=h port=12x")?.message == #"invalid integer value "12x" for connection option "port""#)
            #expect(parseError("host=h port=0")?.message == #"invalid port number: "0""#)
            #expect(parseError("host=h port=70000")?.message == #"invalid port number: "70000""#)
            #expect(parseError("postgresql://h:notaport/db")?.message
                == #"invalid integer value "notaport" for connection option "port""#)
        }

        @Test func connectTimeout() throws {
            #expect(try config("connect_timeout=10").connectTimeout == 10)
            #expect(try config("connect_timeout=1").connectTimeout == 2)
            #expect(try config("connect_timeout=2").connectTimeout == 2)
            #expect(try config("connect_timeout=0").connectTimeout == nil)
            #expect(try config("connect_timeout=-5").connectTimeout == nil)
            #expect(try config("connect_timeout=' 3 '").connectTimeout == 3)
            #expect(parseError("connect_timeout=x")?.message
                == #"invalid integer value "x" for connection option "connect_timeout""#)
            #expect(parseError("connect_timeout=1.5")?.message
                == #"invalid integer value "1.5" for connection option "connect_timeout""#)
            #expect(parseError("connect_timeout=''")?.message
                == #"invalid integer value "" for connection option "connect_timeout""#)
            #expect(parseError("connect_timeout=99999999999")?.message
                == #"invalid integer value "99999999999" for connection option "connect_timeout""#)
            #expect(parseError("", env: ["PGCONNECT_TIMEOUT": "soon"])?.message
                == #"invalid integer value "soon" for connection option "connect_timeout""#)
        }

        @Test func validatedEnumerations() throws {
            #expect(parseError("sslmode=bogus")?.message == #"invalid sslmode value: "bogus""#)
            #expect(parseError("channel_binding=maybe")?.message == #"invalid channel_binding value: "maybe""#)
            #expect(parseError("target_session_attrs=primary-ish")?.message
                == #"invalid target_session_attrs value: "primary-ish""#)
            #expect(parseError("gssencmode=sometimes")?.message == #"invalid gssencmode value: "sometimes""#)
            #expect(parseError("gssencmode=require")?.message
                == #"gssencmode value "require" invalid when GSSAPI support is not compiled in"#)
            #expect(parseError("ssl_min_protocol_version=TLSv9")?.message
                == #"invalid ssl_min_protocol_version value: "TLSv9""#)
            #expect(parseError("ssl_max_protocol_version=SSLv3")?.message
                == #"invalid ssl_max_protocol_version value: "SSLv3""#)
            #expect(parseError("ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2")?.message
                == "invalid SSL protocol version range")
            #expect(parseError("ssl_min_protocol_version=TLSv1.2 ssl_max_protocol_version=TLSv1")?.message
                == "invalid SSL protocol version range")
            #expect(try config("ssl_min_protocol_version=tlsv1 ssl_max_protocol_version=TLSv1").sslMaxProtocolVersion == "TLSv1")
            for mode in SSLMode.allCases {
                #expect(try config("sslmode=\(mode.rawValue)").sslMode == mode)
            }
            #expect(try config("target_session_attrs=prefer-standby").targetSessionAttributes == .preferStandby)
        }

        @Test func keepalivesAndTCPOptions() throws {
            let c = try config("keepalives=0 keepalives_idle=30 keepalives_interval=5 keepalives_count=3 tcp_user_timeout=1000")
            #expect(!c.keepalives)
            #expect(c.keepalivesIdle == 30)
            #expect(c.keepalivesInterval == 5)
            #expect(c.keepalivesCount == 3)
            #expect(c.tcpUserTimeout == 1000)
            #expect(try config("keepalives=1").keepalives)
            #expect(parseError("keepalives=yes")?.message == "keepalives parameter must be an integer")
            #expect(parseError("keepalives_idle=x")?.message
                == #"invalid integer value "x" for connection option "keepalives_idle""#)
        }

        @Test func clientEncoding() throws {
            #expect(try config("client_encoding=LATIN1").clientEncoding == "LATIN1")
            #expect(try config("client_encoding=auto", env: ["LANG": "en_US.UTF-8"]).clientEncoding == "UTF8")
            #expect(try config("client_encoding=auto", env: ["LC_ALL": "de_DE.ISO-8859-15@euro"]).clientEncoding == "LATIN9")
            #expect(try config("client_encoding=auto", env: ["LANG": "C"]).clientEncoding == "SQL_ASCII")
        }

        @Test func applicationNames() throws {
            #expect(try config("fallback_application_name=fb").effectiveApplicationName == "fb")
            #expect(try config("application_name=app fallback_application_name=fb").effectiveApplicationName == "app")
            #expect(try config("application_name='' fallback_application_name=fb").effectiveApplicationName == "fb")
            #expect(try config().effectiveApplicationName == nil)
        }

        @Test func optionsAndOtherStrings() throws {
            let c = try config("options='-c search_path=app' replication=database requirepeer=postgres sslpassword=kp sslkey=/k")
            #expect(c.options == "-c search_path=app")
            #expect(c.replication == "database")
            #expect(c.requirePeer == "postgres")
            #expect(c.sslPassword == "kp")
            #expect(c.sslKey == "/k")
            #expect(c.raw["sslpassword"] == nil)
            #expect(c.raw["options"] == "-c search_path=app")
        }

        @Test func emptyPasswordMeansNone() throws {
            #expect(try config("password=''").password == nil)
            #expect(try config(env: ["PGPASSWORD": ""]).password == nil)
        }

        @Test func unknownKeywordAndSyntaxErrorsSurfaceFromParse() {
            #expect(parseError("foo=bar") == ConfigurationError(#"invalid connection option "foo""#))
            #expect(parseError("dbname") == ConfigurationError(#"missing "=" after "dbname" in connection info string"#))
        }
    }
}

// MARK: - Service files

extension ConfigurationTests {
    @Suite("Service files")
    struct ServiceFileTests {
        @Test func serviceFromPGSERVICEFILE() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("services.conf")
            try writeFile(file, """
                # comment
                [other]
                host=wrong

                [mysvc]
                host=svchost
                  port=6543
                dbname=svcdb
                [after]
                user=wrong
                """, mode: 0o644)
            let env = ["PGSERVICEFILE": file.path, "PGSYSCONFDIR": dir.path]
            let c = try config("service=mysvc dbname=explicit", env: env)
            #expect(c.hosts == [tcp("svchost", 6543)])
            #expect(c.database == "explicit")
            #expect(c.user == "osuser")
            #expect(c.service == "mysvc")

            // PGSERVICE picks the service; the service beats the environment.
            let e = try config(env: env.merging(["PGSERVICE": "mysvc", "PGHOST": "envhost"]) { $1 })
            #expect(e.hosts == [tcp("svchost", 6543)])

            #expect(parseError("service=nope", env: env)?.message == #"definition of service "nope" not found"#)
        }

        @Test func serviceFileErrors() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("services.conf")
            try writeFile(file, "[s]\nhost\n", mode: 0o644)
            let env = ["PGSERVICEFILE": file.path, "PGSYSCONFDIR": dir.path]
            #expect(parseError("service=s", env: env)?.message == "syntax error in service file \"\(file.path)\", line 2")
            try writeFile(file, "[s]\nbogus=1\n", mode: 0o644)
            #expect(parseError("service=s", env: env)?.message == "syntax error in service file \"\(file.path)\", line 2")
            try writeFile(file, "[s]\nservice=t\n", mode: 0o644)
            #expect(parseError("service=s", env: env)?.message
                == "nested service specifications not supported in service file \"\(file.path)\", line 2")
            let missing = dir.appendingPathComponent("missing.conf").path
            #expect(parseError("service=s", env: ["PGSERVICEFILE": missing])?.message
                == "service file \"\(missing)\" not found")
        }

        @Test func homeAndSystemServiceFiles() throws {
            let home = try makeTemporaryDirectory()
            let sys = try makeTemporaryDirectory()
            defer {
                try? FileManager.default.removeItem(at: home)
                try? FileManager.default.removeItem(at: sys)
            }
            try writeFile(home.appendingPathComponent(".pg_service.conf"), "[a]\nhost=homehost\n", mode: 0o600)
            try writeFile(sys.appendingPathComponent("pg_service.conf"), "[a]\nhost=syshost\n[b]\nhost=sysb\n", mode: 0o644)
            let env = ["PGSYSCONFDIR": sys.path]
            #expect(try config("service=a", env: env, home: home.path).hosts == [tcp("homehost")])
            #expect(try config("service=b", env: env, home: home.path).hosts == [tcp("sysb")])
        }
    }
}

// MARK: - Password file

extension ConfigurationTests {
    @Suite("Password file")
    struct PassFileTests {
        @Test func lookupRules() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let pgpass = dir.appendingPathComponent("pgpass")
            try writeFile(pgpass, #"""
                # a comment:*:*:*:nope
                db.example:5432:app:alice:first
                db.example:5432:app:alice:second
                db.example:*:*:bob:bob\:pw\\x:ignored
                h\:colon:5432:*:carol:colonhost
                localhost:5432:*:dave:local
                /custom/socket:5433:*:dave:custom
                127.0.0.1:5432:*:erin:byaddr
                *:*:*:*:fallback
                """#, mode: 0o600)
            func lookup(_ conninfo: String) throws -> String? {
                let c = try config(conninfo + " passfile=\(pgpass.path)")
                return c.passwordFromPassFile(for: c.hosts[0])
            }
            #expect(try lookup("host=db.example dbname=app user=alice") == "first")
            #expect(try lookup("host=db.example port=6000 dbname=other user=bob") == #"bob:pw\x"#)
            #expect(try lookup("host=h:colon dbname=x user=carol") == "colonhost")
            // The default socket directory searches for "localhost"; another directory matches literally.
            #expect(try lookup("dbname=x user=dave") == "local")
            #expect(try lookup("host=\(defaultSocketDirectory) dbname=x user=dave") == "local")
            #expect(try lookup("host=/custom/socket port=5433 dbname=x user=dave") == "custom")
            #expect(try lookup("host=localhost dbname=x user=dave") == "local")
            // hostaddr is the search key when host is not given.
            #expect(try lookup("hostaddr=127.0.0.1 dbname=x user=erin") == "byaddr")
            #expect(try lookup("host=elsewhere dbname=x user=zed") == "fallback")
            // The port must match as text.
            #expect(try lookup("host=db.example port=5433 dbname=app user=alice") == "fallback")
        }

        @Test func defaultPassfileInHomeDirectory() throws {
            let home = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: home) }
            try writeFile(home.appendingPathComponent(".pgpass"), "*:*:*:*:homepw\n", mode: 0o600)
            let c = try config("host=h", home: home.path)
            #expect(c.passfile == home.path + "/.pgpass")
            #expect(c.passwordFromPassFile(for: c.hosts[0]) == "homepw")
        }

        @Test func multiHostLookupPerHost() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let pgpass = dir.appendingPathComponent("pgpass")
            try writeFile(pgpass, "a:1:*:*:pa\nb:2:*:*:pb\n", mode: 0o600)
            let c = try config("host=a,b port=1,2 passfile=\(pgpass.path)")
            #expect(c.hosts.map { c.passwordFromPassFile(for: $0) } == ["pa", "pb"])
        }

        @Test func insecureFileIsIgnoredWithLibpqWarning() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let pgpass = dir.appendingPathComponent("pgpass")
            try writeFile(pgpass, "*:*:*:*:pw\n", mode: 0o644)
            let c = try config("host=h passfile=\(pgpass.path)")
            var warnings: [String] = []
            #expect(c.passwordFromPassFile(for: c.hosts[0]) { warnings.append($0) } == nil)
            #expect(warnings == [
                "WARNING: password file \"\(pgpass.path)\" has group or world access; permissions should be u=rw (0600) or less"
            ])
            try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: pgpass.path)
            #expect(c.passwordFromPassFile(for: c.hosts[0]) == nil)
            try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: pgpass.path)
            #expect(c.passwordFromPassFile(for: c.hosts[0]) == "pw")
        }

        @Test func nonRegularAndMissingFiles() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let c = try config("host=h passfile=\(dir.path)")
            var warnings: [String] = []
            #expect(c.passwordFromPassFile(for: c.hosts[0]) { warnings.append($0) } == nil)
            #expect(warnings == ["WARNING: password file \"\(dir.path)\" is not a plain file"])

            let missing = try config("host=h passfile=\(dir.path)/nope")
            warnings = []
            #expect(missing.passwordFromPassFile(for: missing.hosts[0]) { warnings.append($0) } == nil)
            #expect(warnings.isEmpty)
        }

        @Test func crlfAndUnterminatedLines() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let pgpass = dir.appendingPathComponent("pgpass")
            try writeFile(pgpass, "x:*:*:*:crlf\r\n*:*:*:u:last", mode: 0o600)
            let x = try config("host=x passfile=\(pgpass.path)")
            #expect(x.passwordFromPassFile(for: x.hosts[0]) == "crlf")
            let y = try config("host=y user=u passfile=\(pgpass.path)")
            #expect(y.passwordFromPassFile(for: y.hosts[0]) == "last")
        }
    }
}

// MARK: - Secrets

private let leakCanary = "s3cr3tPW"

private let secretLeakCases: [String] = [
    "postgresql://u:\(leakCanary)@[::1",
    "postgresql://u:\(leakCanary)@[::1]x/db",
    "postgresql://u:\(leakCanary)@[]/db",
    "postgresql://u:\(leakCanary)%zz@h",
    "postgresql://u:\(leakCanary)%00@h",
    "postgresql://u:\(leakCanary)@h?password=\(leakCanary)%zz",
    "postgresql://h?sslpassword=\(leakCanary)%0",
    "postgresql://u:\(leakCanary)@h?bogus=1",
    "postgresql://u:\(leakCanary)@h:port/db",
    "postgresql://[::1?password=\(leakCanary)",
    "password=\(leakCanary) bogus=1",
    "password=\(leakCanary) extra",
    "password=\(leakCanary) extra=1",
    "password='\(leakCanary)' port=x",
    "password=\(leakCanary) host='unterminated",
    "password=\(leakCanary) sslmode=nope",
]

extension ConfigurationTests {
    @Suite("Secrets stay hidden")
    struct SecretTests {
        static let secret = leakCanary

        @Test func descriptionHidesPassword() throws {
            let c = try config("host=h user=u password=\(Self.secret) sslpassword=\(Self.secret)x dbname=d")
            #expect(c.password == Self.secret)
            for text in [c.description, c.debugDescription, String(describing: c), "\(c)", String(reflecting: c)] {
                #expect(!text.contains(Self.secret))
            }
            #expect(c.description.contains("password=********"))
            #expect(c.description.contains("sslpassword=********"))
            #expect(c.description.contains("host=h"))
            #expect(c.raw["password"] == nil)
            #expect(!c.raw.values.contains { $0.contains(Self.secret) })

            let e = try config("host=h", env: ["PGPASSWORD": Self.secret])
            #expect(!e.description.contains(Self.secret))
            #expect(!e.debugDescription.contains(Self.secret))
        }

        @Test func descriptionIsAConnectionString() throws {
            let c = try config("host=h dbname='my db' application_name='o\\'k' password=pw")
            #expect(c.description.contains("dbname='my db'"))
            #expect(c.description.contains(#"application_name='o\'k'"#))
            // Feeding it back yields the same settings (the password is masked).
            let again = try ConnectionConfiguration.parseOptions(c.description)
            #expect(again["dbname"] == "my db")
            #expect(again["application_name"] == "o'k")
            #expect(again["password"] == "********")
        }

        @Test(arguments: secretLeakCases)
        func errorsNeverContainThePassword(conninfo: String) {
            let error = parseError(conninfo)
            #expect(error != nil)
            #expect(error.map { !$0.message.contains(Self.secret) } == true, "\(error?.message ?? "")")
            #expect(error.map { !"\($0)".contains(Self.secret) } == true)
        }
    }
}

// MARK: - libpq oracle

/// Runs Tests/Oracles/conninfo.c (PQconninfoParse) compiled against the installed libpq.
private enum LibpqOracle {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    enum Outcome: Equatable, CustomStringConvertible {
        case options([String: String])
        case error(String)

        var description: String {
            switch self {
            case .options(let o): return "options \(o.sorted { $0.key < $1.key })"
            case .error(let e): return "error \(e)"
            }
        }
    }

    static let source = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Oracles/conninfo.c")

    /// Compiled once per test process.
    static let binary: Result<String, Failure> = {
        do {
            let include = try run("/usr/bin/env", ["pg_config", "--includedir"])
            guard include.status == 0 else {
                throw Failure(description: "pg_config failed (is libpq-dev installed?): \(include.stderr)")
            }
            let includeDir = include.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // Kept under the package's .build (a cache, not litter in the temporary directory).
            let dir = source.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/test-oracles")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            removeStaleBinaries(in: dir)
            let output = dir.appendingPathComponent("conninfo-\(getpid())").path
            let cc = try run("/usr/bin/env", ["cc", "-o", output, source.path, "-I\(includeDir)", "-lpq"])
            guard cc.status == 0 else {
                throw Failure(description: "cc failed building the libpq oracle (status \(cc.status)): \(cc.stderr)")
            }
            return .success(output)
        } catch let error as Failure {
            return .failure(error)
        } catch {
            return .failure(Failure(description: "could not build the libpq oracle: \(error)"))
        }
    }()

    /// Binaries left by earlier test processes (older than an hour).
    private static func removeStaleBinaries(in dir: URL) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else { return }
        for name in names where name.hasPrefix("conninfo-") {
            let path = dir.appendingPathComponent(name).path
            if let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                modified.timeIntervalSinceNow < -3600
            {
                try? fm.removeItem(atPath: path)
            }
        }
    }

    static func parse(_ conninfo: String) throws -> Outcome {
        let result = try run(try binary.get(), [conninfo])
        guard result.status == 0 else { throw Failure(description: "oracle failed: \(result.stderr)") }
        var options: [String: String] = [:]
        for line in result.stdout.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("ERROR: ") { return .error(unescape(line.dropFirst("ERROR: ".count))) }
            guard let eq = line.firstIndex(of: "=") else { throw Failure(description: "bad oracle line: \(line)") }
            options[String(line[..<eq])] = unescape(line[line.index(after: eq)...])
        }
        return .options(options)
    }

    private static func unescape(_ s: Substring) -> String {
        var out = ""
        var escaped = false
        for ch in s {
            if escaped {
                out.append(ch == "n" ? "\n" : ch == "r" ? "\r" : ch)
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else {
                out.append(ch)
            }
        }
        return out
    }

    private static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}

/// One connection string compared with libpq. `secret`: the error quotes a password in libpq, so
/// only "both fail" is compared (ours masks it).
struct OracleCase: Sendable, CustomTestStringConvertible {
    let conninfo: String
    let secret: Bool

    init(_ conninfo: String, secret: Bool = false) {
        self.conninfo = conninfo
        self.secret = secret
    }

    var testDescription: String { conninfo.isEmpty ? "(empty)" : conninfo }
}

private let oracleCorpus: [OracleCase] = [
    // key = value
    .init(""),
    .init("   "),
    .init("host=localhost port=5432 dbname=mydb user=me"),
    .init("host = localhost   port= 5433\tdbname =x"),
    .init(#"dbname='my db' user='o\'brien'"#),
    .init(#"password='a\\b' host=x"#),
    .init(#"user=a\ b options=-c\ geqo=off"#),
    .init(#"host=x\"#),
    .init("host="),
    .init("host= port=5432"),
    .init("application_name='' options='-c search_path=x'"),
    .init("a='x'b=c"),
    .init("host='x'port=1"),
    .init("requiressl=1"),
    .init("sslmode=disable requiressl=1"),
    .init("requiressl=0 host=h"),
    .init("host=a,b,c port=1,2,3"),
    .init("dbname=a dbname=b"),
    .init("host=%2Ftmp"),
    .init("postgresql=x"),
    .init("keepalives=1 keepalives_idle=10 keepalives_interval=2 keepalives_count=3 tcp_user_timeout=100 sslsni=0 gssencmode=disable target_session_attrs=read-write replication=database"),
    .init("sslcert=/a sslkey=/b sslrootcert=/c sslcrl=/d sslcrldir=/e sslpassword=pw ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.3 channel_binding=require krbsrvname=k gsslib=gssapi requirepeer=postgres sslcompression=1 fallback_application_name=fb service=svc passfile=/p connect_timeout=10 client_encoding=LATIN1 hostaddr=127.0.0.1"),
    .init("host='unterminated"),
    .init(#"host='ends with backslash\"#),
    .init("foo=bar"),
    .init("host=x foo=bar"),
    .init("host"),
    .init("host localhost"),
    .init("host=x port"),
    .init("=x"),
    .init("POSTGRESQL://h"),
    // URIs
    .init("postgresql://"),
    .init("postgres://"),
    .init("postgresql://localhost"),
    .init("postgres://localhost:5433"),
    .init("postgresql://localhost/mydb"),
    .init("postgresql://user@localhost"),
    .init("postgresql://user:secret@localhost:5432/mydb?connect_timeout=10&application_name=myapp"),
    .init("postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp"),
    .init("postgresql://host1:123,host2:456/somedb?target_session_attrs=any&application_name=myapp"),
    .init("postgresql://h1,h2:5433,h3/db"),
    .init("postgresql://h1,h2"),
    .init("postgresql://[2001:db8::1234]/database"),
    .init("postgresql://[::1]:5433,[fe80::1]:5434/db"),
    .init("postgresql://[::1],h2"),
    .init("postgresql://%2Fvar%2Flib%2Fpostgresql/dbname"),
    .init("postgresql:///dbname?host=/var/lib/postgresql"),
    .init("postgresql://us%40er:p%3Ass@h/d%20b"),
    .init("postgresql://h%2Ch2/db"),
    .init("postgresql://:5433/db"),
    .init("postgresql://h/"),
    .init("postgresql://user:@h"),
    .init("postgresql://:pw@h"),
    .init("postgresql://h?"),
    .init("postgresql://h/db?"),
    .init("postgresql://h?ssl=true"),
    .init("postgresql://h?ssl=false"),
    .init("postgresql://h?requiressl=1"),
    .init("postgresql://h?sslmode=verify-full&sslrootcert=%2Ftmp%2Froot.crt"),
    .init("postgresql://h/db?options=-c%20work_mem%3D4MB"),
    .init("postgresql://h?host=other&port=7"),
    .init("postgresql://user:pw@h?password=other"),
    .init("postgresql://h:notaport/db"),
    .init("postgresql://h?x=1@y/z"),
    .init("postgresql://h?dbname=a%26b&user=%C3%A9"),
    .init("postgresql://h?keepalives="),
    .init("postgresql://h?a=b"),
    .init("postgresql://h?port"),
    .init("postgresql://h?&port=1"),
    .init("postgresql://h?port=1=2"),
    .init("postgresql://h/db%zz"),
    .init("postgresql://h/db%4"),
    .init("postgresql://h/%"),
    .init("postgresql://h/db%00"),
    .init("postgresql://h?%zz=1"),
    .init("postgresql://[::1"),
    .init("postgresql://[]/db"),
    .init("postgresql://[::1]x/db"),
    .init("postgresql://u:p%zz@h", secret: true),
    .init("postgresql://u:pw@[::1", secret: true),
    .init("postgresql://h?password=p%zz", secret: true),
]

extension ConfigurationTests {
    @Suite("libpq oracle")
    struct LibpqOracleTests {
        @Test func oracleIsAvailable() throws {
            // Fails (does not skip) when cc, pg_config or libpq is missing.
            _ = try LibpqOracle.binary.get()
            #expect(try LibpqOracle.parse("host=h") == .options(["host": "h"]))
        }

        @Test(arguments: oracleCorpus)
        func matchesPQconninfoParse(_ testCase: OracleCase) throws {
            let expected = try LibpqOracle.parse(testCase.conninfo)
            let actual: LibpqOracle.Outcome
            do {
                actual = .options(try ConnectionConfiguration.parseOptions(testCase.conninfo))
            } catch {
                actual = .error(error.message)
            }
            switch (expected, actual, testCase.secret) {
            case (.error, .error(let ours), true):
                #expect(ours.contains("********"), "masked error: \(ours)")
            default:
                #expect(actual == expected)
            }
        }
    }
}

@Suite struct LibpqEnvironmentTests {
    @Test func readsPGVariablesFromTheProcessEnvironment() {
        setenv("PGWIRE_ENV_PROBE", "probe value", 1)
        defer { unsetenv("PGWIRE_ENV_PROBE") }
        let env = LocalSystem.libpqEnvironment()
        #expect(env["PGWIRE_ENV_PROBE"] == "probe value")
        #expect(env.keys.allSatisfy { $0.hasPrefix("PG") || $0 == "HOME" || $0 == "LC_ALL" || $0 == "LC_CTYPE" || $0 == "LANG" })
        // HOME is read too: libpq 15 finds ~/.pgpass, ~/.pg_service.conf and ~/.postgresql/ through it.
        #expect(env["HOME"] == ProcessInfo.processInfo.environment["HOME"])
    }
}

extension ConfigurationTests {
    /// The variables libpq reads are picked from the process environment by name: PG*, HOME,
    /// LC_ALL, LC_CTYPE and LANG, with their values whole (an '=' inside a value stays).
    @Test func libpqEnvironmentKeepsOnlyTheVariablesLibpqReads() {
        let suffix = UInt32.random(in: 0...UInt32.max)
        let kept = "PGWIRE_TEST_\(suffix)"
        let notKept = "XPGWIRE_TEST_\(suffix)"
        setenv(kept, "a=b c", 1)
        setenv(notKept, "x", 1)
        defer {
            unsetenv(kept)
            unsetenv(notKept)
        }
        let environment = LocalSystem.libpqEnvironment()
        #expect(environment[kept] == "a=b c")
        #expect(environment[notKept] == nil)
        #expect(environment["PATH"] == nil)
        #expect(environment["HOME"] == ProcessInfo.processInfo.environment["HOME"])
        #expect(environment.keys.allSatisfy { $0.hasPrefix("PG") || ["HOME", "LC_ALL", "LC_CTYPE", "LANG"].contains($0) })
    }
}

// MARK: - Parsing again

extension ConfigurationTests {
    /// `parse` remembers the configuration it resolved last with everything it was resolved
    /// from: the same inputs give the same configuration, and any changed input is seen.
    @Suite("Parsing the same string again")
    struct ParseMemoTests {
        @Test func sameInputsSameConfigurationAndEveryChangeSeen() throws {
            let string = "host=memo.example port=5433 dbname=d application_name=first"
            let a = try config(string, env: ["PGUSER": "alice"])
            let b = try config(string, env: ["PGUSER": "alice"])
            #expect(a.description == b.description)
            #expect(b.user == "alice" && b.applicationName == "first" && b.hosts == [tcp("memo.example", 5433)])
            // A changed environment, string or user is a different configuration.
            #expect(try config(string, env: ["PGUSER": "bob"]).user == "bob")
            #expect(try config(string.replacingOccurrences(of: "first", with: "second"), env: ["PGUSER": "alice"]).applicationName == "second")
            #expect(try config(string).user == "osuser")
            #expect(try config(string, env: ["PGUSER": "alice"]).user == "alice")
        }

        @Test func aServiceFileIsReadAgainEachTime() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("services.conf")
            let env = ["PGSERVICEFILE": file.path, "PGSYSCONFDIR": dir.path]
            try writeFile(file, "[memo]\nhost=first.example\n", mode: 0o644)
            #expect(try config("service=memo", env: env).hosts == [tcp("first.example")])
            try writeFile(file, "[memo]\nhost=second.example\n", mode: 0o644)
            #expect(try config("service=memo", env: env).hosts == [tcp("second.example")])
            // PGSERVICE too.
            try writeFile(file, "[memo]\nhost=third.example\n", mode: 0o644)
            #expect(try config(env: env.merging(["PGSERVICE": "memo"]) { $1 }).hosts == [tcp("third.example")])
            try writeFile(file, "[memo]\nhost=fourth.example\n", mode: 0o644)
            #expect(try config(env: env.merging(["PGSERVICE": "memo"]) { $1 }).hosts == [tcp("fourth.example")])
        }
    }
}
