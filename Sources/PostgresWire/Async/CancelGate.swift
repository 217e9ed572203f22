import Foundation

/// Cancellation of one operation: CancelRequests only while it runs, and `end()` waits for the
/// one in flight so that none reaches the server after the next operation started.
///
/// A CancelRequest that reaches the server before the query does (the task was cancelled just as
/// the operation began) is ignored by the server, so while the operation still runs the request
/// is repeated every `resendInterval` (at most `maximumRequests` in all): a cancelled task never
/// waits for a long query to finish on its own.
final class CancelGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var running = false
    private var over = false
    private var sending = false
    private let group = DispatchGroup()
    static let resendInterval: TimeInterval = 0.5
    static let maximumRequests = 20

    /// I/O thread: the operation starts; false if it was cancelled before.
    func begin() -> Bool {
        condition.withLock {
            if over { return false }
            running = true
            return true
        }
    }

    /// Any thread: sends CancelRequests (from a Dispatch thread) while the operation runs; a
    /// cancellation before it started makes `begin()` return false.
    func cancelIfRunning(_ connection: Connection) {
        condition.lock()
        if !running {
            over = true
            condition.unlock()
            return
        }
        guard !sending, !over else {
            condition.unlock()
            return
        }
        sending = true
        group.enter()
        condition.unlock()
        DispatchQueue.global().async { [self] in
            for _ in 0..<Self.maximumRequests {
                try? connection.cancel()
                let deadline = Date(timeIntervalSinceNow: Self.resendInterval)
                condition.lock()
                while !over && condition.wait(until: deadline) {}
                let done = over
                condition.unlock()
                if done { break }
            }
            group.leave()
        }
    }

    /// I/O thread: the operation is over; waits for a CancelRequest in flight.
    func end() {
        condition.withLock {
            running = false
            over = true
            condition.broadcast()
        }
        group.wait()
    }
}
