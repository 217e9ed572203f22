import ArgumentParser
import Dispatch
import Foundation
import PostgresWire

/// `pgwire trace`: a proxy that prints every message between PostgreSQL clients and a server in
/// libpq's PQtrace format.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Trace the PostgreSQL protocol between clients and a server (a proxy, PQtrace format).",
        discussion: """
            Point any client (psql, libpq programs, other drivers) at the --listen address instead \
            of the server; every message in both directions is printed as libpq's PQtrace prints it \
            (<timestamp> TAB F|B TAB length TAB name TAB fields), plus what PQtrace never shows: the \
            startup packet, SSLRequest/GSSENCRequest/CancelRequest and the authentication exchange, \
            with passwords and SASL data redacted. Lines whose second column (after the timestamp) \
            is # are the proxy's own notes (connections opening and closing, malformed traffic).

            An SSLRequest is answered 'N' by the proxy itself so that the session stays readable: \
            clients with sslmode=require or stricter will refuse to continue; use sslmode=prefer \
            (libpq's default) or disable.

            Example (two terminals):
              pgwire trace --upstream 127.0.0.1:5432 --no-timestamps
              psql "host=127.0.0.1 port=6432 dbname=postgres"
            """
    )

    @Option(name: .long, help: ArgumentHelp("Address to listen on: HOST:PORT, [IPv6]:PORT (port 0 picks a free port).", valueName: "HOST:PORT"))
    var listen: String = "127.0.0.1:6432"

    @Option(name: .long, help: ArgumentHelp("The server: HOST:PORT, [IPv6]:PORT, or /socket/directory:PORT for a Unix-domain socket.", valueName: "HOST:PORT"))
    var upstream: String

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Write the trace to FILE instead of standard output.", valueName: "FILE"))
    var output: String?

    @Flag(name: .long, help: "Omit the timestamp column (libpq's PQTRACE_SUPPRESS_TIMESTAMPS).")
    var noTimestamps = false

    @Flag(name: .long, help: "Start each line with the connection number and a tab (many clients at once).")
    var prefixConnections = false

    @Flag(name: .long, help: "Show COPY data in both directions (PQtrace omits it).")
    var copyData = false

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let upstreamEndpoint: TraceProxy.Upstream
        do {
            upstreamEndpoint = try TraceProxy.Upstream(parsing: upstream)
        } catch {
            throw ValidationError(error.message)
        }
        let (listenHost, listenPort): (String, Int)
        do {
            (listenHost, listenPort) = try Self.splitListen(listen)
        } catch {
            throw ValidationError(error.message)
        }
        let sink: TraceOutput
        if let output, output != "-" {
            do {
                sink = try TraceOutput(path: output)
            } catch {
                throw ValidationError(error.message)
            }
        } else {
            sink = TraceOutput(fileDescriptor: 1)
        }
        // A trace that can no longer be written (a full disk, a closed pipe) ends the proxy: exit status 1.
        sink.writeErrorHandler = { error in
            writeStderr("pgwire: error: \(error)\n")
            Platform.exit(1)
        }
        let proxy: TraceProxy
        do {
            proxy = try TraceProxy(
                configuration: .init(listenHost: listenHost, listenPort: listenPort, upstream: upstreamEndpoint,
                                     timestamps: !noTimestamps, prefixConnections: prefixConnections,
                                     copyData: copyData ? .full : .libpq),
                output: sink)
        } catch {
            writeStderr("pgwire: error: \(error.message)\n")
            throw ExitCode(2)
        }
        // Flush the trace on Ctrl-C / kill: buffered lines are never lost.
        var sources: [DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                sink.close()
                Platform.exit(sink.writeError == nil ? 0 : 1)
            }
            source.resume()
            sources.append(source)
        }
        // On stderr, never in the trace (which may be standard output).
        writeStderr("pgwire trace: listening on \(proxy.listeningAddress), forwarding to \(upstreamEndpoint)\n")
        proxy.run()
        withExtendedLifetime(sources) {}
        sink.close()
        if sink.writeError != nil { throw ExitCode(1) }
    }

    /// Shares the upstream syntax (HOST:PORT, [v6]:PORT); a bare port listens on 127.0.0.1.
    static func splitListen(_ text: String) throws(PostgresError) -> (String, Int) {
        if let port = Int(text) { return ("127.0.0.1", port) }
        switch try TraceProxy.Upstream(parsing: text) {
        case .tcp(let host, let port): return (host, port)
        case .unixSocket: throw .invalidUsage("--listen takes HOST:PORT; Unix-domain sockets are not supported for listening")
        }
    }
}
