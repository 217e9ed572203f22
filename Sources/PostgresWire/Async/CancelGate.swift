import Foundation

/// Cancellation of one operation: CancelRequests only while it runs, and `end()` waits for the
/// one in flight so that none reaches the server after the next operation started.
///
/// A CancelRequest that reaches the server before the query does (the task was cancelled just as
/// the operation began) is ignored by the server, so while the operation still runs the request
/// is repeated every `resendInterval` (at most `maximumRequests` in all): a cancelled task never
/// waits for a long query to finish on its own.
///
/// A gate costs one small object and no lock of its own: the state is guarded by a condition
/// shared by the gates of one connection (`IOThread.gateCondition`), so an operation that is not
/// cancelled allocates nothing else and never sleeps here. Jobs of the I/O thread are gates
/// themselves (`IOJob`).
class CancelGate: @unchecked Sendable {
    private let condition: NSCondition
    private var running = false
    private var over = false
    /// A Dispatch thread sends CancelRequests (`end()` waits for it to stop).
    private var sending = false
    static let resendInterval: TimeInterval = 0.5
    static let maximumRequests = 20

    /// A gate whose state is guarded by `condition` (one per connection).
    init(condition: NSCondition) { self.condition = condition }

    /// I/O thread: the operation starts; false if it was cancelled before.
    final func begin() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if over { return false }
        running = true
        return true
    }

    /// Any thread: sends CancelRequests (from a Dispatch thread) while the operation runs; a
    /// cancellation before it started makes `begin()` return false.
    final func cancelIfRunning(_ connection: Connection) {
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
            condition.lock()
            sending = false
            condition.broadcast()
            condition.unlock()
        }
    }

    /// I/O thread: the operation is over; waits for a CancelRequest in flight.
    final func end() {
        condition.lock()
        running = false
        over = true
        if sending {
            condition.broadcast()
            while sending { condition.wait() }
        }
        condition.unlock()
    }
}
