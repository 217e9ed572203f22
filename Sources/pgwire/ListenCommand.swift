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

    @Flag(name: .long, help: "Print psql's line: Asynchronous notification \"ch\" with payload \"p\" received from server process with PID n.")
    var psqlFormat = false

    @Argument(help: "Channels to listen on.")
    var channels: [String]

    func run() throws {
        let connection = try target.connect()
        defer { connection.close() }
        let received = Counter()
        connection.notificationHandler = { [psqlFormat] n in
            let line = psqlFormat
                ? "Asynchronous notification \"\(n.channel)\" with payload \"\(n.payload)\" received from server process with PID \(n.processID).\n"
                : "\(n.channel)\t\(n.payload)\t\(n.processID)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
            received.increment()
        }
        for channel in channels {
            let quoted = "\"" + channel.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            do { try connection.simpleQuery("LISTEN \(quoted)") } catch {
                throw reportQueryError(error, query: "LISTEN \(quoted)", connection: connection)
            }
        }
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while count.map({ received.value < $0 }) ?? true {
            let remaining = deadline.map { $0.timeIntervalSinceNow }
            if let remaining, remaining <= 0 { break }
            do { try connection.waitForNotifications(timeout: remaining) } catch {
                throw reportQueryError(error, query: "", connection: connection)
            }
        }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
