import Foundation
import Testing
import TestSupport

/// `pgwire query` with several hosts, target_session_attrs, and through PgBouncer.
@Suite(.serialized) struct MultiHostCLITests {
    private var environment: [String: String] {
        ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "LANG": "C.UTF-8", "PGPASSFILE": "/nonexistent/pgpass"]
    }

    @Test func severalHostsAndEveryFailureListedWithExitStatus2() throws {
        let server = try TestServer.shared()
        let silent = try FakeServer { client in Thread.sleep(forTimeInterval: 5); _ = client }
        defer { silent.stop() }
        let good = try runPgwire(["query", "--dsn", "host=127.0.0.1,127.0.0.1 port=\(silent.port),\(server.port) user=pgwire_trust dbname=pgwire_test connect_timeout=1",
                                  "SELECT inet_server_port()"], environment: environment)
        #expect(good.status == 0)
        #expect(good.stdout.contains(String(server.port)))

        let failing = "host=127.0.0.1,localhost port=1,\(silent.port) user=pgwire_trust dbname=pgwire_test connect_timeout=2"
        let ours = try runPgwire(["query", "--dsn", failing, "SELECT 1"], environment: environment)
        let psql = try runPsql(server, ["-d", failing, "-c", "SELECT 1"], environment: environment)
        #expect(ours.status == 2 && psql.status == 2)
        #expect(ours.stderr.replacingOccurrences(of: "pgwire: error: ", with: "") == psql.stderr.replacingOccurrences(of: "psql: error: ", with: ""))
    }

    @Test func targetSessionAttrsPicksThePrimary() throws {
        let cluster = try ReplicatedCluster.shared()
        let uri = "postgresql://127.0.0.1:\(cluster.standbys[0].port),127.0.0.1:\(cluster.primary.port)/pgwire_test?user=pgwire_trust&target_session_attrs=read-write"
        let result = try runPgwire(["query", "--format", "csv", "--dsn", uri, "SELECT inet_server_port()"], environment: environment)
        #expect(result.status == 0)
        #expect(result.stdout.contains(String(cluster.primary.port)))
        let none = try runPgwire(["query", "--dsn", cluster.dsn([cluster.standbys[0]], extra: "target_session_attrs=primary"), "SELECT 1"],
                                 environment: environment)
        #expect(none.status == 2)
        #expect(none.stderr == "pgwire: error: connection to server at \"127.0.0.1\", port \(cluster.standbys[0].port) failed: server is in hot standby mode\n")
    }

    /// Through one shared server connection, `--param`/`--binary` runs used to leave a named
    /// statement behind for the next run (42P05, or a wrong bind). They use the unnamed one now.
    @Test func queryWithParametersRunsRepeatedlyThroughPgBouncer() throws {
        let bouncer = try PgBouncerServer.start(poolMode: "transaction", poolSize: 1)
        defer { bouncer.stop() }
        let runs: [([String], String)] = [
            (["--param", "41", "SELECT $1::int + 1 AS n"], "42"),
            (["--param", "41", "SELECT $1::int + 1 AS n"], "42"),
            (["--binary", "--param", "1", "--param", "2", "SELECT $1::int + $2::int AS n"], "3"),
            (["--binary", "SELECT 7 AS n"], "7"),
            (["--param", "5", "SELECT $1::int * 2 AS n"], "10"),
        ]
        for (arguments, expected) in runs {
            let result = try runPgwire(["query", "--format", "csv", "--dsn", bouncer.dsn()] + arguments, environment: environment)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(result.stdout == "n\n\(expected)\n", "\(arguments)")
        }
    }
}
