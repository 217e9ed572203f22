import Dispatch
import Foundation
import PostgresWire

/// Ctrl-C for every command that runs SQL, the way psql handles it.
///
/// While a command has connections registered (`cancelOnInterrupt`), the first SIGINT sends a
/// CancelRequest for each of them and prints psql's `Cancel request sent` (or `Could not send
/// cancel request: …`) on stderr, marks the command interrupted (`isInterrupted`) and makes
/// `wakeFileDescriptor` readable for commands that wait on something else than the server
/// (standard input, notifications). The running statement then fails with the server's 57014,
/// which the command reports like any SQL error (exit status 1); a command that loops stops after
/// the current operation. A second SIGINT ends the process at once (exit status 130, the shell's
/// code for a process ended by SIGINT). With nothing registered, SIGINT ends the process at once too.
final class Interrupts: @unchecked Sendable {
    static let shared = Interrupts()

    private let lock = NSCondition()
    /// Whether the first Ctrl-C's cancel requests are still being sent (and reported).
    private var handling = false
    private var installed = false
    private var source: DispatchSourceSignal?
    private var registered: [Int: [Connection]] = [:]
    private var nextToken = 0
    private var signals = 0
    private let wakePipe: (read: Int32, write: Int32)

    private init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        }
        wakePipe = (fds[0], fds[1])
    }

    /// Readable once Ctrl-C was pressed (never drained): poll it along with what the command waits on.
    var wakeFileDescriptor: Int32 { wakePipe.read }

    /// Whether Ctrl-C was pressed. Once it was, this waits until `Cancel request sent` is printed,
    /// so that it comes before the command's own report (as in psql).
    var isInterrupted: Bool {
        lock.lock()
        defer { lock.unlock() }
        while handling { lock.wait() }
        return signals > 0
    }

    /// Waits until the cancel requests of a Ctrl-C are sent and reported (call before printing an error).
    func settle() { _ = isInterrupted }

    /// A registration to end with `release()`.
    struct Registration {
        fileprivate let token: Int
        func release() { Interrupts.shared.release(token) }
    }

    /// Cancels the statements running on `connections` on the first Ctrl-C, until released.
    func cancelOnInterrupt(_ connections: [Connection]) -> Registration {
        lock.withLock {
            installIfNeeded()
            nextToken += 1
            registered[nextToken] = connections
            return Registration(token: nextToken)
        }
    }

    func cancelOnInterrupt(_ connection: Connection) -> Registration {
        cancelOnInterrupt([connection])
    }

    private func release(_ token: Int) {
        lock.withLock { _ = registered.removeValue(forKey: token) }
    }

    /// Callers hold `lock`.
    private func installIfNeeded() {
        guard !installed else { return }
        installed = true
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: DispatchQueue(label: "pgwire.sigint"))
        source.setEventHandler { [unowned self] in self.interrupted() }
        source.resume()
        self.source = source
    }

    private func interrupted() {
        let (count, connections) = lock.withLock { () -> (Int, [Connection]) in
            signals += 1
            let connections = registered.values.flatMap { $0 }
            if signals == 1 && !connections.isEmpty { handling = true }
            return (signals, connections)
        }
        if count > 1 || connections.isEmpty {
            // Leave at once; only the trace files are flushed, so what was traced is kept.
            TraceFiles.shared.flushAll()
            _exit(130)
        }
        var byte: UInt8 = 1
        _ = write(wakePipe.write, &byte, 1)
        // Elsewhere, so that a second Ctrl-C is handled even while a cancel request hangs.
        DispatchQueue.global().async { self.sendCancelRequests(connections) }
    }

    private func sendCancelRequests(_ connections: [Connection]) {
        var failure: String?
        for connection in connections where !connection.isClosed {
            do {
                try connection.cancel()
            } catch {
                failure = failure ?? error.message
            }
        }
        writeStderr(failure.map { "Could not send cancel request: \($0)\n" } ?? "Cancel request sent\n")
        lock.withLock {
            handling = false
            lock.broadcast()
        }
    }
}

/// Waits until `fd` is readable or Ctrl-C is pressed; returns false for Ctrl-C.
func waitReadableOrInterrupted(_ fd: Int32) -> Bool {
    var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
               pollfd(fd: Interrupts.shared.wakeFileDescriptor, events: Int16(POLLIN), revents: 0)]
    while true {
        if Interrupts.shared.isInterrupted { return false }
        let ready = poll(&fds, 2, -1)
        if ready < 0 && errno == EINTR { continue }
        if fds[1].revents != 0 { return false }
        return true  // readable, at end of file, or an error that read(2) will report
    }
}
