import ArgumentParser
import Foundation
import PostgresWire

/// `pgwire listen CHANNEL…`: LISTEN and print each notification as it arrives.
struct ListenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "LISTEN on channels and print notifications as they arrive.",
        discussion: "Each line: channel, payload and the sending backend's PID, tab-separated (psql's wording with --psql-format)."
    )

    @OptionGroup var target: ConnectionArguments

    @Option(name: .long, help: "Stop after this many notifications.")
    var count: Int?

    @Option(name: .long, help: "Stop after this many seconds.")
    var timeout: Double?

    @Flag(name: .long, help: "Print psql's line: Asynchronous notification \"ch\" with payload \"p\" received from server process with PID n (without the payload clause when the payload is empty).")
    var psqlFormat = false

    @Argument(help: "Channels to listen on.")
    var channels: [String]

    func run() throws {
        let connection = try target.connect()
        defer { connection.close() }
        let received = NotificationQueue()
        connection.notificationHandler = { n in received.append(n) }
        let stdout = OutputBuffer(fd: 1, what: "could not write notification")
        // Ctrl-C ends the wait (and cancels a LISTEN still running): exit status 1, as for an interrupted query.
        let interrupt = Interrupts.shared.cancelOnInterrupt(connection)
        defer { interrupt.release() }
        for channel in channels {
            let quoted = "\"" + channel.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            do { try connection.simpleQuery("LISTEN \(quoted)") } catch {
                throw reportQueryError(error, query: "LISTEN \(quoted)", connection: connection)
            }
        }
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        var printed = 0
        while count.map({ printed < $0 }) ?? true {
            if Interrupts.shared.isInterrupted { throw ExitCode(1) }
            let remaining = deadline.map { $0.timeIntervalSinceNow }
            if let remaining, remaining <= 0 { break }
            // Short waits, so that Ctrl-C is noticed within a quarter of a second.
            do { try connection.waitForNotifications(timeout: min(remaining ?? 0.25, 0.25)) } catch {
                throw reportQueryError(error, query: "", connection: connection)
            }
            for n in received.takeAll() {
                if let count, printed >= count { break }
                stdout.write(Self.line(n, psqlFormat: psqlFormat))
                printed += 1
            }
            // Each notification is shown as it arrives; a failed write ends the command.
            try stdout.finish()
        }
    }

    /// psql's line (which leaves out an empty payload) or channel TAB payload TAB pid.
    static func line(_ n: NotificationResponse, psqlFormat: Bool) -> String {
        guard psqlFormat else { return "\(n.channel)\t\(n.payload)\t\(n.processID)\n" }
        let payload = n.payload.isEmpty ? "" : " with payload \"\(n.payload)\""
        return "Asynchronous notification \"\(n.channel)\"\(payload) received from server process with PID \(n.processID).\n"
    }
}

/// Notifications received by the connection's handler, waiting to be printed.
final class NotificationQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [NotificationResponse] = []
    func append(_ n: NotificationResponse) { lock.withLock { items.append(n) } }
    func takeAll() -> [NotificationResponse] {
        lock.withLock {
            defer { items.removeAll() }
            return items
        }
    }
}
